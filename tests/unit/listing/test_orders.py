"""Orders: every transition of the state machine, legal and illegal, with time passed in through the commands."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.listing.orders import (
    ORDER,
    AutoConfirm,
    CancelOrder,
    CloseRefund,
    CompleteRefund,
    ConfirmReceipt,
    CreateOrder,
    ExpireOrder,
    NotYet,
    OpenRefund,
    Order,
    OrderCommand,
    PaymentMismatch,
    RecordPayment,
    RecordPaymentClosed,
    RecordPaymentStarted,
    ShipOrder,
)
from shared.errors import InvalidState, NotFound
from shared.events import PAYLOADS
from tests.support.aggregates import T0, apply, types

DAY = 24 * 3600.0
CREATE = CreateOrder(
    order_id="ord_1",
    item_id="itm_1",
    item_title="Kindle",
    item_price_fen=35_000,
    shop_id="shp_1",
    seller_id="usr_s",
    buyer_id="usr_b",
    channel="mp",
    payment_method="wechat_pay",
    expires_at=T0 + timedelta(minutes=15),
)
PAY = RecordPayment(payment_id="pay_1", amount_fen=35_000, method="wechat_pay")


def ship_at(seconds: float) -> ShipOrder:
    return ShipOrder(
        seller_id="usr_s",
        carrier="SF",
        tracking_no="SF1234567890",
        now=T0 + timedelta(seconds=seconds),
        auto_confirm_after_s=10 * DAY,
    )


def run(*commands: OrderCommand, state: Order | None = None) -> Order:
    state = state or Order()
    for command in commands:
        state, _ = apply(ORDER, state, command)
    return state


def pending() -> Order:
    return run(CREATE)


def paid() -> Order:
    return run(CREATE, PAY)


def shipped() -> Order:
    return run(CREATE, PAY, ship_at(60))


def assert_contract(events: list) -> None:  # type: ignore[type-arg]
    for event in events:
        PAYLOADS[(event.type, event.version)].model_validate(event.payload)


def test_a_new_order_waits_for_payment_with_a_price_snapshot_and_deadline() -> None:
    state, events = apply(ORDER, Order(), CREATE)
    assert types(events) == ["order.created"]
    assert_contract(events)
    assert state.status == "pending_payment" and state.amount_fen == 35_000 and state.item_title == "Kindle"
    assert state.expires_at == T0 + timedelta(minutes=15) and state.channel == "mp"
    assert [(t.type, t.actor) for t in state.timeline] == [("order.created", "buyer")]


def test_creating_again_changes_nothing() -> None:
    _, events = apply(ORDER, pending(), CREATE)
    assert events == []


def test_commands_on_a_missing_order_are_not_found() -> None:
    with pytest.raises(NotFound):
        apply(ORDER, Order(), PAY)


def test_payment_moves_the_order_to_paid_once() -> None:
    state, events = apply(ORDER, pending(), PAY)
    assert types(events) == ["order.paid"] and state.status == "paid" and state.payment_id == "pay_1"
    assert_contract(events)
    _, again = apply(ORDER, state, PAY)
    assert again == []


def test_a_payment_of_another_amount_is_refused() -> None:
    with pytest.raises(PaymentMismatch):
        apply(ORDER, pending(), RecordPayment(payment_id="pay_1", amount_fen=34_999, method="wechat_pay"))


def test_a_second_payment_for_a_paid_order_is_refused() -> None:
    with pytest.raises(PaymentMismatch):
        apply(ORDER, paid(), RecordPayment(payment_id="pay_2", amount_fen=35_000, method="wechat_pay"))


def test_a_payment_for_a_closed_order_is_recorded_as_late_and_leaves_the_order_closed() -> None:
    closed = run(CancelOrder(buyer_id="usr_b"), state=pending())
    state, events = apply(ORDER, closed, PAY)
    assert types(events) == ["order.late_payment"] and state.status == "closed"
    assert events[0].payload["payment_id"] == "pay_1" and events[0].payload["amount_fen"] == 35_000
    assert state.late_payment_ids == ["pay_1"] and state.timeline[-1].type == "order.late_payment"
    assert_contract(events)
    _, again = apply(ORDER, state, PAY)
    assert again == []


def test_a_late_payment_of_a_started_payment_is_recorded_once_too() -> None:
    started = run(RecordPaymentStarted(payment_id="pay_1"), CancelOrder(buyer_id="usr_b"), state=pending())
    state, events = apply(ORDER, started, PAY)
    assert types(events) == ["order.late_payment"]
    _, again = apply(ORDER, state, PAY)
    assert again == []


def test_the_buyer_cancels_an_unpaid_order() -> None:
    state, events = apply(ORDER, pending(), CancelOrder(buyer_id="usr_b"))
    assert types(events) == ["order.closed"] and events[0].payload["reason"] == "buyer_cancelled"
    assert state.status == "closed" and state.timeline[-1].actor == "buyer"
    _, again = apply(ORDER, state, CancelOrder(buyer_id="usr_b"))
    assert again == []


def test_only_the_buyer_cancels() -> None:
    with pytest.raises(NotFound):
        apply(ORDER, pending(), CancelOrder(buyer_id="usr_s"))


def test_a_paid_order_cannot_be_cancelled() -> None:
    with pytest.raises(InvalidState):
        apply(ORDER, paid(), CancelOrder(buyer_id="usr_b"))


def expire_at(seconds_after_deadline: float) -> ExpireOrder:
    return ExpireOrder(now=T0 + timedelta(minutes=15, seconds=seconds_after_deadline), grace_s=30, backstop_s=3600)


def test_expiry_closes_an_unpaid_order_only_after_its_deadline_and_grace() -> None:
    _, early = apply(ORDER, pending(), expire_at(29))
    assert early == []
    state, events = apply(ORDER, pending(), expire_at(30))
    assert events[0].payload["reason"] == "payment_expired" and state.status == "closed"
    assert state.timeline[-1].actor == "system"


def test_expiry_leaves_a_paid_order_alone() -> None:
    _, events = apply(ORDER, paid(), expire_at(3600))
    assert events == []


def test_expiry_waits_for_the_payment_service_once_a_payment_started() -> None:
    # A buyer who paid at the last second, with the notification still in WeChat's retries, keeps the item: the
    # payment service closes the payment at the provider first and its payment.closed closes the order.
    started, events = apply(ORDER, pending(), RecordPaymentStarted(payment_id="pay_1"))
    assert types(events) == ["order.payment_started"] and started.payment_id == "pay_1"
    assert_contract(events)
    _, waiting = apply(ORDER, started, expire_at(3599))
    assert waiting == []
    state, events = apply(ORDER, started, RecordPaymentClosed(payment_id="pay_1", reason="expired"))
    assert state.status == "closed" and events[0].payload["reason"] == "payment_closed"
    # ... and if payment.closed never comes, the backstop closes it.
    state, events = apply(ORDER, started, expire_at(3600))
    assert state.status == "closed" and events[0].payload["reason"] == "payment_expired"


def test_a_started_payment_is_recorded_once_and_only_on_an_unpaid_order() -> None:
    started = run(RecordPaymentStarted(payment_id="pay_1"), state=pending())
    _, again = apply(ORDER, started, RecordPaymentStarted(payment_id="pay_1"))
    assert again == []
    _, on_paid = apply(ORDER, paid(), RecordPaymentStarted(payment_id="pay_1"))
    assert on_paid == []
    state, events = apply(ORDER, started, PAY)
    assert types(events) == ["order.paid"] and state.status == "paid"


def test_a_closed_payment_closes_the_unpaid_order_but_not_a_paid_one() -> None:
    state, events = apply(ORDER, pending(), RecordPaymentClosed(payment_id="pay_1", reason="declined"))
    assert events[0].payload["reason"] == "payment_closed" and state.status == "closed"
    _, none = apply(ORDER, paid(), RecordPaymentClosed(payment_id="pay_0", reason="provider_closed"))
    assert none == []


def test_the_seller_ships_a_paid_order_and_auto_confirm_is_set() -> None:
    state, events = apply(ORDER, paid(), ship_at(60))
    assert types(events) == ["order.shipped"]
    assert_contract(events)
    assert state.status == "shipped" and state.shipment is not None and state.shipment.tracking_no == "SF1234567890"
    assert state.auto_confirm_at == T0 + timedelta(seconds=60 + 10 * DAY)


def test_only_the_seller_ships_and_only_a_paid_order() -> None:
    with pytest.raises(NotFound):
        apply(ORDER, paid(), ship_at(60).model_copy(update={"seller_id": "usr_b"}))
    with pytest.raises(InvalidState):
        apply(ORDER, pending(), ship_at(60))
    with pytest.raises(InvalidState):
        apply(ORDER, shipped(), ship_at(120))


def test_the_buyer_confirms_receipt_of_a_shipped_order() -> None:
    state, events = apply(ORDER, shipped(), ConfirmReceipt(buyer_id="usr_b"))
    assert events[0].payload["completed_by"] == "buyer" and state.status == "completed"
    assert_contract(events)
    _, again = apply(ORDER, state, ConfirmReceipt(buyer_id="usr_b"))
    assert again == []


def test_receipt_cannot_be_confirmed_before_shipping_or_by_another_user() -> None:
    with pytest.raises(InvalidState):
        apply(ORDER, paid(), ConfirmReceipt(buyer_id="usr_b"))
    with pytest.raises(NotFound):
        apply(ORDER, shipped(), ConfirmReceipt(buyer_id="usr_s"))


def test_auto_confirm_fires_at_its_time_and_not_before() -> None:
    due = T0 + timedelta(seconds=60 + 10 * DAY)
    _, early = apply(ORDER, shipped(), AutoConfirm(now=due - timedelta(seconds=1)))
    assert early == []
    state, events = apply(ORDER, shipped(), AutoConfirm(now=due))
    assert events[0].payload["completed_by"] == "auto" and state.status == "completed"
    assert state.timeline[-1].actor == "system"


def test_a_refund_case_pauses_auto_confirm_and_closing_it_resumes_with_the_time_left() -> None:
    opened_at = T0 + timedelta(seconds=60 + 4 * DAY)
    state, events = apply(ORDER, shipped(), OpenRefund(refund_id="rfd_1", now=opened_at))
    assert types(events) == ["order.refund_opened"] and state.status == "refunding"
    assert_contract(events)
    assert state.auto_confirm_at is None and state.refund_paused_remaining_s == 6 * DAY
    _, none = apply(ORDER, state, AutoConfirm(now=opened_at + timedelta(days=30)))
    assert none == []
    closed_at = opened_at + timedelta(days=3)
    state, events = apply(ORDER, state, CloseRefund(refund_id="rfd_1", now=closed_at))
    assert types(events) == ["order.refund_closed"] and state.status == "shipped"
    assert_contract(events)
    assert state.auto_confirm_at == closed_at + timedelta(days=6)


def test_a_refund_case_on_a_paid_order_returns_it_to_paid() -> None:
    state = run(OpenRefund(refund_id="rfd_1", now=T0), state=paid())
    state = run(CloseRefund(refund_id="rfd_1", now=T0), state=state)
    assert state.status == "paid" and state.auto_confirm_at is None


def test_refund_cases_open_only_on_paid_or_shipped_orders() -> None:
    for state in (pending(), run(ConfirmReceipt(buyer_id="usr_b"), state=shipped())):
        with pytest.raises(InvalidState):
            apply(ORDER, state, OpenRefund(refund_id="rfd_1", now=T0))


def test_receipt_cannot_be_confirmed_while_a_refund_case_is_open() -> None:
    state = run(OpenRefund(refund_id="rfd_1", now=T0), state=shipped())
    with pytest.raises(InvalidState):
        apply(ORDER, state, ConfirmReceipt(buyer_id="usr_b"))


def test_redelivered_refund_events_change_nothing() -> None:
    state = run(OpenRefund(refund_id="rfd_1", now=T0), state=shipped())
    _, events = apply(ORDER, state, OpenRefund(refund_id="rfd_1", now=T0))
    assert events == []
    closed = run(CloseRefund(refund_id="rfd_1", now=T0), state=state)
    _, events = apply(ORDER, closed, CloseRefund(refund_id="rfd_1", now=T0))
    assert events == []


def test_a_case_closing_before_listing_saw_it_open_waits_instead_of_being_dropped() -> None:
    # refund.closed handled before refund.requested: acking it as done would leave the order refunding for ever once
    # the opening arrives. It is refused as "not yet", so the consumer retries it (and parks it if it never fits).
    with pytest.raises(NotYet):
        apply(ORDER, shipped(), CloseRefund(refund_id="rfd_1", now=T0))
    state = run(OpenRefund(refund_id="rfd_1", now=T0), state=shipped())
    with pytest.raises(NotYet):
        apply(ORDER, state, CloseRefund(refund_id="rfd_other", now=T0))
    state, events = apply(ORDER, state, CloseRefund(refund_id="rfd_1", now=T0))
    assert types(events) == ["order.refund_closed"] and state.status == "shipped"


def test_closing_a_case_that_ended_in_a_refund_changes_nothing() -> None:
    state = run(
        OpenRefund(refund_id="rfd_1", now=T0), CompleteRefund(refund_id="rfd_1", amount_fen=100, now=T0), state=paid()
    )
    _, events = apply(ORDER, state, CloseRefund(refund_id="rfd_1", now=T0))
    assert events == []


def test_a_completed_refund_makes_the_order_refunded() -> None:
    state = run(OpenRefund(refund_id="rfd_1", now=T0), state=shipped())
    state, events = apply(ORDER, state, CompleteRefund(refund_id="rfd_1", amount_fen=35_000, now=T0))
    assert types(events) == ["order.refunded"] and state.status == "refunded" and state.refunded_fen == 35_000
    assert_contract(events)
    _, again = apply(ORDER, state, CompleteRefund(refund_id="rfd_1", amount_fen=35_000, now=T0))
    assert again == []


def test_a_refund_in_part_puts_the_order_back_where_it_was_so_it_can_complete() -> None:
    state = run(OpenRefund(refund_id="rfd_1", now=T0), state=shipped())
    state, events = apply(ORDER, state, CompleteRefund(refund_id="rfd_1", amount_fen=10_000, now=T0))
    assert types(events) == ["order.refund_closed"] and state.status == "shipped" and state.refunded_fen == 10_000
    assert state.auto_confirm_at is not None  # auto-confirm resumes
    assert_contract(events)
    assert apply(ORDER, state, CompleteRefund(refund_id="rfd_1", amount_fen=10_000, now=T0))[1] == []
    state = run(OpenRefund(refund_id="rfd_2", now=T0), state=state)
    state, events = apply(ORDER, state, CompleteRefund(refund_id="rfd_2", amount_fen=25_000, now=T0))
    assert types(events) == ["order.refunded"] and state.status == "refunded"
    with pytest.raises(PaymentMismatch):  # never more than the order in all
        over = run(OpenRefund(refund_id="rfd_3", now=T0), state=paid())
        over, _ = apply(ORDER, over, CompleteRefund(refund_id="rfd_3", amount_fen=30_000, now=T0))
        over = run(OpenRefund(refund_id="rfd_4", now=T0), state=over)
        apply(ORDER, over, CompleteRefund(refund_id="rfd_4", amount_fen=5_001, now=T0))


def test_a_refund_completes_only_for_the_open_case_and_within_the_order_amount() -> None:
    with pytest.raises(InvalidState):
        apply(ORDER, paid(), CompleteRefund(refund_id="rfd_1", amount_fen=100, now=T0))
    state = run(OpenRefund(refund_id="rfd_1", now=T0), state=paid())
    with pytest.raises(InvalidState):
        apply(ORDER, state, CompleteRefund(refund_id="rfd_2", amount_fen=100, now=T0))
    with pytest.raises(PaymentMismatch):
        apply(ORDER, state, CompleteRefund(refund_id="rfd_1", amount_fen=35_001, now=T0))


def test_the_timeline_lists_every_step_with_its_actor() -> None:
    state = run(ConfirmReceipt(buyer_id="usr_b"), state=shipped())
    assert [(t.type, t.actor) for t in state.timeline] == [
        ("order.created", "buyer"),
        ("order.paid", "buyer"),
        ("order.shipped", "seller"),
        ("order.completed", "buyer"),
    ]
