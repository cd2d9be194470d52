"""After-sale cases end to end, with listing, payment, the wallet and the sandbox as real processes: a mini-program
return shipped by the buyer and refunded in full at WeChat; the return methods an mp order does not allow refused
with nothing changed; an app order refunded in part at Alipay; refunds agreed and returns confirmed by the timers;
the refund details of an mp case read in full (the app) and as a status (the mini-program); the ledger clean."""

from __future__ import annotations

import pytest

from tests.integration.refund.conftest import RefundClient, World
from tests.support.infra import eventually

pytestmark = pytest.mark.infra


async def test_an_mp_return_is_self_shipped_confirmed_and_refunded_in_full_at_wechat(
    world: World, refunds: RefundClient
) -> None:
    order = await world.paid_order("wechat_pay")
    await world.ship(order)
    buyer, seller = order["buyer_id"], order["seller_id"]
    case = await refunds.open(order, kind="return_and_refund", reason="与描述不符")
    rid = case["id"]
    await eventually(
        lambda: world.listing.ok("GET", f"/orders/{order['id']}", buyer_id=buyer),
        until=lambda o: o["status"] == "refunding",
        what="listing pauses the order",
    )
    await refunds.open(order, expect=409)  # one open case per order
    case = await refunds.ok("POST", f"/refunds/{rid}/agree", {"seller_id": seller})
    assert case["status"] == "awaiting_return"

    before = await refunds.db["stream_entries"].count_documents({})
    for bad in (
        {"method": "courier_pickup"},
        {"method": "service_point"},
        {"method": "self_ship", "carrier": "SF"},
        {"method": "self_ship", "carrier": "SF", "tracking_no": "SF12"},
    ):
        reply = await refunds.call("POST", f"/refunds/{rid}/return-shipment", {"buyer_id": buyer, **bad})
        assert reply.status == 422, (bad, reply.body)
    assert (
        await refunds.call("POST", f"/refunds/{rid}/return-shipment", {"buyer_id": buyer, "method": "courier_pickup"})
    ).body["error"]["code"] == "return_method_not_available_in_channel"
    assert await refunds.db["stream_entries"].count_documents({}) == before  # nothing changed
    assert (await refunds.case(rid, buyer))["status"] == "awaiting_return"

    shipment = {"buyer_id": buyer, "method": "self_ship", "carrier": "ZTO", "tracking_no": "78123456789012"}
    case = await refunds.ok("POST", f"/refunds/{rid}/return-shipment", shipment)
    assert case["status"] == "return_shipped" and case["return_shipment"]["tracking_no"] == "78123456789012"
    other = await refunds.call("POST", f"/refunds/{rid}/confirm-return", {"seller_id": buyer})
    assert other.status == 404  # only the case's seller
    await refunds.ok("POST", f"/refunds/{rid}/confirm-return", {"seller_id": seller})

    done = await refunds.case(rid, buyer, until=lambda c: c["status"] == "refunded", what="refunded")
    assert done["refunded_fen"] == 26_800 and done["provider_refund_id"]
    assert [e["type"] for e in done["timeline"]] == [
        "requested", "agreed", "return_shipped", "return_received", "approved", "refunded",
    ]  # fmt: skip
    status = await refunds.ok("GET", f"/refunds/{rid}", user_id=buyer, view="status")
    assert status == {
        "id": rid,
        "status": "refunded",
        "kind": "return_and_refund",
        "amount_fen": 26_800,
        "details_in": "app",
    }
    assert (await refunds.call("GET", f"/refunds/{rid}", user_id="usr_someone")).status == 404
    await eventually(
        lambda: world.listing.ok("GET", f"/orders/{order['id']}", buyer_id=buyer),
        until=lambda o: o["status"] == "refunded",
        what="listing refunds the order",
    )
    escrow = await world.wallet.escrow(order["payment_id"], until=lambda e: e["refunded_fen"] == 26_800)
    assert escrow["held_fen"] == 0
    check = await eventually(
        world.wallet.check, until=lambda c: c["ok"] and not c["in_flight"], what="the books clean, nothing in flight"
    )
    assert check["ok"], check


async def test_an_app_order_refunded_in_part_at_alipay_goes_on_and_settles_the_rest(
    world: World, refunds: RefundClient
) -> None:
    order = await world.paid_order("alipay", price_fen=30_000)
    buyer, seller = order["buyer_id"], order["seller_id"]
    await world.wallet.ok("PUT", f"/sellers/{seller}/alipay-account", {"alipay_user_id": "2088" + "7" * 12})
    key = "open-once"
    case = await refunds.open(order, key=key, amount_fen=10_000, reason="少了配件")
    assert await refunds.open(order, key=key, amount_fen=10_000, reason="少了配件") == case  # the same request
    rid = case["id"]
    assert (await refunds.call("POST", f"/refunds/{rid}/agree", {"seller_id": buyer})).status == 404
    await refunds.ok("POST", f"/refunds/{rid}/agree", {"seller_id": seller})
    done = await refunds.case(rid, seller, until=lambda c: c["status"] == "refunded", what="refunded")
    assert done["refunded_fen"] == 10_000
    listed = await refunds.ok("GET", "/refunds", seller_id=seller)
    assert [c["id"] for c in listed["items"]] == [rid]
    # Refunded in part: the order goes on, and completing it settles the rest to the seller.
    status = await eventually(
        lambda: world.listing.ok("GET", f"/orders/{order['id']}", buyer_id=buyer),
        until=lambda o: o["status"] == "paid",
        what="the order back to paid",
    )
    assert status["refunded_fen"] == 10_000
    escrow = await world.wallet.escrow(order["payment_id"], until=lambda e: e["refunded_fen"] == 10_000)
    assert escrow["held_fen"] == 20_000
    await world.ship(order)
    await world.listing.ok("POST", f"/orders/{order['id']}/confirm-receipt", {"buyer_id": buyer})
    settled = await world.wallet.escrow(order["payment_id"], until=lambda e: e["status"] == "settled")
    assert (settled["settlement"]["fee_fen"], settled["settlement"]["seller_fen"]) == (120, 19_880)
    check = await eventually(
        world.wallet.check, until=lambda c: c["ok"] and not c["in_flight"], what="the books clean, nothing in flight"
    )
    assert check["ok"], check


async def test_timers_agree_for_a_silent_seller_and_refund_an_unconfirmed_return(
    world: World, fast_refunds: RefundClient
) -> None:
    order = await world.paid_order("wechat_pay")
    await world.ship(order)
    buyer = order["buyer_id"]
    case = await fast_refunds.open(order, kind="return_and_refund")
    rid = case["id"]
    agreed = await fast_refunds.case(rid, buyer, until=lambda c: c["status"] == "awaiting_return", what="auto-agree")
    assert agreed["timeline"][1]["actor"] == "system"
    shipment = {"buyer_id": buyer, "method": "self_ship", "carrier": "顺丰", "tracking_no": "sf 1385 6287 16739"}
    shipped = await fast_refunds.ok("POST", f"/refunds/{rid}/return-shipment", shipment)
    assert (
        shipped["return_shipment"]["carrier"] == "SF" and shipped["return_shipment"]["tracking_no"] == "SF1385628716739"
    )
    done = await fast_refunds.case(rid, buyer, until=lambda c: c["status"] == "refunded", what="auto-refunded")
    assert [e["type"] for e in done["timeline"]][-3:] == ["return_received", "approved", "refunded"]
    await world.wallet.escrow(order["payment_id"], until=lambda e: e["refunded_fen"] == order["amount_fen"])
    check = await eventually(
        world.wallet.check, until=lambda c: c["ok"] and not c["in_flight"], what="the books clean, nothing in flight"
    )
    assert check["ok"], check


async def test_a_refund_refused_first_is_asked_again_under_a_new_id_and_a_duplicate_answer_changes_nothing(
    world: World, fast_refunds: RefundClient
) -> None:
    order = await world.paid_order("alipay", price_fen=12_000)
    buyer = order["buyer_id"]
    rule = {"target": "alipay.trade.refund", "action": "refuse", "code": "ACQ.TRADE_STATUS_ERROR"}
    await world.wallet.sandbox_post("/sandbox/faults", rule, expect=201)
    case = await fast_refunds.open(order, reason="不想要了")
    rid = case["id"]
    done = await fast_refunds.case(rid, buyer, until=lambda c: c["status"] == "refunded", what="refunded at last")
    steps = [e["type"] for e in done["timeline"]]
    assert steps == ["requested", "agreed", "approved", "refund_failed", "approved", "refunded"], steps
    assert len(done["refund_ids"]) == 2 and done["refund_ids"][0] == rid and done["refunded_fen"] == 12_000

    # payment.refunded published twice (the same fact under another event id): the case is refunded once.
    entries = [d async for d in world.payments.db["stream_entries"].find({"stream_id": order["payment_id"]})]
    refunded = next(e for d in entries for e in d["events"] if e["type"] == "payment.refunded")
    again = await world.payments.publish(
        "payment.refunded", refunded["payload"], order["payment_id"], producer="payment"
    )
    inbox = f"{fast_refunds.name}:{again.event_id}"
    await eventually(
        lambda: fast_refunds.db["processed_events"].find_one({"_id": inbox}), until=bool, what="the duplicate consumed"
    )
    after = await fast_refunds.case(rid, buyer)
    assert after["refunded_fen"] == 12_000 and [e["type"] for e in after["timeline"]] == steps
    stream = [d async for d in fast_refunds.db["stream_entries"].find({"stream_id": f"aso_{order['id']}"})]
    assert [e["type"] for d in stream for e in d["events"]].count("refund.completed") == 1
    escrow = await world.wallet.escrow(order["payment_id"], until=lambda e: e["refunded_fen"] == 12_000)
    assert escrow["held_fen"] == 0
    check = await eventually(
        world.wallet.check, until=lambda c: c["ok"] and not c["in_flight"], what="the books clean, nothing in flight"
    )
    assert check["ok"], check


async def test_a_rejected_case_escalated_to_the_platform_is_refunded_in_part_by_its_decision(
    world: World, refunds: RefundClient
) -> None:
    order = await world.paid_order("alipay", price_fen=20_000)
    buyer, seller = order["buyer_id"], order["seller_id"]
    rid = (await refunds.open(order, reason="有划痕"))["id"]
    await refunds.ok("POST", f"/refunds/{rid}/reject", {"seller_id": seller, "reason": "发货前无划痕"})
    escalated = await refunds.ok("POST", f"/refunds/{rid}/escalate", {"buyer_id": buyer, "reason": "有照片为证"})
    assert escalated["status"] == "escalated"
    again = await refunds.call("POST", f"/refunds/{rid}/escalate", {"buyer_id": buyer})
    assert (again.status, again.body["error"]["code"]) == (409, "already_escalated")
    decision = {"admin": "ops_1", "outcome": "refund", "amount_fen": 5_000, "reason": "双方各担部分责任"}
    decided = await refunds.ok("POST", f"/refunds/{rid}/decide", decision)
    assert (decided["status"], decided["decision"], decided["amount_fen"]) == ("approved", "双方各担部分责任", 5_000)
    done = await refunds.case(rid, buyer, until=lambda c: c["status"] == "refunded", what="refunded")
    assert [e["type"] for e in done["timeline"]] == [
        "requested", "rejected", "escalated", "decided", "approved", "refunded",
    ]  # fmt: skip
    assert done["timeline"][3]["actor"] == "admin" and done["refunded_fen"] == 5_000
    await world.wallet.escrow(order["payment_id"], until=lambda e: e["refunded_fen"] == 5_000)
    check = await eventually(
        world.wallet.check, until=lambda c: c["ok"] and not c["in_flight"], what="the books clean, nothing in flight"
    )
    assert check["ok"], check
