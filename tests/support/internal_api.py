"""Calling a service's internal API in tests: the internal token, JSON in and out, and the expected status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from shared.bus import Bus
from shared.events import Envelope
from shared.ids import new_id
from tests.support.infra import AMQP_URL, MONGO_URL, OTLP_ENDPOINT
from tests.support.processes import ServiceProcess

TOKEN = "test-internal-token-0123456789"


def service_env(service: str, db_name: str) -> dict[str, str]:
    """What every service process under test gets: its name and database, the infrastructure, fast relay and retries."""
    return {
        "SERVICE_NAME": service,
        "MONGO_URL": MONGO_URL,
        "MONGO_DB": db_name,
        "AMQP_URL": AMQP_URL,
        "INTERNAL_TOKEN": TOKEN,
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
        "RELAY_POLL_S": "0.05",
        "CONSUMER_RETRY_DELAYS_S": "[0.2, 0.5]",
        "CONSUMER_MAX_ATTEMPTS": "3",
    }


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class InternalApi:
    process: ServiceProcess
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> Reply:
        async with self.http.request(
            method,
            f"{self.process.url}/internal/v1{path}",
            json=body,
            params=params or None,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp:
            return Reply(resp.status, await resp.json())

    async def ok(self, method: str, path: str, body: Any = None, expect: int = 200, **params: Any) -> Any:
        reply = await self.call(method, path, body, **params)
        assert reply.status == expect, reply.body
        return reply.body


async def publish_as(
    bus: Bus, producer: str, event_type: str, payload: dict[str, Any], aggregate_id: str, event_id: str | None = None
) -> Envelope:
    """Publish an event as another service's relay would (a service not running in the test)."""
    envelope = Envelope(
        event_id=event_id or new_id("evt"),
        type=event_type,
        version=1,
        occurred_at=datetime.now(UTC),
        producer=producer,
        aggregate_id=aggregate_id,
        seq=1,
        payload=payload,
    )
    await bus.publish(envelope)
    return envelope
