"""Every event payment decides is built from its payload contract and validates against it; a strict store refuses
a payment event that breaks its contract; the payloads already stored still fit the contracts and evolve the same."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from services.payment.consumers import OWN_EVENTS
from services.payment.domain import (
    AGREEMENT,
    PAYMENT,
    Agreement,
    ClosePayment,
    CreatePayment,
    Payment,
    RecordFailure,
    RecordOrderClosed,
    RecordOrderString,
    RecordPrepay,
    RecordRefundAbnormal,
    RecordRefundAccepted,
    RecordRefundFailed,
    RecordRefundSucceeded,
    RecordSigned,
    RecordSuccess,
    RecordUnsigned,
    ReleaseCharge,
    RequestAgreement,
    RequestRefund,
    ReserveCharge,
    order_closed_refund_id,
    payment_id_for,
)
from shared.aggregate import Aggregate, NewEvent
from shared.events import PAYLOADS
from shared.events.payment import PaymentRefundRequested
from shared.streams import ContractViolation, StreamStore
from tests.support.aggregates import T0, apply, record
from tests.support.memory import MemoryDatabase, as_database

BEIJING = timezone(timedelta(hours=8))


def terms(order_id: str, method: str, **kw: Any) -> CreatePayment:
    return CreatePayment(
        payment_id=payment_id_for(order_id),
        order_id=order_id,
        buyer_id="usr_b",
        seller_id="usr_s",
        channel="mp" if method == "wechat_pay" else "app",
        method=method,
        amount_fen=35_000,
        description="Kindle",
        expires_at=T0 + timedelta(minutes=15),
        **kw,
    )


def paid(source: str = "notification", paid_at: Any = T0) -> RecordSuccess:
    return RecordSuccess(provider_trade_no="4200001", amount_fen=35_000, paid_at=paid_at, source=source)


WECHAT = terms("ord_wx", "wechat_pay", openid="oBuyer")
ALIPAY = terms("ord_ali", "alipay")
PASSWORD_FREE = terms(
    "ord_pf", "alipay_password_free", alipay_user_id="2088100", agreement_id="agr_1", agreement_no="20261125000001"
)
# Representative runs through every command, and every branch that emits: each event they decide is checked.
PAYMENT_RUNS: dict[str, list[Any]] = {
    "wechat paid, refunded in parts, then its order closed": [
        WECHAT,
        RecordPrepay(prepay_id="wx1", request_payment={"package": "prepay_id=wx1", "paySign": "s"}),
        paid("notification", T0.astimezone(BEIJING)),
        RequestRefund(refund_id="rfd_1", amount_fen=5_000),
        RecordRefundAccepted(refund_id="rfd_1", provider_refund_id="5030001"),
        RecordRefundAbnormal(refund_id="rfd_1"),
        RecordRefundSucceeded(refund_id="rfd_1", refunded_at=T0),
        RequestRefund(refund_id="rfd_2", amount_fen=1_000),
        RecordRefundAbnormal(refund_id="rfd_2", provider_refund_id="5030002"),
        RecordRefundFailed(refund_id="rfd_2", reason="SUSPEND: the account is frozen"),
        RequestRefund(refund_id="rfd_3", amount_fen=40_000),
        RecordOrderClosed(payment_id=WECHAT.payment_id, order_id=WECHAT.order_id, reason="buyer_cancelled"),
        RecordRefundSucceeded(
            refund_id=order_closed_refund_id(WECHAT.payment_id), provider_refund_id="5030003", refunded_at=T0
        ),
    ],
    "alipay app pay declined": [
        ALIPAY,
        RecordOrderString(order_string="app_id=2021&biz_content=..."),
        RecordFailure(code="payment_declined", message="ACQ.TRADE_HAS_CLOSE: closed"),
    ],
    "password-free closed, then its success reported after the order closed": [
        PASSWORD_FREE,
        ClosePayment(reason="expired"),
        RecordOrderClosed(payment_id=PASSWORD_FREE.payment_id, order_id=PASSWORD_FREE.order_id, reason="expired"),
        paid("charge"),
    ],
    "an order closed before its payment exists": [
        RecordOrderClosed(payment_id=payment_id_for("ord_early"), order_id="ord_early", reason="payment_expired"),
    ],
}
AGREEMENT_RUNS: dict[str, list[Any]] = {
    "requested, signed, a debit reserved and released, unsigned": [
        RequestAgreement(agreement_id="agr_1", buyer_id="usr_b", alipay_user_id="2088100", sign_url="https://x"),
        RecordSigned(
            agreement_no="20261125000001", alipay_user_id="2088100", single_limit_fen=50_000, daily_limit_fen=200_000
        ),
        ReserveCharge(payment_id=PASSWORD_FREE.payment_id, amount_fen=35_000, day="2026-11-25"),
        ReleaseCharge(payment_id=PASSWORD_FREE.payment_id),
        RecordUnsigned(),
    ],
}


def decided(aggregate: Aggregate[Any, Any], state: Any, commands: list[Any]) -> list[NewEvent]:
    events: list[NewEvent] = []
    for command in commands:
        state, new = apply(aggregate, state, command)
        events += new
    return events


def all_events() -> list[NewEvent]:
    runs = [decided(PAYMENT, Payment(), commands) for commands in PAYMENT_RUNS.values()]
    runs += [decided(AGREEMENT, Agreement(), commands) for commands in AGREEMENT_RUNS.values()]
    return [event for run in runs for event in run]


def assert_contract(event: NewEvent) -> None:
    """The event has its contract, validates against it, and carries nothing the contract does not hold."""
    model = PAYLOADS.get((event.type, event.version))
    assert model is not None, f"{event.type} v{event.version} has no payload contract"
    assert model.model_validate(event.payload).model_dump(mode="json") == event.payload


@pytest.mark.parametrize("name", [*PAYMENT_RUNS, *AGREEMENT_RUNS])
def test_every_event_a_run_of_commands_decides_fits_its_contract(name: str) -> None:
    if name in PAYMENT_RUNS:
        events = decided(PAYMENT, Payment(), PAYMENT_RUNS[name])
    else:
        events = decided(AGREEMENT, Agreement(), AGREEMENT_RUNS[name])
    assert events
    for event in events:
        assert_contract(event)


def test_the_runs_reach_every_event_payment_emits() -> None:
    assert sorted({e.type for e in all_events()}) == sorted(OWN_EVENTS)


def test_approved_and_order_closed_refunds_differ_only_by_their_reason() -> None:
    events = all_events()
    requested = [e.payload for e in events if e.type == "payment.refund_requested"]
    refunded = [e.payload for e in events if e.type == "payment.refunded"]
    assert {p["reason"] for p in requested} == {None, "order_closed"}
    assert {p["reason"] for p in refunded} == {None, "order_closed"}


# Payloads as payment wrote them before its events were built from their contracts: optional fields absent, times
# as `datetime.isoformat()` wrote them. They are in existing streams: they still fit, and evolve to the same state.
PID = payment_id_for("ord_old")
IDS = {"payment_id": PID, "order_id": "ord_old"}
STORED: list[tuple[str, dict[str, Any]]] = [
    (
        "payment.created",
        {
            **IDS,
            "buyer_id": "usr_b",
            "seller_id": "usr_s",
            "channel": "mp",
            "method": "wechat_pay",
            "amount_fen": 35_000,
            "description": "Kindle",
            "expires_at": "2026-11-25T10:15:00Z",
            "openid": "oBuyer",
            "alipay_user_id": None,
            "agreement_id": None,
            "agreement_no": None,
            "provider": "wechatpay",
            "out_trade_no": PID,
        },
    ),
    ("payment.action_required", {**IDS, "prepay_id": "wx1", "request_payment": {"package": "prepay_id=wx1"}}),
    (
        "payment.succeeded",
        {
            **IDS,
            "buyer_id": "usr_b",
            "seller_id": "usr_s",
            "channel": "mp",
            "method": "wechat_pay",
            "provider": "wechatpay",
            "amount_fen": 35_000,
            "out_trade_no": PID,
            "provider_trade_no": "4200001",
            "paid_at": "2026-11-25T18:00:00+08:00",
            "source": "notification",
        },
    ),
    ("payment.refund_requested", {**IDS, "refund_id": "rfd_1", "amount_fen": 5_000, "out_refund_no": "rfd_1"}),
    ("payment.refund_processing", {**IDS, "refund_id": "rfd_1", "amount_fen": 5_000, "provider_refund_id": None}),
    ("payment.refund_abnormal", {**IDS, "refund_id": "rfd_1", "amount_fen": 5_000, "provider_refund_id": "503"}),
    (
        "payment.refunded",
        {
            **IDS,
            "refund_id": "rfd_1",
            "amount_fen": 5_000,
            "provider": "wechatpay",
            "out_refund_no": "rfd_1",
            "provider_refund_id": "503",
            "refunded_at": "2026-11-25T10:00:00+00:00",
        },
    ),
    (
        "payment.refund_failed",
        {**IDS, "refund_id": "rfd_2", "amount_fen": 99_000, "reason": "exceeds_amount_paid", "out_refund_no": "rfd_2"},
    ),
    ("payment.refund_requested", {**IDS, "refund_id": "rfd_3", "amount_fen": 1_000, "out_refund_no": "rfd_3"}),
    ("payment.refund_failed", {**IDS, "refund_id": "rfd_3", "amount_fen": 1_000, "reason": "SUSPEND: frozen"}),
]


def test_payloads_already_stored_fit_the_contracts_and_evolve_as_their_typed_form() -> None:
    as_stored, as_typed = Payment(), Payment()
    for event_type, payload in STORED:
        model = PAYLOADS[(event_type, 1)]
        typed = model.model_validate(payload).model_dump(mode="json")
        as_stored = PAYMENT.evolve(as_stored, record(NewEvent(event_type, payload)))
        as_typed = PAYMENT.evolve(as_typed, record(NewEvent(event_type, typed)))
    assert as_typed == as_stored
    assert as_stored.status == "succeeded" and as_stored.refunded_fen == 5_000
    assert {r: f.status for r, f in as_stored.refunds.items()} == {
        "rfd_1": "succeeded",
        "rfd_2": "failed",
        "rfd_3": "failed",
    }


def strict_store() -> StreamStore:
    return StreamStore(as_database(MemoryDatabase()), contracts="strict")  # as payment's app does


async def test_a_payment_event_that_breaks_its_contract_is_never_written() -> None:
    store = strict_store()
    no_number = NewEvent("payment.refund_requested", {**IDS, "refund_id": "rfd_1", "amount_fen": 5_000})
    with pytest.raises(ContractViolation, match=r"payment\.refund_requested v1 breaks its contract"):
        await store.append(PID, 0, [no_number])  # no out_refund_no: the provider could not be asked
    nothing = NewEvent("payment.refund_processing", {**IDS, "refund_id": "rfd_1", "amount_fen": 0})
    with pytest.raises(ContractViolation, match=r"payment\.refund_processing v1 breaks its contract"):
        await store.append(PID, 0, [nothing])
    assert await store.read(PID) == []


async def test_a_payment_event_with_no_contract_is_never_written() -> None:
    store = strict_store()
    with pytest.raises(ContractViolation, match="no registered payload contract"):
        await store.append(PID, 0, [NewEvent("payment.refund_asked", {**IDS, "refund_id": "rfd_1"})])
    assert await store.read(PID) == []


async def test_a_strict_store_writes_every_event_payment_decides() -> None:
    store = strict_store()
    made = NewEvent.of(PaymentRefundRequested(**IDS, refund_id="rfd_1", amount_fen=5_000, out_refund_no="rfd_1"))
    assert (await store.append(PID, 0, [made])).seq == 1
    for i, event in enumerate(all_events()):
        assert (await store.append(f"stream_{i}", 0, [event])).seq == 1
