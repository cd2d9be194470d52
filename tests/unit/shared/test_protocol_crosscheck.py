"""Our protocol code against independent implementations: wechatpayv3 and python-alipay-sdk, both fully offline."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from alipay import AliPay
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3 import utils as wx_utils

from shared.protocols import alipay as ap
from shared.protocols import wechatpay as wp

KEYS = Path(__file__).parents[3] / "services" / "sandbox" / "keys"
APIV3_KEY = "FishbridgeTESTonlyAPIv3Key012345"  # 32 ASCII bytes, test-only
MCHID = "1230000109"
APPID = "wxd678efh567hg6787"
MERCHANT_SERIAL = "262ABE98B028081E1FEE10B5DFD9F3393410AAC4"
ALIPAY_APP_ID = "2021000000000001"


def _pem(name: str) -> str:
    return (KEYS / name).read_text()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both SDKs can reach the real providers (certificate refresh, gateway calls); a cross-check must never do so."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cross-check test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --- WeChat Pay vs wechatpayv3 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "data", "wire_body"),
    [
        ("POST", "/v3/pay/transactions/jsapi", '{"mchid":"1230000109","description":"测试"}', None),
        ("POST", "/v3/refund/domestic/refunds", {"out_refund_no": "rfd_1", "amount": {"refund": 1}}, None),
        ("GET", "/v3/pay/transactions/out-trade-no/ord_1?mchid=1230000109", None, ""),
    ],
    ids=["str-body", "dict-body", "get"],
)
def test_sdk_authorization_is_accepted_by_our_verifier(
    method: str, path: str, data: str | dict[str, Any] | None, wire_body: str | None
) -> None:
    sdk_key = wx_utils.load_private_key(_pem("TEST_ONLY_wechatpay_merchant_private.pem"))
    header = wx_utils.build_authorization(path, method, MCHID, MERCHANT_SERIAL, sdk_key, data, "NONCE0123456789ABCDEF")
    # What the SDK puts on the wire for each kind of data.
    body = wire_body if wire_body is not None else data if isinstance(data, str) else json.dumps(data)
    auth = wp.verify_request(
        header,
        method=method,
        url=path,
        body=body.encode(),
        public_key=wp.load_public_key(_pem("TEST_ONLY_wechatpay_merchant_public.pem")),
        now=int(time.time()),
    )
    assert (auth.mchid, auth.serial_no, auth.nonce_str) == (MCHID, MERCHANT_SERIAL, "NONCE0123456789ABCDEF")
    ours = wp.build_authorization(
        method=method,
        url=path,
        body=body,
        mchid=MCHID,
        serial_no=MERCHANT_SERIAL,
        private_key=wp.load_private_key(_pem("TEST_ONLY_wechatpay_merchant_private.pem")),
        timestamp=int(auth.timestamp),
        nonce=auth.nonce_str,
    )
    assert ours == header


def test_our_response_signature_verifies_with_sdk_rsa_verify() -> None:
    body = '{"prepay_id":"wx201410272009395522657a690389285100","note":"中文"}'
    headers = wp.sign_response(
        body,
        private_key=wp.load_private_key(_pem("TEST_ONLY_wechatpay_platform_private.pem")),
        serial_no="4D8E3EF649806EA93DD1A54FA34B530F19FA0EB7",
        timestamp=1767225600,
        nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    )
    sdk_public = wx_utils.load_public_key(_pem("TEST_ONLY_wechatpay_platform_public.pem"))
    args = (headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"])
    assert wx_utils.rsa_verify(*args, body, headers["Wechatpay-Signature"], sdk_public) is True
    assert wx_utils.rsa_verify(*args, body + " ", headers["Wechatpay-Signature"], sdk_public) is False


def test_sdk_response_signature_verifies_with_ours() -> None:
    sdk_key = wx_utils.load_private_key(_pem("TEST_ONLY_wechatpay_platform_private.pem"))
    body = '{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}'
    signature = wx_utils.rsa_sign(sdk_key, f"1767225600\nNONCE\n{body}\n")
    headers = {
        "Wechatpay-Timestamp": "1767225600",
        "Wechatpay-Nonce": "NONCE",
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": "4D8E3EF649806EA93DD1A54FA34B530F19FA0EB7",
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    public = wp.load_public_key(_pem("TEST_ONLY_wechatpay_platform_cert.pem"))
    wp.verify_response(headers, body.encode(), public_key=public, now=1767225600)


def test_our_encrypted_resource_decrypts_with_sdk_aes_decrypt() -> None:
    plaintext = '{"out_trade_no":"ord_1","trade_state":"SUCCESS","trade_state_desc":"支付成功"}'
    resource = wp.encrypt_resource(
        plaintext,
        apiv3_key=APIV3_KEY,
        nonce=wp.new_nonce(12),
        associated_data="transaction",
        original_type="transaction",
    )
    args = (resource["nonce"], resource["ciphertext"])
    assert wx_utils.aes_decrypt(*args, resource["associated_data"], APIV3_KEY) == plaintext
    assert wx_utils.aes_decrypt(*args, "refund", APIV3_KEY) is None


def test_sdk_callback_accepts_our_signed_encrypted_notification() -> None:
    key_id = "PUB_KEY_ID_0119000000012026120100000000000001"  # assigned by WeChat to the public key
    transaction = {"mchid": MCHID, "appid": APPID, "out_trade_no": "ord_1", "trade_state": "SUCCESS"}
    body = wp.build_notification_body(
        event_id="EV-2026",
        create_time="2026-01-01T08:00:00+08:00",
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=transaction,
        apiv3_key=APIV3_KEY,
        nonce=wp.new_nonce(12),
        associated_data="transaction",
    )
    headers = wp.sign_response(
        body,
        private_key=wp.load_private_key(_pem("TEST_ONLY_wechatpay_pubkey_private.pem")),
        serial_no=key_id,
        timestamp=int(time.time()),
        nonce=wp.new_nonce(),
    )
    # Public-key mode keeps the SDK offline: it never fetches /v3/certificates for a matching key id.
    sdk = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MCHID,
        private_key=_pem("TEST_ONLY_wechatpay_merchant_private.pem"),
        cert_serial_no=MERCHANT_SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        public_key=_pem("TEST_ONLY_wechatpay_pubkey_public.pem"),
        public_key_id=key_id,
    )
    result = sdk.callback(headers, body)
    assert result is not None
    assert result["event_type"] == "TRANSACTION.SUCCESS"
    assert result["resource"] == transaction


def test_our_pay_sign_equals_sdk_sign() -> None:
    sdk = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MCHID,
        private_key=_pem("TEST_ONLY_wechatpay_merchant_private.pem"),
        cert_serial_no=MERCHANT_SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        public_key=_pem("TEST_ONLY_wechatpay_platform_public.pem"),
        public_key_id="PUB_KEY_ID_0000000000000000000000000001",
    )
    params = wp.request_payment_params(
        app_id=APPID,
        prepay_id="wx201410272009395522657a690389285100",
        private_key=wp.load_private_key(_pem("TEST_ONLY_wechatpay_merchant_private.pem")),
        timestamp=1767225600,
        nonce_str="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    )
    expected = sdk.sign([APPID, params["timeStamp"], params["nonceStr"], params["package"]])
    assert params["paySign"] == expected


# --- Alipay vs python-alipay-sdk --------------------------------------------------------------------------------------


def _merchant_sdk() -> AliPay:
    """The SDK as a merchant would configure it: our app key signs, Alipay's key verifies."""
    return AliPay(
        appid=ALIPAY_APP_ID,
        app_notify_url=None,
        app_private_key_string=_pem("TEST_ONLY_alipay_app_private.pem"),
        alipay_public_key_string=_pem("TEST_ONLY_alipay_platform_public.pem"),
        sign_type="RSA2",
    )


def test_sdk_app_pay_order_string_verifies_with_ours() -> None:
    order = _merchant_sdk().api_alipay_trade_app_pay(
        subject="旧书 & 杂志 100%",
        out_trade_no="ord_1",
        total_amount=ap.fen_to_yuan(1999),
        notify_url="https://x.test/n",
    )
    params = ap.verify_order_string(order, ap.load_public_key(_pem("TEST_ONLY_alipay_app_public.pem")))
    assert params["app_id"] == ALIPAY_APP_ID and params["notify_url"] == "https://x.test/n"
    assert json.loads(params["biz_content"]) == {
        "subject": "旧书 & 杂志 100%",
        "out_trade_no": "ord_1",
        "total_amount": "19.99",
        "product_code": "QUICK_MSECURITY_PAY",
    }


def test_sdk_order_string_with_changed_amount_fails_our_verifier() -> None:
    order = _merchant_sdk().api_alipay_trade_app_pay(subject="书", out_trade_no="ord_1", total_amount="0.01")
    tampered = order.replace("0.01", "0.02")
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_order_string(tampered, ap.load_public_key(_pem("TEST_ONLY_alipay_app_public.pem")))


def test_our_signature_equals_sdk_sign_data() -> None:
    params = ap.build_request_params(
        app_id=ALIPAY_APP_ID,
        method="alipay.trade.refund",
        biz_content={"out_trade_no": "ord_1", "refund_amount": "0.01", "refund_reason": "买家退货 & 退款"},
        private_key=ap.load_private_key(_pem("TEST_ONLY_alipay_app_private.pem")),
        now=ap.parse_timestamp("2026-01-01 08:00:00"),
        notify_url="https://fishbridge.example/notify/alipay",
    )
    unsigned = {key: value for key, value in params.items() if key != "sign"}
    sdk_order = _merchant_sdk().sign_data(dict(unsigned))
    assert ap.parse_order_string(sdk_order)["sign"] == params["sign"]
    assert sdk_order == ap.encode_params(params)


@pytest.mark.parametrize("keep_sign_type", [True, False])
def test_our_notification_verifies_with_sdk(keep_sign_type: bool) -> None:
    # The SDK signs empty values too, unlike Alipay's own rule, so this notification has none.
    notification = {
        "notify_time": "2026-01-01 08:00:05",
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": ALIPAY_APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2026010122001",
        "out_trade_no": "ord_1",
        "seller_id": "2088101106499364",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "0.01",
        "subject": "旧书 & 杂志",
    }
    signed = ap.sign_notification(notification, ap.load_private_key(_pem("TEST_ONLY_alipay_platform_private.pem")))
    data = dict(ap.parse_form(ap.encode_params(signed)))
    signature = data.pop("sign")
    if not keep_sign_type:
        data.pop("sign_type")
    assert _merchant_sdk().verify(data, signature) is True
    data["total_amount"] = "100.00"
    assert _merchant_sdk().verify(data, signature) is False


def test_our_signed_response_verifies_with_sdk() -> None:
    response = {
        "code": "10000",
        "msg": "Success",
        "trade_no": "2026010122001",
        "out_trade_no": "ord_1",
        "subject": "书",
    }
    body = ap.build_signed_response(
        "alipay.trade.query", response, ap.load_private_key(_pem("TEST_ONLY_alipay_platform_private.pem"))
    )
    # The SDK's only response verifier is internal; it is what its server_api runs on every gateway answer.
    assert _merchant_sdk()._verify_and_return_sync_response(body, "alipay_trade_query_response") == response


def test_a_notification_with_an_empty_value_signed_by_the_sdk_way_verifies_with_ours_and_ours_with_the_sdk() -> None:
    sdk = AliPay(
        appid=ALIPAY_APP_ID,
        app_notify_url=None,
        app_private_key_string=_pem("TEST_ONLY_alipay_platform_private.pem"),
        alipay_public_key_string=_pem("TEST_ONLY_alipay_platform_public.pem"),
        sign_type="RSA2",
    )
    form = {
        "notify_type": "trade_status_sync",
        "app_id": ALIPAY_APP_ID,
        "out_trade_no": "pay_1",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "35.00",
        "passback_params": "",
        "sign_type": "RSA2",
    }
    # python-alipay-sdk signs (and verifies) every parameter but sign and sign_type, empty ones included.
    unsigned = {k: v for k, v in form.items() if k != "sign_type"}
    form["sign"] = sdk._sign("&".join(f"{k}={v}" for k, v in sorted(unsigned.items())))
    ap.verify_notification(form, ap.load_public_key(_pem("TEST_ONLY_alipay_platform_public.pem")))
    # What we sign (the sandbox's notifications) carries no empty values, so both SDK versions agree on it.
    ours = {k: v for k, v in form.items() if k != "sign" and v}
    signed = ap.sign_notification(ours, ap.load_private_key(_pem("TEST_ONLY_alipay_platform_private.pem")))
    assert sdk.verify({k: v for k, v in signed.items() if k != "sign"}, signed["sign"])
