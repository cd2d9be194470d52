"""RabbitMQ: confirmed, persistent publishing to `fishbridge.events`, and per-service consumers with bounded retries
(TTL retry queues), a dead-letter queue that records why, and handlers made idempotent by event id."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)
from pydantic import ValidationError

from shared.aggregate import Cause
from shared.events.envelope import EXCHANGE, Envelope
from shared.http.metrics import REGISTRY
from shared.mongo import Database, is_duplicate_key

log = logging.getLogger("shared.bus")

DLX = "fishbridge.dlx"
ATTEMPT_HEADER = "x-fishbridge-attempt"
# A quorum queue's own delivery limit catches what our retry logic cannot: a message that kills the process.
DELIVERY_LIMIT = 20

Handler = Callable[[Envelope], Awaitable[None]]


class Unroutable(Exception):
    """The broker returned the message: no queue is bound to its routing key."""


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help; the message goes straight to the dead-letter queue."""


class Bus:
    """One robust connection per process and one confirming channel for publishing."""

    def __init__(
        self, connection: AbstractRobustConnection, channel: AbstractRobustChannel, exchange: AbstractExchange
    ):
        self.connection = connection
        self.channel = channel
        self.exchange = exchange

    @classmethod
    async def connect(cls, url: str, *, name: str = "fishbridge", reconnect_interval_s: float = 1.0) -> Bus:
        connection = await aio_pika.connect_robust(
            url, client_properties={"connection_name": name}, reconnect_interval=reconnect_interval_s
        )
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        return cls(connection, channel, exchange)

    async def close(self) -> None:
        await self.connection.close()

    async def check(self) -> None:
        """Readiness: raises unless the connection and the publishing channel are open."""
        if self.connection.is_closed or self.channel.is_closed:
            raise ConnectionError("RabbitMQ connection is not open")

    async def publish(self, envelope: Envelope, *, timeout_s: float = 10.0) -> None:
        """Persistent, mandatory and confirmed: returns only once the broker has taken responsibility for it."""
        message = aio_pika.Message(
            body=envelope.model_dump_json().encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=envelope.event_id,
            type=envelope.type,
            timestamp=envelope.occurred_at,
            app_id=envelope.producer,
            correlation_id=envelope.correlation_id,
            headers={ATTEMPT_HEADER: 1},
        )
        try:
            await self.exchange.publish(message, routing_key=envelope.routing_key, mandatory=True, timeout=timeout_s)
        except aio_pika.exceptions.PublishError as exc:
            raise Unroutable(f"no queue bound for {envelope.routing_key}") from exc

    async def send_to_queue(self, queue: str, message: aio_pika.Message, *, timeout_s: float = 10.0) -> None:
        await self.channel.default_exchange.publish(message, routing_key=queue, mandatory=True, timeout=timeout_s)


def queue_names(service: str) -> tuple[str, str]:
    return f"{service}.events", f"{service}.events.dlq"


async def declare_topology(
    channel: aio_pika.abc.AbstractChannel, service: str, routing_keys: Sequence[str], retry_delays_s: Sequence[float]
) -> AbstractQueue:
    """The service's quorum work queue bound to its keys, its DLQ, and one TTL retry queue per back-off step."""
    main, dlq = queue_names(service)
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    dlx = await channel.declare_exchange(DLX, aio_pika.ExchangeType.DIRECT, durable=True)
    dead = await channel.declare_queue(dlq, durable=True, arguments={"x-queue-type": "quorum"})
    await dead.bind(dlx, routing_key=dlq)
    queue = await channel.declare_queue(
        main,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DLX,
            "x-dead-letter-routing-key": dlq,
        },
    )
    for key in routing_keys:
        await queue.bind(exchange, routing_key=key)
    for delay in retry_delays_s:
        # Messages wait out the TTL here, then dead-letter back onto the work queue through the default exchange.
        await channel.declare_queue(
            retry_queue_name(service, delay),
            durable=True,
            arguments={
                "x-message-ttl": int(delay * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": main,
            },
        )
    return queue


def retry_queue_name(service: str, delay_s: float) -> str:
    return f"{service}.events.retry.{int(delay_s * 1000)}ms"


class Consumer:
    """Consumes `<service>.events`, dispatching by `<type>.v<version>`. A failing handler is retried after the
    configured delays; after `max_attempts` (or a PermanentFailure) the message is parked in the DLQ with its reason.
    A message is acked only after its handler returned, or after it was durably moved to a retry queue or the DLQ."""

    def __init__(
        self,
        bus: Bus,
        service: str,
        handlers: Mapping[str, Handler],
        *,
        prefetch: int = 32,
        max_attempts: int = 5,
        retry_delays_s: Sequence[float] = (1.0, 5.0, 30.0, 120.0),
    ) -> None:
        if not retry_delays_s:
            raise ValueError("at least one retry delay is needed")
        self.bus = bus
        self.service = service
        self.handlers = dict(handlers)
        self.prefetch = prefetch
        self.max_attempts = max_attempts
        self.retry_delays_s = tuple(retry_delays_s)
        self.queue_name, self.dlq_name = queue_names(service)
        self._channel: aio_pika.abc.AbstractChannel | None = None

    async def start(self) -> None:
        channel = await self.bus.connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        queue = await declare_topology(channel, self.service, list(self.handlers), self.retry_delays_s)
        # Callback-style consume: the aio-pika instrumentation traces it (iterators are not traced).
        await queue.consume(self._on_message)
        self._channel = channel

    async def stop(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        attempt = _int_header(message.headers.get(ATTEMPT_HEADER), 1)
        try:
            envelope = Envelope.model_validate_json(message.body)
        except ValidationError as exc:
            await self._park(message, attempt, f"invalid envelope: {exc.error_count()} errors")
            return
        handler = self.handlers.get(envelope.routing_key)
        if handler is None:
            await self._park(message, attempt, f"no handler for {envelope.routing_key}")
            return
        labels = {"service": self.service, "event": envelope.routing_key}
        try:
            await handler(envelope)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:500]
            if isinstance(exc, PermanentFailure) or attempt >= self.max_attempts:
                log.error("event %s parked after attempt %d: %s", envelope.event_id, attempt, reason)
                REGISTRY.inc("events_dead_lettered_total", "Events parked in a DLQ", labels)
                await self._park(message, attempt, reason)
            else:
                log.warning("event %s failed (attempt %d), retrying: %s", envelope.event_id, attempt, reason)
                REGISTRY.inc("events_retried_total", "Event deliveries retried", labels)
                await self._retry(message, attempt, reason)
            return
        REGISTRY.inc("events_handled_total", "Events handled", labels)
        await message.ack()

    def _copy(self, message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
        return aio_pika.Message(
            body=message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            type=message.type,
            timestamp=message.timestamp,
            app_id=message.app_id,
            correlation_id=message.correlation_id,
            headers={**dict(message.headers), **headers},
        )

    async def _retry(self, message: AbstractIncomingMessage, attempt: int, reason: str) -> None:
        delay = self.retry_delays_s[min(attempt - 1, len(self.retry_delays_s) - 1)]
        copy = self._copy(message, {ATTEMPT_HEADER: attempt + 1, "x-fishbridge-last-error": reason})
        await self._move(message, retry_queue_name(self.service, delay), copy)

    async def _park(self, message: AbstractIncomingMessage, attempt: int, reason: str) -> None:
        copy = self._copy(
            message,
            {
                ATTEMPT_HEADER: attempt,
                "x-fishbridge-error": reason,
                "x-fishbridge-consumer": self.service,
                "x-fishbridge-failed-at": datetime.now(UTC).isoformat(),
            },
        )
        await self._move(message, self.dlq_name, copy)

    async def _move(self, message: AbstractIncomingMessage, queue: str, copy: aio_pika.Message) -> None:
        try:
            await self.bus.send_to_queue(queue, copy)
        except Exception:
            # Not moved: put it back so it is delivered again (the quorum delivery limit bounds this).
            log.exception("could not move message %s to %s", message.message_id, queue)
            await message.nack(requeue=True)
            return
        await message.ack()


def _int_header(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


INBOX = "processed_events"


def idempotent(db: Database, consumer: str, handler: Handler) -> Handler:
    """Skip events this consumer already handled. The handler must key its own effect by `command_id_for(...)` too:
    the inbox row is written after the effect, so a crash in between is caught by the effect's unique key."""
    inbox = db[INBOX]

    async def wrapped(envelope: Envelope) -> None:
        key = f"{consumer}:{envelope.event_id}"
        if await inbox.find_one({"_id": key}, projection={"_id": 1}):
            REGISTRY.inc("events_duplicate_total", "Duplicate deliveries skipped", {"service": consumer})
            return
        await handler(envelope)
        try:
            await inbox.insert_one({"_id": key, "type": envelope.type, "handled_at": datetime.now(UTC)})
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise

    return wrapped


def command_id_for(consumer: str, envelope: Envelope) -> str:
    """The command id of a consumer's effect for one event: the same on every redelivery."""
    return f"{consumer}:{envelope.event_id}"


def cause_of(consumer: str, envelope: Envelope) -> Cause:
    """The cause of a consumer's command for one event: keyed by the event, correlated with its flow."""
    return Cause(
        command_id=command_id_for(consumer, envelope),
        causation_id=envelope.event_id,
        correlation_id=envelope.correlation_id or envelope.event_id,
    )
