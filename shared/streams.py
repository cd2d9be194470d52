"""Append-only aggregate streams: a unique (stream_id, seq) decides every race, and the entries are the outbox.

A command loads a stream (snapshot + tail), runs the pure `decide(state, command)`, and appends one entry holding the
resulting events at `seq = last + 1`. An insert into a unique index is the only write FerretDB 1.24 makes atomically,
so a duplicate key means another writer won: reload and decide again. Each entry also carries a unique `command_id`,
so re-running a command (a redelivered event, a retried request) finds its effect already there. A command id names
one effect on one stream: the same id met on another stream is a conflict, never "already applied".

Every query here is a top-level equality on the leading field of an index (docs/queries.md): a stream is read with
one query by `stream_id`, a command found by `command_id`, an entry or marker by `_id`. MongoDB serves them with its
btree indexes, FerretDB on PostgreSQL with the GIN indexes its database adds beside them. The outbox scan is the one
query that is not: it is bounded by the markers not yet published, which the relay keeps near zero.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from shared.aggregate import Aggregate, Cause, Entry, NewEvent, Outcome, RecordedEvent
from shared.clock import Clock, SystemClock
from shared.errors import Conflict, NotFound
from shared.events.registry import PAYLOADS
from shared.http.metrics import REGISTRY
from shared.ids import new_id
from shared.mongo import Database, is_duplicate_key
from shared.telemetry import current_trace_carrier

__all__ = [
    "Aggregate",
    "AlreadyApplied",
    "Cause",
    "CommandIdConflict",
    "ContractViolation",
    "Entry",
    "NewEvent",
    "Outcome",
    "RecordedEvent",
    "StreamConflict",
    "StreamStore",
    "Streams",
    "execute",
    "execute_caused",
    "execute_projected",
    "load",
    "load_tail",
]

log = logging.getLogger("shared.streams")
S = TypeVar("S")
C = TypeVar("C")


class StreamConflict(Exception):
    """Another writer appended at this seq first."""


class AlreadyApplied(Exception):
    """An entry with this command id exists on the target stream: the command's effect is already recorded."""

    def __init__(self, entry: Entry) -> None:
        super().__init__(f"command {entry.command_id} already applied at {entry.stream_id}#{entry.seq}")
        self.entry = entry


class CommandIdConflict(Conflict):
    """The command id is already taken by an entry of another stream: this command did not run, and cannot run
    under that id (a key reused for a different target is the caller's error, never a success)."""

    code = "command_id_conflict"

    def __init__(self, command_id: str, stream_id: str, other_stream_id: str | None) -> None:
        super().__init__("this command id was already used for another aggregate", details={"command_id": command_id})
        self.command_id = command_id
        self.stream_id = stream_id
        # Kept out of `details`: another aggregate's id is not the caller's to see. None if not known yet.
        self.other_stream_id = other_stream_id


Contracts = Literal["off", "registered", "strict"]


class ContractViolation(ValueError):
    """An event whose payload breaks its registered contract (or, in a strict store, has none): never written."""


def check_contract(event: NewEvent, *, strict: bool) -> None:
    model = PAYLOADS.get((event.type, event.version))
    if model is None:
        if strict:
            raise ContractViolation(f"{event.type} v{event.version} has no registered payload contract")
        return
    try:
        model.model_validate(event.payload)
    except ValidationError as exc:
        raise ContractViolation(f"{event.type} v{event.version} breaks its contract: {exc}") from exc


ENTRIES = "stream_entries"
SNAPSHOTS = "stream_snapshots"
OUTBOX = "stream_outbox"
PARKED = "stream_parked"
# A marker the relay has seen without its entry for this long belongs to an append that may never come.
ORPHAN_MARKER_S = 60.0
# At most this many stream ids are left out of an outbox query by the database; the rest are skipped in Python.
MAX_SKIPPED_IN_QUERY = 1_000
MARK_BATCH = 64  # outbox markers deleted at once when a relay round marks its entries published
# How many streams' projected positions a process keeps in memory (`Streams`), to skip re-projection lookups.
PROJECTED_REMEMBERED = 10_000
# How many of its own unpublished entries a process keeps in memory for its relay (`StreamStore`).
APPENDED_REMEMBERED = 10_000


@dataclass(frozen=True)
class OutboxScan:
    """One look at the outbox: entries ready to publish, and markers whose entry is not there (yet)."""

    entries: list[Entry]  # per stream in seq order, at most `per_stream` each
    waiting: list[tuple[str, int]]  # (stream_id, seq): each heads its stream, which waits for it
    markers: int  # how many markers the query returned
    last_stream: str | None  # the last stream the query reached, if it returned a full batch (more may follow)


def _doc_to_entry(doc: dict[str, Any]) -> Entry:
    return Entry.model_validate(doc)


def _with_command(entries: Sequence[Entry], command_id: str) -> Entry | None:
    return next((e for e in entries if e.command_id == command_id), None)


@dataclass
class _Writers:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


# The writers of each stream in this process, by (database, stream id); a stream's slot goes once nobody waits.
_WRITERS: dict[tuple[str, str], _Writers] = {}


class StreamStore:
    """The stream collections of one service's database."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock | None = None,
        new_event_id: Callable[[], str] = lambda: new_id("evt"),
        contracts: Contracts = "off",
    ) -> None:
        """`contracts`: check each appended event against the payload contracts of `shared.events` — "registered"
        checks the events that have one, "strict" also refuses events that have none. Off for streams whose event
        names are not the catalog's (the sandbox's providers)."""
        self.db = db
        self.contracts = contracts
        self.entries = db[ENTRIES]
        self.snapshots = db[SNAPSHOTS]
        self.outbox = db[OUTBOX]
        self.clock = clock or SystemClock()
        self._new_event_id = new_event_id
        self._appended: list[Callable[[], None]] = []
        # The entries this process appended and has not published yet, by `_id`: the relay of the same process takes
        # them from here instead of reading them back (a bounded cache; anything missing is read from the database).
        self._unpublished: OrderedDict[str, Entry] = OrderedDict()

    @asynccontextmanager
    async def writing(self, stream_id: str) -> AsyncIterator[None]:
        """One writer per stream at a time in this process: concurrent commands on one stream (fifty withdrawals from
        one balance) queue here instead of colliding on the unique `(stream_id, seq)` insert and reloading the stream
        after every lost race. Writers in other processes are still decided by that unique key."""
        key = (self.db.name, stream_id)
        slot = _WRITERS.get(key)
        if slot is None:
            slot = _WRITERS[key] = _Writers()
        slot.waiting += 1
        try:
            async with slot.lock:
                yield
        finally:
            slot.waiting -= 1
            if slot.waiting == 0:
                del _WRITERS[key]

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every successful append of this process (the relay wakes up instead of polling)."""
        self._appended.append(listener)

    async def ensure_indexes(self) -> None:
        await self.entries.create_index([("stream_id", 1), ("seq", 1)], unique=True, name="stream_seq")
        await self.entries.create_index([("command_id", 1)], unique=True, name="command_id")
        await self.outbox.create_index([("stream_id", 1), ("seq", 1)], name="stream_seq")

    async def read(self, stream_id: str, after_seq: int = 0, upto_seq: int | None = None) -> list[Entry]:
        """The entries after `after_seq` (up to `upto_seq`, if given), in order: one query by `stream_id`, the seq
        bounds and the order applied here to the stream's few entries (FerretDB would sort and range in Go anyway)."""
        docs = [doc async for doc in self.entries.find({"stream_id": stream_id})]
        entries = sorted((_doc_to_entry(doc) for doc in docs), key=lambda entry: entry.seq)
        wanted = []
        expected = after_seq + 1
        for entry in entries:
            if entry.seq <= after_seq:
                continue
            if entry.seq != expected or (upto_seq is not None and entry.seq > upto_seq):
                break  # a seq exists only after the one before it: a gap ends what can be read
            wanted.append(entry)
            expected += 1
        return wanted

    async def find_by_command(self, command_id: str) -> Entry | None:
        """The entry a command id appended, through the unique `command_id` index; None if it is not there."""
        doc = await self.entries.find_one({"command_id": command_id})
        return _doc_to_entry(doc) if doc else None

    async def _taken(self, stream_id: str, seq: int, command_id: str | None) -> Exception:
        """Why an append at `stream_id#seq` hit a duplicate key: the seq is taken (StreamConflict), or the command id
        is, by this stream (AlreadyApplied) or by another one (CommandIdConflict)."""
        doc = await self.entries.find_one({"_id": f"{stream_id}#{seq}"})
        if doc is not None:
            if command_id is not None and doc.get("command_id") == command_id:
                return AlreadyApplied(_doc_to_entry(doc))
            return StreamConflict(f"{stream_id}#{seq} is taken")
        if command_id is None:
            return StreamConflict(f"{stream_id}#{seq} is taken")
        # The seq is free, so the command id is what is taken, by an entry the unique index makes findable.
        taken = await self.find_by_command(command_id)
        if taken is not None and taken.stream_id == stream_id:
            return AlreadyApplied(taken)
        return CommandIdConflict(command_id, stream_id, taken.stream_id if taken else None)

    async def append(
        self,
        stream_id: str,
        expected_last_seq: int,
        events: Sequence[NewEvent],
        *,
        command_id: str | None = None,
        causation_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Entry:
        """Insert the entry at `expected_last_seq + 1`; StreamConflict if that seq is taken, AlreadyApplied if this
        stream already holds the command id, CommandIdConflict if another stream does."""
        if not events:
            raise ValueError("an entry needs at least one event")
        if self.contracts != "off":
            for event in events:
                check_contract(event, strict=self.contracts == "strict")
        now = self.clock.now()
        seq = expected_last_seq + 1
        entry = Entry(
            stream_id=stream_id,
            seq=seq,
            command_id=command_id or new_id("cmd"),
            events=[
                RecordedEvent(
                    event_id=self._new_event_id(), type=e.type, version=e.version, payload=e.payload, occurred_at=now
                )
                for e in events
            ],
            recorded_at=now,
            trace=current_trace_carrier(),
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        doc = entry.model_dump()
        doc["_id"] = f"{stream_id}#{seq}"
        # The relay's to-do marker goes first, so no appended entry is ever without one. It names a position, not
        # content: whichever writer wins this seq, the marker is right; one nobody wins is dropped later.
        try:
            await self.outbox.insert_one({"_id": doc["_id"], "stream_id": stream_id, "seq": seq, "at": now})
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        try:
            await self.entries.insert_one(doc)
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            raise await self._taken(stream_id, seq, command_id) from None
        self._unpublished[doc["_id"]] = entry
        if len(self._unpublished) > APPENDED_REMEMBERED:
            self._unpublished.popitem(last=False)
        for listener in self._appended:
            listener()
        return entry

    async def load_snapshot(self, stream_id: str, schema: str) -> tuple[int, dict[str, Any]] | None:
        doc = await self.snapshots.find_one({"_id": stream_id})
        if not doc or doc.get("schema") != schema:
            return None
        return int(doc["seq"]), dict(doc["state"])

    async def save_snapshot(self, stream_id: str, seq: int, schema: str, state: dict[str, Any]) -> None:
        # A snapshot is a cache: an older one overwriting a newer one only means a longer tail to replay.
        await self.snapshots.replace_one(
            {"_id": stream_id}, {"_id": stream_id, "seq": seq, "schema": schema, "state": state}, upsert=True
        )

    async def mark_published(self, stream_id: str, seq: int) -> None:
        """An entry is published once its marker is gone: one delete, the entry itself is never rewritten (its
        `published` flag is set only on entries that never needed publishing: no-op claims and skipped entries)."""
        await self.outbox.delete_one({"_id": f"{stream_id}#{seq}"})
        self._unpublished.pop(f"{stream_id}#{seq}", None)

    async def mark_published_many(self, published: Sequence[tuple[str, int]]) -> None:
        """`mark_published` of many entries, their deletes side by side (`MARK_BATCH` at a time). Each is a delete by
        `_id`, the one shape FerretDB answers from the index; one `$in` would read the whole outbox in Go."""
        ids = [f"{stream_id}#{seq}" for stream_id, seq in published]
        for start in range(0, len(ids), MARK_BATCH):
            chunk = ids[start : start + MARK_BATCH]
            await asyncio.gather(*(self.outbox.delete_one({"_id": doc_id}) for doc_id in chunk))
        for doc_id in ids:
            self._unpublished.pop(doc_id, None)

    async def is_published(self, stream_id: str, seq: int) -> bool:
        """True when the entry exists and no marker waits for it."""
        doc_id = f"{stream_id}#{seq}"
        if await self.entries.find_one({"_id": doc_id}, projection={"_id": 1}) is None:
            return False
        return await self.outbox.find_one({"_id": doc_id}, projection={"_id": 1}) is None

    async def scan_outbox(
        self, *, limit: int, per_stream: int, after: str = "", skip: Collection[str] = ()
    ) -> OutboxScan:
        """The markers of streams after `after` (in stream order, so that a relay can go round all streams), minus the
        streams in `skip` (backing off, parked), at most `per_stream` entries of each. A stream stops at its first
        marker without an entry: its later entries cannot exist yet, and must not overtake it."""
        condition: dict[str, Any] = {}
        if after:
            condition["$gt"] = after
        if skip:
            condition["$nin"] = sorted(skip)[:MAX_SKIPPED_IN_QUERY]
        query = {"stream_id": condition} if condition else {}
        cursor = self.outbox.find(query, projection={"stream_id": 1, "seq": 1})
        markers = [m async for m in cursor.sort([("stream_id", 1), ("seq", 1)]).limit(limit)]
        entries: list[Entry] = []
        waiting: list[tuple[str, int]] = []
        taken: dict[str, int] = {}
        stopped: set[str] = set()
        for marker in markers:
            stream_id, seq = marker["stream_id"], int(marker["seq"])
            if stream_id in stopped or stream_id in skip or taken.get(stream_id, 0) >= per_stream:
                continue
            mine = self._unpublished.get(marker["_id"])
            if mine is not None:
                entries.append(mine)
                taken[stream_id] = taken.get(stream_id, 0) + 1
                continue
            doc = await self.entries.find_one({"_id": marker["_id"]})
            if doc is None:
                # Its writer is still at work, or lost the seq and left, or died: the relay decides (claim_seq).
                waiting.append((stream_id, seq))
                stopped.add(stream_id)
                continue
            if doc.get("published"):
                await self.outbox.delete_one({"_id": marker["_id"]})
                continue
            entries.append(_doc_to_entry(doc))
            taken[stream_id] = taken.get(stream_id, 0) + 1
        last = markers[-1]["stream_id"] if markers and len(markers) >= limit else None
        return OutboxScan(entries, waiting, len(markers), last)

    async def unpublished(self, limit: int) -> list[Entry]:
        """Entries waiting for the relay, in (stream, seq) order, found through the small outbox of markers rather
        than by querying every entry ever appended."""
        return (await self.scan_outbox(limit=limit, per_stream=limit)).entries

    async def claim_seq(self, stream_id: str, seq: int) -> bool:
        """Take the seq of a marker whose entry never came, with a no-op entry (a unique insert, so exactly one of
        this claim and a late writer wins): True if claimed (the marker is dropped; the late writer gets
        StreamConflict and appends again after it), False if the writer made it after all (keep the marker, publish
        its entry)."""
        now = self.clock.now()
        doc_id = f"{stream_id}#{seq}"
        noop = Entry(
            stream_id=stream_id,
            seq=seq,
            command_id=f"noop:{doc_id}",
            events=[],
            recorded_at=now,
            published=True,
            noop=True,
        )
        try:
            await self.entries.insert_one({**noop.model_dump(), "_id": doc_id})
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            return False
        await self.outbox.delete_one({"_id": doc_id})
        return True

    # Parking: an entry that can never be published (an event no consumer can take, a payload the broker refuses)
    # is held back, with its stream, until an operator releases it. Nothing of a parked stream is published while it
    # is parked, so its consumers never see its later events before the parked one (or before its skipping).

    async def park(self, stream_id: str, seq: int, reason: str) -> dict[str, Any]:
        """Hold back every unpublished entry of `stream_id` (from the relay's next round), naming the entry `seq`
        that cannot be published and why, for operators to see; ValueError if it is not unpublished or the stream is
        parked already."""
        doc = await self.entries.find_one({"_id": f"{stream_id}#{seq}"})
        marker = await self.outbox.find_one({"_id": f"{stream_id}#{seq}"}, projection={"_id": 1})
        if doc is None or doc.get("published") or marker is None:
            raise ValueError(f"{stream_id}#{seq} is not an unpublished entry")
        parked = {"_id": stream_id, "stream_id": stream_id, "seq": seq, "reason": reason, "parked_at": self.clock.now()}
        try:
            await self.db[PARKED].insert_one(parked)
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            existing = await self.db[PARKED].find_one({"_id": stream_id})
            raise ValueError(f"{stream_id} is already parked: {existing}") from None
        REGISTRY.inc("stream_parked_total", "Streams parked by operators", {"database": self.db.name})
        log.error("stream %s parked at #%d, its events held back: %s", stream_id, seq, reason)
        return parked

    async def release(self, stream_id: str, *, skip: bool = False) -> dict[str, Any] | None:
        """Let the relay publish a parked stream again, from the parked entry on; with `skip`, the parked entry is
        never published (it stays in the stream, marked `skipped`) and publishing goes on after it.
        None if the stream was not parked."""
        parked = await self.db[PARKED].find_one({"_id": stream_id})
        if parked is None:
            return None
        doc_id = f"{stream_id}#{parked['seq']}"
        if skip:
            skipped = {"reason": parked["reason"], "at": self.clock.now()}
            await self.entries.update_one({"_id": doc_id}, {"$set": {"published": True, "skipped": skipped}})
            await self.outbox.delete_one({"_id": doc_id})
            self._unpublished.pop(doc_id, None)
        await self.db[PARKED].delete_one({"_id": stream_id})
        labels = {"database": self.db.name, "skipped": str(skip).lower()}
        REGISTRY.inc("stream_released_total", "Parked streams released", labels)
        log.warning("stream %s released at #%d%s", stream_id, parked["seq"], " (entry skipped)" if skip else "")
        return parked

    async def parked(self) -> dict[str, dict[str, Any]]:
        """The parked streams, by stream id (a small collection: operators park by hand)."""
        return {doc["_id"]: doc async for doc in self.db[PARKED].find({})}


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S
    seq: int
    snapshot_seq: int  # the entries up to here were not replayed: the snapshot stood in for them
    entries: list[Entry]  # every entry of the stream (one query returns them all), for command-id lookups


async def load_head(store: StreamStore, aggregate: Aggregate[S, Any], stream_id: str) -> Loaded[S]:
    """The state of a long-lived stream: its snapshot (if any) and the entries after it, each read by its `_id`
    until the first one missing. `entries` holds only those read (a command id older than the snapshot is found by
    the unique index when its append is tried)."""
    if aggregate.state_model is None:
        raise ValueError(f"{aggregate.name}: a long-lived aggregate needs a state model for its snapshots")
    state = aggregate.initial()
    seq = snapshot_seq = 0
    snap = await store.load_snapshot(stream_id, aggregate.snapshot_schema)
    if snap is not None:
        snapshot_seq, data = snap
        seq = snapshot_seq
        state = aggregate.state_model.model_validate(data)  # type: ignore[assignment]
    entries: list[Entry] = []
    while True:
        doc = await store.entries.find_one({"_id": f"{stream_id}#{seq + 1}"})
        if doc is None:
            break
        entry = _doc_to_entry(doc)
        for event in entry.events:
            state = aggregate.evolve(state, event)
        seq = entry.seq
        entries.append(entry)
    return Loaded(state, seq, snapshot_seq, entries)


async def load_tail(store: StreamStore, aggregate: Aggregate[S, Any], stream_id: str) -> Loaded[S]:
    """The current state of a stream, replayed from its snapshot (if one is used) over the entries after it, and
    every entry of the stream, all read with the one query by `stream_id` (a long-lived stream: `load_head`)."""
    if aggregate.long_lived:
        return await load_head(store, aggregate, stream_id)
    state = aggregate.initial()
    seq = snapshot_seq = 0
    entries = await store.read(stream_id)
    if aggregate.state_model is not None and aggregate.snapshot_every and len(entries) >= aggregate.snapshot_every:
        snap = await store.load_snapshot(stream_id, aggregate.snapshot_schema)
        if snap is not None and snap[0] <= len(entries):
            snapshot_seq, data = snap
            seq = snapshot_seq
            state = aggregate.state_model.model_validate(data)  # type: ignore[assignment]
    for entry in entries[snapshot_seq:]:
        for event in entry.events:
            state = aggregate.evolve(state, event)
        seq = entry.seq
    return Loaded(state, seq, snapshot_seq, entries)


async def load(store: StreamStore, aggregate: Aggregate[S, Any], stream_id: str) -> tuple[S, int]:
    """The current state and the last seq of a stream (0 for a stream with no entries)."""
    loaded = await load_tail(store, aggregate, stream_id)
    return loaded.state, loaded.seq


async def execute(
    store: StreamStore,
    aggregate: Aggregate[S, C],
    stream_id: str,
    command: C,
    *,
    command_id: str | None = None,
    causation_id: str | None = None,
    correlation_id: str | None = None,
    max_attempts: int = 30,
    new_stream: bool = False,
) -> Outcome[S]:
    """Load, decide, append; on a conflict reload and decide again. Domain errors from `decide` propagate.
    A command whose `decide` returns no events changes nothing and appends nothing. A command id already recorded on
    this stream returns its first run (`already_applied`), found among the stream's entries that the load read anyway
    (so a retry is recognised even when the state its first run made now refuses it); one recorded on another
    stream raises CommandIdConflict, from the unique `command_id` index, when the append is tried.
    `new_stream`: the caller has just made the stream id up (a fresh random id), so the first attempt decides on the
    initial state and appends at seq 1 without reading; if the stream exists after all, that append meets its seq 1
    and the command is loaded and decided as any other."""
    async with store.writing(stream_id):
        return await _execute(
            store, aggregate, stream_id, command, command_id, causation_id, correlation_id, max_attempts, new_stream
        )


async def _execute(
    store: StreamStore,
    aggregate: Aggregate[S, C],
    stream_id: str,
    command: C,
    command_id: str | None,
    causation_id: str | None,
    correlation_id: str | None,
    max_attempts: int,
    new_stream: bool,
) -> Outcome[S]:
    for attempt in range(max_attempts):
        if new_stream and attempt == 0:
            loaded: Loaded[S] = Loaded(aggregate.initial(), 0, 0, [])
        else:
            loaded = await load_tail(store, aggregate, stream_id)
        state, seq = loaded.state, loaded.seq
        if command_id is not None:
            done = _with_command(loaded.entries, command_id)
            if done is not None:
                return Outcome(state, seq, done, already_applied=True)
        events = list(aggregate.decide(state, command))
        if not events:
            return Outcome(state, seq, None)
        try:
            entry = await store.append(
                stream_id, seq, events, command_id=command_id, causation_id=causation_id, correlation_id=correlation_id
            )
        except AlreadyApplied as exc:
            state, seq = await load(store, aggregate, stream_id)
            return Outcome(state, seq, exc.entry, already_applied=True)
        except StreamConflict:
            # Jitter spreads out writers that keep colliding on a hot stream.
            await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
            continue
        for event in entry.events:
            state = aggregate.evolve(state, event)
        every = 1 if aggregate.long_lived else aggregate.snapshot_every
        if aggregate.state_model is not None and every and entry.seq % every == 0:
            assert isinstance(state, BaseModel)
            await store.save_snapshot(stream_id, entry.seq, aggregate.snapshot_schema, state.model_dump(mode="json"))
        # (A long-lived stream's load reads only its head: its first entry is the one at seq 1.)
        first = entry.seq == 1 if aggregate.long_lived else not any(e.events for e in loaded.entries)
        return Outcome(state, entry.seq, entry, created=first)
    raise StreamConflict(f"{stream_id}: gave up after {max_attempts} conflicting attempts")


async def execute_caused(
    store: StreamStore,
    aggregate: Aggregate[S, C],
    stream_id: str,
    command: C,
    cause: Cause | None,
    *,
    new_stream: bool = False,
) -> Outcome[S]:
    """`execute` with the command id, causation and correlation of `cause`."""
    return await execute(
        store,
        aggregate,
        stream_id,
        command,
        command_id=cause.command_id if cause else None,
        causation_id=cause.causation_id if cause else None,
        correlation_id=cause.correlation_id if cause else None,
        new_stream=new_stream,
    )


async def execute_projected(
    store: StreamStore,
    aggregate: Aggregate[S, C],
    stream_id: str,
    command: C,
    project: Callable[[S, int], Awaitable[None]],
    cause: Cause | None = None,
    *,
    new_stream: bool = False,
) -> Outcome[S]:
    """`execute`, then write the aggregate's projection (also when the command changed nothing, which heals it)."""
    outcome = await execute_caused(store, aggregate, stream_id, command, cause, new_stream=new_stream)
    if outcome.seq:
        await project(outcome.state, outcome.seq)
    return outcome


class Streams(Generic[S, C]):
    """The streams of one aggregate type in one service: load (or 404), run a command with its cause and write the
    projection, re-project one that fell behind. One per aggregate type replaces the per-aggregate plumbing each
    use-case class would otherwise write again."""

    def __init__(
        self,
        store: StreamStore,
        aggregate: Aggregate[S, C],
        project: Callable[[S, int], Awaitable[None]],
        projected_seq: Callable[[str], Awaitable[int]],
        *,
        prefix: str,
        missing: str,
    ) -> None:
        self.store = store
        self.aggregate = aggregate
        self.project = project
        self.projected_seq = projected_seq
        self.prefix = prefix
        self.missing = missing
        # The stream positions this process has projected (most recent streams only): the consumer of our own
        # events finds most of them here and skips the lookup; after a restart it asks the projection.
        self._projected: OrderedDict[str, int] = OrderedDict()
        # Told of every state this process projects (a local read model, such as a search index, follows at once).
        self.on_projected: list[Callable[[S, int], None]] = []

    def _projected_now(self, stream_id: str, state: S, seq: int) -> None:
        self._remember(stream_id, seq)
        for listener in self.on_projected:
            listener(state, seq)

    def _remember(self, stream_id: str, seq: int) -> None:
        if seq > self._projected.get(stream_id, 0):
            self._projected[stream_id] = seq
        self._projected.move_to_end(stream_id)
        if len(self._projected) > PROJECTED_REMEMBERED:
            self._projected.popitem(last=False)

    def owns(self, stream_id: str) -> bool:
        return stream_id.startswith(self.prefix)

    async def load(self, stream_id: str) -> tuple[S, int]:
        return await load(self.store, self.aggregate, stream_id)

    async def get(self, stream_id: str) -> S:
        """The state of an aggregate that exists (its state says so, or its stream has entries); NotFound if not."""
        state, seq = await self.load(stream_id)
        if not getattr(state, "exists", seq > 0):
            raise NotFound(self.missing)
        return state

    async def run(
        self, stream_id: str, command: C, cause: Cause | None = None, *, new_stream: bool = False
    ) -> Outcome[S]:
        """Run a command and write the projection (`new_stream`: on a stream id just made up, see `execute`)."""
        outcome = await self.run_unprojected(stream_id, command, cause, new_stream=new_stream)
        await self.project_outcome(stream_id, outcome)
        return outcome

    async def run_unprojected(
        self, stream_id: str, command: C, cause: Cause | None = None, *, new_stream: bool = False
    ) -> Outcome[S]:
        """Run a command only: the caller writes the projection with `project_outcome`, when it can do so alongside
        its next step (the projection is a cache: a lost write is healed from the stream)."""
        return await execute_caused(self.store, self.aggregate, stream_id, command, cause, new_stream=new_stream)

    async def project_outcome(self, stream_id: str, outcome: Outcome[S]) -> None:
        """Write the projection of a command's outcome (also when it changed nothing, which heals it)."""
        if outcome.seq:
            await self.project(outcome.state, outcome.seq)
            self._projected_now(stream_id, outcome.state, outcome.seq)

    async def reproject(self, stream_id: str, seq: int) -> bool:
        """Rewrite the projection from the stream if it is behind `seq` (a projection write lost to a crash); one
        lookup when it is not (none when this process projected it). True if it was rewritten."""
        if self._projected.get(stream_id, 0) >= seq or await self.projected_seq(stream_id) >= seq:
            return False
        state, last = await self.load(stream_id)
        if not last:
            return False
        await self.project(state, last)
        self._projected_now(stream_id, state, last)
        return True


async def reproject_any(streams: Sequence[Streams[Any, Any]], stream_id: str, seq: int) -> bool:
    """Re-project whichever of a service's aggregate types owns `stream_id` (its own event names it)."""
    for kind in streams:
        if kind.owns(stream_id):
            return await kind.reproject(stream_id, seq)
    return False


def own_event_types(*aggregates: Aggregate[Any, Any]) -> tuple[str, ...]:
    """Every event type the aggregates declare: what a service binds to heal its projections from its own events."""
    return tuple(t for aggregate in aggregates for t in aggregate.events)
