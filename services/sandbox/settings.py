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
    # Which key signs answers and notifications (Wechatpay-Serial names it): "certificate", the platform
    # certificate's key under its serial; "public_key", the WeChat Pay public key (a pair of its own) under its id,
    # as for merchants onboarded since late 2024 (no platform certificate: /v3/certificates answers 404); "switching",
    # a merchant moving over: the two alternate, so a client must accept both. Encrypted request fields may be
    # encrypted for whichever keys the mode has.
    wechat_pay_key_mode: str = Field(default="certificate", pattern="^(certificate|public_key|switching)$")
    # WeChat assigns the public-key id; it is not derivable from the key (docs/providers.md 6).
    wechat_pay_public_key_id: str = Field(
        default="PUB_KEY_ID_0119000000012026120100000000000001", min_length=1, max_length=64, pattern=r"^\S+$"
    )
    wechat_pay_public_key_private_file: Path = KEYS / "TEST_ONLY_wechatpay_pubkey_private.pem"
    # How long WeChat takes to finish an accepted refund or transfer by itself, before time_scale.
    wechat_refund_settle_s: float = Field(default=60.0, ge=0)
    wechat_transfer_settle_s: float = Field(default=60.0, ge=0)
    # E-commerce (平台收付通): a profit-sharing order is answered PROCESSING and FINISHED this long after; a
    # withdrawal is CREATE_SUCCESS, then SUCCESS (or FAIL) this long after. Both before time_scale.
    wechat_profitsharing_settle_s: float = Field(default=30.0, ge=0)
    wechat_withdraw_settle_s: float = Field(default=60.0, ge=0)
    wechat_login_code_ttl_s: float = Field(default=300.0, gt=0)
    # The mini-program's access tokens live this long (WeChat: 7,200 s), and its released pages (getwxacodeunlimit
    # checks a code's page against them).
    wechat_access_token_ttl_s: float = Field(default=7_200.0, gt=0)
    wechat_mp_pages: tuple[str, ...] = ("pages/index/index", "pages/item/index", "pages/s/index")
    # Transfer bills answer WAIT_USER_CONFIRM with package_info, and pay only once the payee confirms in the
    # mini-program (POST /sandbox/wechat/transfers/{out_bill_no}/confirm), as WeChat's transfer scenes mostly require.
    wechat_transfer_user_confirm: bool = False
    # 二级商户进件: each step an application takes by itself (CHECKING → AUDITING or ACCOUNT_NEED_VERIFY →
    # NEED_SIGN), and a settlement-card change's review, before time_scale.
    wechat_applyment_step_s: float = Field(default=60.0, ge=0)
    wechat_settlement_audit_s: float = Field(default=60.0, ge=0)

    # Alipay Open Platform.
    alipay_app_id: str = "2021000000000001"
    alipay_seller_id: str = "2088000000000001"
    alipay_app_public_key_file: Path = KEYS / "TEST_ONLY_alipay_app_public.pem"
    alipay_platform_private_key_file: Path = KEYS / "TEST_ONLY_alipay_platform_private.pem"
    # Alipay documents only the timestamp format; the sandbox also refuses requests this far from Beijing time, so a
    # client stamping the wrong time zone is caught here rather than in production.
    alipay_timestamp_tolerance_s: float = Field(default=1800.0, gt=0)
    alipay_auth_code_ttl_s: float = Field(default=300.0, gt=0)
    alipay_access_token_ttl_s: int = Field(default=1_296_000, gt=0)
    # Password-free limits in fen. GENERAL_WITHHOLDING limits are contract configuration (none documented);
    # CYCLE_PAY_AUTH is capped at 100 yuan per debit, 1,000 per day and 30,000 per month (payments.md B).
    alipay_withholding_single_limit_fen: int = Field(default=50_000, gt=0)
    alipay_withholding_daily_limit_fen: int = Field(default=200_000, gt=0)
    alipay_cycle_pay_single_limit_fen: int = Field(default=10_000, gt=0)
    alipay_cycle_pay_daily_limit_fen: int = Field(default=100_000, gt=0)
    alipay_cycle_pay_monthly_limit_fen: int = Field(default=3_000_000, gt=0)
    # 商家分账: the contract's maximum share of a trade that may be settled to receivers. Alipay's default is 30% of
    # the order amount; merchants apply for more (up to 100%) in the merchant platform.
    alipay_royalty_max_ratio_pct: int = Field(default=30, ge=1, le=100)
    # Apps created under Alipay's OpenID regime (since ~2023) get open ids: oauth answers open_id and no user_id, and
    # trades, refunds, agreements and notifications carry buyer_open_id / alipay_open_id instead of the user ids.
    alipay_user_id_mode: str = Field(default="user_id", pattern="^(user_id|open_id)$")
    # public_key: requests and answers are signed with plain keys. cert: 公钥证书模式; every request must carry
    # app_cert_sn and alipay_root_cert_sn, and every signed answer carries alipay_cert_sn.
    alipay_sign_mode: str = Field(default="public_key", pattern="^(public_key|cert)$")
    alipay_app_cert_file: Path = KEYS / "TEST_ONLY_alipay_app_cert.crt"
    alipay_cert_file: Path = KEYS / "TEST_ONLY_alipay_cert.crt"
    alipay_root_cert_file: Path = KEYS / "TEST_ONLY_alipay_root_cert.crt"
    # Payouts (alipay.fund.trans.uni.transfer): 50,000 yuan per transfer, 2,000,000 per day (payments.md C, unofficial).
    alipay_transfer_single_limit_fen: int = Field(default=5_000_000, gt=0)
    alipay_transfer_daily_limit_fen: int = Field(default=200_000_000, gt=0)
