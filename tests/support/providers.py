"""The provider identities and TEST_ONLY keys the sandbox plays, as payment's environment (tests, bench)."""

from __future__ import annotations

from tests.support.infra import ROOT

KEYS = ROOT / "services" / "sandbox" / "keys"
APPID, MCHID, APIV3_KEY = "wx8888888888888888", "1900000001", "SandboxApiV3Key0123456789abcdef0"
ALIPAY_APP_ID, ALIPAY_SELLER_ID = "2021000000000001", "2088000000000001"
WECHAT_PAY_PUBLIC_KEY_ID = "PUB_KEY_ID_0119000000012026120100000000000001"  # assigned by WeChat, not derived


def provider_env(sandbox_url: str) -> dict[str, str]:
    """The provider identities and TEST_ONLY keys the sandbox plays."""
    return {
        "WECHAT_API_BASE": sandbox_url,
        "WECHAT_APPID": APPID,
        "WECHAT_MCHID": MCHID,
        "WECHAT_APIV3_KEY": APIV3_KEY,
        "WECHAT_MERCHANT_PRIVATE_KEY_FILE": str(KEYS / "TEST_ONLY_wechatpay_merchant_private.pem"),
        "WECHAT_MERCHANT_CERT_FILE": str(KEYS / "TEST_ONLY_wechatpay_merchant_cert.pem"),
        "WECHAT_PLATFORM_CERT_FILE": str(KEYS / "TEST_ONLY_wechatpay_platform_cert.pem"),
        # Payment trusts both WeChat Pay key modes (a merchant switching over); the sandbox signs as it is told.
        "WECHAT_PAY_PUBLIC_KEY_FILE": str(KEYS / "TEST_ONLY_wechatpay_pubkey_public.pem"),
        "WECHAT_PAY_PUBLIC_KEY_ID": WECHAT_PAY_PUBLIC_KEY_ID,
        "ALIPAY_GATEWAY_URL": f"{sandbox_url}/gateway.do",
        "ALIPAY_APP_ID": ALIPAY_APP_ID,
        "ALIPAY_SELLER_ID": ALIPAY_SELLER_ID,
        "ALIPAY_APP_PRIVATE_KEY_FILE": str(KEYS / "TEST_ONLY_alipay_app_private.pem"),
        "ALIPAY_PUBLIC_KEY_FILE": str(KEYS / "TEST_ONLY_alipay_platform_public.pem"),
    }
