"""A tiny aggregate for exercising the shared library: counters that are incremented, and a poisoned event."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.errors import InvalidState


class Counter(BaseModel):
    value: int = 0
    closed: bool = False


class Increment(BaseModel):
    by: int = Field(gt=0, le=1_000)
    note: str = Field(default="", max_length=100)


class Poison(BaseModel):
    pass


class Orphan(BaseModel):
    pass


class Close(BaseModel):
    pass


Command = Increment | Poison | Orphan | Close


def decide(state: Counter, command: Command) -> list[NewEvent]:
    if state.closed:
        raise InvalidState("counter is closed")
    if isinstance(command, Increment):
        return [NewEvent("counter.incremented", {"by": command.by, "value": state.value + command.by})]
    if isinstance(command, Poison):
        return [NewEvent("counter.poisoned", {})]
    if isinstance(command, Orphan):
        return [NewEvent("counter.orphaned", {})]
    return [NewEvent("counter.closed", {"value": state.value})]


def evolve(state: Counter, event: RecordedEvent) -> Counter:
    if event.type == "counter.incremented":
        return state.model_copy(update={"value": int(event.payload["value"])})
    if event.type == "counter.closed":
        return state.model_copy(update={"closed": True})
    return state


COUNTER: Aggregate[Counter, Command] = Aggregate(
    "counter", Counter, evolve, decide, state_model=Counter, snapshot_every=5
)


class Tally(BaseModel):
    seen: int = 0


def decide_tally(state: Tally, event_id: str) -> list[NewEvent]:
    return [NewEvent("tally.counted", {"event_id": event_id, "seen": state.seen + 1})]


def evolve_tally(state: Tally, event: RecordedEvent) -> Tally:
    return Tally(seen=int(event.payload["seen"]))


TALLY: Aggregate[Tally, str] = Aggregate("tally", Tally, evolve_tally, decide_tally)
