"""Two sample processes built from the shared library: a producer service (HTTP + relay) and a consumer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest

from shared.mongo import Client, Database
from tests.support.infra import AMQP_URL, MONGO_URL, OTLP_ENDPOINT
from tests.support.processes import ServiceProcess

TOKEN = "test-internal-token-0123456789"


@dataclass
class SamplePair:
    producer: ServiceProcess
    consumer: ServiceProcess
    producer_db: Database
    consumer_db: Database
    consumer_name: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="package")
async def sample(infra: None, mongo_client: Client, log_dir: Path) -> AsyncIterator[SamplePair]:
    run = uuid.uuid4().hex[:8]
    producer_name, consumer_name = f"sample-producer-{run}", f"sample-consumer-{run}"
    common = {
        "MONGO_URL": MONGO_URL,
        "AMQP_URL": AMQP_URL,
        "INTERNAL_TOKEN": TOKEN,
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
        "RELAY_POLL_S": "0.1",
    }
    producer = ServiceProcess(
        "tests.support.producer_app",
        {**common, "SERVICE_NAME": producer_name, "MONGO_DB": f"t_{run}_producer"},
        log_dir,
    )
    consumer = ServiceProcess(
        "tests.support.consumer_app",
        {
            **common,
            "SERVICE_NAME": consumer_name,
            "MONGO_DB": f"t_{run}_consumer",
            "CONSUMER_MAX_ATTEMPTS": "3",
            "CONSUMER_RETRY_DELAYS_S": "[0.2, 0.4]",
        },
        log_dir,
    )
    try:
        # The consumer first: its queue must be bound before the producer's relay publishes.
        await consumer.start()
        await producer.start()
        yield SamplePair(
            producer, consumer, mongo_client[f"t_{run}_producer"], mongo_client[f"t_{run}_consumer"], consumer_name
        )
    finally:
        producer.stop()
        consumer.stop()
        await mongo_client.drop_database(f"t_{run}_producer")
        await mongo_client.drop_database(f"t_{run}_consumer")
        connection = await aio_pika.connect_robust(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for suffix in ("events", "events.dlq", "events.retry.200ms", "events.retry.400ms"):
                await channel.queue_delete(f"{consumer_name}.{suffix}")
