"""The shared HTTP stack in a real service process: errors, validation, auth, idempotency, health and metrics."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp

from tests.integration.shared.conftest import SamplePair


async def test_bad_input_is_422_with_field_details_and_writes_nothing(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    async with aiohttp.ClientSession(headers=sample.auth) as http:
        async with http.post(f"{sample.producer.url}/counters/{counter_id}/increments", json={"by": -3}) as resp:
            assert resp.status == 422
            body = await resp.json()
        async with http.post(f"{sample.producer.url}/counters/{counter_id}/increments", data=b"{not json") as resp:
            assert resp.status == 422
            assert (await resp.json())["error"]["code"] == "validation_error"
    assert body["error"]["code"] == "validation_error"
    assert "by" in body["error"]["details"]
    assert "greater than 0" in body["error"]["details"]["by"]
    assert len(body["error"]["trace_id"]) == 32
    assert await sample.producer_db["stream_entries"].count_documents({"stream_id": counter_id}) == 0


async def test_unknown_routes_and_methods_get_json_errors(sample: SamplePair) -> None:
    async with aiohttp.ClientSession(headers=sample.auth) as http:
        async with http.get(f"{sample.producer.url}/no/such/route") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["code"] == "not_found"
        async with http.delete(f"{sample.producer.url}/counters/x/increments") as resp:
            assert resp.status == 405
            assert (await resp.json())["error"]["code"] == "method_not_allowed"
        async with http.get(f"{sample.producer.url}/counters/never-made") as resp:
            assert resp.status == 404


async def test_an_unexpected_error_is_500_without_internals(sample: SamplePair) -> None:
    async with aiohttp.ClientSession(headers=sample.auth) as http:
        async with http.get(f"{sample.producer.url}/crash") as resp:
            assert resp.status == 500
            text = await resp.text()
    assert '"internal_error"' in text
    assert "secret internal detail" not in text and "Traceback" not in text
    assert "secret internal detail" in sample.producer.log_tail(50_000)  # the log keeps what the client must not see


async def test_routes_need_the_internal_token_but_health_does_not(sample: SamplePair) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sample.producer.url}/counters/x/increments", json={"by": 1}) as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "unauthenticated"
        async with http.post(
            f"{sample.producer.url}/counters/x/increments", json={"by": 1}, headers={"Authorization": "Bearer wrong"}
        ) as resp:
            assert resp.status == 401
        async with http.get(f"{sample.producer.url}/healthz") as resp:
            assert resp.status == 200
        async with http.get(f"{sample.producer.url}/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json())["checks"] == {"mongo": "ok", "rabbitmq": "ok"}
        async with http.get(f"{sample.producer.url}/metrics") as resp:
            text = await resp.text()
    assert 'http_requests_total{method="POST",route="/counters/{counter_id}/increments",status="401"}' in text
    assert "http_request_duration_seconds_bucket" in text


async def test_every_response_carries_its_traceparent(sample: SamplePair) -> None:
    async with aiohttp.ClientSession(headers=sample.auth) as http:
        async with http.get(f"{sample.producer.url}/healthz") as resp:
            traceparent = resp.headers["traceparent"]
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, len(trace_id), len(span_id)) == ("00", 32, 16)
    assert int(flags, 16) & 0x01  # sampled (OTel also sets 0x02, the W3C level-2 "random trace id" flag)


async def test_an_idempotency_key_replays_the_first_result(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    url = f"{sample.producer.url}/counters/{counter_id}/increments"
    headers = {**sample.auth, "Idempotency-Key": f"k-{counter_id}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(url, json={"by": 5}) as first:
            assert first.status == 201
            first_body = await first.json()
        async with http.post(url, json={"by": 5}) as again:
            assert again.status == 201
            assert again.headers["Idempotent-Replayed"] == "true"
            assert await again.json() == first_body
        async with http.post(url, json={"by": 6}) as other:
            assert other.status == 409
            assert (await other.json())["error"]["code"] == "idempotency_key_reused"
    assert await sample.producer_db["stream_entries"].count_documents({"stream_id": counter_id}) == 1


async def test_concurrent_requests_with_one_idempotency_key_apply_once(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    url = f"{sample.producer.url}/counters/{counter_id}/increments"
    headers = {**sample.auth, "Idempotency-Key": f"k-{counter_id}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def call() -> int:
            async with http.post(url, json={"by": 1}) as resp:
                return resp.status

        statuses = await asyncio.gather(*(call() for _ in range(10)))
    # Exactly one ran; the others were replayed (201) or told the first is still running (409).
    assert set(statuses) <= {201, 409} and 201 in statuses
    assert await sample.producer_db["stream_entries"].count_documents({"stream_id": counter_id}) == 1


async def test_a_rejected_request_is_replayed_with_the_same_error(sample: SamplePair) -> None:
    counter_id = f"c-{uuid.uuid4().hex[:8]}"
    url = f"{sample.producer.url}/counters/{counter_id}/increments"
    headers = {**sample.auth, "Idempotency-Key": f"k-{counter_id}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for _ in range(2):
            async with http.post(url, json={"by": 0}) as resp:
                assert resp.status == 422
                assert (await resp.json())["error"]["code"] == "validation_error"
