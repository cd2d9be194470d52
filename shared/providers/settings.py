"""Provider identities and keys, as settings mixins of the services that call the providers (payment, wallet).

Keys are paths to PEM files and always come from the environment. WeChat Pay's verification keys are configured as
WeChat issues them: a merchant onboarded since 2024 has a *WeChat Pay public key* with an id WeChat assigns
(`PUB_KEY_ID_…`, never derived from the key); a merchant still on *platform certificates* downloads them from
`/v3/certificates`; one switching over has both, and callbacks signed by either must verify. Alipay is in
public-key mode (Alipay's RSA2 public key) or public-key-certificate mode (app, Alipay and root certificates)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings


class WechatPaySettings(BaseSettings):
    """The platform as WeChat Pay e-commerce service provider (sp_mchid) with its mini-program (sp_appid)."""

    wechat_api_base: str = Field(min_length=1, description="https://api.mch.weixin.qq.com, or the sandbox")
    wechat_appid: str = Field(min_length=1, description="the platform's mini-program: sp_appid")
    wechat_mchid: str = Field(min_length=1, description="the platform's merchant id: sp_mchid")
    wechat_apiv3_key: SecretStr = Field(min_length=32, max_length=32)
    wechat_merchant_private_key_file: Path
    wechat_merchant_cert_file: Path
    # Public-key mode: the WeChat Pay public key and the id WeChat assigned to it (both, or neither).
    wechat_pay_public_key_file: Path | None = None
    wechat_pay_public_key_id: str | None = Field(default=None, min_length=1, max_length=64)
    # Certificate mode: download (and keep rotating) platform certificates from /v3/certificates. A certificate file,
    # when given, is trusted from the start (before the first download succeeds).
    wechat_platform_certificates: bool = True
    wechat_platform_cert_file: Path | None = None
    wechat_certificates_refresh_s: float = Field(default=43_200.0, gt=0)

    @model_validator(mode="after")
    def _verification_keys(self) -> WechatPaySettings:
        if (self.wechat_pay_public_key_file is None) != (self.wechat_pay_public_key_id is None):
            raise ValueError("WECHAT_PAY_PUBLIC_KEY_FILE and WECHAT_PAY_PUBLIC_KEY_ID go together")
        if self.wechat_pay_public_key_file is None and not self.wechat_platform_certificates:
            raise ValueError("configure a WeChat Pay public key, or platform certificates, or both")
        return self


class AlipaySettings(BaseSettings):
    """The platform's Alipay app (app_id) and the account its trades are collected in (seller_id)."""

    alipay_gateway_url: str = Field(min_length=1, description="https://openapi.alipay.com/gateway.do, or the sandbox")
    alipay_app_id: str = Field(min_length=1)
    alipay_seller_id: str = Field(min_length=1, description="the platform's collecting account (2088…)")
    alipay_app_private_key_file: Path
    alipay_sign_mode: Literal["public_key", "cert"] = "public_key"
    # public_key mode: Alipay's RSA2 public key.
    alipay_public_key_file: Path | None = None
    # cert mode: the app's public-key certificate, Alipay's public-key certificate and Alipay's root certificates.
    alipay_app_cert_file: Path | None = None
    alipay_cert_file: Path | None = None
    alipay_root_cert_file: Path | None = None

    @model_validator(mode="after")
    def _sign_mode_files(self) -> AlipaySettings:
        if self.alipay_sign_mode == "public_key" and self.alipay_public_key_file is None:
            raise ValueError("ALIPAY_SIGN_MODE=public_key needs ALIPAY_PUBLIC_KEY_FILE")
        if self.alipay_sign_mode == "cert" and None in (
            self.alipay_app_cert_file,
            self.alipay_cert_file,
            self.alipay_root_cert_file,
        ):
            raise ValueError(
                "ALIPAY_SIGN_MODE=cert needs ALIPAY_APP_CERT_FILE, ALIPAY_CERT_FILE, ALIPAY_ROOT_CERT_FILE"
            )
        return self
