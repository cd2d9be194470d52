"""Streams on FerretDB: unique (stream_id, seq) decides races; command ids make re-runs harmless.

The store's behaviour is the contract in tests/unit/shared/stream_contract.py, run here on FerretDB and on the
in-memory database side by side; what only a real server can show (the queries it is sent) is tested below.
"""

from __future__ import annotations

import asyncio

import pytest

from shared.errors import InvalidState
from shared.mongo import Database
from shared.streams import ENTRIES, SNAPSHOTS, StreamStore, execute
from tests.support.counter import COUNTER, Close, Increment
from tests.support.memory import MemoryDatabase, as_database
from tests.support.queries import QueryLog, leading_fields
from tests.unit.shared.collection_contract import *  # noqa: F403
from tests.unit.shared.stream_contract import *  # noqa: F403


@pytest.fixture(params=["memory", "ferretdb"])
def database(request: pytest.FixtureRequest) -> Database:
    """Each contract test on both databases: a fresh in-memory one, and a fresh FerretDB database."""
    if request.param == "memory":
        return as_database(MemoryDatabase())
    db: Database = request.getfixturevalue("db")
    return db


@pytest.fixture
async def watched(watched_db: tuple[Database, QueryLog]) -> tuple[StreamStore, QueryLog]:
    """A store on a client that records every query it sends."""
    db, queries = watched_db
    store = StreamStore(db)
    await store.ensure_indexes()
    return store, queries


async def test_stream_queries_after_conflicts_and_refusals_are_equalities_on_index_leading_fields(
    watched: tuple[StreamStore, QueryLog],
) -> None:
    store, queries = watched
    # A refusal carrying a command id (each losing buyer of an item race, each consumer retry).
    await execute(store, COUNTER, "q-1", Close())
    with pytest.raises(InvalidState):
        await execute(store, COUNTER, "q-1", Increment(by=1), command_id="cmd-q-refused")
    # Racing writers with command ids, then retries of commands already applied (one past a snapshot).
    await asyncio.gather(*(execute(store, COUNTER, "q-2", Increment(by=1), command_id=f"cmd-q-{i}") for i in range(12)))
    assert (await execute(store, COUNTER, "q-2", Increment(by=1), command_id="cmd-q-11")).already_applied
    first = (await store.read("q-2"))[0]
    again = await execute(store, COUNTER, "q-2", Increment(by=1), command_id=first.command_id)
    assert again.already_applied and again.entry is not None and again.entry.seq == 1
    refused_again = await execute(store, COUNTER, "q-2", Close())
    assert refused_again.seq == 13
    # The command's first run, before a snapshot, still answers a retry its state now refuses.
    replay = await execute(store, COUNTER, "q-2", Increment(by=1), command_id=first.command_id)
    assert replay.already_applied and replay.entry is not None and replay.entry.seq == 1
    indexed = await leading_fields(store.db, ENTRIES, SNAPSHOTS)
    assert indexed[ENTRIES] == {"_id", "stream_id", "command_id"}
    assert queries.unindexed(indexed) == []
    # A stream is read with its one query by stream_id, which also finds the commands already applied to it.
    assert {field for coll, _, flt in queries.seen if coll == ENTRIES for field in flt} >= {"stream_id"}
    assert queries.seen  # the log did watch the store
