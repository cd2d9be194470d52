"""The relay's operator command line on FerretDB; the relay's behaviour on the store is in the stream contract
(tests/unit/shared/stream_contract.py, run on both databases from test_streams.py)."""

from __future__ import annotations

import pytest

from shared.mongo import Database
from shared.relay import admin
from shared.streams import StreamStore, execute
from tests.support.counter import COUNTER, Increment
from tests.support.infra import MONGO_URL


@pytest.fixture
async def store(db: Database) -> StreamStore:
    s = StreamStore(db)
    await s.ensure_indexes()
    return s


async def test_operators_park_list_and_release_a_stream_from_the_command_line(
    store: StreamStore, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"MONGO_URL": MONGO_URL, "MONGO_DB": db.name}
    await execute(store, COUNTER, "cli-1", Increment(by=1))
    assert await admin(["park", "cli-1", "1", "consumers reject it"], env) == 0
    assert await admin(["park", "cli-1", "1", "again"], env) == 1
    assert await admin(["parked"], env) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all('"reason": "consumers reject it"' in line for line in out)
    assert await admin(["release", "cli-1", "--skip"], env) == 0
    assert await store.parked() == {}
    assert await store.unpublished(10) == []
    assert await admin(["release", "cli-1"], env) == 1
    assert await admin(["parked"], {}) == 2
