"""Append → consumer effect in another process, at a fixed offered rate, against a raw aio-pika baseline.

(a) Baseline: one aio-pika connection publishes persistent messages with publisher confirms to a durable quorum
    queue at `RATE`/s (open loop: each message is due at t0 + i/RATE, whatever the ones before it did) and another
    connection of this process consumes them with manual acks; the latency is publish call → consumer callback, on
    this process's monotonic clock.
(b) The kernel: a producer process of the shared library (tests/support/producer_app.py: an HTTP command appends a
    `counter.incremented` entry to its stream, which is the outbox; the relay publishes it with confirms) and a
    consumer process (tests/support/consumer_app.py: an idempotent handler keyed by the event id appends a
    `tally.counted` entry to a stream of its own database). The load is HTTP commands at `RATE`/s, each on a counter
    of its own (as orders, payments and escrows are: many aggregates, few entries each). The latency is the
    producer's entry `recorded_at` → the consumer's effect entry `recorded_at`, both stamped by the same machine's
    clock (BSON dates: millisecond resolution); the command's own HTTP round trip is reported beside it.
    Every command must have exactly one effect, counted from the consumer's database.

Standalone: `FISHBRIDGE_DATA=/work/main/.data .venv/bin/python -m bench.events` (the infrastructure must be running).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp

from bench.gateway import percentile
from shared.mongo import make_client
from tests.support.infra import AMQP_URL, MONGO_URL, create_test_vhost, delete_test_vhost, start_infra
from tests.support.processes import ServiceProcess

TOKEN = "bench-internal-token-0123456789"
RATE = 500  # events offered per second (the goal's); also measured at LOW_RATE, which this machine sustains
LOW_RATE = 100
DURATION_S = 10.0
WARMUP_S = 1.0  # offered at the same rate before the measured part, not counted
GOAL_P99_MS = 25.0


@dataclass
class Latencies:
    rate: float = RATE
    offered: int = 0
    elapsed_s: float = 0.0
    ms: list[float] = field(default_factory=list)
    http_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    effects: int = 0  # effects counted at the consumer (the kernel's only)
    duplicates: int = 0

    def p(self, q: float, samples: list[float] | None = None) -> float:
        data = self.ms if samples is None else samples
        return percentile(data, q) if data else float("nan")


async def _paced(count: int, rate: float, send: Any) -> float:
    """Start `send(i)` for i < count, each at t0 + i/rate; wait for all; the seconds it took to offer them."""
    started = time.perf_counter()
    tasks = []
    for i in range(count):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    offered = time.perf_counter() - started
    await asyncio.gather(*tasks)
    return offered


async def measure_raw(rate: float = RATE, duration_s: float = DURATION_S) -> Latencies:
    queue_name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    warm = int(rate * WARMUP_S)
    count = warm + int(rate * duration_s)
    sent: dict[int, float] = {}
    got: dict[int, float] = {}
    done = asyncio.Event()
    publisher = await aio_pika.connect_robust(AMQP_URL)
    consumer = await aio_pika.connect_robust(AMQP_URL)
    try:
        pub_channel = await publisher.channel(publisher_confirms=True)
        sub_channel = await consumer.channel()
        await sub_channel.set_qos(prefetch_count=50)
        queue = await sub_channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            n = int(message.body)
            got[n] = time.perf_counter()
            await message.ack()
            if len(got) == count:
                done.set()

        await queue.consume(on_message)

        async def send(i: int) -> None:
            sent[i] = time.perf_counter()
            message = aio_pika.Message(body=str(i).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await pub_channel.default_exchange.publish(message, routing_key=queue_name, mandatory=True)

        elapsed = await _paced(count, rate, send)
        await asyncio.wait_for(done.wait(), timeout=60)
        await sub_channel.close()  # the consumer first, so deleting its queue cancels nobody
        with contextlib.suppress(Exception):
            await pub_channel.queue_delete(queue_name)
    finally:
        await publisher.close()
        await consumer.close()
    result = Latencies(rate=rate, offered=count - warm, elapsed_s=elapsed * (count - warm) / count)
    result.ms = [(got[i] - sent[i]) * 1000 for i in range(warm, count)]
    result.effects = len(got) - warm
    return result


def _env(name: str, db: str) -> dict[str, str]:
    return {
        "SERVICE_NAME": name,
        "MONGO_URL": MONGO_URL,
        "MONGO_DB": db,
        "AMQP_URL": AMQP_URL,
        "INTERNAL_TOKEN": TOKEN,
        "OTEL_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }


async def measure_kernel(run: str, logs: Path, rate: float = RATE, duration_s: float = DURATION_S) -> Latencies:
    client = make_client(MONGO_URL)
    producer_db, consumer_db = f"bench_producer_{run}", f"bench_consumer_{run}"
    consumer_name = f"bench-consumer-{run}"
    consumer = ServiceProcess("tests.support.consumer_app", _env(consumer_name, consumer_db), logs)
    producer = ServiceProcess("tests.support.producer_app", _env(f"bench-producer-{run}", producer_db), logs)
    warm = int(rate * WARMUP_S)
    count = warm + int(rate * duration_s)
    result = Latencies(rate=rate, offered=count - warm)
    http_ms: dict[int, float] = {}
    try:
        await consumer.start()  # its queue bound before the producer's relay publishes
        await producer.start()
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector, headers={"Authorization": f"Bearer {TOKEN}"}) as http:

            async def send(i: int) -> None:
                started = time.perf_counter()
                try:
                    async with http.post(f"{producer.url}/counters/b{i:06d}/increments", json={"by": 1}) as resp:
                        await resp.read()
                        if resp.status != 201:
                            result.errors[str(resp.status)] = result.errors.get(str(resp.status), 0) + 1
                            return
                except aiohttp.ClientError as exc:
                    result.errors[type(exc).__name__] = result.errors.get(type(exc).__name__, 0) + 1
                    return
                http_ms[i] = (time.perf_counter() - started) * 1000

            elapsed = await _paced(count, rate, send)
        result.elapsed_s = elapsed * (count - warm) / count
        result.http_ms = [ms for i, ms in http_ms.items() if i >= warm]
        effects = client[consumer_db]["stream_entries"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if await effects.count_documents({}) >= len(http_ms):
                break
            await asyncio.sleep(0.5)
        appended: dict[str, Any] = {}
        async for doc in client[producer_db]["stream_entries"].find({}, projection={"stream_id": 1, "recorded_at": 1}):
            appended[doc["stream_id"]] = doc["recorded_at"]
        seen: dict[str, list[Any]] = {}
        async for doc in effects.find({}, projection={"stream_id": 1, "recorded_at": 1}):
            seen.setdefault(doc["stream_id"].removeprefix("tally-"), []).append(doc["recorded_at"])
        result.duplicates = sum(len(v) - 1 for v in seen.values())
        result.effects = sum(1 for stream_id in appended if stream_id in seen)
        for i in range(warm, count):
            stream_id = f"b{i:06d}"
            if stream_id in appended and stream_id in seen:
                result.ms.append((min(seen[stream_id]) - appended[stream_id]).total_seconds() * 1000)
        missing = sum(1 for stream_id in appended if stream_id not in seen)
        if missing:
            result.errors["no effect"] = missing
    finally:
        producer.stop()
        consumer.stop()
        for db in (producer_db, consumer_db):
            await client.drop_database(db)
        client.close()
    return result


@dataclass
class Events:
    raw: Latencies
    kernel: Latencies


async def measure_events(run: str, logs: Path) -> list[Events]:
    found = []
    for n, rate in enumerate((LOW_RATE, RATE)):
        raw = await measure_raw(rate)
        kernel = await measure_kernel(f"{run}{n}", logs, rate)
        found.append(Events(raw=raw, kernel=kernel))
    return found


def report(measured: list[Events]) -> list[str]:
    return [line for events in measured for line in _report(events)]


def _report(events: Events) -> list[str]:
    raw, kernel = events.raw, events.kernel
    lines = [
        f"  offered {raw.rate:.0f}/s for {DURATION_S:.0f} s (after {WARMUP_S:.0f} s not counted), "
        "latency p50 / p99 ms:",
        f"  R  raw aio-pika publish (confirms) → consume, same process: {raw.p(0.5):.2f} / {raw.p(0.99):.2f}"
        f"  ({raw.effects:,} of {raw.offered:,} consumed, offered in {raw.elapsed_s:.1f} s)",
        f"  kernel: append (stream = outbox) → relay → effect in the consumer process: "
        f"{kernel.p(0.5):.1f} / {kernel.p(0.99):.1f}  = {kernel.p(0.5) / raw.p(0.5):.1f} / "
        f"{kernel.p(0.99) / raw.p(0.99):.1f} R  (goal p99 <= {GOAL_P99_MS:.0f} ms: "
        f"{'met' if kernel.p(0.99) <= GOAL_P99_MS else 'missed'})",
        f"     the command's HTTP round trip (append + answer): {kernel.p(0.5, kernel.http_ms):.1f} / "
        f"{kernel.p(0.99, kernel.http_ms):.1f}; effects {kernel.effects:,} of "
        f"{kernel.offered + int(kernel.rate * WARMUP_S):,}"
        f" commands, {kernel.duplicates} doubled, errors {kernel.errors or 'none'}",
    ]
    return lines


async def _main() -> None:
    start_infra()
    create_test_vhost()
    try:
        run = uuid.uuid4().hex[:6]
        events = await measure_events(run, Path(tempfile.mkdtemp(prefix="fishbridge-bench-")))
        print("\n".join(report(events)))
    finally:
        delete_test_vhost()


if __name__ == "__main__":
    asyncio.run(_main())
