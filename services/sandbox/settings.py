"""Sandbox settings: the provider-side identities and keys it plays, and how fast time runs for retries."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings

KEYS = Path(__file__).resolve().parent / "keys"


class SandboxSettings(ServiceSettings):
    service_name: str = "sandbox"
    mongo_db: str = "sandbox"
    http_port: int = Field(default=8090, ge=0, le=65535)
    # The sandbox publishes no events and has no internal routes; these fields exist because every service has them.
    amqp_url: str = "amqp://unused-by-the-sandbox/"
    internal_token: SecretStr = SecretStr("sandbox-has-no-internal-routes")
    # Provider retry schedules are multiplied by this: 1.0 is real time, 0.001 turns 15 s into 15 ms for tests.
    time_scale: float = Field(default=1.0, gt=0, le=1.0)
    # Where notifications of a payment or refund go when a request names no notify_url.
    default_notify_url: str = ""
    notify_timeout_s: float = Field(default=5.0, gt=0)

    # WeChat (mini-program login + WeChat Pay v3). Documented sandbox test values; production keys never live here.
    wechat_appid: str = "wx8888888888888888"
    wechat_app_secret: SecretStr = SecretStr("sandbox-wechat-app-secret-000000")
    wechat_mchid: str = "1900000001"
    wechat_apiv3_key: SecretStr = Field(default=SecretStr("SandboxApiV3Key0123456789abcdef0"))
    wechat_merchant_cert_file: Path = KEYS / "TEST_ONLY_wechatpay_merchant_cert.pem"
    wechat_platform_private_key_file: Path = KEYS / "TEST_ONLY_wechatpay_platform_private.pem"
    wechat_platform_cert_file: Path = KEYS / "TEST_ONLY_wechatpay_platform_cert.pem"

    # Alipay Open Platform.
    alipay_app_id: str = "2021000000000001"
    alipay_seller_id: str = "2088000000000001"
    alipay_app_public_key_file: Path = KEYS / "TEST_ONLY_alipay_app_public.pem"
    alipay_platform_private_key_file: Path = KEYS / "TEST_ONLY_alipay_platform_private.pem"
