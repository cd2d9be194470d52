"""Payments and their refunds: every transition, legal and illegal, decided on one stream."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.payment.domain import (
    PAYMENT,
    AmountMismatch,
    ClosePayment,
    CreatePayment,
    OrderIsClosed,
    Payment,
    PaymentCommand,
    RecordFailure,
    RecordOrderClosed,
    RecordOrderString,
    RecordPrepay,
    RecordRefundAbnormal,
    RecordRefundAccepted,
    RecordRefundFailed,
    RecordRefundSucceeded,
    RecordSuccess,
    RequestRefund,
    order_closed_refund_id,
    payment_id_for,
)
from shared.errors import Conflict, InvalidState, NotFound
from shared.events import PAYLOADS
from tests.support.aggregates import T0, apply, types

PID = payment_id_for("ord_1")
CREATE = CreatePayment(
    payment_id=PID,
    order_id="ord_1",
    buyer_id="usr_b",
    seller_id="usr_s",
    channel="mp",
    method="wechat_pay",
    amount_fen=35_000,
    description="Kindle",
    expires_at=T0 + timedelta(minutes=15),
    openid="oBuyer",
)
PAID = RecordSuccess(provider_trade_no="4200001", amount_fen=35_000, paid_at=T0, source="notification")


def run(*commands: PaymentCommand, state: Payment | None = None) -> Payment:
    state = state or Payment()
    for command in commands:
        state, _ = apply(PAYMENT, state, command)
    return state


def created() -> Payment:
    return run(CREATE)


def succeeded() -> Payment:
    return run(CREATE, PAID)


def contract(events: list) -> None:  # type: ignore[type-arg]
    for event in events:
        if (event.type, event.version) in PAYLOADS:
            PAYLOADS[(event.type, event.version)].model_validate(event.payload)


def test_payment_id_and_out_trade_no_are_minted_once_from_the_order() -> None:
    assert payment_id_for("ord_1") == PID != payment_id_for("ord_2")
    state, events = apply(PAYMENT, Payment(), CREATE)
    assert types(events) == ["payment.created"]
    assert state.out_trade_no == PID and 6 <= len(PID) <= 32 and state.provider == "wechatpay"
    assert state.status == "processing"


def test_creating_again_with_the_same_terms_changes_nothing() -> None:
    _, events = apply(PAYMENT, created(), CREATE)
    assert events == []


def test_creating_again_with_other_terms_is_a_conflict() -> None:
    with pytest.raises(Conflict) as exc:
        apply(PAYMENT, created(), CREATE.model_copy(update={"amount_fen": 1}))
    assert exc.value.code == "payment_exists"


def test_a_prepay_makes_the_payment_wait_for_the_buyer_once() -> None:
    params = {"timeStamp": "1", "nonceStr": "n", "package": "prepay_id=wx1", "signType": "RSA", "paySign": "s"}
    state, events = apply(PAYMENT, created(), RecordPrepay(prepay_id="wx1", request_payment=params))
    assert types(events) == ["payment.action_required"] and state.status == "requires_action"
    assert state.request_payment == params
    _, again = apply(PAYMENT, state, RecordPrepay(prepay_id="wx2", request_payment=params))
    assert again == []


def test_an_order_string_makes_an_alipay_payment_wait_for_the_buyer() -> None:
    state = run(CREATE.model_copy(update={"method": "alipay", "channel": "app"}), RecordOrderString(order_string="a=b"))
    assert state.status == "requires_action" and state.order_string == "a=b" and state.provider == "alipay"


def test_success_carries_order_amount_method_and_provider_ids_and_happens_once() -> None:
    state, events = apply(PAYMENT, created(), PAID)
    assert types(events) == ["payment.succeeded"]
    contract(events)
    payload = events[0].payload
    assert (payload["order_id"], payload["amount_fen"], payload["method"], payload["provider_trade_no"]) == (
        "ord_1",
        35_000,
        "wechat_pay",
        "4200001",
    )
    assert state.status == "succeeded"
    _, again = apply(PAYMENT, state, PAID)
    assert again == []


def test_success_with_another_amount_is_refused() -> None:
    with pytest.raises(AmountMismatch):
        apply(PAYMENT, created(), PAID.model_copy(update={"amount_fen": 34_999}))


def test_a_success_reported_after_a_close_is_still_recorded() -> None:
    state = run(ClosePayment(reason="order_closed"), state=created())
    assert state.status == "closed"
    state, events = apply(PAYMENT, state, PAID)
    assert types(events) == ["payment.succeeded"] and state.status == "succeeded"


def test_a_failure_closes_the_payment_with_its_code() -> None:
    state, events = apply(PAYMENT, created(), RecordFailure(code="limit_exceeded", message="ACQ.X"))
    assert types(events) == ["payment.failed", "payment.closed"]
    contract(events)
    assert state.status == "failed" and state.failure_code == "limit_exceeded"
    assert events[1].payload["reason"] == "declined:limit_exceeded"


def test_closing_applies_only_to_open_payments() -> None:
    state, events = apply(PAYMENT, created(), ClosePayment(reason="order_closed"))
    assert types(events) == ["payment.closed"] and state.closed_reason == "order_closed"
    for done in (state, succeeded()):
        _, none = apply(PAYMENT, done, ClosePayment(reason="expired"))
        assert none == []


def test_commands_on_a_missing_payment_are_not_found() -> None:
    with pytest.raises(NotFound):
        apply(PAYMENT, Payment(), PAID)


def test_refunds_need_a_succeeded_payment() -> None:
    with pytest.raises(InvalidState):
        apply(PAYMENT, created(), RequestRefund(refund_id="rfd_1", amount_fen=100))


def test_a_refund_is_requested_with_its_provider_number_once() -> None:
    state, events = apply(PAYMENT, succeeded(), RequestRefund(refund_id="rfd_1", amount_fen=10_000))
    assert types(events) == ["payment.refund_requested"]
    assert state.refunds["rfd_1"].out_refund_no == "rfd_1" and state.refunds["rfd_1"].status == "requested"
    _, again = apply(PAYMENT, state, RequestRefund(refund_id="rfd_1", amount_fen=10_000))
    assert again == []


def test_partial_refunds_never_exceed_what_was_paid() -> None:
    state = run(RequestRefund(refund_id="rfd_1", amount_fen=20_000), state=succeeded())
    state, events = apply(PAYMENT, state, RequestRefund(refund_id="rfd_2", amount_fen=15_001))
    assert types(events) == ["payment.refund_failed"] and events[0].payload["reason"] == "exceeds_amount_paid"
    contract(events)
    assert state.refunds["rfd_2"].status == "failed"
    state, events = apply(PAYMENT, state, RequestRefund(refund_id="rfd_3", amount_fen=15_000))
    assert types(events) == ["payment.refund_requested"] and state.committed_refund_fen == 35_000


def test_a_failed_refund_frees_its_amount_for_another() -> None:
    state = run(
        RequestRefund(refund_id="rfd_1", amount_fen=35_000),
        RecordRefundFailed(refund_id="rfd_1", reason="closed"),
        state=succeeded(),
    )
    _, events = apply(PAYMENT, state, RequestRefund(refund_id="rfd_2", amount_fen=35_000))
    assert types(events) == ["payment.refund_requested"]


def test_refund_goes_processing_then_succeeded_and_reports_once() -> None:
    state = run(RequestRefund(refund_id="rfd_1", amount_fen=5_000), state=succeeded())
    state, events = apply(PAYMENT, state, RecordRefundAccepted(refund_id="rfd_1", provider_refund_id="5030"))
    assert types(events) == ["payment.refund_processing"] and state.refunds["rfd_1"].status == "processing"
    state, events = apply(PAYMENT, state, RecordRefundSucceeded(refund_id="rfd_1", refunded_at=T0))
    assert types(events) == ["payment.refunded"]
    contract(events)
    assert events[0].payload["provider_refund_id"] == "5030" and state.refunded_fen == 5_000
    for late in (
        RecordRefundSucceeded(refund_id="rfd_1", refunded_at=T0),
        RecordRefundFailed(refund_id="rfd_1", reason="x"),
        RecordRefundAccepted(refund_id="rfd_1"),
    ):
        _, none = apply(PAYMENT, state, late)
        assert none == []


def test_an_abnormal_refund_is_not_terminal() -> None:
    state = run(RequestRefund(refund_id="rfd_1", amount_fen=5_000), state=succeeded())
    state, events = apply(PAYMENT, state, RecordRefundAbnormal(refund_id="rfd_1"))
    assert types(events) == ["payment.refund_abnormal"] and state.open_refunds
    state, events = apply(PAYMENT, state, RecordRefundSucceeded(refund_id="rfd_1", refunded_at=T0))
    assert types(events) == ["payment.refunded"] and not state.open_refunds


def test_a_closed_wechat_refund_fails() -> None:
    state = run(RequestRefund(refund_id="rfd_1", amount_fen=5_000), state=succeeded())
    state, events = apply(PAYMENT, state, RecordRefundFailed(refund_id="rfd_1", reason="wechat_refund_closed"))
    assert types(events) == ["payment.refund_failed"] and state.refunds["rfd_1"].status == "failed"
    contract(events)


def test_refund_answers_for_unknown_refunds_are_not_found() -> None:
    with pytest.raises(NotFound):
        apply(PAYMENT, succeeded(), RecordRefundAccepted(refund_id="rfd_x"))


# ------------------------------------------------------------------------- the order closed (issue 10, items 4, 8)

CLOSED = RecordOrderClosed(payment_id=PID, order_id="ord_1", reason="buyer_cancelled")


def test_an_order_closed_before_its_payment_exists_is_recorded_and_refuses_the_create() -> None:
    state, events = apply(PAYMENT, Payment(), CLOSED)
    assert types(events) == ["payment.order_closed"]
    contract(events)
    assert events[0].payload == {"payment_id": PID, "order_id": "ord_1", "reason": "buyer_cancelled"}
    assert not state.exists and state.order_closed
    with pytest.raises(OrderIsClosed) as exc:
        apply(PAYMENT, state, CREATE)
    assert (exc.value.status, exc.value.code) == (409, "order_closed")
    _, again = apply(PAYMENT, state, CLOSED)
    assert again == []


def test_a_payment_whose_order_closed_takes_no_prepay_or_order_string_and_no_create_again() -> None:
    state = run(CREATE, CLOSED)
    with pytest.raises(OrderIsClosed):
        apply(PAYMENT, state, CREATE)
    params = {"package": "prepay_id=wx1"}
    _, events = apply(PAYMENT, state, RecordPrepay(prepay_id="wx1", request_payment=params))
    assert events == [] and state.status == "processing" and state.order_closed


def test_a_payment_succeeding_after_its_order_closed_is_refunded_in_full() -> None:
    state = run(CREATE, CLOSED, ClosePayment(reason="order_closed"))
    state, events = apply(PAYMENT, state, PAID)
    # The provider's word wins: the success is recorded, and the whole amount goes back under one minted number.
    assert types(events) == ["payment.succeeded", "payment.refund_requested"]
    contract(events)
    refund_id = order_closed_refund_id(PID)
    assert refund_id.startswith("rfd_") and len(refund_id) == 30 and refund_id == order_closed_refund_id(PID)
    assert events[1].payload == {
        "payment_id": PID,
        "order_id": "ord_1",
        "refund_id": refund_id,
        "amount_fen": 35_000,
        "out_refund_no": refund_id,
        "reason": "order_closed",
    }
    assert state.status == "succeeded" and state.refunds[refund_id].cause == "order_closed"
    state, events = apply(PAYMENT, state, RecordRefundSucceeded(refund_id=refund_id, refunded_at=T0))
    assert types(events) == ["payment.refunded"] and events[0].payload["reason"] == "order_closed"
    contract(events)
    assert state.refunded_fen == 35_000


def test_an_order_closing_after_its_payment_succeeded_refunds_it_in_full() -> None:
    state, events = apply(PAYMENT, succeeded(), CLOSED)
    assert types(events) == ["payment.order_closed", "payment.refund_requested"]
    assert events[1].payload["amount_fen"] == 35_000 and events[1].payload["reason"] == "order_closed"
    # Whichever came first, one refund: a repeated close or success adds none.
    for again in (CLOSED, PAID):
        _, none = apply(PAYMENT, state, again)
        assert none == []


def test_the_order_closed_refund_gives_back_only_what_was_not_refunded_yet() -> None:
    state = run(RequestRefund(refund_id="rfd_1", amount_fen=5_000), state=succeeded())
    _, events = apply(PAYMENT, state, CLOSED)
    assert events[1].payload["amount_fen"] == 30_000


def test_a_refund_asked_again_with_another_amount_is_a_conflict() -> None:
    state = run(RequestRefund(refund_id="rfd_1", amount_fen=5_000), state=succeeded())
    with pytest.raises(Conflict) as exc:
        apply(PAYMENT, state, RequestRefund(refund_id="rfd_1", amount_fen=6_000))
    assert exc.value.code == "refund_exists"
