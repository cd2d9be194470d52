"""Cross-check with wechatpayv3 2.0.4: its requests are accepted; our answers and notifications verify with it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt, build_authorization, rsa_verify

from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.wechat_support import (
    APIV3_KEY,
    APPID,
    MCHID,
    MERCHANT_PRIVATE,
    MERCHANT_SERIAL,
    PLATFORM_PUBLIC,
    PLATFORM_SERIAL,
    PUBKEY_PUBLIC,
    PUBLIC_KEY_ID,
    WechatClient,
    fresh,
    notifications_to,
    notify_path,
    pem,
    strict_sandbox_fixture,  # noqa: F401 (the strict_sandbox fixture)
)
from tests.support.infra import eventually


def sdk_client(
    sandbox: Sandbox, notify_url: str, *, certificate: bool = False, cert_dir: Path | None = None
) -> WeChatPay:
    """The SDK pointed at the sandbox. By default in public-key mode (so building it fetches nothing) with the
    WeChat Pay public key and its assigned id: it verifies PUB_KEY_ID_ answers with that key, and fetches and
    decrypts /v3/certificates for an answer signed under the certificate serial. ``certificate``: a merchant without
    a public key, whose SDK loads the platform certificate from ``cert_dir`` (it would download it while being built,
    before its gateway can be pointed at the sandbox) and encrypts sensitive fields for it."""
    if certificate:
        assert cert_dir is not None
        (cert_dir / f"{PLATFORM_SERIAL}.pem").write_bytes(pem("TEST_ONLY_wechatpay_platform_cert.pem"))
        client = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=MCHID,
            private_key=pem("TEST_ONLY_wechatpay_merchant_private.pem").decode(),
            cert_serial_no=MERCHANT_SERIAL,
            appid=APPID,
            apiv3_key=APIV3_KEY,
            notify_url=notify_url,
            cert_dir=str(cert_dir),
            timeout=(5, 10),
        )
        client._core._gate_way = sandbox.url
        return client
    client = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MCHID,
        private_key=pem("TEST_ONLY_wechatpay_merchant_private.pem").decode(),
        cert_serial_no=MERCHANT_SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        notify_url=notify_url,
        public_key=pem("TEST_ONLY_wechatpay_pubkey_public.pem").decode(),
        public_key_id=PUBLIC_KEY_ID,
        timeout=(5, 10),
    )
    client._core._gate_way = sandbox.url  # the SDK's documented override point for a non-production host
    return client


async def test_the_sdk_places_queries_refunds_and_closes_against_the_sandbox(
    sandbox: Sandbox, merchant: Merchant
) -> None:
    wechat = WechatClient(sandbox)
    path = notify_path()
    sdk = sdk_client(sandbox, merchant.url + path)
    openid, out_trade_no = await wechat.buyer(), fresh()

    # Each call raises inside the SDK if the answer's signature does not verify.
    code, text = await asyncio.to_thread(
        sdk.pay, description="二手书", out_trade_no=out_trade_no, amount={"total": 321}, payer={"openid": openid}
    )
    assert code == 200, text
    prepay_id = json.loads(text)["prepay_id"]
    assert any(cert.serial_number for cert in sdk._core._certificates)  # fetched from /v3/certificates

    timestamp, nonce = str(int(time.time())), wp.new_nonce()
    package = f"prepay_id={prepay_id}"
    pay_sign = sdk.sign([APPID, timestamp, nonce, package])
    requested = {"timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA", "paySign": pay_sign}
    status, paid = await wechat.post("/sandbox/wechat/pay", {"openid": openid, **requested})
    assert (status, paid) == (200, {"result": "ok"}), paid

    code, text = await asyncio.to_thread(sdk.query, out_trade_no=out_trade_no)
    assert code == 200 and json.loads(text)["trade_state"] == "SUCCESS"
    out_refund_no = fresh("rfd")
    code, text = await asyncio.to_thread(
        sdk.refund,
        out_refund_no=out_refund_no,
        amount={"refund": 21, "total": 321, "currency": "CNY"},
        out_trade_no=out_trade_no,
    )
    assert code == 200 and json.loads(text)["status"] == "PROCESSING", text

    async def refund_status() -> str:
        code, text = await asyncio.to_thread(sdk.query_refund, out_refund_no=out_refund_no)
        assert code == 200, text
        return str(json.loads(text)["status"])

    await eventually(refund_status, until=lambda s: s == "SUCCESS", what="the refund to succeed")

    unpaid = fresh()
    code, _ = await asyncio.to_thread(
        sdk.pay, description="二手书", out_trade_no=unpaid, amount={"total": 1}, payer={"openid": openid}
    )
    code, text = await asyncio.to_thread(sdk.close, out_trade_no=unpaid)
    assert code == 204, text

    # The SDK's callback() verifies the signature and decrypts the resource of each notification.
    received = await notifications_to(merchant, path, count=2)
    events = [sdk.callback(r.headers, r.body) for r in received]
    assert [e["event_type"] for e in events] == ["TRANSACTION.SUCCESS", "REFUND.SUCCESS"]
    assert events[0]["resource"]["out_trade_no"] == out_trade_no and events[0]["resource"]["amount"]["total"] == 321
    assert events[1]["resource"]["out_refund_no"] == out_refund_no


async def test_the_sdk_transfers_with_an_encrypted_user_name(sandbox: Sandbox, tmp_path: Path) -> None:
    wechat = WechatClient(sandbox)
    sdk = sdk_client(sandbox, "https://merchant.example.com/transfers", certificate=True, cert_dir=tmp_path)
    seller, out_bill_no = await wechat.buyer(), fresh("wdr")
    # From 2,000 yuan the SDK RSA-OAEP-encrypts user_name for the platform certificate and names its serial in
    # Wechatpay-Serial: the only key a certificate-mode merchant has.
    code, text = await asyncio.to_thread(
        sdk.mch_transfer_bills,
        out_bill_no=out_bill_no,
        transfer_scene_id="1005",
        openid=seller,
        transfer_amount=200_000,
        transfer_remark="卖家货款提现",
        user_name="张三",
        transfer_scene_report_infos=[{"info_type": "岗位类型", "info_content": "二手卖家"}],
    )
    assert code == 200 and json.loads(text)["state"] == "ACCEPTED", text
    code, text = await asyncio.to_thread(sdk.mch_transfer_bills_query, out_bill_no=out_bill_no)
    assert code == 200 and json.loads(text)["transfer_amount"] == 200_000


async def test_an_sdk_authorization_header_is_accepted(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    body = json.dumps(
        {
            "appid": APPID,
            "mchid": MCHID,
            "description": "SDK 签名",
            "out_trade_no": fresh(),
            "notify_url": "https://merchant.example.com/notify",
            "amount": {"total": 9},
            "payer": {"openid": await wechat.buyer()},
        },
        ensure_ascii=False,
    )
    path = "/v3/pay/transactions/jsapi"
    auth = build_authorization(path, "POST", MCHID, MERCHANT_SERIAL, MERCHANT_PRIVATE, data=body)
    headers = {"Authorization": auth, "Content-Type": "application/json", "Accept": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.post(sandbox.url + path, data=body.encode(), headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            text = await resp.text()
            answer_headers: dict[str, Any] = dict(resp.headers)
    assert rsa_verify(
        answer_headers["Wechatpay-Timestamp"],
        answer_headers["Wechatpay-Nonce"],
        text,
        answer_headers["Wechatpay-Signature"],
        PLATFORM_PUBLIC,
    )


async def test_notifications_verify_and_decrypt_with_the_sdk_utilities(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(77)
    (received,) = await notifications_to(merchant, order.notify_path)
    text = received.body.decode()
    h = received.headers
    assert rsa_verify(h["Wechatpay-Timestamp"], h["Wechatpay-Nonce"], text, h["Wechatpay-Signature"], PLATFORM_PUBLIC)
    resource = json.loads(text)["resource"]
    plaintext = aes_decrypt(
        nonce=resource["nonce"],
        ciphertext=resource["ciphertext"],
        associated_data=resource["associated_data"],
        apiv3_key=APIV3_KEY,
    )
    assert plaintext is not None and json.loads(plaintext)["out_trade_no"] == order.out_trade_no
    wrong_key = aes_decrypt(
        nonce=resource["nonce"],
        ciphertext=resource["ciphertext"],
        associated_data=resource["associated_data"],
        apiv3_key="0" * 32,
    )
    assert wrong_key is None


async def test_in_public_key_mode_answers_verify_with_the_public_key_id_alone(strict_sandbox: Sandbox) -> None:
    wechat = WechatClient(strict_sandbox)
    sdk = sdk_client(strict_sandbox, "https://merchant.example.com/notify")
    code, text = await asyncio.to_thread(
        sdk.pay,
        description="公钥模式",
        out_trade_no=fresh(),
        amount={"total": 5},
        payer={"openid": await wechat.buyer()},
    )
    assert code == 200, text
    assert sdk._core._certificates == []  # verified under PUB_KEY_ID_..., no certificate needed
    answer = await wechat.query(fresh())
    assert answer.headers["Wechatpay-Serial"] == PUBLIC_KEY_ID
    wp.verify_response(
        dict(answer.headers), answer.raw, public_key={PUBLIC_KEY_ID: PUBKEY_PUBLIC}, now=int(time.time())
    )
    with pytest.raises(wp.WechatPayBadSignature):  # not the platform certificate's key
        wp.verify_response(dict(answer.headers), answer.raw, public_key=PLATFORM_PUBLIC, now=int(time.time()))
