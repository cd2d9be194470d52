"""One request is one trace: HTTP span → stream append → relay publish → consumer span, read back from Jaeger."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from tests.integration.shared.conftest import SamplePair
from tests.support.infra import eventually, jaeger_trace_spans
from tests.support.traces import PRODUCER, SERVER, chain_to_root, kind


async def test_the_consumer_span_is_in_the_request_trace_behind_the_relay_publish(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession(headers=sample.auth) as http:
        async with http.post(f"{sample.producer.url}/counters/{counter_id}/increments", json={"by": 1}) as resp:
            assert resp.status == 201
            trace_id = resp.headers["traceparent"].split("-")[1]

    async def spans() -> list[dict[str, Any]]:
        return jaeger_trace_spans(trace_id)

    # Services export in batches: wait until the consumer span's ancestry reaches a root span.
    found = await eventually(
        spans,
        until=lambda s: (c := chain_to_root(s, sample.consumer_name)) != [] and not c[-1].get("parentSpanId"),
        timeout_s=30,
        what="the whole chain from the consumer's span to the request's root span in Jaeger",
    )
    consume, publish, relay, *rest = chain_to_root(found, sample.consumer_name)
    assert publish["service"] != sample.consumer_name and kind(publish) == PRODUCER
    assert "counter.incremented.v1" in publish["name"]
    assert relay["name"] == "counter.incremented relay"
    root = rest[-1]
    assert kind(root) == SERVER
    assert root["name"] == "POST /counters/{counter_id}/increments"
    assert {s["traceId"] for s in found} == {trace_id}
    # The consumer's own Mongo work is inside its span: the same trace all the way down.
    assert any(s.get("parentSpanId") == consume["spanId"] for s in found)
