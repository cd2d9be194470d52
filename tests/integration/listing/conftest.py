"""Listing as a real process on FerretDB + RabbitMQ: one with the real timers, one with timers of a few seconds,
and a client that speaks its internal API and publishes the events other services would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest

from shared.bus import Bus
from shared.events import Envelope
from shared.ids import new_id
from shared.mongo import Client, Database
from tests.support.infra import AMQP_URL
from tests.support.internal_api import InternalApi, publish_as, service_env
from tests.support.processes import ServiceProcess


@dataclass
class ListingClient(InternalApi):
    db: Database
    bus: Bus
    name: str

    async def seller(self, level: int = 1, name: str = "小鱼的铺子") -> str:
        seller_id = new_id("usr")
        shop = await self.ok("POST", "/shops", {"seller_id": seller_id, "name": name}, 201)
        if level != 1:
            await self.ok("PUT", f"/shops/{shop['id']}/level", {"level": level})
        return seller_id

    async def item(self, seller_id: str, publish: bool = True, **fields: Any) -> dict[str, Any]:
        body = {
            "seller_id": seller_id,
            "title": "九成新 Kindle Paperwhite",
            "description": "用了一年",
            "category": "数码",
            "condition": "like_new",
            "price_fen": 35_000,
            "images": ["https://img.example/k.jpg"],
            "city": "杭州",
            **fields,
        }
        item: dict[str, Any] = await self.ok("POST", "/items", body, 201)
        if publish:
            item = await self.ok("POST", f"/items/{item['id']}/publish", {"seller_id": seller_id})
        return item

    async def order(
        self, item_id: str, buyer_id: str | None = None, channel: str = "app", method: str = "alipay"
    ) -> dict[str, Any]:
        body = {"item_id": item_id, "buyer_id": buyer_id or new_id("usr"), "channel": channel, "payment_method": method}
        order: dict[str, Any] = await self.ok("POST", "/orders", body, 201)
        return order

    async def publish(
        self,
        event_type: str,
        payload: dict[str, Any],
        aggregate_id: str,
        event_id: str | None = None,
        producer: str = "payment",
    ) -> Envelope:
        return await publish_as(self.bus, producer, event_type, payload, aggregate_id, event_id)

    async def paid(self, order: dict[str, Any], event_id: str | None = None) -> Envelope:
        return await self.publish(
            "payment.succeeded",
            {
                "payment_id": new_id("pay"),
                "order_id": order["id"],
                "buyer_id": order["buyer_id"],
                "seller_id": order["seller_id"],
                "channel": order["channel"],
                "method": order["payment_method"],
                "provider": "alipay",
                "amount_fen": order["amount_fen"],
                "out_trade_no": f"T{uuid.uuid4().hex[:20]}",
                "provider_trade_no": f"2026{uuid.uuid4().int % 10**20:020d}",
                "paid_at": datetime.now(UTC).isoformat(),
            },
            aggregate_id=new_id("pay"),
            event_id=event_id,
        )

    async def entries(self, stream_id: str) -> list[dict[str, Any]]:
        cursor = self.db["stream_entries"].find({"stream_id": stream_id}).sort("seq", 1)
        return [doc async for doc in cursor]

    async def event_types(self, stream_id: str) -> list[str]:
        return [e["type"] for entry in await self.entries(stream_id) for e in entry["events"]]


async def _listing(name: str, env: dict[str, str], mongo_client: Client, log_dir: Path) -> AsyncIterator[ListingClient]:
    run = uuid.uuid4().hex[:8]
    service = f"{name}-{run}"
    db_name = f"t_{run}_listing"
    process = ServiceProcess(
        "services.listing",
        {
            **service_env(service, db_name),
            **env,
        },
        log_dir,
    )
    bus = await Bus.connect(AMQP_URL, name="pytest-listing")
    try:
        await process.start()
        async with aiohttp.ClientSession() as http:
            yield ListingClient(process=process, http=http, db=mongo_client[db_name], bus=bus, name=service)
    finally:
        process.stop()
        await bus.close()
        await mongo_client.drop_database(db_name)
        connection = await aio_pika.connect_robust(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for suffix in ("events", "events.dlq", "events.retry.200ms", "events.retry.500ms"):
                await channel.queue_delete(f"{service}.{suffix}")


@pytest.fixture(scope="package")
async def listing(infra: None, mongo_client: Client, log_dir: Path) -> AsyncIterator[ListingClient]:
    """The real timers (15 minutes to pay, 10 days to auto-confirm)."""
    async for client in _listing("listing", {}, mongo_client, log_dir):
        yield client


@pytest.fixture(scope="package")
async def fast_listing(infra: None, mongo_client: Client, log_dir: Path) -> AsyncIterator[ListingClient]:
    """Timers in seconds: 3 s to pay, 4 s to auto-confirm, swept every 0.2 s. Each leaves seconds for the events a
    test sends in between (a payment, a refund case) to arrive first, even on a loaded machine."""
    env = {
        "ORDER_PAYMENT_TIMEOUT_S": "3",
        "ORDER_EXPIRY_GRACE_S": "0",
        "AUTO_CONFIRM_AFTER_S": "4",
        "SWEEP_INTERVAL_S": "0.2",
        "ORPHAN_RESERVATION_S": "3",
    }
    async for client in _listing("listing-fast", env, mongo_client, log_dir):
        yield client
