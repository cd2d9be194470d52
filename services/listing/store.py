"""The only module that queries listing's database: the projections (shops, items, orders) and their indexes.

Projections are caches of the streams, written after each successful append and rebuildable from them; a
projection write never goes backwards (it carries the stream's seq).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from services.listing.domain import Item, Shop
from services.listing.orders import Order
from services.listing.shares import FactKind, Share, stream_of
from shared.mongo import Collection, Database, DuplicateKeyError, drop_index_if_present
from shared.pagination import Keyset, after, sort_spec
from shared.projections import project, projected_seq

SELLER_ITEMS = Keyset(field="updated_at", descending=True)
ORDER_LIST = Keyset(field="created_at", descending=True)


class ListingStore:
    def __init__(self, db: Database) -> None:
        self.shops: Collection = db["shops"]
        self.items: Collection = db["items"]
        self.orders: Collection = db["orders"]
        # Shares by stream id (`shr_<code>`), and what the stats consumer counted: one fact per event (`_id`).
        self.shares: Collection = db["shares"]
        self.share_facts: Collection = db["share_facts"]

    async def ensure_indexes(self) -> None:
        await self.shops.create_index([("seller_id", 1)], name="seller")
        await self.shops.create_index([("level", -1), ("_id", 1)], name="level")
        # The catalog is answered by the search index (services/listing/search.py): the indexes that served it here,
        # and the `terms` each item carried for it, are retired.
        for retired in ("newest", "price", "category", "city", "condition", "terms"):
            await drop_index_if_present(self.items, retired)
        await self.items.create_index([("seller_id", 1), ("updated_at", -1), ("_id", -1)], name="seller")
        await self.items.create_index([("status", 1), ("reserved_at", 1)], name="reservations")
        await self.orders.create_index([("buyer_id", 1), ("created_at", -1), ("_id", -1)], name="buyer")
        await self.orders.create_index([("seller_id", 1), ("created_at", -1), ("_id", -1)], name="seller")
        await self.orders.create_index([("status", 1), ("expires_at", 1)], name="expiry")
        await self.orders.create_index([("status", 1), ("auto_confirm_at", 1)], name="auto_confirm")
        await self.shares.create_index([("item_id", 1)], name="item")
        await self.share_facts.create_index([("item_id", 1)], name="item")

    # -------------------------------------------------------------------------------------------- projections

    async def project_shop(self, shop: Shop, seq: int) -> None:
        await project(self.shops, shop.shop_id, seq, shop.model_dump())

    async def project_item(self, item: Item, seq: int) -> None:
        await project(self.items, item.item_id, seq, item.model_dump())

    async def project_order(self, order: Order, seq: int) -> None:
        await project(self.orders, order.order_id, seq, order.model_dump())

    async def project_share(self, share: Share, seq: int) -> None:
        await project(self.shares, stream_of(share.code), seq, share.model_dump())

    async def projected_seq(self, aggregate_id: str) -> int:
        collections = {"shp_": self.shops, "itm_": self.items, "ord_": self.orders, "shr_": self.shares}
        return await projected_seq(collections[aggregate_id[:4]], aggregate_id)

    # ----------------------------------------------------------------------------------------------- queries

    async def shops_by_id(self, shop_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The shops of a page: one `_id` equality per distinct shop, run concurrently (at most the page size). Not
        one `$in`: FerretDB on PostgreSQL pushes no `$in` down, and would read every shop for each page."""
        wanted = sorted(set(shop_ids))
        found = await asyncio.gather(*(self.shops.find_one({"_id": shop_id}) for shop_id in wanted))
        return {doc["_id"]: doc for doc in found if doc is not None}

    async def _page(
        self, collection: Collection, base: dict[str, Any], keyset: Keyset, key: Any, row_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        # The equalities stay top-level, where FerretDB on PostgreSQL pushes them down to an index (an `$and` it
        # would not); the cursor's `$or` is evaluated on the few rows they match.
        query = base if row_id is None else {**base, **after(keyset, key, row_id)}
        cursor = collection.find(query).sort(sort_spec(keyset)).limit(limit + 1)
        return [doc async for doc in cursor]

    async def seller_items(
        self, seller_id: str, status: str | None, key: Any, row_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        base: dict[str, Any] = {"seller_id": seller_id}
        if status:
            base["status"] = status
        return await self._page(self.items, base, SELLER_ITEMS, key, row_id, limit)

    async def orders_of(
        self, role: str, user_id: str, status: str | None, key: Any, row_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        base: dict[str, Any] = {f"{role}_id": user_id}
        if status:
            base["status"] = status
        return await self._page(self.orders, base, ORDER_LIST, key, row_id, limit)

    async def order(self, order_id: str) -> dict[str, Any] | None:
        return await self.orders.find_one({"_id": order_id})

    # ------------------------------------------------------------------------------------------- share stats

    async def record_fact(self, event_id: str, kind: FactKind, item_id: str, sharer_id: str, at: datetime) -> bool:
        """Count one event once: its id is the fact's `_id`, so a redelivery meets the unique key. False if known."""
        try:
            await self.share_facts.insert_one(
                {"_id": event_id, "kind": kind, "item_id": item_id, "sharer_id": sharer_id, "at": at}
            )
        except DuplicateKeyError:
            return False
        return True

    async def share_facts_of(self, item_id: str) -> list[dict[str, Any]]:
        """Every fact of one item (a top-level equality on an indexed field): a second-hand item's shares bring
        tens or hundreds of views, not millions; counters kept by `$inc` would lose updates on FerretDB."""
        cursor = self.share_facts.find({"item_id": item_id}, projection={"kind": 1, "sharer_id": 1})
        return [doc async for doc in cursor]

    async def sharers_of(self, item_id: str) -> list[str]:
        cursor = self.shares.find({"item_id": item_id}, projection={"sharer_id": 1})
        return sorted({doc["sharer_id"] async for doc in cursor})

    # -------------------------------------------------------------------------------------------- timer scans

    async def due_expiries(self, cutoff: datetime, backstop_cutoff: datetime, limit: int) -> list[str]:
        """Unpaid orders past their deadline: with no payment started after the grace, otherwise after the backstop
        (the payment service closes those first, and its `payment.closed` closes the order)."""
        query = {
            "status": "pending_payment",
            "$or": [
                {"payment_id": None, "expires_at": {"$lte": cutoff}},
                {"expires_at": {"$lte": backstop_cutoff}},
            ],
        }
        cursor = self.orders.find(query, projection={"_id": 1}).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def due_auto_confirms(self, now: datetime, limit: int) -> list[str]:
        cursor = self.orders.find({"status": "shipped", "auto_confirm_at": {"$lte": now}}, projection={"_id": 1}).limit(
            limit
        )
        return [doc["_id"] async for doc in cursor]

    async def stale_reservations(self, cutoff: datetime, limit: int) -> list[tuple[str, str]]:
        cursor = self.items.find(
            {"status": "reserved", "reserved_at": {"$lte": cutoff}}, projection={"_id": 1, "order_id": 1}
        ).limit(limit)
        return [(doc["_id"], doc["order_id"]) async for doc in cursor if doc.get("order_id")]
