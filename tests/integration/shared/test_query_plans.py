"""The hot queries use an index on the database itself: each filter the code sends, captured as it is sent, is run
through the server's `explain` over a few thousand documents. On FerretDB over PostgreSQL that is PostgreSQL's own
EXPLAIN, which must show an index scan (the GIN indexes deploy/postgres/ferretdb.sql adds) and no `Seq Scan`; on
MongoDB 7 an IXSCAN and no COLLSCAN. docs/queries.md lists the query paths and the rule they follow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from services.listing.store import ORDER_LIST, SELLER_ITEMS, ListingStore
from services.payment.store import PaymentStore
from shared.mongo import Database
from shared.streams import ENTRIES, OUTBOX, SNAPSHOTS, StreamStore, execute, load
from tests.support.counter import COUNTER, Increment
from tests.support.queries import QueryLog

ROWS = 3_000
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def plan_nodes(explain: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(node or stage, index name) of every node of an explain answer, FerretDB-on-PostgreSQL's or MongoDB's."""
    planner = explain["queryPlanner"]
    stack: list[dict[str, Any]] = [planner["Plan"]] if "Plan" in planner else [planner["winningPlan"]]
    while stack:
        node = stack.pop()
        if "Node Type" in node:
            yield node["Node Type"], node.get("Index Name")
            stack.extend(node.get("Plans", []))
        else:
            yield node["stage"], node.get("indexName")
            stack.extend([node["inputStage"]] if "inputStage" in node else node.get("inputStages", []))


async def unindexed_plans(db: Database, queries: QueryLog, collections: set[str]) -> list[Any]:
    """Each distinct filter sent to `collections` whose plan reads the whole collection or uses no index."""
    bad = []
    seen: set[str] = set()
    for coll, _, flt in queries.seen:
        if coll not in collections or repr((coll, flt)) in seen:
            continue
        seen.add(repr((coll, flt)))
        explain = await db.command("explain", {"find": coll, "filter": flt})
        nodes = list(plan_nodes(explain))
        scans = [n for n, _ in nodes if n in ("Seq Scan", "COLLSCAN")]
        indexed = [i for n, i in nodes if i and ("Index" in n or n == "IXSCAN")]
        if scans or not indexed:
            bad.append((coll, flt, nodes))
    return bad


async def test_stream_reads_command_lookups_and_outbox_markers_use_an_index(
    watched_db: tuple[Database, QueryLog],
) -> None:
    db, queries = watched_db
    store = StreamStore(db)
    await store.ensure_indexes()
    await db[ENTRIES].insert_many(
        [
            {"_id": f"fill-{i // 5}#{i % 5 + 1}", "stream_id": f"fill-{i // 5}", "seq": i % 5 + 1}
            | {"command_id": f"cmd-fill-{i}", "events": [], "recorded_at": T0, "published": True}
            for i in range(ROWS)
        ]
    )
    queries.seen.clear()
    # What a command does: look its id up, read the stream, append (marker, entry), publish, retry, snapshot.
    for n in range(25):
        await execute(store, COUNTER, "hot-1", Increment(by=1), command_id=f"cmd-hot-{n}")
    assert (await execute(store, COUNTER, "hot-1", Increment(by=1), command_id="cmd-hot-3")).already_applied
    await store.mark_published("hot-1", 1)
    assert (await load(store, COUNTER, "hot-1"))[1] == 25
    assert [e.seq for e in await store.read("fill-7")] == [1, 2, 3, 4, 5]
    assert (found := await store.find_by_command("cmd-fill-1234")) is not None and found.stream_id == "fill-246"
    assert {coll for coll, _, _ in queries.seen} >= {ENTRIES, OUTBOX, SNAPSHOTS}
    assert await unindexed_plans(db, queries, {ENTRIES, SNAPSHOTS}) == []
    # And the check does see a scan: `seq` leads no index.
    queries.seen[:] = [(ENTRIES, "find", {"seq": 3})]
    assert [nodes for _, _, nodes in await unindexed_plans(db, queries, {ENTRIES})] != []


async def test_order_and_item_lists_of_one_user_use_an_index(watched_db: tuple[Database, QueryLog]) -> None:
    db, queries = watched_db
    store = ListingStore(db)
    await store.ensure_indexes()
    await db["orders"].insert_many(
        [
            {"_id": f"ord_{i:06d}", "buyer_id": f"usr_b{i % 300}", "seller_id": f"usr_s{i % 200}", "seq": 1}
            | {"status": "completed", "created_at": T0 + timedelta(minutes=i)}
            for i in range(ROWS)
        ]
    )
    await db["items"].insert_many(
        [
            {"_id": f"itm_{i:06d}", "seller_id": f"usr_s{i % 200}", "status": "on_sale", "seq": 1}
            | {"updated_at": T0 + timedelta(minutes=i), "terms": []}
            for i in range(ROWS)
        ]
    )
    queries.seen.clear()
    first = await store.orders_of("buyer", "usr_b7", None, None, None, 5)
    assert len(first) == 6
    key, row = first[4][ORDER_LIST.field], first[4]["_id"]
    assert len(await store.orders_of("buyer", "usr_b7", None, key, row, 5)) == 5
    assert len(await store.orders_of("seller", "usr_s3", "completed", None, None, 20)) == 15
    items = await store.seller_items("usr_s9", "on_sale", None, None, 10)
    cursor_key = items[9][SELLER_ITEMS.field]
    assert len(await store.seller_items("usr_s9", None, cursor_key, items[9]["_id"], 10)) == 5
    assert (await store.order("ord_000042") or {})["buyer_id"] == "usr_b42"
    assert await store.projected_seq("itm_000009") == 1
    assert await unindexed_plans(db, queries, {"orders", "items"}) == []


async def test_agreement_lists_of_one_buyer_use_an_index(watched_db: tuple[Database, QueryLog]) -> None:
    db, queries = watched_db
    store = PaymentStore(db, reconcile_after_s=60)
    await store.ensure_indexes()
    await db["agreements"].insert_many(
        [
            {"_id": f"agr_{i:06d}", "buyer_id": f"usr_b{i % 500}", "created_at": T0 + timedelta(minutes=i), "seq": 1}
            for i in range(ROWS)
        ]
    )
    queries.seen.clear()
    page = await store.agreements_of("usr_b1", 3, None)
    assert len(page) == 4
    assert len(await store.agreements_of("usr_b1", 3, (page[2]["created_at"], page[2]["_id"]))) == 3
    assert await store.projected_seq("agr_000001") == 1
    assert await unindexed_plans(db, queries, {"agreements"}) == []
