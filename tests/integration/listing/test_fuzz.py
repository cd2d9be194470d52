"""Every listing route, fuzzed with hypothesis (near-valid and wild bodies, query strings, cursors and path ids, with
the internal token) against the real process: bad input is a 4xx JSON error, never a 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import strategies as st

from services.listing.domain import MAX_PRICE_FEN
from shared.ids import new_id
from tests.integration.listing.conftest import ListingClient
from tests.support.fuzz import (
    Route,
    cursors,
    fixed,
    forge_cursor,
    fuzz_route,
    one,
    path_ids,
    quote,
    weighted,
)


@dataclass
class World:
    """Real rows for the fuzzer to aim at: sellers with shops, items in each state, orders, cursors of real pages."""

    sellers: list[str] = field(default_factory=list)
    shops: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    for_sale: list[str] = field(default_factory=list)
    """Items only place_order aims at, so the other routes' withdrawals and edits leave it something to buy."""
    orders: list[str] = field(default_factory=list)
    buyers: list[str] = field(default_factory=list)
    cursors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
async def world(listing: ListingClient) -> AsyncIterator[World]:
    w = World()
    for level in (1, 6):
        seller = await listing.seller(level=level)
        w.sellers.append(seller)
        w.shops.append((await listing.ok("GET", f"/sellers/{seller}/shop"))["id"])
    owner = w.sellers[0]  # owns every item, so a body naming it often has the right seller for the path's item
    for i in range(6):
        w.items.append((await listing.item(owner, price_fen=1000 + i))["id"])
    w.items.append((await listing.item(owner, publish=False))["id"])
    w.for_sale = [(await listing.item(w.sellers[1]))["id"] for _ in range(8)]
    for item_id in w.items[:2]:
        order = await listing.order(item_id)
        w.orders.append(order["id"])
        w.buyers.append(order["buyer_id"])
    for sort in ("newest", "price_asc", "price_desc"):
        page = await listing.ok("GET", "/catalog", sort=sort, limit=1)
        w.cursors.append(page["next_cursor"])
    w.cursors.append((await listing.ok("GET", "/items", seller_id=w.sellers[0], limit=1))["next_cursor"])
    w.cursors.append(
        (await listing.ok("GET", "/orders", role="buyer", user_id=w.buyers[0], limit=1))["next_cursor"] or "x"
    )
    yield w


def user_ids(w: World) -> st.SearchStrategy[str]:
    known = st.sampled_from(w.sellers + w.buyers)
    fresh = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
    return weighted((50, st.just(w.sellers[0])), (30, known), (20, fresh))


def text(max_size: int) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=max_size).filter(str.strip)


def ints(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(str)


def item_fields(w: World) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "seller_id": user_ids(w),
        "title": text(60),
        "description": st.text(max_size=200),
        "category": st.sampled_from(["数码", "图书"]) | text(40),
        "condition": st.sampled_from(["new", "like_new", "good", "fair"]),
        "price_fen": st.integers(1, MAX_PRICE_FEN),
        "images": st.lists(st.sampled_from(["https://img.example/a.jpg", "http://x/y.png"]), max_size=9),
        "city": st.sampled_from(["杭州", "上海"]) | text(40),
    }


def page_params(w: World) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "limit": ints(1, 100),
        "cursor": cursors(["newest", "price_asc", "price_desc", "seller_items", "orders"], w.cursors),
    }


ROUTES = [
    Route("open_shop", "POST", fixed("/shops"), body=lambda w: {"seller_id": user_ids(w), "name": text(40)}),
    Route("get_shop", "GET", one("/shops/{}", lambda w: w.shops)),
    Route("set_level", "PUT", one("/shops/{}/level", lambda w: w.shops), body=lambda w: {"level": st.integers(1, 20)}),
    Route("seller_shop", "GET", one("/sellers/{}/shop", lambda w: w.sellers)),
    Route("draft_item", "POST", fixed("/items"), body=item_fields),
    Route(
        "seller_items",
        "GET",
        fixed("/items"),
        query=lambda w: {
            "seller_id": user_ids(w),
            "status": st.sampled_from(["draft", "on_sale", "reserved", "sold", "withdrawn"]),
            **page_params(w),
        },
    ),
    Route("get_item", "GET", one("/items/{}", lambda w: w.items)),
    # The items without an order (the first two are reserved): a 2xx must be reachable in 100 random examples, and
    # with the reserved two in the pool one run in many saw none (26 of its 100 were 409 on them).
    Route("edit_item", "PATCH", one("/items/{}", lambda w: w.items[2:]), body=item_fields),
    Route(
        "item_action",
        "POST",
        lambda w: st.builds(
            lambda i, a: f"/items/{quote(i)}/{a}", path_ids(w.items), st.sampled_from(["publish", "withdraw"])
        ),
        body=lambda w: {"seller_id": user_ids(w)},
    ),
    Route(
        "catalog",
        "GET",
        fixed("/catalog"),
        query=lambda w: {
            "q": st.sampled_from(["Kindle", "九成新", "k"]) | st.text(max_size=100),
            "category": st.sampled_from(["数码"]) | st.text(max_size=40),
            "condition": st.sampled_from(["new", "like_new", "good", "fair"]),
            "city": st.sampled_from(["杭州"]) | st.text(max_size=40),
            "seller_id": user_ids(w),
            "min_price_fen": ints(0, MAX_PRICE_FEN),
            "max_price_fen": ints(0, MAX_PRICE_FEN),
            "sort": st.sampled_from(["newest", "price_asc", "price_desc"]),
            **page_params(w),
        },
    ),
    Route(
        "place_order",
        "POST",
        fixed("/orders"),
        body=lambda w: {
            "item_id": st.one_of(st.sampled_from(w.for_sale), st.sampled_from(w.for_sale), text(64)),
            "buyer_id": user_ids(w),
            "channel": st.sampled_from(["app", "mp"]),
            "payment_method": st.sampled_from(["alipay", "alipay_password_free", "wechat_pay"]),
            "request_id": text(255),
        },
    ),
    Route(
        "list_orders",
        "GET",
        fixed("/orders"),
        query=lambda w: {
            "role": st.sampled_from(["buyer", "seller"]),
            "user_id": user_ids(w),
            "status": st.sampled_from(["pending_payment", "paid", "shipped", "completed", "closed"]),
            **page_params(w),
        },
    ),
    Route("get_order", "GET", one("/orders/{}", lambda w: w.orders), query=lambda w: {"viewer_id": user_ids(w)}),
    Route(
        "cancel_order",
        "POST",
        one("/orders/{}/cancel", lambda w: w.orders),
        body=lambda w: {"buyer_id": user_ids(w)},
        expect=(4,),
    ),
    Route(
        "confirm_receipt",
        "POST",
        one("/orders/{}/confirm-receipt", lambda w: w.orders),
        body=lambda w: {"buyer_id": user_ids(w)},
        expect=(4,),
    ),
    Route(
        "ship_order",
        "POST",
        one("/orders/{}/ship", lambda w: w.orders),
        body=lambda w: {
            "seller_id": user_ids(w),
            "carrier": st.sampled_from(["顺丰", "SF"]) | text(40),
            "tracking_no": st.from_regex(r"[A-Za-z0-9-]{4,40}", fullmatch=True),
        },
        expect=(4,),
    ),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_no_input_to_a_listing_route_gives_a_5xx(route: Route, world: World, listing: ListingClient) -> None:
    fuzz_route(route, world, listing.process.port)


# ------------------------------------------------------------------------------- what the fuzzing found, pinned


@pytest.mark.parametrize(
    "params",
    [
        {"min_price_fen": str(10**23)},
        {"max_price_fen": str(10**23)},
        {"min_price_fen": str(MAX_PRICE_FEN + 1)},
        {"max_price_fen": str(2**63)},
        {"limit": str(10**23)},
    ],
)
async def test_a_catalog_number_past_its_bound_is_422(listing: ListingClient, params: dict[str, str]) -> None:
    reply = await listing.call("GET", "/catalog", **params)
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "validation_error"
    assert f"query.{next(iter(params))}" in reply.body["error"]["details"]


@pytest.mark.parametrize(
    ("path", "params", "key"),
    [
        ("/catalog", {}, {"ms": 1e300}),
        ("/catalog", {}, {"ms": 10**30}),
        ("/catalog", {"sort": "price_asc"}, 2**63),
        ("/catalog", {"sort": "price_desc"}, -(2**63) - 1),
        ("/items", {"seller_id": "usr_x"}, {"ms": 1e300}),
        ("/orders", {"role": "buyer", "user_id": "usr_x"}, {"ms": 2**70}),
    ],
)
async def test_a_cursor_holding_an_out_of_range_key_is_422(
    listing: ListingClient, path: str, params: dict[str, str], key: Any
) -> None:
    sort = {"/items": "seller_items", "/orders": "orders"}.get(path, params.get("sort", "newest"))
    cursor = forge_cursor({"s": sort, "k": key, "i": "itm_x"})
    reply = await listing.call("GET", path, **params, cursor=cursor)
    assert reply.status == 422, reply.body
    assert reply.body["error"]["details"] == {"query.cursor": "not a cursor of this list"}


async def test_a_request_id_reused_on_a_missing_item_is_404_and_opens_no_order(listing: ListingClient) -> None:
    # The reserve key names the item (`reserve:<item>:<buyer>:<request_id>`): the same request id on another item is
    # another request (test_orders.py), and on an item that does not exist it is a plain 404, never a 500.
    first = await listing.item(await listing.seller())
    buyer = new_id("usr")
    body = {"buyer_id": buyer, "channel": "app", "payment_method": "alipay", "request_id": "req-once"}
    await listing.ok("POST", "/orders", {**body, "item_id": first["id"]}, 201)
    reply = await listing.call("POST", "/orders", {**body, "item_id": "itm_does_not_exist"})
    assert reply.status == 404, reply.body
    assert await listing.db["orders"].count_documents({"buyer_id": buyer}) == 1


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("newest", {"ms": 253402300799999}),  # 9999-12-31T23:59:59.999Z
        ("newest", {"ms": -62135596800000}),  # 0001-01-01T00:00:00Z
        ("price_asc", 2**63 - 1),
        ("price_desc", -(2**63)),
        ("price_asc", "a string where a price belongs"),
    ],
)
async def test_a_cursor_at_the_edge_of_the_range_still_gives_a_page(
    listing: ListingClient, sort: str, key: Any
) -> None:
    cursor = forge_cursor({"s": sort, "k": key, "i": "itm_x"})
    page = await listing.ok("GET", "/catalog", sort=sort, cursor=cursor)
    assert isinstance(page["items"], list)
