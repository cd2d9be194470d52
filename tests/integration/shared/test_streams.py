"""Streams on FerretDB: unique (stream_id, seq) decides races; command ids make re-runs harmless."""

from __future__ import annotations

import asyncio

import pytest

from shared.errors import InvalidState
from shared.mongo import Database
from shared.streams import AlreadyApplied, NewEvent, StreamConflict, StreamStore, execute, load
from tests.support.counter import COUNTER, Close, Increment


@pytest.fixture
async def store(db: Database) -> StreamStore:
    s = StreamStore(db)
    await s.ensure_indexes()
    return s


async def test_fifty_concurrent_appends_at_one_seq_exactly_one_wins(store: StreamStore) -> None:
    async def attempt(i: int) -> str:
        try:
            await store.append("race-1", 0, [NewEvent("counter.incremented", {"by": 1, "value": 1, "writer": i})])
            return "won"
        except StreamConflict:
            return "conflict"

    results = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert results.count("won") == 1
    assert results.count("conflict") == 49
    entries = await store.read("race-1")
    assert [e.seq for e in entries] == [1]
    winner = results.index("won")
    assert entries[0].events[0].payload["writer"] == winner


async def test_concurrent_commands_all_apply_with_contiguous_seqs(store: StreamStore) -> None:
    outcomes = await asyncio.gather(*(execute(store, COUNTER, "hot-1", Increment(by=1)) for _ in range(30)))
    state, seq = await load(store, COUNTER, "hot-1")
    assert state.value == 30
    assert seq == 30
    assert sorted(o.seq for o in outcomes) == list(range(1, 31))
    values = [e.events[0].payload["value"] for e in await store.read("hot-1")]
    assert values == list(range(1, 31))  # no lost update: each decision saw its predecessor


async def test_a_command_id_is_applied_once(store: StreamStore) -> None:
    first = await execute(store, COUNTER, "idem-1", Increment(by=5), command_id="cmd-abc")
    again = await execute(store, COUNTER, "idem-1", Increment(by=5), command_id="cmd-abc")
    assert not first.already_applied
    assert again.already_applied
    assert again.entry is not None and again.entry.seq == first.seq
    state, seq = await load(store, COUNTER, "idem-1")
    assert (state.value, seq) == (5, 1)
    with pytest.raises(AlreadyApplied):
        await store.append("idem-1", 1, [NewEvent("counter.incremented", {"by": 1, "value": 6})], command_id="cmd-abc")


async def test_concurrent_duplicates_of_one_command_apply_once(store: StreamStore) -> None:
    outcomes = await asyncio.gather(
        *(execute(store, COUNTER, "idem-2", Increment(by=2), command_id="evt-dup") for _ in range(20))
    )
    assert sum(not o.already_applied for o in outcomes) == 1
    state, seq = await load(store, COUNTER, "idem-2")
    assert (state.value, seq) == (2, 1)


async def test_snapshot_plus_tail_equals_full_replay(store: StreamStore) -> None:
    for _ in range(12):  # snapshot_every=5: snapshots at 5 and 10, a tail of 2
        await execute(store, COUNTER, "snap-1", Increment(by=3))
    snapshot = await store.load_snapshot("snap-1", COUNTER.snapshot_schema)
    assert snapshot is not None and snapshot[0] == 10
    state, seq = await load(store, COUNTER, "snap-1")
    assert (state.value, seq) == (36, 12)
    # A snapshot written under another schema tag is ignored, not trusted.
    await store.save_snapshot("snap-1", 12, "old-schema", {"value": -1, "closed": False})
    state, _ = await load(store, COUNTER, "snap-1")
    assert state.value == 36


async def test_a_rejected_command_appends_nothing(store: StreamStore) -> None:
    await execute(store, COUNTER, "closed-1", Increment(by=1))
    await execute(store, COUNTER, "closed-1", Close())
    with pytest.raises(InvalidState):
        await execute(store, COUNTER, "closed-1", Increment(by=1))
    assert [e.seq for e in await store.read("closed-1")] == [1, 2]


async def test_entries_start_unpublished_and_carry_their_events(store: StreamStore) -> None:
    outcome = await execute(store, COUNTER, "pub-1", Increment(by=7))
    pending = [e for e in await store.unpublished(100) if e.stream_id == "pub-1"]
    assert len(pending) == 1 and pending[0].events[0].payload == {"by": 7, "value": 7}
    assert pending[0].events[0].event_id.startswith("evt_")
    assert outcome.entry is not None
    await store.mark_published("pub-1", outcome.entry.seq)
    assert [e for e in await store.unpublished(100) if e.stream_id == "pub-1"] == []


async def test_a_command_whose_index_row_was_lost_is_still_found_and_applied_once(store: StreamStore) -> None:
    first = await execute(store, COUNTER, "lost-1", Increment(by=2), command_id="cmd-lost-1")
    assert await store.find_by_command("cmd-lost-1") is not None
    # As if the process died between the append and the command index row.
    await store.commands.delete_one({"_id": "cmd-lost-1"})
    assert await store.find_by_command("cmd-lost-1") is None
    again = await execute(store, COUNTER, "lost-1", Increment(by=2), command_id="cmd-lost-1")
    assert again.already_applied and again.entry is not None and again.entry.seq == first.seq
    assert again.state.value == 2
    # A command its own first run now refuses (the counter closed since) also answers with that first run.
    await execute(store, COUNTER, "lost-2", Increment(by=1), command_id="cmd-lost-2")
    await execute(store, COUNTER, "lost-2", Close())
    await store.commands.delete_one({"_id": "cmd-lost-2"})
    replay = await execute(store, COUNTER, "lost-2", Increment(by=1), command_id="cmd-lost-2")
    assert replay.already_applied and replay.entry is not None and replay.entry.seq == 1


async def test_reading_a_stream_returns_every_entry_in_order_after_a_position(store: StreamStore) -> None:
    for _ in range(5):
        await execute(store, COUNTER, "read-1", Increment(by=1))
    assert [e.seq for e in await store.read("read-1")] == [1, 2, 3, 4, 5]
    assert [e.seq for e in await store.read("read-1", after_seq=3)] == [4, 5]
    assert await store.read("read-none") == []


async def test_the_outbox_lists_each_appended_entry_until_published_and_drops_orphan_markers(
    store: StreamStore,
) -> None:
    from datetime import UTC, datetime, timedelta

    await execute(store, COUNTER, "box-1", Increment(by=1))
    await execute(store, COUNTER, "box-1", Increment(by=1))
    assert [(e.stream_id, e.seq) for e in await store.unpublished(100) if e.stream_id == "box-1"] == [
        ("box-1", 1),
        ("box-1", 2),
    ]
    await store.mark_published("box-1", 1)
    assert [e.seq for e in await store.unpublished(100) if e.stream_id == "box-1"] == [2]
    # A marker whose append never happened: kept while its writer may still be at work, dropped once stale.
    await store.outbox.insert_one({"_id": "box-2#1", "stream_id": "box-2", "seq": 1, "at": datetime.now(UTC)})
    await store.unpublished(100)
    assert await store.outbox.find_one({"_id": "box-2#1"}) is not None
    stale = datetime.now(UTC) - timedelta(seconds=120)
    await store.outbox.update_one({"_id": "box-2#1"}, {"$set": {"at": stale}})
    await store.unpublished(100)
    assert await store.outbox.find_one({"_id": "box-2#1"}) is None
