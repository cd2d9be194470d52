"""A mini-program order's return through the gateway alone: neither courier pickup nor a service point in the
mini-program, the buyer ships it with a carrier and tracking number, the seller confirms in the app, WeChat refunds,
and the buyer reads the details in the app (signed in there as the same person) — the mini-program shows the status."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.gateway.conftest import GatewayClient, Login, publish_item, wechat_seller
from tests.integration.listing.conftest import ListingClient
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import eventually


async def paid_mp_order(gateway: GatewayClient, seller: Login, buyer: Login) -> dict[str, Any]:
    item = await publish_item(gateway, seller, title=f"蓝牙音箱 {uuid.uuid4().hex[:6]}", price_fen=19_900)
    reply = await gateway.request(
        "POST", "/mp/v1/orders", token=buyer.token, key=uuid.uuid4().hex, body={"item_id": item["id"]}
    )
    assert reply.status == 201, reply.body
    prepay_id = reply.body["payment"]["wechat_request_payment"]["package"].removeprefix("prepay_id=")
    await gateway.sandbox("/sandbox/wechat/pay", {"prepay_id": prepay_id, "openid": buyer.openid})
    order: dict[str, Any] = await eventually(
        lambda: gateway.ok("GET", f"/mp/v1/orders/{reply.body['order']['id']}", buyer),
        until=lambda o: o["status"] == "paid",
        what="the order paid",
    )
    return order


async def test_a_mini_program_return_is_self_shipped_refunded_at_wechat_and_read_in_the_app(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient
) -> None:
    seller = await wechat_seller(gateway, listing, payments)
    buyer = await gateway.mp_login()
    order = await paid_mp_order(gateway, seller, buyer)
    ship = {"carrier": "SF", "tracking_no": "SF1234567890123"}
    shipped = await gateway.ok("POST", f"/app/v1/orders/{order['id']}/ship", seller, body=ship)
    assert shipped["status"] == "shipped"

    body = {"type": "return_and_refund", "amount_fen": 19_900, "reason": "与描述不符", "evidence": []}
    # Opened the moment the order is shipped: refund may not have heard of the shipment yet, which the gateway
    # waits out (it asks listing, and tries again) — one request, one answer.
    opened = await gateway.request(
        "POST", f"/mp/v1/orders/{order['id']}/refunds", token=buyer.token, key=uuid.uuid4().hex, body=body
    )
    assert opened.status == 201, opened.body
    case = opened.body
    assert case["status"] == "requested" and case["details_in_app"] is True and "timeline" not in case
    agreed = await gateway.ok("POST", f"/app/v1/refunds/{case['id']}/agree", seller)
    assert agreed["status"] == "agreed"
    before = await gateway.ok("GET", f"/app/v1/refunds/{case['id']}", seller)

    for method in ("courier_pickup", "service_point"):
        refused = await gateway.request(
            "POST", f"/mp/v1/refunds/{case['id']}/return-shipment", token=buyer.token, body={"method": method}
        )
        assert refused.status == 422, refused.body
        assert refused.body["error"]["code"] == "return_method_not_available_in_channel"
    assert await gateway.ok("GET", f"/app/v1/refunds/{case['id']}", seller) == before  # nothing changed
    no_number = await gateway.request(
        "POST", f"/mp/v1/refunds/{case['id']}/return-shipment", token=buyer.token, body={"method": "self_ship"}
    )
    assert no_number.status == 422

    ret = {"method": "self_ship", "carrier": "ZTO", "tracking_no": "78123456789012"}
    sent = await gateway.ok("POST", f"/mp/v1/refunds/{case['id']}/return-shipment", buyer, body=ret)
    assert sent["status"] == "return_shipped"
    confirmed = await gateway.ok("POST", f"/app/v1/refunds/{case['id']}/confirm-return", seller)
    assert confirmed["status"] in ("refunding", "refunded")

    # The buyer reads the details in the app, signed in there as the same person.
    issued = await gateway.sandbox("/sandbox/alipay/auth-codes", {})
    app = await gateway.ok("POST", "/app/v1/session", body={"auth_code": issued["auth_code"], "mp_token": buyer.token})
    assert app["user"]["id"] == buyer.user_id
    full = await eventually(
        lambda: gateway.ok("GET", f"/app/v1/refunds/{case['id']}", app["token"]),
        until=lambda c: c["status"] == "refunded",
        timeout_s=60,
        what="the refund completed at WeChat",
    )
    assert full["channel"] == "mp" and full["amount_fen"] == 19_900 and full["provider_refund_id"]
    assert full["return_shipment"]["method"] == "self_ship"
    assert (full["return_shipment"]["carrier"], full["return_shipment"]["tracking_no"]) == ("ZTO", "78123456789012")
    kinds = [e["type"] for e in full["timeline"]]
    assert kinds.index("requested") < kinds.index("return_shipped") < kinds.index("refunded"), kinds
    status = await gateway.ok("GET", f"/mp/v1/refunds/{case['id']}", buyer)
    assert status == {
        "id": case["id"],
        "order_id": order["id"],
        "status": "refunded",
        "amount_fen": 19_900,
        "details_in_app": True,
    }
    refunded = await eventually(
        lambda: gateway.ok("GET", f"/mp/v1/orders/{order['id']}", buyer),
        until=lambda o: o["status"] == "refunded",
        what="the order refunded",
    )
    assert refunded["refunded_fen"] == 19_900
    stranger = await gateway.app_login()
    assert (await gateway.request("GET", f"/app/v1/refunds/{case['id']}", token=stranger.token)).status == 404
