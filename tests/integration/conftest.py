"""Fixtures on the real infrastructure: a fresh Mongo database per test, a bus connection, the started services."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from shared.bus import Bus
from shared.events import Envelope
from shared.mongo import Client, Database, make_client
from tests.support.infra import AMQP_URL, MONGO_URL, ROOT, create_test_vhost, delete_test_vhost, start_infra
from tests.support.queries import QueryLog


@pytest.fixture(scope="session")
def infra() -> Iterator[None]:
    start_infra()
    create_test_vhost()
    yield
    delete_test_vhost()


@pytest.fixture(scope="session")
def log_dir() -> Path:
    """Where service processes started by tests write their logs (kept after the run for diagnosis)."""
    path = ROOT / ".data" / "test-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
async def mongo_client(infra: None) -> AsyncIterator[Client]:
    client = make_client(MONGO_URL)
    yield client
    client.close()


@pytest.fixture
async def db(mongo_client: Client) -> AsyncIterator[Database]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    await mongo_client.drop_database(name)


@pytest.fixture
async def watched_db(db: Database) -> AsyncIterator[tuple[Database, QueryLog]]:
    """The test's database on a client of its own that records every filter it sends."""
    queries = QueryLog(db.name)
    client = make_client(MONGO_URL, event_listeners=[queries])
    yield client[db.name], queries
    client.close()


@pytest.fixture
async def bus(infra: None) -> AsyncIterator[Bus]:
    b = await Bus.connect(AMQP_URL, name="pytest")
    yield b
    await b.close()


@pytest.fixture
async def watch(infra: None) -> AsyncIterator[Any]:
    """A temporary queue bound to chosen routing keys, to see what reaches RabbitMQ."""
    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("fishbridge.events", aio_pika.ExchangeType.TOPIC, durable=True)
    seen: list[Envelope] = []

    async def bind(*keys: str) -> list[Envelope]:
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in keys:
            await queue.bind(exchange, routing_key=key)

        async def on(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                seen.append(Envelope.model_validate_json(message.body))

        await queue.consume(on)
        return seen

    yield bind
    await connection.close()
