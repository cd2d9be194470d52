"""Streams on FerretDB: unique (stream_id, seq) decides races; command ids make re-runs harmless."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import Conflict, InvalidState
from shared.mongo import Database, make_client
from shared.streams import (
    COMMANDS,
    ENTRIES,
    SNAPSHOTS,
    AlreadyApplied,
    NewEvent,
    StreamConflict,
    StreamStore,
    execute,
    load,
)
from tests.support.counter import COUNTER, Close, Increment
from tests.support.infra import MONGO_URL
from tests.support.queries import QueryLog


@pytest.fixture
async def store(db: Database) -> StreamStore:
    s = StreamStore(db)
    await s.ensure_indexes()
    return s


@pytest.fixture
async def watched(db: Database) -> AsyncIterator[tuple[StreamStore, QueryLog]]:
    """A store on a client that records every query it sends."""
    queries = QueryLog(db.name)
    client = make_client(MONGO_URL, event_listeners=[queries])
    s = StreamStore(client[db.name])
    await s.ensure_indexes()
    yield s, queries
    client.close()


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


async def test_the_outbox_lists_each_appended_entry_until_published(store: StreamStore) -> None:
    await execute(store, COUNTER, "box-1", Increment(by=1))
    await execute(store, COUNTER, "box-1", Increment(by=1))
    assert [(e.stream_id, e.seq) for e in await store.unpublished(100) if e.stream_id == "box-1"] == [
        ("box-1", 1),
        ("box-1", 2),
    ]
    await store.mark_published("box-1", 1)
    assert [e.seq for e in await store.unpublished(100) if e.stream_id == "box-1"] == [2]
    # A marker whose append has not happened (yet) is kept, however old its writer says it is: the relay decides.
    await store.outbox.insert_one(
        {"_id": "box-2#1", "stream_id": "box-2", "seq": 1, "at": datetime.now(UTC) - timedelta(seconds=120)}
    )
    scan = await store.scan_outbox(limit=100, per_stream=100)
    assert ("box-2", 1) in scan.waiting
    assert await store.outbox.find_one({"_id": "box-2#1"}) is not None


async def test_a_command_id_recorded_on_another_stream_is_a_conflict_never_already_applied(store: StreamStore) -> None:
    await execute(store, COUNTER, "cid-a", Increment(by=1), command_id="cmd-shared")
    with pytest.raises(Conflict) as caught:
        await execute(store, COUNTER, "cid-b", Increment(by=1), command_id="cmd-shared")
    assert (caught.value.status, caught.value.code) == (409, "command_id_conflict")
    # Found by the append itself too, when the command index row was lost to a crash.
    await store.commands.delete_one({"_id": "cmd-shared"})
    with pytest.raises(Conflict) as caught:
        await execute(store, COUNTER, "cid-b", Increment(by=1), command_id="cmd-shared")
    assert caught.value.code == "command_id_conflict"
    with pytest.raises(Conflict) as caught:
        await store.append("cid-b", 0, [NewEvent("counter.incremented", {"by": 1})], command_id="cmd-shared")
    assert caught.value.code == "command_id_conflict"
    assert await store.read("cid-b") == []
    # A target stream that refuses the command answers with its own refusal, not with the other stream's entry.
    await execute(store, COUNTER, "cid-c", Close())
    with pytest.raises(InvalidState):
        await execute(store, COUNTER, "cid-c", Increment(by=1), command_id="cmd-shared")
    state, seq = await load(store, COUNTER, "cid-a")
    assert (state.value, seq) == (1, 1)


async def test_command_lookups_after_conflicts_and_refusals_query_only_by_id(
    watched: tuple[StreamStore, QueryLog],
) -> None:
    store, queries = watched
    # A refusal carrying a command id (each losing buyer of an item race, each consumer retry).
    await execute(store, COUNTER, "q-1", Close())
    with pytest.raises(InvalidState):
        await execute(store, COUNTER, "q-1", Increment(by=1), command_id="cmd-q-refused")
    # Racing writers with command ids, then retries of commands already applied (one past a snapshot, its row lost).
    await asyncio.gather(*(execute(store, COUNTER, "q-2", Increment(by=1), command_id=f"cmd-q-{i}") for i in range(12)))
    assert (await execute(store, COUNTER, "q-2", Increment(by=1), command_id="cmd-q-11")).already_applied
    first = (await store.read("q-2"))[0]
    await store.commands.delete_one({"_id": first.command_id})
    again = await execute(store, COUNTER, "q-2", Increment(by=1), command_id=first.command_id)
    assert again.already_applied and again.entry is not None and again.entry.seq == 1
    refused_again = await execute(store, COUNTER, "q-2", Close())
    await store.commands.delete_one({"_id": first.command_id})
    assert refused_again.seq == 13
    # The command's first run, before a snapshot and without its index row, still answers a refused retry.
    replay = await execute(store, COUNTER, "q-2", Increment(by=1), command_id=first.command_id)
    assert replay.already_applied and replay.entry is not None and replay.entry.seq == 1
    assert queries.not_by_id(ENTRIES, COMMANDS, SNAPSHOTS) == []
    assert queries.seen  # the log did watch the store
