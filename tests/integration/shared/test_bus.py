"""Relay + bus + consumer across real processes: confirmed publishing, exactly-once effects, outages, dead letters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aiohttp
import pytest

from shared.bus import Bus, Unroutable
from shared.events import Envelope
from shared.streams import StreamStore
from tests.integration.shared.conftest import SamplePair
from tests.support.infra import AMQP_URL, cut_off_rabbitmq, eventually, restore_rabbitmq


async def post(sample: SamplePair, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers=sample.auth) as http:
        async with http.post(f"{sample.producer.url}{path}", json=body or {}) as resp:
            assert resp.status == 201, await resp.text()
            data: dict[str, Any] = await resp.json()
            return data


async def tally_entries(sample: SamplePair, counter_id: str) -> list[dict[str, Any]]:
    cursor = sample.consumer_db["stream_entries"].find({"stream_id": f"tally-{counter_id}"}).sort("seq", 1)
    return [doc async for doc in cursor]


async def published(sample: SamplePair, counter_id: str, seq: int) -> bool:
    return await StreamStore(sample.producer_db).is_published(counter_id, seq)


async def metric(sample: SamplePair, name: str) -> float:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sample.consumer.url}/metrics") as resp:
            text = await resp.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


async def test_an_appended_entry_is_published_and_consumed_once(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    await post(sample, f"/counters/{counter_id}/increments", {"by": 2})
    await post(sample, f"/counters/{counter_id}/increments", {"by": 3})
    tallies = await eventually(
        lambda: tally_entries(sample, counter_id), until=lambda t: len(t) >= 2, what="two tallies"
    )
    assert [t["events"][0]["payload"]["seen"] for t in tallies] == [1, 2]
    assert [await published(sample, counter_id, seq) for seq in (1, 2)] == [True, True]


async def test_a_redelivered_event_has_one_effect(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    await post(sample, f"/counters/{counter_id}/increments", {"by": 1})
    await eventually(lambda: tally_entries(sample, counter_id), until=lambda t: len(t) == 1, what="first tally")
    duplicates_before = await metric(sample, "events_duplicate_total")
    # As if the relay crashed after the broker's confirm but before deleting the marker: it publishes it again.
    await sample.producer_db["stream_outbox"].insert_one(
        {"_id": f"{counter_id}#1", "stream_id": counter_id, "seq": 1, "at": datetime.now(UTC)}
    )
    await eventually(
        lambda: metric(sample, "events_duplicate_total"),
        until=lambda v: v >= duplicates_before + 1,
        what="the consumer to see the second delivery",
    )
    assert len(await tally_entries(sample, counter_id)) == 1


async def test_an_entry_appended_while_rabbitmq_is_down_is_published_when_it_returns(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    cut_off_rabbitmq()
    try:
        await post(sample, f"/counters/{counter_id}/increments", {"by": 4})  # Mongo is up: the command succeeds
        assert await sample.producer_db["stream_entries"].find_one({"stream_id": counter_id}) is not None
        assert not await published(sample, counter_id, 1)
    finally:
        restore_rabbitmq()
    tallies = await eventually(
        lambda: tally_entries(sample, counter_id), until=lambda t: len(t) >= 1, timeout_s=60, what="tally after outage"
    )
    assert len(tallies) == 1
    assert await published(sample, counter_id, 1)


async def test_a_handler_that_keeps_failing_ends_in_the_dead_letter_queue_with_its_reason(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    await post(sample, f"/counters/{counter_id}/poison")
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.declare_queue(f"{sample.consumer_name}.events.dlq", passive=True)

        async def find() -> aio_pika.abc.AbstractIncomingMessage | None:
            while (message := await dlq.get(fail=False, no_ack=True)) is not None:
                if Envelope.model_validate_json(message.body).aggregate_id == counter_id:
                    return message
            return None

        message = await eventually(find, until=lambda m: m is not None, timeout_s=30, what="the poisoned event in DLQ")
        assert message is not None
        headers = message.headers
        assert headers["x-fishbridge-attempt"] == 3  # CONSUMER_MAX_ATTEMPTS
        assert "poisoned on purpose" in str(headers["x-fishbridge-error"])
        assert headers["x-fishbridge-consumer"] == sample.consumer_name
        assert Envelope.model_validate_json(message.body).type == "counter.poisoned"


async def test_an_unroutable_event_fails_loudly_and_stays_unpublished(sample: SamplePair, bus: Bus) -> None:
    envelope = Envelope.model_validate(
        {
            "event_id": f"evt_{uuid.uuid4().hex}",
            "type": "nobody.listens",
            "version": 1,
            "occurred_at": "2026-01-01T00:00:00Z",
            "producer": "pytest",
            "aggregate_id": "x",
            "seq": 1,
        }
    )
    with pytest.raises(Unroutable):
        await bus.publish(envelope)

    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    await post(sample, f"/counters/{counter_id}/orphan")  # counter.orphaned: no queue is bound to it
    await post(sample, f"/counters/{counter_id}/increments", {"by": 1})  # queued behind it in the same stream

    async def relay_errors() -> str:
        return sample.producer.log_tail(20_000)

    await eventually(relay_errors, until=lambda log: f"relay unroutable {counter_id}#1" in log, what="the relay error")
    # The stream keeps its order: seq 2 waits for seq 1.
    assert [await published(sample, counter_id, seq) for seq in (1, 2)] == [False, False]
    assert await tally_entries(sample, counter_id) == []


async def test_an_unroutable_entry_parked_and_skipped_by_an_operator_lets_its_stream_go_on(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    await post(sample, f"/counters/{counter_id}/orphan")  # counter.orphaned: no queue is bound to it
    await post(sample, f"/counters/{counter_id}/increments", {"by": 1})
    await eventually(
        lambda: relay_log(sample), until=lambda log: f"relay unroutable {counter_id}#1" in log, what="the relay error"
    )
    store = StreamStore(sample.producer_db)
    await store.park(counter_id, 1, "counter.orphaned has no consumer")
    await eventually(
        lambda: relay_log(sample),
        until=lambda log: f"relay holds back parked stream {counter_id} from #1" in log,
        what="the relay to hold the stream back",
    )
    assert await tally_entries(sample, counter_id) == []
    await store.release(counter_id, skip=True)
    tallies = await eventually(
        lambda: tally_entries(sample, counter_id), until=lambda t: len(t) == 1, what="the entry after the skipped one"
    )
    assert tallies[0]["events"][0]["payload"]["seen"] == 1
    entries = [e async for e in sample.producer_db["stream_entries"].find({"stream_id": counter_id}).sort("seq", 1)]
    assert ["skipped" in e for e in entries] == [True, False]
    assert [await published(sample, counter_id, seq) for seq in (1, 2)] == [True, True]


async def relay_log(sample: SamplePair) -> str:
    return sample.producer.log_tail(50_000)
