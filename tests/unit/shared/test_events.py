"""The event envelope and the payload registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from shared.aggregate import Entry, RecordedEvent
from shared.events import Envelope, payload_model, register, routing_key
from shared.relay import envelope_of


def envelope(**over: object) -> Envelope:
    data: dict[str, object] = {
        "event_id": "evt_1",
        "type": "payment.succeeded",
        "version": 1,
        "occurred_at": "2026-11-24T10:00:00Z",
        "producer": "payment",
        "aggregate_id": "pay_1",
        "seq": 3,
        "payload": {"amount_fen": 100},
    }
    data.update(over)
    return Envelope.model_validate(data)


def test_routing_key_is_type_dot_version() -> None:
    assert envelope().routing_key == "payment.succeeded.v1" == routing_key("payment.succeeded", 1)


def test_envelopes_round_trip_and_ignore_fields_added_later() -> None:
    original = envelope()
    assert Envelope.model_validate_json(original.model_dump_json()) == original
    assert Envelope.model_validate({**original.model_dump(), "new_field": 1}) == original


@pytest.mark.parametrize(
    "bad", [{"type": "Payment.Succeeded"}, {"version": 0}, {"occurred_at": "2026-11-24T10:00:00"}, {"seq": 0}]
)
def test_malformed_envelopes_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        envelope(**bad)


def test_payload_contracts_register_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A scratch registry: the catalog's own must hold only the catalog's events.
    monkeypatch.setattr("shared.events.registry.PAYLOADS", {})

    @register("unit.tested", 1)
    class UnitTested(BaseModel):
        n: int

    assert payload_model("unit.tested", 1) is UnitTested
    with pytest.raises(ValueError):
        register("unit.tested", 1)(type("Other", (BaseModel,), {"__annotations__": {"n": int}}))
    with pytest.raises(KeyError):
        payload_model("unit.tested", 2)


def test_the_relay_builds_envelopes_from_stream_entries() -> None:
    at = datetime(2026, 11, 24, 10, tzinfo=UTC)
    entry = Entry(
        stream_id="ord_1",
        seq=4,
        command_id="cmd_1",
        events=[RecordedEvent(event_id="evt_9", type="order.paid", version=1, payload={"a": 1}, occurred_at=at)],
        recorded_at=at,
        trace={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
        correlation_id="corr",
        causation_id="evt_8",
    )
    env = envelope_of(entry, 0, "listing")
    assert (env.event_id, env.aggregate_id, env.seq, env.producer) == ("evt_9", "ord_1", 4, "listing")
    assert env.traceparent == entry.trace["traceparent"]
    assert (env.correlation_id, env.causation_id, env.routing_key) == ("corr", "evt_8", "order.paid.v1")
