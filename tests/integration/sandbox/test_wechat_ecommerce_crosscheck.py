"""Cross-check with wechatpayv3 2.0.4 in partner mode: its partner JSAPI calls are accepted, and the e-commerce calls
it has no helpers for go through its signing core, which verifies our answers."""

from __future__ import annotations

import asyncio
import json
import time

from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.type import RequestType

from shared.mongo import Client
from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.ecommerce_support import SP_APPID, SP_MCHID, EcommerceClient, register_seller
from tests.integration.sandbox.wechat_support import (
    APIV3_KEY,
    MERCHANT_SERIAL,
    PUBLIC_KEY_ID,
    fresh,
    notifications_to,
    notify_path,
    pem,
)
from tests.support.infra import eventually


def partner_sdk(sandbox: Sandbox, notify_url: str) -> WeChatPay:
    client = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=SP_MCHID,
        private_key=pem("TEST_ONLY_wechatpay_merchant_private.pem").decode(),
        cert_serial_no=MERCHANT_SERIAL,
        appid=SP_APPID,
        apiv3_key=APIV3_KEY,
        notify_url=notify_url,
        public_key=pem("TEST_ONLY_wechatpay_pubkey_public.pem").decode(),
        public_key_id=PUBLIC_KEY_ID,
        partner_mode=True,
        timeout=(5, 10),
    )
    client._core._gate_way = sandbox.url
    return client


async def test_the_sdk_in_partner_mode_places_pays_queries_splits_and_reads_the_balance(
    sandbox: Sandbox, merchant: Merchant, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    path = notify_path()
    sdk = partner_sdk(sandbox, merchant.url + path)
    openid, out_trade_no = await wechat.buyer(), fresh()

    code, text = await asyncio.to_thread(
        sdk.pay,
        description="二手书",
        out_trade_no=out_trade_no,
        amount={"total": 1000},
        payer={"sp_openid": openid},
        sub_mchid=seller,
        settle_info={"profit_sharing": True},
    )
    assert code == 200, text
    prepay_id = json.loads(text)["prepay_id"]
    timestamp, nonce, package = str(int(time.time())), wp.new_nonce(), f"prepay_id={prepay_id}"
    pay_sign = sdk.sign([SP_APPID, timestamp, nonce, package])
    requested = {"timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA", "paySign": pay_sign}
    status, paid = await wechat.post("/sandbox/wechat/pay", {"openid": openid, **requested})
    assert (status, paid) == (200, {"result": "ok"}), paid

    code, text = await asyncio.to_thread(sdk.query, out_trade_no=out_trade_no, sub_mchid=seller)
    assert code == 200, text
    queried = json.loads(text)
    assert (queried["trade_state"], queried["sub_mchid"], queried["payer"]) == (
        "SUCCESS",
        seller,
        {"sp_openid": openid},
    )
    (received,) = await notifications_to(merchant, path)
    event = sdk.callback(received.headers, received.body)
    assert event["event_type"] == "TRANSACTION.SUCCESS"
    assert (event["resource"]["sp_mchid"], event["resource"]["sub_mchid"]) == (SP_MCHID, seller)

    # E-commerce calls through the SDK's core: it signs the request and verifies the signed answer.
    split = {
        "sub_mchid": seller,
        "transaction_id": queried["transaction_id"],
        "out_order_no": fresh("ps"),
        "receivers": [{"type": "MERCHANT_ID", "receiver_account": SP_MCHID, "amount": 50, "description": "平台服务费"}],
        "finish": True,
    }
    code, text = await asyncio.to_thread(
        sdk._core.request, "/v3/ecommerce/profitsharing/orders", method=RequestType.POST, data=split
    )
    assert code == 200 and json.loads(text)["status"] == "PROCESSING", text

    async def balance() -> dict[str, int]:
        code, text = await asyncio.to_thread(
            sdk._core.request, f"/v3/ecommerce/fund/balance/{seller}?account_type=BASIC"
        )
        assert code == 200, text
        data: dict[str, int] = json.loads(text)
        return data

    # finish=true: once the split is carried out, the rest is the seller's.
    done = await eventually(balance, until=lambda b: b["pending_amount"] == 0, what="the split to finish")
    assert done["available_amount"] == 950

    unpaid = fresh()
    code, _ = await asyncio.to_thread(
        sdk.pay,
        description="二手书",
        out_trade_no=unpaid,
        amount={"total": 1},
        payer={"sp_openid": openid},
        sub_mchid=seller,
    )
    code, text = await asyncio.to_thread(sdk.close, out_trade_no=unpaid, sub_mchid=seller)
    assert code == 204, text
