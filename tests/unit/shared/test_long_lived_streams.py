"""Long-lived streams (a ledger account): loaded from the snapshot and the entries after it by point reads, never by
reading the whole stream, whatever its length; a stale snapshot only lengthens the tail; a command id older than the
snapshot is still recognised (the unique index)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from shared.aggregate import Aggregate, Cause, NewEvent, RecordedEvent
from shared.streams import StreamStore, execute_caused, load
from tests.support.memory import MemoryDatabase, as_database


class Total(BaseModel):
    total: int = 0
    count: int = 0


class Add(BaseModel):
    n: int


def _decide(state: Total, c: Add) -> list[NewEvent]:
    return [NewEvent("test.added", {"n": c.n, "total": state.total + c.n})]


def _evolve(state: Total, event: RecordedEvent) -> Total:
    return Total(total=event.payload["total"], count=state.count + 1)


LONG: Aggregate[Total, Add] = Aggregate("total", Total, _evolve, _decide, state_model=Total, long_lived=True)


@pytest.fixture
async def store(monkeypatch: pytest.MonkeyPatch) -> StreamStore:
    s = StreamStore(as_database(MemoryDatabase()))
    await s.ensure_indexes()

    async def whole_stream(*_: Any, **__: Any) -> Any:
        raise AssertionError("a long-lived stream is never read whole")

    monkeypatch.setattr(s, "read", whole_stream)
    return s


async def test_a_long_stream_loads_from_its_head_to_the_same_state_as_a_full_replay(store: StreamStore) -> None:
    for n in range(1, 121):
        await execute_caused(store, LONG, "acc_x", Add(n=n), Cause(f"add:{n}"))
    state, seq = await load(store, LONG, "acc_x")
    assert (state.total, state.count, seq) == (sum(range(1, 121)), 120, 120)
    snap = await store.load_snapshot("acc_x", LONG.snapshot_schema)
    assert snap is not None and snap[0] == 120  # saved after every append


async def test_a_stale_snapshot_only_lengthens_the_tail(store: StreamStore) -> None:
    for n in range(1, 11):
        await execute_caused(store, LONG, "acc_x", Add(n=n), Cause(f"add:{n}"))
    # An older snapshot written last (a slow writer): the entries after it are read one by one.
    await store.save_snapshot("acc_x", 3, LONG.snapshot_schema, Total(total=6, count=3).model_dump())
    state, seq = await load(store, LONG, "acc_x")
    assert (state.total, state.count, seq) == (55, 10, 10)


async def test_a_command_older_than_the_snapshot_is_recognised_and_changes_nothing(store: StreamStore) -> None:
    for n in range(1, 6):
        await execute_caused(store, LONG, "acc_x", Add(n=n), Cause(f"add:{n}"))
    again = await execute_caused(store, LONG, "acc_x", Add(n=1), Cause("add:1"))
    assert again.already_applied and again.entry is not None and again.entry.seq == 1
    state, seq = await load(store, LONG, "acc_x")
    assert (state.total, seq) == (15, 5)


def test_a_long_lived_aggregate_needs_a_state_model_for_its_snapshots() -> None:
    import asyncio

    bare: Aggregate[Total, Add] = Aggregate("bare", Total, _evolve, _decide, long_lived=True)
    with pytest.raises(ValueError, match="state model"):
        asyncio.run(load(StreamStore(as_database(MemoryDatabase())), bare, "acc_y"))
