"""Listing's store on the real database: every query it sends is a top-level equality on an index-leading field,
except the catalog page's `$in` over its shops, bounded by the page size (docs/queries.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.listing.store import ListingStore
from shared.mongo import Database
from tests.support.queries import QueryLog, leading_fields

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
async def watched(watched_db: tuple[Database, QueryLog]) -> tuple[ListingStore, QueryLog]:
    """A store on a client that records every query it sends."""
    db, queries = watched_db
    store = ListingStore(db)
    await store.ensure_indexes()
    return store, queries


async def test_the_shops_of_a_page_are_id_equalities_one_per_shop(
    watched: tuple[ListingStore, QueryLog],
) -> None:
    store, queries = watched
    await store.shops.insert_many([{"_id": f"shp_{i}", "seller_id": f"usr_{i}", "seq": 1} for i in range(5)])
    queries.seen.clear()
    # An item's shop, or the shop of one seller's items (every row names the same shop).
    assert set(await store.shops_by_id(["shp_1", "shp_1"])) == {"shp_1"}
    assert queries.seen == [("shops", "find", {"_id": "shp_1"})]
    assert queries.unindexed(await leading_fields(store.shops.database, "shops")) == []
    # A catalog page of several shops: one `_id` equality per distinct shop (an `$in` would scan every shop).
    queries.seen.clear()
    assert set(await store.shops_by_id(["shp_3", "shp_1", "shp_3", "shp_9"])) == {"shp_1", "shp_3"}
    assert sorted(flt["_id"] for _, _, flt in queries.seen) == ["shp_1", "shp_3", "shp_9"]
    assert queries.unindexed(await leading_fields(store.shops.database, "shops")) == []
    queries.seen.clear()
    assert await store.shops_by_id([]) == {}
    assert queries.seen == []


async def test_timer_scans_are_equalities_on_the_status_leading_their_index(
    watched: tuple[ListingStore, QueryLog],
) -> None:
    store, queries = watched
    await store.orders.insert_many(
        [
            {"_id": "ord_unpaid_late", "status": "pending_payment", "payment_id": None, "expires_at": T0},
            {
                "_id": "ord_unpaid_soon",
                "status": "pending_payment",
                "payment_id": None,
                "expires_at": T0 + timedelta(hours=1),
            },
            {"_id": "ord_paying", "status": "pending_payment", "payment_id": "pay_1", "expires_at": T0},
            {"_id": "ord_shipped", "status": "shipped", "auto_confirm_at": T0},
            {"_id": "ord_done", "status": "completed", "auto_confirm_at": T0, "expires_at": T0},
        ]
    )
    await store.items.insert_many(
        [
            {"_id": "itm_stale", "status": "reserved", "reserved_at": T0, "order_id": "ord_x"},
            {"_id": "itm_fresh", "status": "reserved", "reserved_at": T0 + timedelta(hours=1), "order_id": "ord_y"},
            {"_id": "itm_on_sale", "status": "on_sale", "reserved_at": T0},
        ]
    )
    queries.seen.clear()
    now = T0 + timedelta(minutes=1)
    assert await store.due_expiries(now, T0 - timedelta(minutes=1), 10) == ["ord_unpaid_late"]
    assert await store.due_expiries(now, now, 10) == ["ord_unpaid_late", "ord_paying"]
    assert await store.due_auto_confirms(now, 10) == ["ord_shipped"]
    assert await store.stale_reservations(now, 10) == [("itm_stale", "ord_x")]
    indexed = await leading_fields(store.orders.database, "orders", "items")
    assert "status" in indexed["orders"] and "status" in indexed["items"]
    assert len(queries.seen) == 4
    assert queries.unindexed(indexed) == []
