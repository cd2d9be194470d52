"""One request is one trace: HTTP span → stream append → relay publish → consumer span, read back from Jaeger."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from tests.integration.shared.conftest import SamplePair
from tests.support.infra import eventually, jaeger_trace_spans

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP span kinds


def _kind(span: dict[str, Any]) -> int:
    kind = span.get("kind", 0)
    names = {"SPAN_KIND_SERVER": SERVER, "SPAN_KIND_PRODUCER": PRODUCER, "SPAN_KIND_CONSUMER": CONSUMER}
    return names.get(kind, 0) if isinstance(kind, str) else int(kind)


def chain_to_root(spans: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    """The consumer span of `service` followed by its ancestors up to the root (empty if none is there yet)."""
    by_id = {s["spanId"]: s for s in spans}
    for span in spans:
        if span["service"] == service and _kind(span) == CONSUMER:
            chain = [span]
            while chain[-1].get("parentSpanId") in by_id:
                chain.append(by_id[chain[-1]["parentSpanId"]])
            return chain
    return []


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
    assert publish["service"] != sample.consumer_name and _kind(publish) == PRODUCER
    assert "counter.incremented.v1" in publish["name"]
    assert relay["name"] == "counter.incremented relay"
    root = rest[-1]
    assert _kind(root) == SERVER
    assert root["name"] == "POST /counters/{counter_id}/increments"
    assert {s["traceId"] for s in found} == {trace_id}
    # The consumer's own Mongo work is inside its span: the same trace all the way down.
    assert any(s.get("parentSpanId") == consume["spanId"] for s in found)
