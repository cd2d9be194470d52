"""A payment whose order closed (issue 10, items 3, 4, 5, 8): closed at the provider when it can be, kept open and
reconciled while an Alipay order string is still payable, refunded in full by itself when money came anyway, whichever
of the close and the success came first; and the reconciler closes every unpaid payment after its deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.payment.domain import order_closed_refund_id, payment_id_for
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import eventually

MONEY_EVENTS = (
    "payment.succeeded.v1",
    "payment.closed.v1",
    "payment.refunded.v1",
    "payment.refund_failed.v1",
)


def of(seen: list[Any], payment_id: str) -> list[tuple[str, Any]]:
    return [(e.type, e.payload.get("reason")) for e in seen if e.payload.get("payment_id") == payment_id]


def soon(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def order_closed_recorded(payments: PaymentClient, payment_id: str) -> dict[str, Any]:
    view: dict[str, Any] = await eventually(
        lambda: payments.payment(payment_id), until=lambda p: p["order_closed_at"] is not None, what="close recorded"
    )
    return view


async def refunded_in_full(payments: PaymentClient, seen: list[Any], payment: dict[str, Any]) -> dict[str, Any]:
    refund_id = order_closed_refund_id(payment["id"])
    await eventually(lambda: _refunded(seen, payment["id"]), until=bool, what="payment.refunded for the closed order")
    view = await payments.payment(payment["id"])
    assert view["status"] == "succeeded" and view["refunded_fen"] == payment["amount_fen"]
    assert [(r["refund_id"], r["status"], r["cause"], r["amount_fen"]) for r in view["refunds"]] == [
        (refund_id, "succeeded", "order_closed", payment["amount_fen"])
    ]
    [refunded] = _refunded_now(seen, payment["id"])
    assert refunded.payload["out_refund_no"] == refund_id and refunded.payload["reason"] == "order_closed"
    types = await payments.event_types(payment["id"])
    assert types.count("payment.succeeded") == 1 and types.count("payment.refund_requested") == 1
    assert "payment.order_closed" in types and types.count("payment.refunded") == 1
    return view


async def _refunded(seen: list[Any], payment_id: str) -> list[Any]:
    return _refunded_now(seen, payment_id)


def _refunded_now(seen: list[Any], payment_id: str) -> list[Any]:
    return [e for e in seen if e.type == "payment.refunded" and e.payload["payment_id"] == payment_id]


async def test_cancelled_alipay_order_paid_later_is_refunded(payments: PaymentClient, watch: Any) -> None:
    seen = await watch(*MONEY_EVENTS)
    order = payments.order("alipay", amount_fen=18_800)
    payment = await payments.create(order)
    await payments.close_order(payment)
    # Alipay has no trade yet (the cashier was never opened), so nothing closes the order string: the payment stays
    # open (and reconciled) until its time_expire, instead of being closed locally and forgotten.
    waiting = await order_closed_recorded(payments, payment["id"])
    assert waiting["status"] == "requires_action" and waiting["order_closed_reason"] == "buyer_cancelled"
    # Nothing more is handed out to pay with: not in the view, not to a retried create.
    assert waiting["alipay_order_string"] is None
    again = await payments.call("POST", "/payments", order)
    assert again.status == 409 and again.body["error"]["code"] == "order_closed"
    paid = await payments.alipay_pay(payment)
    assert paid.status == 200, paid.body
    await refunded_in_full(payments, seen, payment)
    # The provider's word won (payment.succeeded), then the refund said so; the payment was never reported closed.
    assert [t for t, _ in of(seen, payment["id"])] == ["payment.succeeded", "payment.refunded"]
    refund_id = order_closed_refund_id(payment["id"])
    query = await payments.sandbox_notifications(refund_id)
    assert query and query[0]["body"]  # Alipay refunded it (its refund notification under our out_request_no)


async def test_an_unopened_alipay_order_string_is_closed_only_after_its_time_expire(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch(*MONEY_EVENTS)
    payment = await payments.create(payments.order("alipay", amount_fen=5_000, expires_at=soon(4)))
    await payments.close_order(payment)
    waiting = await order_closed_recorded(payments, payment["id"])
    assert waiting["status"] == "requires_action" and of(seen, payment["id"]) == []
    closed = await eventually(
        lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "closed", what="closed after expiry"
    )
    assert closed["closed_reason"] == "order_closed"
    assert datetime.fromisoformat(str(closed["expires_at"])) <= datetime.now(UTC)
    await eventually(lambda: _of(seen, payment["id"]), until=bool, what="payment.closed")
    assert of(seen, payment["id"]) == [("payment.closed", "order_closed")]
    late = await payments.alipay_pay(payment)
    assert late.status in (409, 422), late.body  # past time_expire Alipay takes no payment


async def test_a_wechat_payment_notified_after_its_order_closed_is_refunded(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch(*MONEY_EVENTS)
    openid = await payments.openid()
    order = payments.order("wechat_pay", openid=openid, amount_fen=27_000)
    pid = payment_id_for(order["order_id"])
    # The buyer pays; WeChat's notification comes late, after the order closed.
    await payments.fault(target="wechat.notify", action="delay", delay_s=4, match={"key": pid})
    payment = await payments.create(order)
    assert (await payments.wechat_pay(payment, openid)).status == 200
    await payments.close_order(payment, "payment_expired")
    # Closing at WeChat answers ORDERPAID: the success is recorded (from the query), then refunded in full.
    view = await refunded_in_full(payments, seen, payment)
    assert view["order_closed_reason"] == "payment_expired"
    assert [t for t, _ in of(seen, payment["id"])] == ["payment.succeeded", "payment.refunded"]
    assert len(await payments.sandbox_notifications(order_closed_refund_id(pid))) == 1


async def test_an_order_closing_after_its_payment_succeeded_refunds_it(payments: PaymentClient, watch: Any) -> None:
    seen = await watch(*MONEY_EVENTS)
    payment = await payments.create(payments.order("alipay", amount_fen=9_900))
    assert (await payments.alipay_pay(payment)).status == 200
    await eventually(lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="paid")
    await payments.close_order(payment)
    await payments.close_order(payment)  # closed twice (say, expired and cancelled at once): one refund all the same
    await refunded_in_full(payments, seen, payment)
    stream = payments.db["stream_entries"].find({"stream_id": payment["id"]}).sort("seq", 1)
    decided = [[e["type"] for e in entry["events"]] async for entry in stream]
    # One decision on one stream: the close and the refund it calls for, appended together.
    assert [d for d in decided if "payment.order_closed" in d] == [["payment.order_closed", "payment.refund_requested"]]


async def test_a_payment_created_after_its_order_closed_is_refused(payments: PaymentClient) -> None:
    order = payments.order("wechat_pay", openid=await payments.openid())
    await payments.close_order(order)
    pid = payment_id_for(order["order_id"])
    await eventually(lambda: payments.event_types(pid), until=bool, what="the close on the payment's stream")
    assert await payments.event_types(pid) == ["payment.order_closed"]
    refused = await payments.call("POST", "/payments", order)
    assert refused.status == 409 and refused.body["error"]["code"] == "order_closed"
    # Nothing was created, and nothing was asked of WeChat.
    assert await payments.event_types(pid) == ["payment.order_closed"]
    assert (await payments.call("GET", "/payments", order_id=order["order_id"])).status == 404


async def test_the_reconciler_closes_a_wechat_payment_whose_prepay_never_came(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch(*MONEY_EVENTS)
    order = payments.order("wechat_pay", openid=await payments.openid(), expires_at=soon(3))
    pid = payment_id_for(order["order_id"])
    await payments.fault(target="wechat.jsapi", action="error_5xx", times=None, match={"out_trade_no": pid})
    payment = await payments.create(order)
    assert payment["status"] == "processing"
    closed = await eventually(
        lambda: payments.payment(pid), until=lambda p: p["status"] == "closed", what="closed after its deadline"
    )
    assert closed["closed_reason"] == "expired"
    await eventually(lambda: _of(seen, pid), until=bool, what="payment.closed")
    assert of(seen, pid) == [("payment.closed", "expired")]


async def test_the_reconciler_closes_an_alipay_payment_never_opened_after_its_deadline(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch(*MONEY_EVENTS)
    payment = await payments.create(payments.order("alipay", amount_fen=1_000, expires_at=soon(3)))
    assert payment["status"] == "requires_action"
    closed = await eventually(
        lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "closed", what="closed"
    )
    assert closed["closed_reason"] == "expired"
    await eventually(lambda: _of(seen, payment["id"]), until=bool, what="payment.closed")
    assert of(seen, payment["id"]) == [("payment.closed", "expired")]


async def _of(seen: list[Any], payment_id: str) -> list[tuple[str, Any]]:
    return of(seen, payment_id)
