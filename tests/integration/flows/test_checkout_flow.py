"""Listing and payment as real processes with the sandbox: a mini-program buyer's checkout from reservation to a paid
order and a sold item, a cancelled checkout closing its payment at WeChat, and the traces that tie them together."""

from __future__ import annotations

from typing import Any

from shared.ids import new_id
from tests.integration.listing.conftest import ListingClient
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import eventually, jaeger_trace_spans


async def wechat_seller_item(listing: ListingClient, payments: PaymentClient) -> dict[str, Any]:
    seller = await listing.seller(level=5)
    shop = await listing.ok("GET", f"/sellers/{seller}/shop")
    # The seller onboarded as a WeChat Pay e-commerce sub-merchant (the wallet's job; the sandbox's shortcut here).
    sub_merchant = await payments.sandbox_post("/sandbox/wechat/sub-merchants", {"merchant_shortname": "小鱼的铺子"})
    assert sub_merchant.status == 201, sub_merchant.body
    await listing.publish(
        "wallet.collection_activated",
        {
            "seller_id": seller,
            "shop_id": shop["id"],
            "account_id": new_id("acc"),
            "sub_mchid": sub_merchant.body["sub_mchid"],
        },
        aggregate_id=new_id("acc"),
        producer="wallet",
    )
    await eventually(
        lambda: listing.ok("GET", f"/shops/{shop['id']}"),
        until=lambda s: s["wechat_collection"] == "active",
        what="collection active",
    )
    await eventually(
        lambda: payments.db["payees"].find_one({"_id": seller}), until=bool, what="payment knows the payee"
    )
    return await listing.item(seller, price_fen=26_800)


async def checkout(
    listing: ListingClient, payments: PaymentClient
) -> tuple[
    dict[str, Any],
    dict[str, Any],
    str,
    str,
]:
    item = await wechat_seller_item(listing, payments)
    openid = await payments.openid()
    order = await listing.order(item["id"], channel="mp", method="wechat_pay")
    body = {
        "order_id": order["id"],
        "buyer_id": order["buyer_id"],
        "seller_id": order["seller_id"],
        "channel": "mp",
        "method": "wechat_pay",
        "amount_fen": order["amount_fen"],
        "expires_at": order["expires_at"],
        "description": order["item"]["title"],
        "openid": openid,
    }
    async with payments.http.post(
        f"{payments.process.url}/internal/v1/payments",
        json=body,
        headers={"Authorization": "Bearer test-internal-token-0123456789"},
    ) as resp:
        assert resp.status == 201, await resp.text()
        payment = await resp.json()
        checkout_trace = resp.headers["traceparent"].split("-")[1]
    return order, payment, openid, checkout_trace


async def test_mp_checkout_pays_the_order_and_sells_the_item(
    listing: ListingClient,
    payments: PaymentClient,
) -> None:
    order, payment, openid, checkout_trace = await checkout(listing, payments)
    assert payment["status"] == "requires_action" and payment["amount_fen"] == 26_800
    reply = await payments.wechat_pay(payment, openid)
    assert reply.status == 200, reply.body
    paid = await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"), until=lambda o: o["status"] == "paid", what="order paid"
    )
    assert paid["payment_id"] == payment["id"]
    await eventually(
        lambda: listing.ok("GET", f"/items/{order['item']['id']}"),
        until=lambda i: i["status"] == "sold",
        what="item sold",
    )
    # The notification's trace reaches listing, and links back to the checkout trace.
    entry = await listing.db["stream_entries"].find_one({"stream_id": order["id"], "events.type": "order.paid"})
    assert entry is not None
    notify_trace = entry["trace"]["traceparent"].split("-")[1]
    assert notify_trace != checkout_trace

    def linked(spans: list[dict[str, Any]]) -> bool:
        links = any(link.get("traceId") == checkout_trace for s in spans for link in s.get("links", []))
        return links and {payments.name, listing.name} <= {s["service"] for s in spans}

    spans = await eventually(
        lambda: _spans(notify_trace), until=linked, timeout_s=30, what="notification span linked to the checkout trace"
    )
    notify = next(s for s in spans if s["name"] == "POST /notify/wechatpay")
    assert notify["service"] == payments.name
    assert any(link.get("traceId") == checkout_trace for link in notify.get("links", []))


async def test_a_cancelled_checkout_closes_the_payment_at_wechat(
    listing: ListingClient,
    payments: PaymentClient,
) -> None:
    order, payment, openid, _ = await checkout(listing, payments)
    await listing.ok("POST", f"/orders/{order['id']}/cancel", {"buyer_id": order["buyer_id"]})
    closed = await eventually(
        lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "closed", what="payment closed"
    )
    assert closed["closed_reason"] == "order_closed"
    late = await payments.wechat_pay(payment, openid)
    assert late.status == 409 and late.body["error"]["code"] == "order_closed"
    assert (await listing.ok("GET", f"/items/{order['item']['id']}"))["status"] == "on_sale"


async def _spans(trace_id: str) -> list[dict[str, Any]]:
    return jaeger_trace_spans(trace_id)


async def test_an_app_order_cancelled_and_then_paid_at_alipay_stays_closed_and_is_refunded(
    listing: ListingClient,
    payments: PaymentClient,
) -> None:
    """The buyer cancels, then finishes the Alipay cashier that was still open: the money goes back by itself, the
    order stays closed with the late payment on its timeline, and the item stays on sale."""
    item = await listing.item(await listing.seller(), price_fen=18_800)
    order = await listing.order(item["id"], channel="app", method="alipay")
    body = {
        "order_id": order["id"],
        "buyer_id": order["buyer_id"],
        "seller_id": order["seller_id"],
        "channel": "app",
        "method": "alipay",
        "amount_fen": order["amount_fen"],
        "expires_at": order["expires_at"],
        "description": order["item"]["title"],
    }
    payment = await payments.create(body)
    await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"),
        until=lambda o: "order.payment_started" in [t["type"] for t in o["timeline"]],
        what="listing knows the payment started",
    )
    await listing.ok("POST", f"/orders/{order['id']}/cancel", {"buyer_id": order["buyer_id"]})
    await eventually(
        lambda: payments.payment(payment["id"]),
        until=lambda p: p["order_closed_at"] is not None,
        what="payment knows the order closed",
    )
    paid = await payments.alipay_pay(payment)
    assert paid.status == 200, paid.body
    refunded = await eventually(
        lambda: payments.payment(payment["id"]),
        until=lambda p: p["refunded_fen"] == order["amount_fen"],
        what="the late payment refunded in full",
    )
    assert refunded["status"] == "succeeded" and [r["cause"] for r in refunded["refunds"]] == ["order_closed"]
    late = await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"),
        until=lambda o: o["timeline"][-1]["type"] == "order.late_payment",
        what="the late payment on the order's timeline",
    )
    assert late["status"] == "closed" and late["closed_reason"] == "buyer_cancelled"
    assert (await listing.ok("GET", f"/items/{item['id']}"))["status"] == "on_sale"
