"""Drive a pure aggregate in memory: decide, record the events with a given time, evolve."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any, TypeVar

from shared.aggregate import Aggregate, NewEvent, RecordedEvent

S = TypeVar("S")
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
_ids = count(1)


def record(event: NewEvent, at: datetime = T0) -> RecordedEvent:
    return RecordedEvent(
        event_id=f"evt_{next(_ids)}", type=event.type, version=event.version, payload=event.payload, occurred_at=at
    )


def apply(aggregate: Aggregate[S, Any], state: S, command: Any, at: datetime = T0) -> tuple[S, list[NewEvent]]:
    """Decide `command` on `state`; return the evolved state and the events decided."""
    events = list(aggregate.decide(state, command))
    for event in events:
        state = aggregate.evolve(state, record(event, at))
    return state, events


def types(events: list[NewEvent]) -> list[str]:
    return [e.type for e in events]
