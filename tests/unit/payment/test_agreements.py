"""Password-free agreements: requested, signed by the buyer, unsigned; and the check before charging."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.payment.domain import (
    AGREEMENT,
    Agreement,
    AgreementNotActive,
    LimitExceeded,
    RecordSigned,
    RecordUnsigned,
    RequestAgreement,
    check_agreement,
)
from shared.errors import Conflict, NotFound
from shared.events import PAYLOADS
from tests.support.aggregates import T0, apply, types

REQUEST = RequestAgreement(agreement_id="agr_1", buyer_id="usr_b", alipay_user_id="2088100", sign_url="https://x")
SIGNED = RecordSigned(
    agreement_no="20261125000001", alipay_user_id="2088100", single_limit_fen=50_000, daily_limit_fen=200_000
)


def pending() -> Agreement:
    return apply(AGREEMENT, Agreement(), REQUEST)[0]


def active() -> Agreement:
    return apply(AGREEMENT, pending(), SIGNED)[0]


def test_a_requested_agreement_is_pending_with_its_sign_url() -> None:
    state, events = apply(AGREEMENT, Agreement(), REQUEST)
    assert types(events) == ["agreement.requested"] and state.status == "pending" and state.sign_url == "https://x"


def test_signing_activates_it_with_limits_once() -> None:
    state, events = apply(AGREEMENT, pending(), SIGNED)
    assert types(events) == ["agreement.signed"]
    PAYLOADS[("agreement.signed", 1)].model_validate(events[0].payload)
    assert state.status == "active" and state.agreement_no == "20261125000001" and state.single_limit_fen == 50_000
    _, again = apply(AGREEMENT, state, SIGNED)
    assert again == []


def test_a_signature_by_another_alipay_user_is_refused() -> None:
    with pytest.raises(Conflict):
        apply(AGREEMENT, pending(), SIGNED.model_copy(update={"alipay_user_id": "2088999"}))


def test_unsigning_ends_it_once_and_a_late_sign_notification_does_not_revive_it() -> None:
    state, events = apply(AGREEMENT, active(), RecordUnsigned())
    assert types(events) == ["agreement.unsigned"] and state.status == "unsigned"
    PAYLOADS[("agreement.unsigned", 1)].model_validate(events[0].payload)
    _, again = apply(AGREEMENT, state, RecordUnsigned())
    assert again == []
    state, late = apply(AGREEMENT, state, SIGNED)
    assert late == [] and state.status == "unsigned"


def test_commands_on_a_missing_agreement_are_not_found() -> None:
    with pytest.raises(NotFound):
        apply(AGREEMENT, Agreement(), SIGNED)


def test_charging_needs_the_buyers_active_agreement_within_its_single_limit() -> None:
    assert check_agreement(active(), "usr_b", 50_000) == "20261125000001"
    with pytest.raises(LimitExceeded):
        check_agreement(active(), "usr_b", 50_001)
    for agreement, buyer in (
        (pending(), "usr_b"),
        (active(), "usr_other"),
        (Agreement(), "usr_b"),
        (apply(AGREEMENT, active(), RecordUnsigned())[0], "usr_b"),
    ):
        with pytest.raises(AgreementNotActive):
            check_agreement(agreement, buyer, 100)


def test_a_retried_request_with_the_same_idempotency_key_lands_on_the_same_agreement() -> None:
    from services.payment.domain import derived_id

    first, again = derived_id("agr", "usr_b", "key-1"), derived_id("agr", "usr_b", "key-1")
    assert first == again and first.startswith("agr_") and len(first) == 30
    assert derived_id("agr", "usr_b", "key-2") != first != derived_id("agr", "usr_c", "key-1")
    state = apply(AGREEMENT, Agreement(), REQUEST.model_copy(update={"agreement_id": first}))[0]
    # The retry mints another sign URL; the agreement keeps the first.
    _, events = apply(AGREEMENT, state, REQUEST.model_copy(update={"agreement_id": first, "sign_url": "https://y"}))
    assert events == [] and state.sign_url == "https://x"
    with pytest.raises(Conflict) as exc:
        apply(AGREEMENT, state, REQUEST.model_copy(update={"agreement_id": first, "alipay_user_id": "2088999"}))
    assert exc.value.code == "idempotency_key_reused"


def test_password_free_debits_beyond_the_daily_limit_are_refused_and_a_debit_never_made_stops_counting() -> None:
    from services.payment.domain import ReleaseCharge, ReserveCharge, beijing_day

    day = beijing_day(T0)
    state = active()
    for n in range(4):
        state, events = apply(AGREEMENT, state, ReserveCharge(payment_id=f"pay_{n}", amount_fen=50_000, day=day))
        assert types(events) == ["agreement.charge_reserved"]
    assert state.spent_fen(day) == 200_000
    _, again = apply(AGREEMENT, state, ReserveCharge(payment_id="pay_0", amount_fen=50_000, day=day))
    assert again == []  # a retried create counts once
    with pytest.raises(LimitExceeded) as exc:
        apply(AGREEMENT, state, ReserveCharge(payment_id="pay_4", amount_fen=1, day=day))
    assert exc.value.details["spent_fen"] == 200_000
    state, events = apply(AGREEMENT, state, ReleaseCharge(payment_id="pay_3"))
    assert types(events) == ["agreement.charge_released"] and state.spent_fen(day) == 150_000
    _, events = apply(AGREEMENT, state, ReserveCharge(payment_id="pay_4", amount_fen=50_000, day=day))
    assert types(events) == ["agreement.charge_reserved"]
    # The next Beijing day starts from nothing, and the state keeps only what can still count.
    tomorrow = beijing_day(T0 + timedelta(days=1))
    state, _ = apply(
        AGREEMENT, state, ReserveCharge(payment_id="pay_5", amount_fen=50_000, day=tomorrow), T0 + timedelta(days=1)
    )
    assert state.spent_fen(tomorrow) == 50_000
    later = T0 + timedelta(days=3)
    state, _ = apply(AGREEMENT, state, ReserveCharge(payment_id="pay_6", amount_fen=1, day=beijing_day(later)), later)
    assert set(state.charges) == {"pay_6"}
