"""WeChat's verification keys: the platform certificate, the WeChat Pay public key, and a merchant switching over."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from wechatpayv3 import WeChatPay, WeChatPayType

from shared.mongo import Client
from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.wechat_support import (
    APIV3_KEY,
    APPID,
    MCHID,
    MERCHANT_SERIAL,
    PLATFORM_PUBLIC,
    PLATFORM_SERIAL,
    PUBKEY_PUBLIC,
    PUBLIC_KEY_ID,
    WechatClient,
    encrypt_for_platform,
    fresh,
    notifications_to,
    pem,
    start_sandbox,
    transfer_body,
    verified,
)


@pytest.fixture(scope="module")
async def public_key_sandbox(mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    async for sandbox in start_sandbox(
        mongo_client, merchant, log_dir, "sandbox-pubkey", {"WECHAT_PAY_KEY_MODE": "public_key"}
    ):
        yield sandbox


@pytest.fixture(scope="module")
async def switching_sandbox(mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    async for sandbox in start_sandbox(
        mongo_client, merchant, log_dir, "sandbox-switching", {"WECHAT_PAY_KEY_MODE": "switching"}
    ):
        yield sandbox


def _verifies_with(answer_headers: dict[str, str], raw: bytes, key: object) -> bool:
    try:
        wp.verify_response(answer_headers, raw, public_key=key, now=int(time.time()))  # type: ignore[arg-type]
    except wp.WechatPayError:
        return False
    return True


async def _paid_notification(wechat: WechatClient, merchant: Merchant) -> dict[str, str]:
    order = await wechat.paid(11)
    (received,) = await notifications_to(merchant, order.notify_path)
    assert verified(received).resource["out_trade_no"] == order.out_trade_no
    return received.headers


async def test_certificate_mode_signs_answers_and_notifications_with_the_certificate_key(
    sandbox: Sandbox, merchant: Merchant
) -> None:
    wechat = WechatClient(sandbox)
    answer = await wechat.query(fresh())
    assert answer.headers["Wechatpay-Serial"] == PLATFORM_SERIAL
    assert _verifies_with(dict(answer.headers), answer.raw, PLATFORM_PUBLIC)
    headers = await _paid_notification(wechat, merchant)
    assert headers["Wechatpay-Serial"] == PLATFORM_SERIAL
    # A certificate-mode merchant has no public key to encrypt for.
    body = {**transfer_body(fresh("wdr"), await wechat.buyer(), 200_000), "user_name": encrypt_for_platform("张三")}
    refused = await wechat.transfer(body, headers={wp.HEADER_SERIAL: PUBLIC_KEY_ID})
    assert "Wechatpay-Serial" in refused.error(400, "PARAM_ERROR")


async def test_public_key_mode_signs_with_the_public_key_and_has_no_certificate(
    public_key_sandbox: Sandbox, merchant: Merchant
) -> None:
    wechat = WechatClient(public_key_sandbox)
    for _ in range(3):
        answer = await wechat.query(fresh())
        assert answer.headers["Wechatpay-Serial"] == PUBLIC_KEY_ID
        assert _verifies_with(dict(answer.headers), answer.raw, PUBKEY_PUBLIC)
        assert not _verifies_with(dict(answer.headers), answer.raw, PLATFORM_PUBLIC)
    headers = await _paid_notification(wechat, merchant)
    assert headers["Wechatpay-Serial"] == PUBLIC_KEY_ID
    # A merchant onboarded in public-key mode gets no platform certificate.
    assert "证书不存在" in (await wechat.request("GET", "/v3/certificates")).error(404, "RESOURCE_NOT_EXISTS")


async def test_public_key_mode_decrypts_fields_encrypted_for_the_public_key_only(public_key_sandbox: Sandbox) -> None:
    wechat = WechatClient(public_key_sandbox)
    seller = await wechat.buyer()
    for_certificate = {**transfer_body(fresh("wdr"), seller, 200_000), "user_name": encrypt_for_platform("张三")}
    refused = await wechat.transfer(for_certificate, headers={wp.HEADER_SERIAL: PLATFORM_SERIAL})
    assert PUBLIC_KEY_ID in refused.error(400, "PARAM_ERROR")
    wrong_key = await wechat.transfer(for_certificate, headers={wp.HEADER_SERIAL: PUBLIC_KEY_ID})
    assert "解密失败" in wrong_key.error(400, "PARAM_ERROR")  # named the public key, encrypted for the certificate
    body = {**transfer_body(fresh("wdr"), seller, 200_000), "user_name": encrypt_for_platform("张三", PUBKEY_PUBLIC)}
    accepted = await wechat.transfer(body, headers={wp.HEADER_SERIAL: PUBLIC_KEY_ID})
    assert accepted.ok()["state"] in ("ACCEPTED", "WAIT_USER_CONFIRM")


async def test_a_switching_merchant_gets_answers_and_notifications_under_both_keys(
    switching_sandbox: Sandbox, merchant: Merchant
) -> None:
    wechat = WechatClient(switching_sandbox)
    serials = []
    for _ in range(6):
        answer = await wechat.query(fresh())
        answer.error(404, "ORDER_NOT_EXIST")  # verified under whichever key its Wechatpay-Serial names
        key = PUBKEY_PUBLIC if answer.headers["Wechatpay-Serial"] == PUBLIC_KEY_ID else PLATFORM_PUBLIC
        assert _verifies_with(dict(answer.headers), answer.raw, key)
        serials.append(answer.headers["Wechatpay-Serial"])
    assert set(serials) == {PLATFORM_SERIAL, PUBLIC_KEY_ID}
    notified = {(await _paid_notification(wechat, merchant))["Wechatpay-Serial"] for _ in range(4)}
    assert notified == {PLATFORM_SERIAL, PUBLIC_KEY_ID}
    # The certificate is still served while switching, and fields may be encrypted for either key.
    (entry,) = (await wechat.request("GET", "/v3/certificates")).ok()["data"]
    assert entry["serial_no"] == PLATFORM_SERIAL
    seller = await wechat.buyer()
    for serial, key in ((PLATFORM_SERIAL, PLATFORM_PUBLIC), (PUBLIC_KEY_ID, PUBKEY_PUBLIC)):
        body = {**transfer_body(fresh("wdr"), seller, 200_000), "user_name": encrypt_for_platform("张三", key)}
        assert (await wechat.transfer(body, headers={wp.HEADER_SERIAL: serial})).ok()["state"] == "ACCEPTED"


async def test_the_sdk_verifies_every_answer_of_a_switching_merchant(switching_sandbox: Sandbox) -> None:
    """wechatpayv3 with both keys configured, as WeChat tells a switching merchant to: the public key under its id,
    the platform certificate fetched from /v3/certificates for answers signed under the certificate serial."""
    wechat = WechatClient(switching_sandbox)
    sdk = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MCHID,
        private_key=pem("TEST_ONLY_wechatpay_merchant_private.pem").decode(),
        cert_serial_no=MERCHANT_SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        notify_url="https://merchant.example.com/notify",
        public_key=pem("TEST_ONLY_wechatpay_pubkey_public.pem").decode(),
        public_key_id=PUBLIC_KEY_ID,
        timeout=(5, 10),
    )
    sdk._core._gate_way = switching_sandbox.url
    openid = await wechat.buyer()
    for _ in range(4):  # the SDK raises when an answer does not verify
        code, text = await asyncio.to_thread(
            sdk.pay, description="切换期", out_trade_no=fresh(), amount={"total": 3}, payer={"openid": openid}
        )
        assert code == 200 and json.loads(text)["prepay_id"], text
    assert [c.serial_number for c in sdk._core._certificates] == [int(PLATFORM_SERIAL, 16)]
