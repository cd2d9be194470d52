"""The event catalog of ARCHITECTURE.md has one payload contract per event, and each survives the wire."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from pydantic import BaseModel, ValidationError

from shared.events import PAYLOADS

CATALOG = {
    "listing": "shop.opened shop.level_changed shop.collection_changed item.drafted item.published item.updated "
    "item.withdrawn order.created order.paid order.shipped order.completed order.closed order.refund_opened "
    "order.refund_closed order.refunded order.payment_started order.late_payment share.created share.viewed",
    "payment": "payment.created payment.succeeded payment.closed payment.refunded payment.refund_failed "
    "agreement.signed agreement.unsigned",
    "refund": "refund.requested refund.agreed refund.rejected refund.return_shipped refund.approved refund.completed "
    "refund.closed",
    "wallet": "wallet.invited wallet.collection_activated wallet.escrow_held wallet.escrow_released "
    "wallet.withdrawal_succeeded wallet.withdrawal_failed",
}
# Events a service records for itself (on its own streams) whose payload is still a registered contract.
INTERNAL = {
    "payment": "payment.order_closed payment.action_required payment.failed payment.refund_requested "
    "payment.refund_processing payment.refund_abnormal agreement.requested agreement.charge_reserved "
    "agreement.charge_released",
    "wallet": "wallet.transfer_pending wallet.transfer_posted wallet.transfer_voided wallet.account_entry "
    "wallet.escrow_refunded wallet.settlement_started wallet.settlement_attempted wallet.settlement_abandoned "
    "wallet.settlement_completed "
    "wallet.withdrawal_requested wallet.withdrawal_submitted wallet.withdrawal_attempted wallet.withdrawal_returned "
    "wallet.withdrawal_quota_reserved wallet.withdrawal_quota_released",
    "refund": "refund.order_recorded refund.escalated refund.decided refund.return_received refund.failed",
    "wallet_collection": "wallet.shop_recorded wallet.shop_level_recorded wallet.invitation_batch_started "
    "wallet.invitation_batch_completed wallet.onboarding_requested wallet.onboarding_submitted "
    "wallet.onboarding_refused wallet.onboarding_state_changed wallet.settlement_card_change_requested "
    "wallet.alipay_payee_requested wallet.alipay_payee_bound wallet.alipay_payee_refused",
}
EVENT_TYPES = sorted(t for types in (*CATALOG.values(), *INTERNAL.values()) for t in types.split())


def sample(model: type[BaseModel]) -> dict[str, Any]:
    """A valid payload built from the field types alone: False for bools, 1 for ints, a string, the first literal,
    an aware time."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if not field.is_required():
            continue
        ann = field.annotation
        args = get_args(ann)
        if ann is bool:
            out[name] = False
        elif ann is int:
            out[name] = 1
        elif ann is str:
            out[name] = f"{name}-1"
        elif args and all(isinstance(a, str) for a in args):
            out[name] = args[0]
        else:
            out[name] = "2026-11-25T10:00:00+08:00"
    return out


def test_every_catalog_event_has_exactly_one_v1_contract() -> None:
    assert sorted(t for (t, v) in PAYLOADS if v == 1) == EVENT_TYPES


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_payload_round_trips_through_json(event_type: str) -> None:
    model = PAYLOADS[(event_type, 1)]
    payload = model.model_validate(sample(model))
    again = model.model_validate(json.loads(payload.model_dump_json()))
    assert again == payload


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_consumers_ignore_fields_added_later_within_a_version(event_type: str) -> None:
    model = PAYLOADS[(event_type, 1)]
    assert model.model_validate({**sample(model), "added_in_a_later_release": True}) == model.model_validate(
        sample(model)
    )


def test_money_fields_are_integer_fen() -> None:
    fields = [(t, n, f) for (t, _), m in PAYLOADS.items() for n, f in m.model_fields.items() if n.endswith("_fen")]
    assert fields
    for event_type, name, field in fields:
        assert field.annotation in (int, int | None), f"{event_type}.{name} is {field.annotation}"
    with pytest.raises(ValidationError):
        PAYLOADS[("payment.succeeded", 1)].model_validate(
            {**sample(PAYLOADS[("payment.succeeded", 1)]), "amount_fen": 1.5}
        )
