"""Shops and items through the internal API: ownership, validation, the internal token, projections from streams."""

from __future__ import annotations

from typing import Any

import aiohttp

from shared.ids import new_id
from tests.integration.listing.conftest import ListingClient
from tests.support.infra import eventually


async def test_a_seller_has_one_shop(listing: ListingClient) -> None:
    seller = new_id("usr")
    shop = await listing.ok("POST", "/shops", {"seller_id": seller, "name": "闲置小铺"}, 201)
    assert shop["level"] == 1 and shop["wechat_collection"] == "not_invited" and shop["seller_id"] == seller
    again = await listing.call("POST", "/shops", {"seller_id": seller, "name": "another"})
    assert again.status == 409 and again.body["error"]["code"] == "shop_exists"
    assert (await listing.ok("GET", f"/sellers/{seller}/shop"))["id"] == shop["id"]


async def test_level_changes_are_recorded_as_events(listing: ListingClient, watch: Any) -> None:
    seen = await watch("shop.level_changed.v1")
    seller = await listing.seller()
    shop = await listing.ok("GET", f"/sellers/{seller}/shop")
    changed = await listing.ok("PUT", f"/shops/{shop['id']}/level", {"level": 7})
    assert changed["level"] == 7
    events = await eventually(lambda: _matching(seen, shop["id"]), until=bool, what="shop.level_changed published")
    assert events[0].payload == {"shop_id": shop["id"], "seller_id": seller, "old_level": 1, "new_level": 7}


async def _matching(seen: list[Any], aggregate_id: str) -> list[Any]:
    return [e for e in seen if e.aggregate_id == aggregate_id]


async def test_items_need_a_shop_and_only_the_owner_changes_them(listing: ListingClient) -> None:
    nobody = new_id("usr")
    reply = await listing.call(
        "POST",
        "/items",
        {"seller_id": nobody, "title": "x", "category": "c", "condition": "new", "price_fen": 1, "city": "北京"},
    )
    assert reply.status == 409 and reply.body["error"]["code"] == "no_shop"
    seller, stranger = await listing.seller(), await listing.seller()
    item = await listing.item(seller, publish=False)
    assert item["status"] == "draft"
    for method, path, body in (
        ("PATCH", f"/items/{item['id']}", {"seller_id": stranger, "price_fen": 1}),
        ("POST", f"/items/{item['id']}/publish", {"seller_id": stranger}),
        ("POST", f"/items/{item['id']}/withdraw", {"seller_id": stranger}),
    ):
        assert (await listing.call(method, path, body)).status == 404
    edited = await listing.ok("PATCH", f"/items/{item['id']}", {"seller_id": seller, "price_fen": 29_900})
    assert edited["price_fen"] == 29_900 and edited["status"] == "draft"
    withdrawn = await listing.ok("POST", f"/items/{item['id']}/withdraw", {"seller_id": seller})
    assert withdrawn["status"] == "withdrawn"
    mine = await listing.ok("GET", "/items", seller_id=seller, status="withdrawn")
    assert [i["id"] for i in mine["items"]] == [item["id"]]


async def test_bad_item_input_is_422_and_writes_nothing(listing: ListingClient) -> None:
    seller = await listing.seller()
    before = await listing.db["stream_entries"].count_documents({})
    base = {
        "seller_id": seller,
        "title": "相机",
        "category": "数码",
        "condition": "good",
        "price_fen": 100,
        "city": "北京",
    }
    for bad in (
        {"price_fen": 0},
        {"price_fen": 1.5},
        {"price_fen": "100"},
        {"condition": "broken"},
        {"title": ""},
        {"images": ["javascript:alert(1)"]},
        {"unknown": 1},
    ):
        reply = await listing.call("POST", "/items", {**base, **bad})
        assert reply.status == 422, (bad, reply.body)
        assert reply.body["error"]["code"] == "validation_error" and reply.body["error"]["details"]
    reply = await listing.call("POST", "/items", None)
    assert reply.status == 422
    assert await listing.db["stream_entries"].count_documents({}) == before


async def test_the_internal_api_needs_the_internal_token(listing: ListingClient) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{listing.process.url}/internal/v1/catalog") as resp:
            assert resp.status == 401
            assert (await resp.json())["error"]["code"] == "unauthenticated"
        async with http.get(
            f"{listing.process.url}/internal/v1/catalog", headers={"Authorization": "Bearer wrong-token-0123456789"}
        ) as resp:
            assert resp.status == 401


async def test_a_lost_projection_write_is_healed_from_the_stream(listing: ListingClient) -> None:
    seller = await listing.seller()
    item = await listing.item(seller)
    # As if the process died between the append and the projection write.
    await listing.db["items"].delete_one({"_id": item["id"]})
    await listing.ok("PATCH", f"/items/{item['id']}", {"seller_id": seller, "price_fen": 1234})
    healed = await eventually(
        lambda: listing.db["items"].find_one({"_id": item["id"]}),
        until=lambda doc: doc is not None and doc["price_fen"] == 1234,
        what="projection",
    )
    assert healed["status"] == "on_sale" and healed["seq"] == 3
