"""A test session's events stay in its own RabbitMQ virtual host: a running `make run` suite never sees them."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika

from tests.support.infra import AMQP_BASE_URL, AMQP_URL, VHOST


async def _probe(url: str, key: str) -> tuple[aio_pika.abc.AbstractRobustConnection, aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect_robust(url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("fishbridge.events", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key=key)
    return connection, queue


async def _publish(url: str, key: str, body: bytes) -> None:
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange("fishbridge.events", aio_pika.ExchangeType.TOPIC, durable=True)
        await exchange.publish(aio_pika.Message(body=body), routing_key=key)


async def _drain(queue: aio_pika.abc.AbstractQueue) -> list[bytes]:
    await asyncio.sleep(0.5)  # give a wrongly routed message time to arrive before declaring it absent
    bodies = []
    while (message := await queue.get(fail=False, no_ack=True)) is not None:
        bodies.append(message.body)
    return bodies


async def test_events_of_a_test_session_never_reach_the_default_vhost_of_a_running_suite(infra: None) -> None:
    assert VHOST and AMQP_URL.endswith(VHOST)
    key = f"isolation.probe_{uuid.uuid4().hex[:8]}.v1"
    suite_conn, suite_queue = await _probe(AMQP_BASE_URL, key)  # where `make run` listens
    test_conn, test_queue = await _probe(AMQP_URL, key)
    try:
        await _publish(AMQP_URL, key, b"from the test session")
        await _publish(AMQP_BASE_URL, key, b"from the running suite")
        assert await _drain(suite_queue) == [b"from the running suite"]
        assert await _drain(test_queue) == [b"from the test session"]
    finally:
        await suite_conn.close()
        await test_conn.close()
