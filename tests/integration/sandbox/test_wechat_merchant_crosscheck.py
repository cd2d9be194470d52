"""Cross-check with wechatpayv3 2.0.4 in public-key mode: it encrypts onboarding and settlement fields with the
WeChat Pay public key and names its id in Wechatpay-Serial; every answer verifies with that key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3 import applyment as sdk_applyment
from wechatpayv3.type import RequestType

from shared.mongo import Client
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.merchant_support import (
    MerchantClient,
    Seller,
    applyment_body,
    fresh_request_no,
    registered,
)
from tests.integration.sandbox.wechat_support import (
    APIV3_KEY,
    APPID,
    MCHID,
    MERCHANT_SERIAL,
    PUBLIC_KEY_ID,
    pem,
    start_sandbox,
)
from tests.support.infra import eventually

ENCRYPTED = {
    "id_card_info": ("id_card_name", "id_card_number"),
    "account_info": ("account_name", "account_number"),
    "contact_info": ("contact_name", "contact_id_card_number", "mobile_phone"),
}


@pytest.fixture(scope="module")
async def public_key_platform(mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    env = {"WECHAT_PAY_KEY_MODE": "public_key", "WECHAT_APPLYMENT_STEP_S": "50", "WECHAT_SETTLEMENT_AUDIT_S": "50"}
    async for sandbox in start_sandbox(mongo_client, merchant, log_dir, "sandbox-pubkey-platform", env):
        yield sandbox


def sdk_for(sandbox: Sandbox) -> WeChatPay:
    client = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MCHID,
        private_key=pem("TEST_ONLY_wechatpay_merchant_private.pem").decode(),
        cert_serial_no=MERCHANT_SERIAL,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        public_key=pem("TEST_ONLY_wechatpay_pubkey_public.pem").decode(),
        public_key_id=PUBLIC_KEY_ID,
        timeout=(5, 10),
    )
    client._core._gate_way = sandbox.url
    return client


def sdk_encrypted(sdk: WeChatPay, clear_body: dict[str, Any]) -> dict[str, Any]:
    """The body with its sensitive fields encrypted by the SDK (``_core.encrypt``: the public key, RSA-OAEP)."""
    body = json.loads(json.dumps(clear_body))
    for section, names in ENCRYPTED.items():
        for name in names:
            body[section][name] = sdk._core.encrypt(body[section][name])
    return body


def clear_applyment(seller: Seller, out_request_no: str) -> dict[str, Any]:
    body = applyment_body(seller, out_request_no)
    body["id_card_info"].update(id_card_name=seller.name, id_card_number=seller.id_number)
    body["account_info"].update(account_name=seller.name, account_number=seller.account_number)
    body["contact_info"].update(
        contact_name=seller.name, contact_id_card_number=seller.contact_id_number, mobile_phone=seller.mobile
    )
    return body


async def test_the_sdk_onboards_a_seller_and_changes_its_card_in_public_key_mode(
    public_key_platform: Sandbox, mongo_client: Client
) -> None:
    sdk = sdk_for(public_key_platform)
    seller, out_request_no = Seller(), fresh_request_no()
    body = sdk_encrypted(sdk, clear_applyment(seller, out_request_no))
    # The SDK has no call for the e-commerce applyment; its generic request signs it, names the public-key id in
    # Wechatpay-Serial (cipher_data) and verifies the answer's signature, raising if it does not verify.
    code, text = await asyncio.to_thread(
        sdk._core.request, "/v3/ecommerce/applyments/", RequestType.POST, body, cipher_data=True
    )
    assert code == 200, text
    applyment_id = json.loads(text)["applyment_id"]

    async def query() -> dict[str, Any]:
        code, text = await asyncio.to_thread(sdk._core.request, f"/v3/ecommerce/applyments/{applyment_id}")
        assert code == 200, text
        data: dict[str, Any] = json.loads(text)
        return data

    finished = await eventually(query, until=lambda got: got["applyment_state"] == "FINISH", what="FINISH")
    sub_mchid = finished["sub_mchid"]
    await registered(mongo_client, public_key_platform, sub_mchid, "FINISH")

    code, text = await asyncio.to_thread(
        sdk.applyment_settlement_modify,
        sub_mchid=sub_mchid,
        account_type="ACCOUNT_TYPE_PRIVATE",
        account_bank="工商银行",
        bank_address_code="110000",
        account_number="6217856100012345671",
        bank_name="中国工商银行北京分行",
    )
    assert code == 200, text
    application_no = json.loads(text)["application_no"]

    async def review() -> dict[str, Any]:
        code, text = await asyncio.to_thread(
            sdk_applyment.applyment_settlement_modify_state, sdk, sub_mchid, application_no
        )
        assert code == 200, text
        data: dict[str, Any] = json.loads(text)
        return data

    done = await eventually(review, until=lambda got: got["verify_result"] != "AUDITING", what="the review")
    # The SDK sends no account_name: the registered (masked) name is kept.
    assert (done["verify_result"], done["account_name"]) == ("AUDIT_SUCCESS", "***远")
    code, text = await asyncio.to_thread(sdk.applyment_settlement_query, sub_mchid=sub_mchid)
    assert code == 200 and json.loads(text)["account_number"].endswith("5671"), text


async def test_a_public_key_platform_refuses_fields_encrypted_for_a_certificate(public_key_platform: Sandbox) -> None:
    wechat = MerchantClient(public_key_platform)
    answer = await wechat.submit(applyment_body(Seller(), fresh_request_no()))  # for the certificate, named so
    assert PUBLIC_KEY_ID in answer.error(400, "PARAM_ERROR")
