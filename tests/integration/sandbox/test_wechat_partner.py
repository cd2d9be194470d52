"""Partner JSAPI: the platform (sp_mchid) sells for a registered seller (sub_mchid); paid, notified, queried, closed."""

from __future__ import annotations

import time

from shared.mongo import Client
from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.ecommerce_support import (
    SP_APPID,
    SP_MCHID,
    EcommerceClient,
    partner_body,
    register_seller,
)
from tests.integration.sandbox.wechat_support import MERCHANT_PRIVATE, fresh, notifications_to, notify_path, verified


async def test_a_paid_partner_order_notifies_the_platform_naming_the_seller_and_the_sp_openid(
    sandbox: Sandbox, merchant: Merchant, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_placed(seller, 1234)

    status, paid = await wechat.pay(order.prepay_id, order.openid)

    assert (status, paid) == (200, {"result": "ok"})
    (received,) = await notifications_to(merchant, order.notify_path)
    notification = verified(received)
    assert notification.event_type == "TRANSACTION.SUCCESS"
    resource = notification.resource
    assert (resource["sp_appid"], resource["sp_mchid"], resource["sub_mchid"]) == (SP_APPID, SP_MCHID, seller)
    assert resource["payer"] == {"sp_openid": order.openid}
    assert "mchid" not in resource and "appid" not in resource
    assert (resource["trade_state"], resource["out_trade_no"]) == ("SUCCESS", order.out_trade_no)
    assert resource["settle_info"] == {"profit_sharing": True}
    assert resource["amount"]["total"] == 1234

    queried = (await wechat.partner_query(seller, order.out_trade_no)).ok()
    assert queried["transaction_id"] == resource["transaction_id"] and queried["sub_mchid"] == seller
    assert (await wechat.partner_query_id(seller, resource["transaction_id"])).ok() == queried
    # The order is the seller's: another seller, or the direct query, does not find it.
    other = await register_seller(mongo_client, sandbox)
    (await wechat.partner_query(other, order.out_trade_no)).error(404, "ORDER_NOT_EXIST")
    (await wechat.query(order.out_trade_no)).error(404, "ORDER_NOT_EXIST")


async def test_a_partner_order_is_idempotent_and_closes_with_204_until_paid(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_placed(seller, 500)
    again = partner_body(seller, order.out_trade_no, 500, order.openid, order.notify_url)
    assert (await wechat.partner_jsapi(again)).ok() == {"prepay_id": order.prepay_id}
    changed = partner_body(seller, order.out_trade_no, 501, order.openid, order.notify_url)
    assert "201 商户订单号重复" in (await wechat.partner_jsapi(changed)).error(400, "INVALID_REQUEST")

    closed = await wechat.partner_close(seller, order.out_trade_no)

    assert closed.status == 204 and closed.raw == b"" and closed.signature_valid
    assert (await wechat.partner_query(seller, order.out_trade_no)).ok()["trade_state"] == "CLOSED"
    # Closing it again answers 204 as well (docs/providers.md §8: a 204 proves nothing; query the order).
    assert (await wechat.partner_close(seller, order.out_trade_no)).status == 204
    status, refused = await wechat.pay(order.prepay_id, order.openid)
    assert (status, refused["error"]["code"]) == (409, "order_closed")
    paid = await wechat.partner_paid(seller, 100)
    (await wechat.partner_close(seller, paid.out_trade_no)).error(400, "ORDERPAID")


async def test_a_seller_that_is_not_finish_or_unknown_cannot_take_orders(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    openid, url = await wechat.buyer(), "https://platform.example.com/notify"
    for state in ("NEED_SIGN", "FROZEN", "AUDITING"):
        seller = await register_seller(mongo_client, sandbox, state=state)
        out_trade_no = fresh()
        refused = await wechat.partner_jsapi(partner_body(seller, out_trade_no, 100, openid, url))
        assert state in refused.error(403, "NO_AUTH")
        (await wechat.partner_query(seller, out_trade_no)).error(404, "ORDER_NOT_EXIST")
    unknown = await wechat.partner_jsapi(partner_body("1699999999", fresh(), 100, openid, url))
    assert "sub_mchid" in unknown.error(400, "PARAM_ERROR")


async def test_a_partner_order_needs_the_platforms_app_and_signer_and_a_logged_in_buyer(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    openid, url = await wechat.buyer(), f"{sandbox.merchant.url}{notify_path()}"
    body = partner_body(seller, fresh(), 100, openid, url)
    (await wechat.partner_jsapi({**body, "sp_appid": "wx0000000000000000"})).error(400, "APPID_MCHID_NOT_MATCH")
    assert "mchid" in (await wechat.partner_jsapi({**body, "sp_mchid": "1900000002"})).error(400, "PARAM_ERROR")
    stranger = {**body, "payer": {"sp_openid": "o" + "x" * 27}}
    assert "sp_openid" in (await wechat.partner_jsapi(stranger)).error(400, "OPENID_MISMATCH")
    no_openid = {**body, "payer": {"openid": openid}}
    assert "sp_openid" in (await wechat.partner_jsapi(no_openid)).error(400, "PARAM_ERROR")
    missing = await wechat.request("GET", f"/v3/pay/partner/transactions/out-trade-no/{fresh()}?sp_mchid={SP_MCHID}")
    assert "sub_mchid" in missing.error(400, "PARAM_ERROR")


async def test_a_partner_order_paid_with_the_full_request_payment_parameters(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_placed(seller, 300)
    params = wp.request_payment_params(
        app_id=SP_APPID,
        prepay_id=order.prepay_id,
        private_key=MERCHANT_PRIVATE,
        timestamp=int(time.time()),
        nonce_str=wp.new_nonce(),
    )

    status, paid = await wechat.post("/sandbox/wechat/pay", {"openid": order.openid, "appId": SP_APPID, **params})

    assert (status, paid) == (200, {"result": "ok"}), paid
    assert (await wechat.partner_query(seller, order.out_trade_no)).ok()["trade_state"] == "SUCCESS"
