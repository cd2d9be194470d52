"""The after-sale aggregate, pure: every transition and every timer of a case, the escalation path, one open case per
order, never more than was paid, and payment's answers (duplicates, failures retried under new refund ids)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.refund.domain import (
    AFTER_SALE,
    AfterSale,
    Agree,
    CaseOpen,
    ConfirmReturn,
    Decide,
    Durations,
    Escalate,
    Expire,
    NotRefundable,
    Open,
    RecordOrder,
    RecordRefunded,
    RecordRefundFailed,
    Reject,
    ShipReturn,
    Withdraw,
)
from shared.channels import ReturnMethodNotAvailable
from shared.errors import Conflict, InvalidState, NotFound, ValidationFailed
from tests.support.aggregates import T0, apply, types

D = Durations()
BUYER, SELLER = "usr_buyer", "usr_seller"


def order(channel: str = "mp", state: str = "shipped", amount: int = 26_800) -> AfterSale:
    s = AfterSale()
    paid = RecordOrder(
        order_id="ord_1",
        buyer_id=BUYER,
        seller_id=SELLER,
        channel=channel,  # type: ignore[arg-type]
        payment_method="wechat_pay" if channel == "mp" else "alipay",
        payment_id="pay_1",
        amount_fen=amount,
        state="paid",
    )
    s, _ = apply(AFTER_SALE, s, paid)
    if state != "paid":
        s, _ = apply(AFTER_SALE, s, RecordOrder(order_id="ord_1", buyer_id=BUYER, seller_id=SELLER, state=state))  # type: ignore[arg-type]
    return s


def opened(kind: str = "return_and_refund", amount: int = 26_800, **kw: Any) -> AfterSale:
    s = order(**kw)
    s, events = apply(
        AFTER_SALE, s, Open(refund_id="rfd_1", buyer_id=BUYER, kind=kind, amount_fen=amount, now=T0, durations=D)
    )  # type: ignore[arg-type]
    assert types(events) == ["refund.requested"]
    return s


def step(s: AfterSale, command: Any, at: Any = T0) -> tuple[AfterSale, list[str]]:
    s, events = apply(AFTER_SALE, s, command, at)
    return s, types(events)


def test_a_refund_only_case_agreed_by_the_seller_is_approved_at_once_then_refunded() -> None:
    s = opened("refund_only", 10_000)
    case = s.cases["rfd_1"]
    assert case.status == "requested" and case.deadline_at == T0 + timedelta(hours=48)
    s, t = step(s, Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    assert t == ["refund.agreed", "refund.approved"]
    assert s.cases["rfd_1"].status == "approved" and s.cases["rfd_1"].refund_ids == ["rfd_1"]
    s, t = step(s, RecordRefunded(refund_id="rfd_1", amount_fen=10_000, provider_refund_id="503", now=T0))
    assert t == ["refund.completed"]
    assert (s.cases["rfd_1"].status, s.cases["rfd_1"].provider_refund_id, s.refunded_fen) == ("refunded", "503", 10_000)
    assert s.open_case is None
    _, t = step(s, RecordRefunded(refund_id="rfd_1", amount_fen=10_000, now=T0))
    assert t == []  # payment.refunded delivered twice
    assert [e.type for e in s.cases["rfd_1"].timeline] == ["requested", "agreed", "approved", "refunded"]


def test_no_answer_from_the_seller_within_48_hours_agrees_by_itself() -> None:
    s = opened("refund_only", 5_000)
    early = Expire(refund_id="rfd_1", now=T0 + timedelta(hours=47), durations=D)
    assert step(s, early)[1] == []
    s, t = step(s, Expire(refund_id="rfd_1", now=T0 + timedelta(hours=48), durations=D))
    assert t == ["refund.agreed", "refund.approved"]
    assert s.cases["rfd_1"].timeline[1].actor == "system"


def test_a_return_is_shipped_confirmed_and_approved_or_auto_refunded_after_ten_days() -> None:
    s = opened()
    s, t = step(s, Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    assert t == ["refund.agreed"] and s.cases["rfd_1"].status == "awaiting_return"
    assert s.cases["rfd_1"].deadline_at == T0 + timedelta(days=7)
    ship = ShipReturn(
        refund_id="rfd_1", buyer_id=BUYER, method="self_ship", carrier="SF", tracking_no="SF1234567890123", now=T0,
        durations=D,
    )  # fmt: skip
    s, t = step(s, ship)
    case = s.cases["rfd_1"]
    assert t == ["refund.return_shipped"] and case.status == "return_shipped"
    assert case.shipment is not None and (case.shipment.carrier, case.shipment.tracking_no) == ("SF", "SF1234567890123")
    assert case.deadline_at == T0 + timedelta(days=10)
    confirmed, t = step(s, ConfirmReturn(refund_id="rfd_1", seller_id=SELLER, now=T0))
    assert t == ["refund.return_received", "refund.approved"] and confirmed.cases["rfd_1"].status == "approved"
    auto, t = step(s, Expire(refund_id="rfd_1", now=T0 + timedelta(days=10), durations=D))
    assert t == ["refund.return_received", "refund.approved"] and auto.cases["rfd_1"].timeline[-2].actor == "system"


@pytest.mark.parametrize("method", ["courier_pickup", "service_point"])
def test_an_mp_return_allows_only_self_shipping(method: str) -> None:
    s = opened()
    s, _ = step(s, Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    with pytest.raises(ReturnMethodNotAvailable):
        step(s, ShipReturn(refund_id="rfd_1", buyer_id=BUYER, method=method, now=T0, durations=D))
    missing = ShipReturn(refund_id="rfd_1", buyer_id=BUYER, method="self_ship", carrier="SF", now=T0, durations=D)
    with pytest.raises(ValidationFailed):
        step(s, missing)


def test_an_app_return_may_be_picked_up_by_a_courier_without_a_tracking_number() -> None:
    s = opened(channel="app")
    s, _ = step(s, Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    s, t = step(s, ShipReturn(refund_id="rfd_1", buyer_id=BUYER, method="courier_pickup", now=T0, durations=D))
    assert t == ["refund.return_shipped"] and s.cases["rfd_1"].shipment.method == "courier_pickup"  # type: ignore[union-attr]


def test_a_return_not_shipped_within_seven_days_closes_the_case() -> None:
    s = opened()
    s, _ = step(s, Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    s, t = step(s, Expire(refund_id="rfd_1", now=T0 + timedelta(days=7), durations=D))
    assert t == ["refund.closed"] and s.cases["rfd_1"].closed_reason == "return_not_shipped" and s.open_case is None


def test_a_rejected_case_escalated_once_and_decided_by_the_platform() -> None:
    s = opened("refund_only", 20_000)
    s, t = step(s, Reject(refund_id="rfd_1", seller_id=SELLER, reason="商品无问题", now=T0, durations=D))
    assert t == ["refund.rejected"] and s.cases["rfd_1"].deadline_at == T0 + timedelta(days=7)
    s, t = step(s, Escalate(refund_id="rfd_1", buyer_id=BUYER, reason="与描述不符", now=T0))
    assert t == ["refund.escalated"] and s.cases["rfd_1"].status == "escalated"
    with pytest.raises(Conflict):
        step(s, Escalate(refund_id="rfd_1", buyer_id=BUYER, now=T0))
    with pytest.raises(ValidationFailed):
        step(s, Decide(refund_id="rfd_1", outcome="refund", amount_fen=20_001, reason="x", admin="adm", now=T0))
    part, t = step(
        s, Decide(refund_id="rfd_1", outcome="refund", amount_fen=8_000, reason="部分责任", admin="adm", now=T0)
    )
    assert t == ["refund.decided", "refund.approved"]
    assert part.cases["rfd_1"].amount_fen == 8_000 and part.cases["rfd_1"].decision == "部分责任"
    closed, t = step(s, Decide(refund_id="rfd_1", outcome="close", reason="证据不足", admin="adm", now=T0))
    assert t == ["refund.decided", "refund.closed"] and closed.cases["rfd_1"].closed_reason == "platform_decided"


def test_a_rejected_case_not_escalated_in_time_closes() -> None:
    s = opened("refund_only", 1_000)
    s, _ = step(s, Reject(refund_id="rfd_1", seller_id=SELLER, reason="no", now=T0, durations=D))
    s, t = step(s, Expire(refund_id="rfd_1", now=T0 + timedelta(days=7), durations=D))
    assert t == ["refund.closed"] and s.cases["rfd_1"].closed_reason == "rejected"
    with pytest.raises(InvalidState):
        step(s, Escalate(refund_id="rfd_1", buyer_id=BUYER, now=T0))


def test_the_buyer_withdraws_and_may_then_open_another_case() -> None:
    s = opened("refund_only", 1_000)
    s, t = step(s, Withdraw(refund_id="rfd_1", buyer_id=BUYER, now=T0))
    assert t == ["refund.closed"] and s.open_case is None
    s, t = step(s, Open(refund_id="rfd_2", buyer_id=BUYER, kind="refund_only", amount_fen=26_800, now=T0, durations=D))
    assert t == ["refund.requested"] and s.open_case == "rfd_2"


def test_one_open_case_per_order_and_never_more_than_was_paid_and_not_yet_refunded() -> None:
    s = opened("refund_only", 10_000)
    with pytest.raises(CaseOpen):
        step(s, Open(refund_id="rfd_2", buyer_id=BUYER, kind="refund_only", amount_fen=1, now=T0, durations=D))
    s, _ = step(s, Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    s, _ = step(s, RecordRefunded(refund_id="rfd_1", amount_fen=10_000, now=T0))
    with pytest.raises(ValidationFailed):
        step(s, Open(refund_id="rfd_2", buyer_id=BUYER, kind="refund_only", amount_fen=16_801, now=T0, durations=D))
    s, t = step(s, Open(refund_id="rfd_2", buyer_id=BUYER, kind="refund_only", amount_fen=16_800, now=T0, durations=D))
    assert t == ["refund.requested"]
    again = Open(refund_id="rfd_2", buyer_id=BUYER, kind="refund_only", amount_fen=16_800, now=T0, durations=D)
    assert step(s, again)[1] == []  # the same request again


def test_cases_open_only_while_the_money_is_held_and_returns_only_of_what_was_shipped() -> None:
    with pytest.raises(ValidationFailed):
        opened("return_and_refund", state="paid")
    s = order(state="completed")
    with pytest.raises(NotRefundable):
        step(s, Open(refund_id="rfd_1", buyer_id=BUYER, kind="refund_only", amount_fen=1, now=T0, durations=D))


def test_anyone_but_the_cases_buyer_or_seller_gets_not_found() -> None:
    s = opened("refund_only", 1_000)
    with pytest.raises(NotFound):
        step(s, Agree(refund_id="rfd_1", seller_id="usr_other", now=T0, durations=D))
    with pytest.raises(NotFound):
        step(s, Withdraw(refund_id="rfd_1", buyer_id="usr_other", now=T0))
    with pytest.raises(NotFound):
        step(s, Open(refund_id="rfd_9", buyer_id="usr_other", kind="refund_only", amount_fen=1, now=T0, durations=D))
    with pytest.raises(NotFound):
        step(s, Agree(refund_id="rfd_nope", seller_id=SELLER, now=T0, durations=D))


def test_a_refund_payment_refused_is_retried_under_new_refund_ids_then_left_to_the_platform() -> None:
    s = opened("refund_only", 3_000)
    s, _ = step(s, Agree(refund_id="rfd_1", seller_id=SELLER, now=T0, durations=D))
    s, t = step(s, RecordRefundFailed(refund_id="rfd_1", reason="CLOSED: 退款关闭", now=T0, durations=D))
    case = s.cases["rfd_1"]
    assert t == ["refund.failed"] and case.status == "approved" and case.deadline_at == T0 + timedelta(minutes=10)
    s, t = step(s, Expire(refund_id="rfd_1", now=T0 + timedelta(minutes=10), durations=D))
    assert t == ["refund.approved"]
    second = s.cases["rfd_1"].refund_ids[-1]
    assert second != "rfd_1" and len(s.cases["rfd_1"].refund_ids) == 2
    assert step(s, RecordRefundFailed(refund_id="rfd_1", reason="old", now=T0, durations=D))[1] == []  # stale
    s, _ = step(s, RecordRefundFailed(refund_id=second, reason="again", now=T0, durations=D))
    s, _ = step(s, Expire(refund_id="rfd_1", now=T0 + timedelta(minutes=20), durations=D))
    third = s.cases["rfd_1"].refund_ids[-1]
    s, t = step(s, RecordRefundFailed(refund_id=third, reason="again", now=T0, durations=D))
    assert s.cases["rfd_1"].status == "refund_failed" and s.open_case == "rfd_1"  # operators; still open
    s, t = step(s, Decide(refund_id="rfd_1", outcome="refund", reason="人工重试", admin="adm", now=T0))
    assert t == ["refund.decided", "refund.approved"] and len(s.cases["rfd_1"].refund_ids) == 4
    s, t = step(s, RecordRefunded(refund_id=s.cases["rfd_1"].refund_ids[-1], amount_fen=3_000, now=T0))
    assert t == ["refund.completed"] and s.cases["rfd_1"].status == "refunded"


def test_order_events_in_any_order_and_a_refund_without_a_case_counts() -> None:
    s = AfterSale()
    shipped = RecordOrder(order_id="ord_1", buyer_id=BUYER, seller_id=SELLER, state="shipped")
    with pytest.raises(InvalidState):  # before order.paid: retried by the consumer
        step(s, shipped)
    s = order(state="shipped")
    assert step(s, RecordOrder(order_id="ord_1", buyer_id=BUYER, seller_id=SELLER, state="paid"))[1] == []
    s, t = step(s, RecordRefunded(refund_id="rfd_payment_closed", amount_fen=26_800, now=T0))
    assert t == ["refund.order_recorded"] and s.refunded_fen == 26_800
    with pytest.raises(ValidationFailed):
        step(s, Open(refund_id="rfd_1", buyer_id=BUYER, kind="refund_only", amount_fen=1, now=T0, durations=D))
