"""The outbox relay: publishes unpublished stream entries in seq order with publisher confirms, then deletes their
outbox markers (which is what marks them published).

Each publish runs in the trace context stored with the entry, so the consumer's span joins the request's trace.
Several replicas may run; a time-slotted lease (a unique-key insert per slot) lets one of them publish at a time.
Delivery is at-least-once: a crash between the confirm and the mark publishes the entry again.

A stream's entries go out in seq order; one stream waiting (back-off, a parked entry, a writer not done yet) never
holds up another. A marker left without its entry is aged by what this relay saw, then its seq is claimed.
Operators park and release streams with `python -m shared.relay` (see `admin`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind

from shared.bus import Bus, Unroutable
from shared.events.envelope import Envelope
from shared.http.metrics import REGISTRY
from shared.ids import new_id
from shared.mongo import Database, is_duplicate_key, make_client
from shared.streams import ORPHAN_MARKER_S, Entry, OutboxScan, StreamStore
from shared.telemetry import context_from_carrier

log = logging.getLogger("shared.relay")
tracer = trace.get_tracer("fishbridge.relay")

LEASES = "leases"


class SlotLease:
    """Holds a named lease for fixed time slots: whoever inserts `<name>:<slot>` first owns that slot.

    The slot documents are deleted again by `_id` once `KEEP_SLOTS` slots old (the last few stay, to see who held
    the lease lately), so the collection holds a few documents per name instead of one per slot forever.
    """

    KEEP_SLOTS = 10
    # Deletes per acquisition at most, so that clearing a large backlog (documents earlier versions never deleted)
    # spreads over many slots instead of stalling the holder; and old documents noted per look at the collection.
    MAX_SWEEP = 50
    SCAN_CAP = 5_000

    def __init__(self, db: Database, name: str, *, slot_s: float = 10.0, now: Callable[[], float] = time.time) -> None:
        self.collection = db[LEASES]
        self.name = name
        self.slot_s = slot_s
        self.holder = new_id("cmd")
        self._now = now
        self._held: int | None = None
        self._swept_below: int | None = None
        self._backlog: list[str] = []
        self._look = True  # look at the collection: once per process, and again while a look fills the backlog

    def _slot(self) -> int:
        return int(self._now() // self.slot_s)

    def still_holds(self) -> bool:
        """Whether the slot acquired last is still the current one (no I/O): long work checks it between steps, so
        it stops once the next slot may belong to another replica."""
        return self._held is not None and self._held == self._slot()

    async def holds(self) -> bool:
        slot = self._slot()
        if self._held == slot:
            return True
        doc_id = f"{self.name}:{slot}"
        try:
            await self.collection.insert_one({"_id": doc_id, "holder": self.holder, "at": datetime.now(UTC)})
            self._held = slot
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            doc = await self.collection.find_one({"_id": doc_id})
            if doc and doc.get("holder") == self.holder:
                self._held = slot
        if self._held == slot:
            try:
                await self._sweep(slot)
            except Exception:
                # Only housekeeping: the lease is held all the same, and the next acquisition sweeps again.
                log.warning("lease %s: could not delete old slots", self.name, exc_info=True)
        return self._held == slot

    async def _sweep(self, slot: int) -> None:
        """Delete slot documents older than KEEP_SLOTS, each by `_id` (the names are known): the slots passed since
        the last sweep, and what earlier processes left (found by looking at the collection once per process)."""
        below = slot - self.KEEP_SLOTS
        if self._swept_below is not None:
            self._backlog.extend(
                f"{self.name}:{s}" for s in range(max(self._swept_below, below - self.SCAN_CAP), below)
            )
        self._swept_below = below if self._swept_below is None else max(below, self._swept_below)
        if self._look and not self._backlog:
            self._backlog = await self._left_behind(below)
            self._look = len(self._backlog) >= self.SCAN_CAP
        batch, self._backlog = self._backlog[: self.MAX_SWEEP], self._backlog[self.MAX_SWEEP :]
        for doc_id in batch:
            await self.collection.delete_one({"_id": doc_id})

    async def _left_behind(self, below: int) -> list[str]:
        """Up to SCAN_CAP documents of this lease older than slot `below`: a full read of a collection that the
        sweeps keep small, done once per process (and again while it finds a full batch)."""
        found: list[str] = []
        cursor = self.collection.find({}, projection={"_id": 1})
        try:
            async for doc in cursor:
                old = _slot_of(doc["_id"], f"{self.name}:")
                if old is not None and old < below:
                    found.append(doc["_id"])
                    if len(found) >= self.SCAN_CAP:
                        break
        finally:
            await cursor.close()
        return found


def _slot_of(doc_id: object, prefix: str) -> int | None:
    if not isinstance(doc_id, str) or not doc_id.startswith(prefix):
        return None
    rest = doc_id[len(prefix) :]
    return int(rest) if rest.lstrip("-").isdigit() else None


def envelope_of(entry: Entry, index: int, producer: str) -> Envelope:
    event = entry.events[index]
    return Envelope(
        event_id=event.event_id,
        type=event.type,
        version=event.version,
        occurred_at=event.occurred_at.replace(tzinfo=UTC) if event.occurred_at.tzinfo is None else event.occurred_at,
        producer=producer,
        aggregate_id=entry.stream_id,
        seq=entry.seq,
        correlation_id=entry.correlation_id,
        causation_id=entry.causation_id,
        traceparent=entry.trace.get("traceparent"),
        tracestate=entry.trace.get("tracestate"),
        payload=event.payload,
    )


class Relay:
    """Publishes the outbox of one service. Each round reads a batch of markers going round all streams (a cursor
    over stream ids), leaves out the streams in back-off and the parked ones, and takes at most `per_stream` entries
    of each, so a few blocked or busy streams never hold up the others."""

    def __init__(
        self,
        store: StreamStore,
        bus: Bus,
        *,
        producer: str,
        poll_s: float = 0.2,
        linger_s: float = 0.005,
        batch: int = 200,
        per_stream: int = 50,
        concurrency: int = 64,
        lease: SlotLease | None = None,
        max_backoff_s: float = 30.0,
        orphan_after_s: float = ORPHAN_MARKER_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.bus = bus
        self.producer = producer
        self.poll_s = poll_s
        self.linger_s = linger_s
        self.batch = batch
        self.per_stream = per_stream
        self.concurrency = concurrency
        self.lease = lease
        self.max_backoff_s = max_backoff_s
        self.orphan_after_s = orphan_after_s
        self._monotonic = monotonic
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._cursor = ""
        self._more = False
        # Markers seen without their entry: (first seen, last seen) on this process's own clock. Their age is what
        # this relay observed, never the writer's `at` against our clock (replicas' clocks need not agree).
        self._missing: dict[tuple[str, int], tuple[float, float]] = {}
        self._parked_seen: set[tuple[str, int]] = set()
        self.wake = asyncio.Event()
        # Appends of this process wake the relay at once; polling only finds other replicas' entries.
        store.on_append(self.wake.set)

    async def run_once(self) -> int:
        """Publish what is pending; returns how many entries were published."""
        self._more = False
        with suppress_instrumentation():  # polling is not a request: keep it out of the traces
            if self.lease is not None and not await self.lease.holds():
                return 0
            parked = await self.store.parked()
            self._report_parked(parked)
            now = self._monotonic()
            self._forget_old_failures(now)
            held_back = {s for s, at in self._retry_at.items() if at > now} | set(parked)
            scan = await self._scan(held_back)
            await self._settle_orphans(scan.waiting, now)
        # Streams side by side, each stream's entries in seq order: the confirms of different streams are awaited
        # together (a confirm is a broker round trip, and the broker confirms many at once), then the round's markers
        # are deleted together. A crash before those deletes publishes the entries again (at-least-once).
        by_stream: dict[str, list[Entry]] = {}
        for entry in scan.entries:
            if entry.stream_id not in held_back:
                by_stream.setdefault(entry.stream_id, []).append(entry)
        gate = asyncio.Semaphore(self.concurrency)
        done = await asyncio.gather(*(self._publish_stream(entries, gate) for entries in by_stream.values()))
        published = [entry for entries in done for entry in entries]
        if published:
            with suppress_instrumentation():
                await self.store.mark_published_many([(e.stream_id, e.seq) for e in published])
        return len(published)

    async def _publish_stream(self, entries: list[Entry], gate: asyncio.Semaphore) -> list[Entry]:
        """Publish one stream's entries in order, stopping at the first failure (the stream then backs off)."""
        sent: list[Entry] = []
        async with gate:
            for entry in entries:
                if self.lease is not None and not self.lease.still_holds():
                    break  # the next slot may be another replica's: leave the rest to it
                try:
                    await self._publish(entry)
                except Exception as exc:
                    self._back_off(entry, exc)
                    break
                sent.append(entry)
        if sent and len(sent) == len(entries):
            self._failures.pop(entries[0].stream_id, None)
            self._retry_at.pop(entries[0].stream_id, None)
        return sent

    async def _scan(self, held_back: set[str]) -> OutboxScan:
        scan = await self.store.scan_outbox(
            limit=self.batch, per_stream=self.per_stream, after=self._cursor, skip=held_back
        )
        if scan.markers == 0 and self._cursor:
            # Past the last stream: start the next round at the first one right away.
            scan = await self.store.scan_outbox(limit=self.batch, per_stream=self.per_stream, skip=held_back)
        self._cursor = scan.last_stream or ""
        self._more = scan.last_stream is not None
        return scan

    @property
    def more_waiting(self) -> bool:
        """Whether the last round stopped at a full batch, so more streams may be waiting right now."""
        return self._more

    async def _settle_orphans(self, waiting: list[tuple[str, int]], now: float) -> None:
        """A marker whose entry this relay has not seen for `orphan_after_s`: claim its seq, so the stream goes on
        (a late writer then appends again, after the claim), unless the writer made it meanwhile."""
        for key in waiting:
            first, _ = self._missing.get(key, (now, now))
            self._missing[key] = (first, now)
            if now - first < self.orphan_after_s:
                continue
            stream_id, seq = key
            del self._missing[key]
            if await self.store.claim_seq(stream_id, seq):
                REGISTRY.inc(
                    "relay_orphans_claimed_total",
                    "Seqs claimed from writers that never appended",
                    {"producer": self.producer},
                )
                log.warning("relay claimed %s#%d: its marker had no entry for %.0fs", stream_id, seq, now - first)
            else:
                log.info("relay: the writer of %s#%d appended late; publishing it", stream_id, seq)
        # Forget markers not seen for long (their entry came, or another replica claimed them).
        horizon = 2 * self.orphan_after_s + 60.0
        for key, (_, last) in list(self._missing.items()):
            if now - last > horizon:
                del self._missing[key]

    def _report_parked(self, parked: dict[str, dict[str, Any]]) -> None:
        """Say once per process and parking which streams this relay holds back, and why."""
        current = {(stream_id, int(doc["seq"])) for stream_id, doc in parked.items()}
        for stream_id, seq in sorted(current - self._parked_seen):
            log.error("relay holds back parked stream %s from #%d: %s", stream_id, seq, parked[stream_id]["reason"])
        self._parked_seen = current

    async def _publish(self, entry: Entry) -> None:
        if entry.noop:  # a claimed seq: nothing to say, only its marker to delete
            return
        parent = context_from_carrier(entry.trace)
        for index, event in enumerate(entry.events):
            with tracer.start_as_current_span(
                f"{event.type} relay",
                context=parent,
                kind=SpanKind.INTERNAL,
                attributes={
                    "fishbridge.stream_id": entry.stream_id,
                    "fishbridge.seq": entry.seq,
                    "messaging.message.id": event.event_id,
                },
            ):
                await self.bus.publish(envelope_of(entry, index, self.producer))
        REGISTRY.inc(
            "relay_published_total", "Stream entries published", {"producer": self.producer}, value=len(entry.events)
        )

    def _forget_old_failures(self, now: float) -> None:
        """Drop the back-off of streams that have not failed here for long (another replica may have published
        them since), so these maps do not grow with every stream that ever failed."""
        horizon = 10 * self.max_backoff_s
        for stream_id, at in list(self._retry_at.items()):
            if now - at > horizon:
                del self._retry_at[stream_id]
                self._failures.pop(stream_id, None)

    def _back_off(self, entry: Entry, exc: Exception) -> None:
        failures = self._failures.get(entry.stream_id, 0) + 1
        self._failures[entry.stream_id] = failures
        delay = min(self.max_backoff_s, self.poll_s * 2**failures)
        self._retry_at[entry.stream_id] = self._monotonic() + delay
        kind = "unroutable" if isinstance(exc, Unroutable) else "failed"
        REGISTRY.inc("relay_publish_failures_total", "Publish failures", {"producer": self.producer, "reason": kind})
        # Unroutable means a missing binding, a deployment error: say it loudly, every time.
        level = logging.ERROR if isinstance(exc, Unroutable) or failures > 3 else logging.WARNING
        log.log(level, "relay %s %s#%d (retry in %.1fs): %s", kind, entry.stream_id, entry.seq, delay, exc)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            # Cleared before looking, so an append landing while we publish wakes the next round.
            self.wake.clear()
            try:
                published = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay poll failed")
                published = 0
            if published == 0 and not self.more_waiting:
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=self.poll_s)
                except TimeoutError:
                    continue
                # Woken by an append: let the command that made it finish (its other appends, its projection, its
                # reply) before publishing, rather than compete with it for the event loop and the database; its
                # entries then go out in one round.
                await asyncio.sleep(self.linger_s)


async def admin(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> int:
    """`python -m shared.relay park|release|parked`: the operators' handle on entries that cannot be published.
    Works on the service database named by MONGO_URL and MONGO_DB; prints one JSON document per line."""
    parser = argparse.ArgumentParser(prog="python -m shared.relay", description=admin.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    park = commands.add_parser("park", help="hold back a stream from its unpublished entry SEQ on")
    park.add_argument("stream_id")
    park.add_argument("seq", type=int)
    park.add_argument("reason")
    release = commands.add_parser("release", help="let the relay publish a parked stream again")
    release.add_argument("stream_id")
    release.add_argument("--skip", action="store_true", help="never publish the parked entry; go on after it")
    commands.add_parser("parked", help="list the parked streams and why")
    args = parser.parse_args(argv)
    missing = [name for name in ("MONGO_URL", "MONGO_DB") if not environ.get(name)]
    if missing:
        print(f"set {' and '.join(missing)}", file=sys.stderr)
        return 2
    client = make_client(environ["MONGO_URL"], appname="relay-admin")
    store = StreamStore(client[environ["MONGO_DB"]])
    try:
        if args.command == "park":
            try:
                docs = [await store.park(args.stream_id, args.seq, args.reason)]
            except ValueError as exc:
                print(exc, file=sys.stderr)
                return 1
        elif args.command == "release":
            released = await store.release(args.stream_id, skip=args.skip)
            if released is None:
                print(f"{args.stream_id} is not parked", file=sys.stderr)
                return 1
            docs = [{**released, "released": True, "skipped": args.skip}]
        else:
            docs = list((await store.parked()).values())
    finally:
        client.close()
    for doc in docs:
        print(json.dumps(doc, default=str, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(admin(sys.argv[1:])))
