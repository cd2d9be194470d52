"""How the hot paths cost as a service's database grows: 500, 5,000 and 50,000 stream entries.

Each size is reached by bulk-inserting finished, published streams (orders in listing's database, payments in
payment's, each with its projection) around what the running services write themselves; then, at that size, the
same calls are measured: reading one stream, finding a command by id, a buyer's orders by an indexed field, placing
an order and creating a payment (both over HTTP to the service processes), and three 50-buyer races for one item.
At the largest size the server's EXPLAIN of the three lookups is printed: the evidence of the index they use.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bench.timing import median_ms as median
from services.listing.store import ListingStore
from shared.aggregate import Entry, RecordedEvent
from shared.mongo import Database
from shared.streams import ENTRIES, StreamStore
from tests.support.infra import LogTail, postgres_log

SIZES = (500, 5_000, 50_000)
PG_PORT = os.environ.get("FISHBRIDGE_PG_PORT", "54329")
BATCH = 1_000
BUYER = "usr_bench_buyer"  # has the same few orders at every size: only the table grows, not the answer
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Sized:
    """Median ms of each measure at each size, and the races' outcomes."""

    ms: dict[str, dict[int, float]] = field(default_factory=dict)
    races: dict[int, list[list[int]]] = field(default_factory=dict)
    plans: dict[str, str] = field(default_factory=dict)
    database_errors: list[str] = field(default_factory=list)
    settled_s: dict[int, float] = field(default_factory=dict)

    def add(self, measure: str, size: int, value: float) -> None:
        self.ms.setdefault(measure, {})[size] = value


def _entry(stream_id: str, seq: int, event_type: str, payload: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A published entry as StreamStore.append writes it (same model, same document shape)."""
    event = RecordedEvent(
        event_id=f"evt_{stream_id}_{seq}", type=event_type, version=1, payload=payload, occurred_at=at
    )
    entry = Entry(
        stream_id=stream_id,
        seq=seq,
        command_id=f"cmd_{stream_id}_{seq}",
        events=[event],
        recorded_at=at,
        trace={"traceparent": f"00-{random.getrandbits(128):032x}-{random.getrandbits(64):016x}-01"},
        published=True,
    )
    return {**entry.model_dump(), "_id": f"{stream_id}#{seq}"}


def _order_stream(n: int, buyer: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A placed-then-cancelled order: two entries and its projection."""
    order_id, at = f"ord_fill{n:07d}", T0 + timedelta(seconds=n)
    placed = {"order_id": order_id, "item_id": f"itm_fill{n:07d}", "buyer_id": buyer, "seller_id": "usr_fill_seller"}
    placed |= {"price_fen": 1000 + n % 5000, "channel": "app", "payment_method": "alipay"}
    entries = [
        _entry(order_id, 1, "order.placed", placed, at),
        _entry(order_id, 2, "order.closed", {**placed, "reason": "buyer_cancelled"}, at + timedelta(minutes=1)),
    ]
    projection = {**placed, "_id": order_id, "seq": 2, "status": "closed", "created_at": at, "expires_at": at}
    return entries, projection


def _payment_stream(n: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    payment_id, at = f"pay_fill{n:07d}", T0 + timedelta(seconds=n)
    created = {"payment_id": payment_id, "order_id": f"ord_fill{n:07d}", "buyer_id": f"usr_fill{n % 997}"}
    created |= {"amount_fen": 1000 + n % 5000, "method": "alipay", "channel": "app"}
    entries = [
        _entry(payment_id, 1, "payment.created", created, at),
        _entry(payment_id, 2, "payment.closed", created, at + timedelta(minutes=15)),
    ]
    projection = {**created, "_id": payment_id, "seq": 2, "status": "closed", "created_at": at, "check_at": None}
    projection |= {"refunds_open": False, "refund_check_at": None}
    return entries, projection


async def fill(
    db: Database, projections: str, target: int, make: Callable[[int], tuple[list[Any], Any]], start: int
) -> int:
    """Insert finished streams, numbered from `start`, until the database holds `target` stream entries; the next
    number."""
    have = await db[ENTRIES].count_documents({})
    entries: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    n = start
    while have + len(entries) < target:
        stream, doc = make(n)
        entries.extend(stream)
        docs.append(doc)
        n += 1
        if len(entries) >= BATCH:
            await db[ENTRIES].insert_many(entries, ordered=False)
            await db[projections].insert_many(docs, ordered=False)
            have += len(entries)
            entries, docs = [], []
    if entries:
        await db[ENTRIES].insert_many(entries, ordered=False)
        await db[projections].insert_many(docs, ordered=False)
    return n


def settle_postgres(*schemas: str) -> float:
    """VACUUM ANALYZE the tables of the bench's databases (schemas, under FerretDB) after a bulk fill: otherwise
    PostgreSQL's autovacuum, which looks once a minute, would do it during the measures at that size, at a moment
    nobody chooses. The seconds it took; 0 when the database is not our PostgreSQL (MongoDB needs nothing)."""
    started = time.monotonic()
    names = ", ".join("'" + schema.replace("'", "''") + "'" for schema in schemas)
    tables = (
        f"SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables WHERE schemaname IN ({names})"
    )
    base = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", PG_PORT, "-U", "postgres", "-d", "ferretdb", "-tAc"]
    if os.geteuid() == 0:
        base = ["runuser", "-u", "postgres", "--", *base]
    found = subprocess.run([*base, tables], capture_output=True, text=True, check=False)
    if found.returncode != 0 or not found.stdout.strip():
        return 0.0
    subprocess.run([*base, f"VACUUM (ANALYZE) {found.stdout.strip()}"], capture_output=True, check=True)
    return time.monotonic() - started


def _plan_summary(explain: dict[str, Any]) -> str:
    planner = explain["queryPlanner"]
    if "Plan" not in planner:
        return str(planner.get("winningPlan", {}).get("stage"))
    parts, stack = [], [planner["Plan"]]
    while stack:
        node = stack.pop(0)
        name = node.get("Index Name")
        parts.append(f"{node['Node Type']}" + (f" on {name}" if name else ""))
        stack.extend(node.get("Plans", []))
    return " > ".join(parts)


async def measure_sizes(
    listing_db: Database,
    payment_db: Database,
    http: aiohttp.ClientSession,
    listing_api: str,
    payment_api: str,
    seller: str,
) -> Sized:
    result = Sized()
    streams = StreamStore(listing_db)
    orders = ListingStore(listing_db)
    log: LogTail = postgres_log()
    buyer_orders = orders_filled = payments_filled = 0
    rng = random.Random(7)

    async def post(url: str, body: Any, expect: int = 201) -> Any:
        async with http.post(url, json=body) as resp:
            assert resp.status == expect, await resp.text()
            return await resp.json()

    async def new_item(i: int) -> str:
        body = {"seller_id": seller, "title": f"九成新 相机 第{i}件", "category": "数码", "condition": "good"}
        item = await post(f"{listing_api}/items", {**body, "price_fen": 1000 + i, "city": "杭州"})
        await post(f"{listing_api}/items/{item['id']}/publish", {"seller_id": seller}, 200)
        return str(item["id"])

    for size in SIZES:
        items = [await new_item(size + i) for i in range(63)]
        if buyer_orders < 12:  # the bench buyer's orders, placed for real (then at every size the same 12)
            for i in range(12):
                await post(f"{listing_api}/orders", _order_body(await new_item(-size - i), BUYER))
            buyer_orders = 12
        orders_filled = await fill(
            listing_db, "orders", size, lambda n: _order_stream(n, f"usr_fill{n % 997}"), orders_filled
        )
        payments_filled = await fill(payment_db, "payments", size, _payment_stream, payments_filled)
        result.settled_s[size] = await asyncio.to_thread(settle_postgres, listing_db.name, payment_db.name)
        streams_ids = [f"ord_fill{rng.randrange(orders_filled):07d}" for _ in range(200)]
        picks = iter(streams_ids)
        result.add("read one stream", size, await median(lambda p=picks: streams.read(next(p)), 200))
        picks = iter(streams_ids)
        result.add(
            "find a command by id", size, await median(lambda p=picks: streams.find_by_command(f"cmd_{next(p)}_2"), 200)
        )
        result.add(
            "a buyer's orders by buyer_id (projection)",
            size,
            await median(lambda: orders.orders_of("buyer", BUYER, None, None, None, 20), 200),
        )
        pending = iter(items[:40])
        result.add(
            "place an order (HTTP)",
            size,
            await median(lambda p=pending: post(f"{listing_api}/orders", _order_body(next(p), "usr_b")), 40),
        )
        result.add(
            "create an Alipay payment (HTTP)",
            size,
            await median(lambda: post(f"{payment_api}/payments", payment_body(seller)), 40),
        )
        alone: list[float] = []
        for item_id in items[43:]:
            # The relay and the consumers finish the previous order's work first: the request's own latency.
            await asyncio.sleep(0.1)
            started = time.perf_counter()
            await post(f"{listing_api}/orders", _order_body(item_id, "usr_b"))
            alone.append((time.perf_counter() - started) * 1000)
        result.add("place an order, 100 ms apart (HTTP)", size, statistics.median(alone))
        result.races[size] = [await _race(http, listing_api, item) for item in items[40:43]]
        if size == SIZES[-1]:
            some = streams_ids[0]
            for label, coll, flt in (
                ("read one stream", ENTRIES, {"stream_id": some}),
                ("find a command by id", ENTRIES, {"command_id": f"cmd_{some}_2"}),
                ("a buyer's orders", "orders", {"buyer_id": BUYER}),
            ):
                explain = await listing_db.command("explain", {"find": coll, "filter": flt})
                result.plans[label] = _plan_summary(explain)
    result.database_errors = log.new_lines(matching=("could not serialize", "deadlock detected"))
    return result


def _order_body(item_id: str, buyer: str) -> dict[str, Any]:
    return {"item_id": item_id, "buyer_id": buyer, "channel": "app", "payment_method": "alipay"}


def payment_body(seller: str) -> dict[str, Any]:
    expires = (datetime.now(UTC) + timedelta(minutes=15)).isoformat()
    return {
        "order_id": f"ord_{random.getrandbits(96):024x}",
        "buyer_id": "usr_b",
        "seller_id": seller,
        "channel": "app",
        "method": "alipay",
        "amount_fen": 100,
        "expires_at": expires,
        "description": "bench",
    }


async def _race(http: aiohttp.ClientSession, api: str, item_id: str) -> list[int]:
    """50 buyers at once for one item: the sorted statuses (one 201, 49 409s when right)."""
    replies = await asyncio.gather(
        *(http.post(f"{api}/orders", json=_order_body(item_id, f"usr_racer{i}")) for i in range(50))
    )
    statuses = sorted(r.status for r in replies)
    for r in replies:
        r.release()
    return statuses


def report(sized: Sized, baseline_ms: float) -> list[str]:
    lines = []
    width = max(len(m) for m in sized.ms) + 2
    head = "".join(f"{s:>11,}" for s in SIZES)
    lines.append(f"{'median ms at N stream entries':<{width}}{head}   {SIZES[-1]:,}/{SIZES[0]:,}   at {SIZES[-1]:,}, B")
    for measure, by_size in sized.ms.items():
        cells = "".join(f"{by_size[s]:>11.3f}" for s in SIZES)
        growth = by_size[SIZES[-1]] / by_size[SIZES[0]]
        lines.append(f"{measure:<{width}}{cells}   {growth:>10.2f}x   {by_size[SIZES[-1]] / baseline_ms:>8.2f} B")
    for size, rounds in sized.races.items():
        winners = [r.count(201) for r in rounds]
        others = sorted({s for r in rounds for s in r if s != 201})
        lines.append(f"50-buyer races at {size:,}: winners per race {winners}, other statuses {others}")
    for label, plan in sized.plans.items():
        lines.append(f"EXPLAIN at {SIZES[-1]:,}, {label}: {plan}")
    lines.append(f"PostgreSQL serialization failures or deadlocks logged meanwhile: {len(sized.database_errors)}")
    waits = ", ".join(f"{s:,}: {w:.1f} s" for s, w in sized.settled_s.items())
    lines.append(f"VACUUM ANALYZE of the bench's tables after each fill, before measuring ({waits})")
    return lines
