"""Listing across restarts and in Jaeger: nothing lost while it is down, and one request is one trace."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.integration.listing.conftest import ListingClient
from tests.support.infra import eventually, jaeger_trace_spans
from tests.support.internal_api import TOKEN
from tests.support.traces import CONSUMER, SERVER, chain_to_root, kind


async def test_a_payment_published_while_listing_is_down_is_applied_once_after_restart(
    listing: ListingClient,
) -> None:
    item = await listing.item(await listing.seller())
    order = await listing.order(item["id"])
    listing.process.stop()
    try:
        event = await listing.paid(order)
        await listing.bus.publish(event)  # and its redelivery
    finally:
        await listing.process.start()
    paid = await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"),
        until=lambda o: o["status"] == "paid",
        what="paid after restart",
    )
    assert paid["payment_id"] == event.payload["payment_id"]
    await eventually(
        lambda: listing.ok("GET", f"/items/{item['id']}"),
        until=lambda i: i["status"] == "sold",
        what="item sold after restart",
    )
    assert (await listing.event_types(order["id"])).count("order.paid") == 1


async def test_placing_an_order_is_one_trace_through_the_relay_and_the_consumer(listing: ListingClient) -> None:
    item = await listing.item(await listing.seller())
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        body = {"item_id": item["id"], "buyer_id": "usr_tracer", "channel": "app", "payment_method": "alipay"}
        async with http.post(f"{listing.process.url}/internal/v1/orders", json=body) as resp:
            assert resp.status == 201
            trace_id = resp.headers["traceparent"].split("-")[1]

    relays = {"item.updated relay", "order.created relay"}

    def complete(spans: list[dict[str, Any]]) -> bool:
        # Each process exports its spans in batches: the relay's may reach Jaeger after the consumer's.
        chain = chain_to_root(spans, listing.name)
        return bool(chain) and not chain[-1].get("parentSpanId") and relays <= {s["name"] for s in spans}

    spans = await eventually(
        lambda: _spans(trace_id), until=complete, timeout_s=30, what="consumer span chained to the root, both relays"
    )
    chain = chain_to_root(spans, listing.name)
    assert kind(chain[0]) == CONSUMER
    assert kind(chain[-1]) == SERVER and chain[-1]["name"] == "POST /internal/v1/orders"
    assert {s["traceId"] for s in spans} == {trace_id}
    assert relays <= {s["name"] for s in spans}


async def _spans(trace_id: str) -> list[dict[str, Any]]:
    return jaeger_trace_spans(trace_id)
