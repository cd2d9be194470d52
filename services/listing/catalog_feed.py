"""Each replica's catalog: its own search index (services/listing/search.py) and the shop facts the cards show, kept
current from listing's item and shop events.

Every replica consumes the events on a queue of its own (exclusive, deleted when the replica goes), so each one sees
every event; the shared work queue (`listing.events`) would give each event to one replica only. A replica that was
down missed events, so at start it subscribes first, then rebuilds its index and its shop facts from the projections,
and then applies what arrived meanwhile. So it does again each time its broker connection comes back (RabbitMQ
restarted, or the connection was lost): its queue is then a new one, and what was published while it had none
never reaches it; the stream position carried by each write keeps an older state from
replacing a newer one. An event is applied by reading its aggregate's stream (one query), not from its payload: the
index always holds the aggregate's current state, whatever order events arrive in.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from services.listing.domain import Item, Shop
from services.listing.search import CatalogIndex
from services.listing.store import ListingStore
from services.listing.usecases import Listing
from shared.bus import Bus
from shared.events import Envelope
from shared.events.envelope import EXCHANGE
from shared.http.metrics import REGISTRY
from shared.mongo import Collection, Database

log = logging.getLogger("services.listing.catalog")
ROUTING_KEYS = ("item.#", "shop.#")
INDEX_SLOTS = 16


def open_index(base: str) -> tuple[CatalogIndex, Any]:
    """The replica's index and the lock it holds: in memory when `base` is empty, else in the first slot directory
    under `base` whose lock file no other process holds, so replicas on one host never share one (the lock goes with
    the process). Keep the returned lock for as long as the index is used."""
    if not base:
        return CatalogIndex(None), None
    Path(base).mkdir(parents=True, exist_ok=True)
    for slot in range(INDEX_SLOTS):
        lock = _lock(Path(base) / f"replica-{slot}.lock")
        if lock is not None:
            return CatalogIndex(Path(base) / f"replica-{slot}"), lock
    raise RuntimeError(f"all {INDEX_SLOTS} catalog index directories under {base} are in use")


def _lock(path: Path) -> Any:
    """The slot's lock file, held (non-blocking), or None if another process holds it."""
    lock = open(path, "a+")  # held for as long as the slot is used
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


async def items_on_sale(items: Collection) -> list[tuple[Item, int]]:
    """The items on sale and their stream positions, from the items projection (an equality on its `status`)."""
    return [
        (Item.model_validate({k: v for k, v in doc.items() if k in Item.model_fields}), int(doc["seq"]))
        async for doc in items.find({"status": "on_sale"})
    ]


def _slots(base: str) -> list[Path]:
    root = Path(base)
    root.mkdir(parents=True, exist_ok=True)
    return sorted(p for p in root.glob("replica-*") if p.is_dir()) or [root / "replica-0"]


async def rebuild_free_slots(base: str, db: Database) -> list[str]:
    """`reindex`: rebuild each slot directory under `base` that no running replica holds (slot 0 if none exists)."""
    slots = await asyncio.to_thread(_slots, base)
    items = await items_on_sale(db["items"])
    report = []
    for path in slots:
        lock = _lock(path.with_suffix(".lock"))
        if lock is None:
            report.append(f"{path}: held by a running replica (rebuilt at its start); left alone")
            continue
        try:
            index = CatalogIndex(path)
            count = await asyncio.to_thread(index.rebuild, items)
            index.close()
            report.append(f"{path}: rebuilt, {count} items on sale")
        finally:
            lock.close()
    return report


def replica_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class CatalogFeed:
    def __init__(
        self,
        bus: Bus,
        listing: Listing,
        store: ListingStore,
        index: CatalogIndex,
        *,
        service: str,
        commit_interval_s: float = 0.05,
    ) -> None:
        self.bus = bus
        self.listing = listing
        self.store = store
        self.index = index
        self.service = service
        self.queue_name = f"{service}.catalog.{replica_name()}"
        self.commit_interval_s = commit_interval_s
        self.shops: dict[str, Shop] = {}
        self._shop_seqs: dict[str, int] = {}
        self._queue: AbstractQueue | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._tag: str | None = None
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._catching_up: set[asyncio.Task[None]] = set()
        self.ready = False

    async def start(self) -> None:
        """Subscribe, then catch up from the projections, then keep current."""
        channel = await self.bus.connection.channel()
        await channel.set_qos(prefetch_count=100)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(self.queue_name, exclusive=True, auto_delete=True, durable=False)
        for key in ROUTING_KEYS:
            await queue.bind(exchange, routing_key=key)
        self._channel, self._queue = channel, queue
        self._tag = await queue.consume(self._on_message)
        # What this replica itself writes is in its index at once (its event, arriving later, then changes nothing).
        self.listing.items.on_projected.append(self._put_item)
        self.listing.shops.on_projected.append(self._put_shop)
        await self.catch_up()
        self._flusher = asyncio.create_task(self._flush_loop(), name="catalog-flush")
        # Called once the connection's channels are restored: the queue declared, bound and consumed again.
        self.bus.connection.reconnect_callbacks.add(self._on_reconnect)
        self.ready = True

    def _on_reconnect(self, *_: Any) -> None:
        task = asyncio.create_task(self._catch_up_again(), name="catalog-catch-up")
        self._catching_up.add(task)
        task.add_done_callback(self._catching_up.discard)

    async def _catch_up_again(self) -> None:
        try:
            await self.catch_up()
        except Exception:
            log.exception("catalog: catching up after the broker connection came back failed")

    async def stop(self) -> None:
        self.bus.connection.reconnect_callbacks.discard(self._on_reconnect)
        for task in list(self._catching_up):
            task.cancel()
        await asyncio.gather(*self._catching_up, return_exceptions=True)
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._queue is not None and self._tag is not None:
            try:
                await self._queue.cancel(self._tag)
            except Exception:  # the channel may already be gone with the connection
                log.debug("catalog queue cancel failed", exc_info=True)
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
        await self.index.flush()

    async def catch_up(self) -> None:
        """The shops and the items on sale from the projections (each an equality on an indexed field)."""
        async for doc in self.store.shops.find({}):
            self._put_shop(Shop.model_validate({k: v for k, v in doc.items() if k in Shop.model_fields}), doc["seq"])
        count = await self.index.rebuild_from(lambda: items_on_sale(self.store.items))
        log.info("catalog rebuilt from the projection: %d items on sale, %d shops", count, len(self.shops))

    def _put_item(self, item: Item, seq: int) -> None:
        self.index.put(item, seq)
        self._wake.set()

    def _put_shop(self, shop: Shop, seq: int) -> None:
        if seq > self._shop_seqs.get(shop.shop_id, 0):
            self.shops[shop.shop_id] = shop
            self._shop_seqs[shop.shop_id] = seq

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.model_validate_json(message.body)
        except ValueError:
            log.error("catalog: dropped a message that is not an envelope (%s)", message.message_id)
            await message.ack()
            return
        try:
            await self.apply(envelope)
        except Exception:
            # The database is away, say: try again shortly (a per-replica cache has no dead-letter queue).
            log.exception("catalog: could not apply %s of %s; retrying", envelope.type, envelope.aggregate_id)
            await asyncio.sleep(0.5)
            await message.nack(requeue=True)
            return
        await message.ack()

    async def apply(self, envelope: Envelope) -> None:
        if envelope.producer != self.service:
            return  # another deployment's listing on the same broker: not our items
        if envelope.aggregate_id.startswith("itm_"):
            state, seq = await self.listing.items.load(envelope.aggregate_id)
            if seq:
                self._put_item(state, seq)
        elif envelope.aggregate_id.startswith("shp_"):
            shop, seq = await self.listing.shops.load(envelope.aggregate_id)
            if seq:
                self._put_shop(shop, seq)
        REGISTRY.inc("catalog_events_total", "Item and shop events applied to the catalog", {"type": envelope.type})

    async def _flush_loop(self) -> None:
        """Commit at most every `commit_interval_s`, and only when something is queued."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.commit_interval_s)
            self._wake.clear()
            try:
                await self.index.flush()
            except Exception:
                log.exception("catalog: commit failed; retrying")
                self._wake.set()
                await asyncio.sleep(1.0)

    def shop_facts(self, shop_id: str) -> dict[str, Any] | None:
        shop = self.shops.get(shop_id)
        if shop is None:
            return None
        return {"shop_name": shop.name, "level": shop.level, "wechat_collection": shop.wechat_collection == "active"}
