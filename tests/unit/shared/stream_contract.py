"""The behaviour of `StreamStore`, `execute` and the relay on it, as contract tests every database must pass.

Each test takes a `store` built over the `database` fixture of the module that imports these tests: the in-memory
database (tests/unit/shared/test_stream_contract.py) and FerretDB (tests/integration/shared/test_streams.py), so the
stand-in the use-case tests run on is held to the real store's behaviour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from shared.bus import Bus, Unroutable
from shared.clock import ManualClock
from shared.errors import Conflict, InvalidState
from shared.events import Envelope
from shared.http.metrics import REGISTRY
from shared.mongo import Database
from shared.relay import LEASES, Relay, SlotLease
from shared.streams import AlreadyApplied, NewEvent, OutboxScan, StreamConflict, StreamStore, execute, load
from tests.support.counter import COUNTER, Close, Increment
from tests.support.infra import eventually

__all__ = [
    "store",
    "test_a_busy_stream_does_not_hold_up_the_others_and_keeps_its_order",
    "test_a_claim_that_loses_to_the_writer_keeps_the_marker_and_the_entry_is_published",
    "test_a_command_id_is_applied_once",
    "test_a_command_id_recorded_on_another_stream_is_a_conflict_never_already_applied",
    "test_a_new_stream_hint_skips_the_first_read_and_is_never_wrong",
    "test_a_parked_stream_is_held_back_visibly_until_released",
    "test_a_rejected_command_appends_nothing",
    "test_a_relay_round_publishes_streams_side_by_side_each_in_order",
    "test_a_relay_stops_its_batch_once_its_lease_slot_is_over",
    "test_a_retried_command_is_found_by_its_entry_and_applied_once",
    "test_a_seq_left_by_a_stalled_writer_is_claimed_and_the_late_writer_appends_after_it",
    "test_a_stream_failing_mid_round_keeps_what_follows_and_the_others_are_marked",
    "test_a_writer_whose_clock_runs_behind_keeps_its_marker_and_its_entry_is_published",
    "test_concurrent_commands_all_apply_with_contiguous_seqs",
    "test_concurrent_commands_on_one_stream_in_one_process_queue_instead_of_colliding",
    "test_concurrent_duplicates_of_one_command_apply_once",
    "test_entries_start_unpublished_and_carry_their_events",
    "test_fifty_concurrent_appends_at_one_seq_exactly_one_wins",
    "test_lease_documents_stay_bounded_however_many_slots_pass",
    "test_reading_a_stream_returns_every_entry_in_order_after_a_position",
    "test_releasing_a_parked_entry_with_skip_never_publishes_it_and_goes_on_after_it",
    "test_snapshot_plus_tail_equals_full_replay",
    "test_streams_in_back_off_do_not_starve_the_others",
    "test_the_appending_process_and_another_see_the_same_outbox",
    "test_the_outbox_lists_each_appended_entry_until_published",
]


@pytest.fixture
async def store(database: Database) -> StreamStore:
    s = StreamStore(database)
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


async def test_a_new_stream_hint_skips_the_first_read_and_is_never_wrong(store: StreamStore) -> None:
    fresh = await execute(store, COUNTER, "new-1", Increment(by=3), new_stream=True)
    assert (fresh.seq, fresh.state.value, fresh.created) == (1, 3, True)
    # A stream that exists after all: the append meets its seq 1, and the command is decided on its real state.
    again = await execute(store, COUNTER, "new-1", Increment(by=4), new_stream=True)
    assert (again.seq, again.state.value, again.created) == (2, 7, False)
    # Its first run, when the hint was given on a retry, answers as a retry.
    first = await execute(store, COUNTER, "new-2", Increment(by=1), command_id="cmd-new-2", new_stream=True)
    retry = await execute(store, COUNTER, "new-2", Increment(by=1), command_id="cmd-new-2", new_stream=True)
    assert retry.already_applied and retry.entry is not None and first.entry is not None
    assert retry.entry.seq == first.entry.seq == 1
    # And a refusal by the real state stands.
    await execute(store, COUNTER, "new-3", Close())
    with pytest.raises(InvalidState):
        await execute(store, COUNTER, "new-3", Increment(by=1), new_stream=True)
    assert [e.seq for e in await store.read("new-1")] == [1, 2]


async def test_a_retried_command_is_found_by_its_entry_and_applied_once(store: StreamStore) -> None:
    first = await execute(store, COUNTER, "retry-1", Increment(by=2), command_id="cmd-retry-1")
    found = await store.find_by_command("cmd-retry-1")
    assert found is not None and (found.stream_id, found.seq) == ("retry-1", first.seq)
    assert await store.find_by_command("cmd-never-ran") is None
    again = await execute(store, COUNTER, "retry-1", Increment(by=2), command_id="cmd-retry-1")
    assert again.already_applied and again.entry is not None and again.entry.seq == first.seq
    assert again.state.value == 2
    # A command its own first run now refuses (the counter closed since) also answers with that first run.
    await execute(store, COUNTER, "retry-2", Increment(by=1), command_id="cmd-retry-2")
    await execute(store, COUNTER, "retry-2", Close())
    replay = await execute(store, COUNTER, "retry-2", Increment(by=1), command_id="cmd-retry-2")
    assert replay.already_applied and replay.entry is not None and replay.entry.seq == 1
    assert [e.seq for e in await store.read("retry-2")] == [1, 2]


async def test_reading_a_stream_returns_every_entry_in_order_after_a_position(store: StreamStore) -> None:
    for _ in range(5):
        await execute(store, COUNTER, "read-1", Increment(by=1))
    assert [e.seq for e in await store.read("read-1")] == [1, 2, 3, 4, 5]
    assert [e.seq for e in await store.read("read-1", after_seq=3)] == [4, 5]
    assert [e.seq for e in await store.read("read-1", after_seq=1, upto_seq=3)] == [2, 3]
    assert [e.seq for e in await store.read("read-1", after_seq=5)] == []
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
    # Found by the append itself too (the unique command_id index refuses the insert).
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


# ------------------------------------------------------------------------------------------ the relay on the store


class FakeTime:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


async def test_lease_documents_stay_bounded_however_many_slots_pass(store: StreamStore) -> None:
    db = store.db
    clock = FakeTime()
    a = SlotLease(db, "relay", slot_s=5, now=clock)
    b = SlotLease(db, "relay", slot_s=5, now=clock)
    other = SlotLease(db, "sweeper", slot_s=5, now=clock)
    for step in range(300):
        # Two replicas compete for every slot; now and then a pause in which nobody holds it.
        clock.t += 5 * (7 if step % 50 == 49 else 1)
        held = [await a.holds(), await b.holds()]
        assert held.count(True) == 1
        await other.holds()
    names = [doc["_id"] async for doc in db[LEASES].find({})]  # the last ten slots stay, to see who held it
    relay = [n for n in names if n.startswith("relay:")]
    assert len(relay) <= 11, sorted(relay)
    assert len(names) - len(relay) <= 11
    # A process started later also clears what earlier processes left behind (here: what the old cleanup, which
    # never deleted anything, left), a bounded number per acquisition so the holder never stalls on it.
    clock.t += 5 * 1_000
    now_slot = int(clock.t // 5)
    await db[LEASES].insert_many([{"_id": f"relay:{now_slot - 2_000 - i}", "holder": "old"} for i in range(300)])
    later = SlotLease(db, "relay", slot_s=5, now=clock)
    assert await later.holds()
    assert 250 <= len([n async for n in db[LEASES].find({})]) <= 300
    for _ in range(8):
        clock.t += 5
        assert await later.holds()
    relay = [doc["_id"] async for doc in db[LEASES].find({}) if doc["_id"].startswith("relay:")]
    assert len(relay) <= 11, sorted(relay)


class RecordingBus:
    """Stands in for the broker: records what the relay publishes, refuses the streams it is told to."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []
        self.refuse: set[str] = set()

    async def publish(self, envelope: Envelope) -> None:
        if envelope.aggregate_id in self.refuse:
            raise Unroutable(f"no queue bound for {envelope.routing_key}")
        self.published.append(envelope)

    def seqs(self, stream_id: str) -> list[int]:
        return [e.seq for e in self.published if e.aggregate_id == stream_id]


class GatedInserts:
    """A collection whose inserts wait for `open`: a writer stalled between its outbox marker and its entry."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self.open = asyncio.Event()

    async def insert_one(self, doc: dict[str, Any]) -> Any:
        await self.open.wait()
        return await self._collection.insert_one(doc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


def relay_of(store: StreamStore, bus: RecordingBus, **kwargs: Any) -> Relay:
    return Relay(store, cast(Bus, bus), producer="pytest", **kwargs)


async def stalled_writer(store: StreamStore, stream_id: str, **clock: Any) -> tuple[GatedInserts, asyncio.Task[Any]]:
    """Start a command whose writer stops after writing its outbox marker, before its entry."""
    writer = StreamStore(store.db, **clock)
    gate = GatedInserts(writer.entries)
    writer.entries = gate  # type: ignore[assignment]
    task = asyncio.create_task(execute(writer, COUNTER, stream_id, Increment(by=1)))
    await eventually(
        lambda: store.outbox.find_one({"_id": f"{stream_id}#1"}), until=lambda m: m is not None, what="the marker"
    )
    return gate, task


async def test_a_writer_whose_clock_runs_behind_keeps_its_marker_and_its_entry_is_published(
    store: StreamStore,
) -> None:
    bus = RecordingBus()
    relay = relay_of(store, bus)
    # The writer's clock is two minutes behind the relay's: its marker looks old the moment it is written.
    gate, task = await stalled_writer(store, "late-1", clock=ManualClock(datetime.now(UTC) - timedelta(seconds=120)))
    await relay.run_once()
    await relay.run_once()
    assert await store.outbox.find_one({"_id": "late-1#1"}) is not None
    gate.open.set()
    assert (await task).seq == 1
    await relay.run_once()
    assert bus.seqs("late-1") == [1]


async def test_a_seq_left_by_a_stalled_writer_is_claimed_and_the_late_writer_appends_after_it(
    store: StreamStore,
) -> None:
    bus = RecordingBus()
    clock = FakeTime()
    relay = relay_of(store, bus, orphan_after_s=60, monotonic=clock)
    gate, task = await stalled_writer(store, "late-2")
    await relay.run_once()  # first seen without its entry
    clock.t += 59
    await relay.run_once()
    assert await store.outbox.find_one({"_id": "late-2#1"}) is not None  # watched for 59 s only: not yet
    clock.t += 2
    await relay.run_once()
    assert await store.outbox.find_one({"_id": "late-2#1"}) is None
    claimed = await store.entries.find_one({"_id": "late-2#1"})
    assert claimed is not None and claimed["noop"] is True and claimed["events"] == []
    # The writer wakes up: its seq is gone, so it decides again and appends after the claim, with a marker of its own.
    gate.open.set()
    outcome = await task
    assert (outcome.seq, outcome.state.value) == (2, 1)
    assert outcome.created  # the stream's first entry with events, though not at seq 1
    state, seq = await load(store, COUNTER, "late-2")
    assert (state.value, seq) == (1, 2)  # the no-op changes nothing, and the seqs go on after it
    after = await execute(store, COUNTER, "late-2", Increment(by=1))
    assert after.seq == 3 and not after.created
    await relay.run_once()
    assert bus.seqs("late-2") == [2, 3]


async def test_a_claim_that_loses_to_the_writer_keeps_the_marker_and_the_entry_is_published(
    store: StreamStore,
) -> None:
    await execute(store, COUNTER, "late-3", Increment(by=1))
    assert await store.claim_seq("late-3", 1) is False
    assert await store.outbox.find_one({"_id": "late-3#1"}) is not None
    bus = RecordingBus()
    await relay_of(store, bus).run_once()
    assert bus.seqs("late-3") == [1]


async def test_streams_in_back_off_do_not_starve_the_others(store: StreamStore) -> None:
    bus = RecordingBus()
    for i in range(3):
        bus.refuse.add(f"aaa-blocked-{i}")
        for _ in range(10):
            await execute(store, COUNTER, f"aaa-blocked-{i}", Increment(by=1))
    await execute(store, COUNTER, "zzz-healthy", Increment(by=1))
    relay = relay_of(store, bus, batch=10)
    for _ in range(4):
        await relay.run_once()
    assert bus.seqs("zzz-healthy") == [1]
    assert [e for e in bus.published if e.aggregate_id.startswith("aaa-")] == []


async def test_a_busy_stream_does_not_hold_up_the_others_and_keeps_its_order(store: StreamStore) -> None:
    for _ in range(30):
        await execute(store, COUNTER, "aaa-busy", Increment(by=1))
    await execute(store, COUNTER, "bbb-quiet", Increment(by=1))
    bus = RecordingBus()
    relay = relay_of(store, bus, batch=10, per_stream=5)
    await relay.run_once()
    assert bus.seqs("aaa-busy") == [1, 2, 3, 4, 5]
    await relay.run_once()
    assert bus.seqs("bbb-quiet") == [1]
    while await relay.run_once():
        pass
    assert bus.seqs("aaa-busy") == list(range(1, 31))


class OverlapBus(RecordingBus):
    """Each publish waits until `width` publishes are under way at once (or a second passed): a relay that publishes
    one entry after another never gets there."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.active = 0
        self.most = 0
        self.enough = asyncio.Event()

    async def publish(self, envelope: Envelope) -> None:
        self.active += 1
        self.most = max(self.most, self.active)
        if self.active >= self.width:
            self.enough.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.enough.wait(), timeout=1.0)
            await super().publish(envelope)
        finally:
            self.active -= 1


async def test_a_relay_round_publishes_streams_side_by_side_each_in_order(store: StreamStore) -> None:
    for n in range(4):
        for _ in range(3):
            await execute(store, COUNTER, f"wide-{n}", Increment(by=1))
    bus = OverlapBus(width=4)
    assert await relay_of(store, bus).run_once() == 12
    assert bus.most == 4  # the four streams' confirms awaited together
    for n in range(4):
        assert bus.seqs(f"wide-{n}") == [1, 2, 3]  # each stream's entries one after another, in seq order
    scan = await store.scan_outbox(limit=100, per_stream=10)
    assert scan.entries == [] and scan.markers == 0  # all marked published by the round


async def test_a_stream_failing_mid_round_keeps_what_follows_and_the_others_are_marked(store: StreamStore) -> None:
    for stream_id in ("half-1", "half-2"):
        for _ in range(3):
            await execute(store, COUNTER, stream_id, Increment(by=1))

    class FailsAtTwo(RecordingBus):
        async def publish(self, envelope: Envelope) -> None:
            if envelope.aggregate_id == "half-1" and envelope.seq == 2:
                raise ConnectionError("the broker went away")
            await super().publish(envelope)

    bus = FailsAtTwo()
    assert await relay_of(store, bus).run_once() == 4
    assert bus.seqs("half-1") == [1] and bus.seqs("half-2") == [1, 2, 3]
    scan = await store.scan_outbox(limit=100, per_stream=10)
    assert sorted((e.stream_id, e.seq) for e in scan.entries) == [("half-1", 2), ("half-1", 3)]


async def test_concurrent_commands_on_one_stream_in_one_process_queue_instead_of_colliding(
    store: StreamStore,
) -> None:
    appends = 0
    append = store.append

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal appends
        appends += 1
        return await append(*args, **kwargs)

    store.append = counted  # type: ignore[method-assign]
    outcomes = await asyncio.gather(*(execute(store, COUNTER, "queue-1", Increment(by=1)) for _ in range(20)))
    assert sorted(o.seq for o in outcomes) == list(range(1, 21))
    assert appends == 20  # no append lost a race and was tried again
    state, seq = await load(store, COUNTER, "queue-1")
    assert (state.value, seq) == (20, 20)


async def test_a_parked_stream_is_held_back_visibly_until_released(
    store: StreamStore, caplog: pytest.LogCaptureFixture
) -> None:
    bus = RecordingBus()
    clock = FakeTime()
    relay = relay_of(store, bus, monotonic=clock)
    for _ in range(2):
        await execute(store, COUNTER, "park-1", Increment(by=1))
    await execute(store, COUNTER, "park-2", Increment(by=1))
    bus.refuse.add("park-1")
    await relay.run_once()
    await store.park("park-1", 1, "nobody consumes this event")
    parked = await store.parked()
    assert parked["park-1"]["seq"] == 1 and parked["park-1"]["reason"] == "nobody consumes this event"
    assert "stream_parked_total{" in REGISTRY.render()
    bus.refuse.clear()
    clock.t += 3_600  # long past any back-off
    await execute(store, COUNTER, "park-2", Increment(by=1))
    with caplog.at_level(logging.ERROR, logger="shared.relay"):
        await relay.run_once()
    assert "parked stream park-1 from #1: nobody consumes this event" in caplog.text
    assert bus.seqs("park-1") == []  # nothing of it, not even its later entries
    assert bus.seqs("park-2") == [1, 2]
    assert await store.release("park-1") is not None
    await relay.run_once()
    assert bus.seqs("park-1") == [1, 2]
    assert await store.parked() == {}


async def test_releasing_a_parked_entry_with_skip_never_publishes_it_and_goes_on_after_it(store: StreamStore) -> None:
    for _ in range(2):
        await execute(store, COUNTER, "skip-1", Increment(by=1))
    await store.park("skip-1", 1, "payload refused by every consumer")
    await store.release("skip-1", skip=True)
    bus = RecordingBus()
    await relay_of(store, bus).run_once()
    assert bus.seqs("skip-1") == [2]
    skipped = await store.entries.find_one({"_id": "skip-1#1"})
    assert skipped is not None and skipped["skipped"]["reason"] == "payload refused by every consumer"
    with pytest.raises(ValueError):
        await store.park("skip-1", 1, "already out")


async def test_a_relay_stops_its_batch_once_its_lease_slot_is_over(store: StreamStore) -> None:
    db = store.db
    clock = FakeTime()  # at the start of a slot

    class SlowBus(RecordingBus):
        async def publish(self, envelope: Envelope) -> None:
            await super().publish(envelope)
            clock.t += 3

    for _ in range(3):
        await execute(store, COUNTER, "slot-1", Increment(by=1))
    bus = SlowBus()
    relay = relay_of(store, bus, lease=SlotLease(db, "relay", slot_s=5, now=clock))
    assert await relay.run_once() == 2  # the third would be published in the next slot, maybe another replica's
    assert await SlotLease(db, "relay", slot_s=5, now=clock).holds()
    assert await relay.run_once() == 0
    assert bus.seqs("slot-1") == [1, 2]


async def test_the_appending_process_and_another_see_the_same_outbox(store: StreamStore) -> None:
    """The appending process's relay takes its own entries from memory, another's reads them: the same entries,
    gone for both once published."""
    other = StreamStore(store.db)
    await execute(store, COUNTER, "mem-1", Increment(by=1))
    await execute(store, COUNTER, "mem-1", Increment(by=2))

    def mine(scan: OutboxScan) -> list[tuple[int, Any]]:
        return [(e.seq, e.events[0].payload) for e in scan.entries if e.stream_id == "mem-1"]

    here, there = await store.scan_outbox(limit=100, per_stream=100), await other.scan_outbox(limit=100, per_stream=100)
    assert mine(here) == mine(there) == [(1, {"by": 1, "value": 1}), (2, {"by": 2, "value": 3})]
    await other.mark_published("mem-1", 1)  # published by the other process's relay
    assert [seq for seq, _ in mine(await store.scan_outbox(limit=100, per_stream=100))] == [2]
    await store.mark_published("mem-1", 2)
    assert mine(await store.scan_outbox(limit=100, per_stream=100)) == []
    assert mine(await other.scan_outbox(limit=100, per_stream=100)) == []
    assert await store.is_published("mem-1", 1) and await other.is_published("mem-1", 2)
