"""The shared catalog from listing's search index: filters, Chinese and English search, sorts, and keyset pages that
stay stable while items are added and sold between requests. The index follows the items' events, so a test waits
until what it published is searchable (what publish → searchable costs is measured by `make bench`)."""

from __future__ import annotations

import uuid
from typing import Any

from shared.ids import new_id
from tests.integration.listing.conftest import ListingClient
from tests.support.infra import eventually


async def all_pages(listing: ListingClient, limit: int, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {**query, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await listing.ok("GET", "/catalog", **params)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def searchable(listing: ListingClient, ids: list[str], **query: Any) -> None:
    """Wait until every one of `ids` is in the catalog's answer to `query`."""
    await eventually(
        lambda: all_pages(listing, 100, **query),
        until=lambda cards: set(ids) <= {c["id"] for c in cards},
        what=f"{len(ids)} items searchable",
    )


async def test_pages_return_every_matching_item_once_while_items_are_added_and_sold(listing: ListingClient) -> None:
    tag = f"翻页{uuid.uuid4().hex[:6]}"
    seller = await listing.seller()
    for sort in ("newest", "price_asc", "price_desc"):
        start = [
            (await listing.item(seller, title=f"{tag} {sort} 第{i}件", price_fen=1000 + (i % 5) * 100))["id"]
            for i in range(17)
        ]
        await searchable(listing, start, q=f"{tag} {sort}", sort=sort)
        seen: list[str] = []
        sold: set[str] = set()
        added: set[str] = set()
        cursor = None
        while True:
            params = {"q": f"{tag} {sort}", "sort": sort, "limit": 4, **({"cursor": cursor} if cursor else {})}
            page = await listing.ok("GET", "/catalog", **params)
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
            # Between pages: a new item appears, and one not yet seen is bought and paid for.
            added.add((await listing.item(seller, title=f"{tag} {sort} 新上架", price_fen=1200))["id"])
            unseen = [i for i in start if i not in seen and i not in sold]
            if len(unseen) > 3:
                order = await listing.order(unseen[-1])
                await listing.paid(order)
                sold.add(unseen[-1])
        assert len(seen) == len(set(seen)), f"{sort}: an item was returned twice"
        stayed = [i for i in start if i not in sold]
        assert set(stayed) <= set(seen), f"{sort}: an item on sale throughout was skipped"
        assert not (sold & set(seen)), f"{sort}: an item was listed after it was sold"
        assert set(seen) <= set(start) | added
        assert sold, "the test sold nothing between pages"


async def test_sorts_order_by_price_and_recency(listing: ListingClient) -> None:
    tag = f"sort{uuid.uuid4().hex[:6]}"
    seller = await listing.seller()
    ids = [(await listing.item(seller, title=f"{tag} item", price_fen=p))["id"] for p in (500, 100, 300)]
    await searchable(listing, ids, q=tag)
    newest = await all_pages(listing, 2, q=tag, sort="newest")
    assert [i["id"] for i in newest] == list(reversed(ids))
    asc = await all_pages(listing, 2, q=tag, sort="price_asc")
    assert [i["price_fen"] for i in asc] == [100, 300, 500]
    desc = await all_pages(listing, 2, q=tag, sort="price_desc")
    assert [i["price_fen"] for i in desc] == [500, 300, 100]


async def test_search_and_filters(listing: ListingClient) -> None:
    tag = f"f{uuid.uuid4().hex[:6]}"
    seller, other = await listing.seller(), await listing.seller()
    phone = await listing.item(
        seller,
        title=f"{tag} 九成新苹果手机 iPhone 13",
        category="手机",
        city="上海",
        condition="good",
        price_fen=250_000,
    )
    kindle = await listing.item(
        seller,
        title=f"{tag} Kindle 电子书",
        description="送保护套",
        category="数码",
        city="杭州",
        condition="like_new",
        price_fen=35_000,
    )
    huawei = await listing.item(
        other, title=f"{tag} 华为手机", category="手机", city="上海", condition="fair", price_fen=150_000
    )
    await listing.item(seller, publish=False, title=f"{tag} 草稿手机")
    await searchable(listing, [phone["id"], kindle["id"], huawei["id"]], q=tag)

    async def ids(**query: Any) -> set[str]:
        return {i["id"] for i in await all_pages(listing, 10, **query)}

    assert await ids(q=f"{tag} 苹果手机") == {phone["id"]}
    assert await ids(q=f"{tag} IPHONE") == {phone["id"]}
    assert await ids(q=f"{tag} 保护套") == {kindle["id"]}
    assert len(await ids(q=f"{tag} 手机")) == 2  # the draft is not in the catalog
    assert await ids(q=tag, category="数码") == {kindle["id"]}
    assert await ids(q=tag, city="上海", seller_id=seller) == {phone["id"]}
    assert await ids(q=tag, condition="like_new") == {kindle["id"]}
    assert len(await ids(q=tag, min_price_fen=100_000, max_price_fen=250_000)) == 2
    assert await ids(q=tag, max_price_fen=35_000) == {kindle["id"]}


async def test_each_card_carries_the_sellers_wechat_collection_flag(listing: ListingClient) -> None:
    tag = f"wx{uuid.uuid4().hex[:6]}"
    seller = await listing.seller(level=6, name="六级店")
    item = await listing.item(seller, title=f"{tag} 相机")
    await searchable(listing, [item["id"]], q=tag)
    [card] = await all_pages(listing, 5, q=tag)
    assert card["seller"] == {
        "id": seller,
        "shop_id": item["seller"]["shop_id"],
        "shop_name": "六级店",
        "level": 6,
        "wechat_collection": False,
    }
    await listing.publish(
        "wallet.collection_activated",
        {"seller_id": seller, "shop_id": card["seller"]["shop_id"], "account_id": new_id("acc")},
        aggregate_id=new_id("acc"),
        producer="wallet",
    )
    await eventually(
        lambda: all_pages(listing, 5, q=tag),
        until=lambda cards: cards[0]["seller"]["wechat_collection"] is True,
        what="flag in the catalog",
    )


async def test_bad_catalog_queries_are_422_with_details(listing: ListingClient) -> None:
    for query in (
        {"limit": "0"},
        {"sort": "oldest"},
        {"cursor": "not-a-cursor"},
        {"min_price_fen": "-1"},
        {"min_price_fen": "9", "max_price_fen": "1"},
    ):
        reply = await listing.call("GET", "/catalog", **query)
        assert reply.status == 422, (query, reply.body)
        assert reply.body["error"]["code"] == "validation_error"
