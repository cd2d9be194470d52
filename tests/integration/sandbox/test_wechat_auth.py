"""APIv3 signatures both ways: forged, tampered and stale requests get 401 SIGN_ERROR; every answer is signed."""

from __future__ import annotations

import time

from cryptography import x509

from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Sandbox
from tests.integration.sandbox.wechat_support import (
    APIV3_KEY,
    MCHID,
    MERCHANT_PRIVATE,
    MERCHANT_SERIAL,
    PLATFORM_CERT,
    PLATFORM_SERIAL,
    WRONG_PRIVATE,
    WechatClient,
    fresh,
    jsapi_body,
)

URL = "https://merchant.example.com/notify"


async def _order_body(wechat: WechatClient) -> dict[str, object]:
    return jsapi_body(fresh(), 100, await wechat.buyer(), URL)


async def test_a_request_whose_body_was_altered_after_signing_is_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    body = await _order_body(wechat)
    answer = await wechat.jsapi(body, tamper=lambda raw: raw.replace(b'"total": 100', b'"total": 1'))
    assert "验签失败" in answer.error(401, "SIGN_ERROR")
    (await wechat.query(str(body["out_trade_no"]))).error(404, "ORDER_NOT_EXIST")


async def test_a_request_signed_with_another_key_is_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    body = await _order_body(wechat)
    (await wechat.jsapi(body, key=WRONG_PRIVATE)).error(401, "SIGN_ERROR")
    (await wechat.query(str(body["out_trade_no"]))).error(404, "ORDER_NOT_EXIST")


async def test_a_request_naming_an_unknown_certificate_serial_is_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    answer = await wechat.jsapi(await _order_body(wechat), serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1")
    assert "serial_no" in answer.error(401, "SIGN_ERROR")


async def test_a_stale_or_future_request_is_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    stale = await wechat.jsapi(await _order_body(wechat), timestamp=int(time.time()) - 301)
    assert "5 分钟" in stale.error(401, "SIGN_ERROR")
    future = await wechat.query(fresh(), timestamp=int(time.time()) + 301)
    future.error(401, "SIGN_ERROR")
    recent = await wechat.query(fresh(), timestamp=int(time.time()) - 240)
    recent.error(404, "ORDER_NOT_EXIST")


async def test_a_request_without_a_valid_authorization_header_is_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    (await wechat.query(fresh(), authorization="")).error(401, "SIGN_ERROR")
    bearer = await wechat.query(fresh(), authorization="Bearer abc")
    assert "WECHATPAY2-SHA256-RSA2048" in bearer.error(401, "SIGN_ERROR")
    other_mch = await wechat.query(fresh(), mchid="1900000002")
    assert "mchid" in other_mch.error(401, "SIGN_ERROR")


async def test_the_signed_url_includes_the_query_string(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    path = f"/v3/pay/transactions/out-trade-no/{fresh()}"
    auth = wp.build_authorization(
        method="GET",
        url=path,  # signed without ?mchid=, sent with it
        body=b"",
        mchid=MCHID,
        serial_no=MERCHANT_SERIAL,
        private_key=MERCHANT_PRIVATE,
        timestamp=int(time.time()),
        nonce=wp.new_nonce(),
    )
    (await wechat.request("GET", f"{path}?mchid={MCHID}", authorization=auth)).error(401, "SIGN_ERROR")


async def test_errors_and_unknown_apis_are_signed_too(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    missing = await wechat.request("GET", "/v3/no/such/api")
    missing.error(404, "RESOURCE_NOT_EXISTS")
    assert missing.headers["Wechatpay-Serial"] == PLATFORM_SERIAL and missing.headers["Request-ID"]


async def test_the_platform_certificate_is_published_encrypted_under_the_apiv3_key(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    (entry,) = (await wechat.request("GET", "/v3/certificates")).ok()["data"]
    assert entry["serial_no"] == PLATFORM_SERIAL
    sealed = entry["encrypt_certificate"]
    assert (sealed["algorithm"], sealed["associated_data"]) == (wp.AES_ALGORITHM, "certificate")
    cert = x509.load_pem_x509_certificate(
        wp.decrypt_resource({**sealed, "original_type": "certificate"}, apiv3_key=APIV3_KEY).encode()
    )
    assert cert == PLATFORM_CERT
    assert entry["effective_time"].endswith("+08:00") and entry["expire_time"] > entry["effective_time"]
