"""The pure side of an aggregate: its events, the decide/evolve protocol and what running a command produced.

Domain modules import this and pydantic, never the database driver: `shared.streams` stores what is defined here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from shared.events.registry import contract_of

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True)
class NewEvent:
    """What `decide` returns: an event not yet recorded."""

    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    version: int = 1

    @classmethod
    def of(cls, payload: BaseModel) -> NewEvent:
        """The event a registered payload model stands for: built (and so validated) where it is decided."""
        event_type, version = contract_of(type(payload))
        return cls(event_type, payload.model_dump(mode="json"), version)


class RecordedEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    type: str
    version: int
    payload: dict[str, Any]
    occurred_at: datetime


class Entry(BaseModel):
    """One decision appended to a stream: its events, the command that caused it and the trace it belongs to.

    A `noop` entry holds no events: the relay wrote it to claim the seq of an append that never came (see
    `StreamStore.claim_seq`). It changes no state, is never published, and the stream goes on after it.
    """

    model_config = ConfigDict(frozen=True)

    stream_id: str
    seq: int
    command_id: str
    events: list[RecordedEvent]
    recorded_at: datetime
    trace: dict[str, str] = {}
    correlation_id: str | None = None
    causation_id: str | None = None
    # Whether the entry is published is whether its outbox marker is gone (StreamStore.mark_published); this flag is
    # set only on entries that never needed publishing: no-op claims, and entries an operator skipped.
    published: bool = False
    noop: bool = False


@dataclass(frozen=True)
class Aggregate(Generic[S, C]):
    """A pure domain aggregate: how to start, how events change the state, how commands become events."""

    name: str
    initial: Callable[[], S]
    evolve: Callable[[S, RecordedEvent], S]
    decide: Callable[[S, C], Sequence[NewEvent]]
    # For snapshots: a pydantic state model and a schema tag to bump whenever `evolve` changes meaning.
    state_model: type[BaseModel] | None = None
    snapshot_schema: str = "1"
    snapshot_every: int = 0
    # A stream that grows without bound (a ledger account): loaded from its snapshot and the entries after it, read
    # one by one by their ids (a point read each), never by reading the whole stream; its snapshot is saved after
    # every append (`snapshot_every` 1), so a load is one snapshot read and one read past the head.
    long_lived: bool = False
    # The event types `decide` emits: the service consumes them too, to heal its projections (see `Streams`).
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cause:
    """Why a command runs: the command id its effect is keyed by (derived from the causing event, or a follow-up's
    deterministic key), and the event that caused it."""

    command_id: str
    causation_id: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class Outcome(Generic[S]):
    state: S
    seq: int
    entry: Entry | None
    already_applied: bool = False
    # The entry appended was the stream's first with events (its seq may be above 1 after an orphan claim).
    created: bool = False
