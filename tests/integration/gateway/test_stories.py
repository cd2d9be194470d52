"""The two stories of the gateway issue, through the gateway alone (and the sandbox as the buyer's phone and WeChat's
review), each request one trace in Jaeger spanning the gateway and every service it reaches across RabbitMQ.

(1) The mini-program story: a seller lists an item in the app; the admin sets shop levels and invites L5+; the seller
activates WeChat collection in the workbench; a mini-program buyer signs in, finds the item by search and pays with
WeChat Pay. (2) The app story: a buyer signs a password-free agreement and buys in one step."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.gateway.conftest import APPLICATION, GatewayClient, Login, invite
from tests.integration.listing.conftest import ListingClient
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import eventually, jaeger_trace_spans
from tests.support.traces import CONSUMER, SERVER, kind


def trace_of(reply_headers: dict[str, str]) -> str:
    return reply_headers["traceparent"].split("-")[1]


async def one_trace_across_rabbitmq(trace_id: str, services: set[str], gateway_name: str) -> list[dict[str, Any]]:
    """The trace's spans once every one of `services` has reported in it and a consumer's chain leads back to the
    gateway's root span (each process exports its spans in batches, so they arrive over a moment)."""
    return await eventually(
        lambda: _spans(trace_id),
        until=lambda spans: (
            services <= {s["service"] for s in spans} and crosses_rabbitmq_to_the_root(spans, gateway_name)
        ),
        timeout_s=30,
        what=f"spans of {sorted(services)} in trace {trace_id}, across RabbitMQ to the gateway's root",
    )


async def _spans(trace_id: str) -> list[dict[str, Any]]:
    return jaeger_trace_spans(trace_id)


def crosses_rabbitmq_to_the_root(spans: list[dict[str, Any]], gateway_name: str) -> bool:
    """Some consumer span's ancestors lead up to the gateway's server span, the trace's root."""
    by_id = {s["spanId"]: s for s in spans}
    for span in spans:
        if kind(span) != CONSUMER:
            continue
        chain = [span]
        while chain[-1].get("parentSpanId") in by_id:
            chain.append(by_id[chain[-1]["parentSpanId"]])
        root = chain[-1]
        if root["service"] == gateway_name and kind(root) == SERVER and not root.get("parentSpanId"):
            return True
    return False


async def listed_item(gateway: GatewayClient, seller: Login, title: str, price_fen: int) -> tuple[dict[str, Any], Any]:
    shop = await gateway.ok("POST", "/app/v1/shop", seller, body={"name": f"闲置小铺{uuid.uuid4().hex[:4]}"})
    body = {
        "title": title,
        "description": "九成新，配件齐全",
        "category": "数码",
        "condition": "like_new",
        "price_fen": price_fen,
        "images": ["https://img.example/a.jpg"],
        "city": "杭州",
    }
    draft = await gateway.ok("POST", "/app/v1/shop/items", seller, body=body)
    assert draft["status"] == "draft"
    item = await gateway.ok("POST", f"/app/v1/shop/items/{draft['id']}/publish", seller)
    assert item["status"] == "on_sale"
    return item, shop


async def test_the_mini_program_story_from_listing_to_a_wechat_payment(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient
) -> None:
    seller = await gateway.app_login()
    word = f"拍立得{uuid.uuid4().hex[:6]}"
    item, shop = await listed_item(gateway, seller, f"{word} 相机", 45_600)
    not_yet = await gateway.ok("GET", f"/mp/v1/items/{item['id']}")
    assert not_yet["purchasable"] is False and not_yet["unpurchasable_reason"] == "seller_not_accepting_wechat_pay"

    # The admin sets the level and invites L5+ shops; the seller activates in the workbench.
    await invite(gateway, shop)
    invited = await eventually(
        lambda: gateway.ok("GET", "/app/v1/shop/wechat-collection", seller),
        until=lambda c: c["status"] == "invited",
        what="the seller invited",
    )
    assert invited["invited_at"]
    submitted = await gateway.request(
        "POST", "/app/v1/shop/wechat-collection/activate", token=seller.token, body=APPLICATION
    )
    assert submitted.status == 202 and submitted.body["status"] == "reviewing", submitted.body
    assert APPLICATION["id_card_number"] not in str(submitted.body)
    assert APPLICATION["settlement_card"]["card_number"] not in str(submitted.body)  # type: ignore[index]
    active = await eventually(
        lambda: gateway.ok("GET", "/app/v1/shop/wechat-collection", seller),
        until=lambda c: c["status"] == "active",
        timeout_s=60,
        what="WeChat collection active",
    )
    assert active["activated_at"]

    # A mini-program buyer signs in, finds the item by search, and pays with WeChat Pay.
    buyer = await gateway.mp_login()
    found = await eventually(
        lambda: gateway.ok("GET", "/mp/v1/catalog", params={"q": word}),
        until=lambda p: any(c["id"] == item["id"] and c["purchasable"] for c in p["items"]),
        what="the item found and purchasable in the mini-program",
    )
    card = next(c for c in found["items"] if c["id"] == item["id"])
    assert card["payment_methods"] == ["wechat_pay"] and card["seller"]["level"] == 6
    checkout = await gateway.request(
        "POST", "/mp/v1/orders", token=buyer.token, key=uuid.uuid4().hex, body={"item_id": item["id"]}
    )
    assert checkout.status == 201, checkout.body
    order, payment = checkout.body["order"], checkout.body["payment"]
    prepay_id = payment["wechat_request_payment"]["package"].removeprefix("prepay_id=")
    await gateway.sandbox("/sandbox/wechat/pay", {"prepay_id": prepay_id, "openid": buyer.openid})
    paid = await eventually(
        lambda: gateway.ok("GET", f"/mp/v1/orders/{order['id']}", buyer),
        until=lambda o: o["status"] == "paid",
        what="the order paid",
    )
    assert paid["amount_fen"] == 45_600 and paid["seller_id"] == seller.user_id
    seller_view = await gateway.ok("GET", "/app/v1/orders", seller, params={"role": "seller"})
    assert order["id"] in {o["id"] for o in seller_view["items"]}

    # The checkout is one trace: the gateway, listing and payment, and across RabbitMQ back to its root.
    spans = await one_trace_across_rabbitmq(
        trace_of(checkout.headers), {gateway.name, listing.name, payments.name}, gateway.name
    )
    assert {s["traceId"] for s in spans} == {trace_of(checkout.headers)}


async def test_the_app_story_a_password_free_agreement_and_a_one_step_purchase(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient
) -> None:
    seller = await gateway.app_login()
    item, _ = await listed_item(gateway, seller, f"降噪耳机 {uuid.uuid4().hex[:6]}", 39_900)
    buyer = await gateway.app_login()
    created = await gateway.request("POST", "/app/v1/payment-agreements", token=buyer.token)
    assert created.status == 201 and created.body["status"] == "pending", created.body
    await gateway.sandbox(
        "/sandbox/alipay/agreements/sign", {"sign_url": created.body["sign_url"], "user_id": buyer.alipay_user_id}
    )
    agreements = await eventually(
        lambda: gateway.ok("GET", "/app/v1/payment-agreements", buyer),
        until=lambda p: any(a["id"] == created.body["id"] and a["status"] == "active" for a in p["items"]),
        what="the agreement active",
    )
    agreement = next(a for a in agreements["items"] if a["id"] == created.body["id"])
    assert agreement["single_limit_fen"] >= 39_900 and agreement["signed_at"]

    body = {"item_id": item["id"], "payment_method": "alipay_password_free", "agreement_id": agreement["id"]}
    checkout = await gateway.request("POST", "/app/v1/orders", token=buyer.token, key=uuid.uuid4().hex, body=body)
    assert checkout.status == 201, checkout.body
    assert checkout.body["payment"]["status"] == "succeeded"  # one step: no order string, nothing to confirm
    assert checkout.body["payment"]["alipay_order_string"] is None
    order = await eventually(
        lambda: gateway.ok("GET", f"/app/v1/orders/{checkout.body['order']['id']}", buyer),
        until=lambda o: o["status"] == "paid",
        what="the order paid",
    )
    assert order["payment_method"] == "alipay_password_free"
    spans = await one_trace_across_rabbitmq(
        trace_of(checkout.headers), {gateway.name, listing.name, payments.name}, gateway.name
    )
    assert {s["traceId"] for s in spans} == {trace_of(checkout.headers)}
    # Someone else's agreement is not found, and cannot be unsigned.
    stranger = await gateway.app_login()
    hidden = await gateway.request("DELETE", f"/app/v1/payment-agreements/{agreement['id']}", token=stranger.token)
    assert hidden.status == 404
    unsigned = await gateway.ok("DELETE", f"/app/v1/payment-agreements/{agreement['id']}", buyer)
    assert unsigned["status"] == "unsigned"
