"""Each listing replica keeps its own search index current from item events: what is published becomes searchable,
a repriced item moves, a sold or withdrawn one leaves, in the replica that wrote it and in another one; a replica
that was down catches up at start; two replicas answer the same page."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.listing.conftest import ListingClient
from tests.support.infra import eventually
from tests.support.internal_api import InternalApi
from tests.support.processes import ServiceProcess


@pytest.fixture
async def replica(listing: ListingClient, tmp_path: Path) -> AsyncIterator[InternalApi]:
    """A second replica of the session's listing (same name, database and broker), with its index in a directory."""
    env = {k: v for k, v in listing.process.env.items() if k != "HTTP_PORT"}
    env["CATALOG_INDEX_DIR"] = str(tmp_path / "catalog")
    process = ServiceProcess("services.listing", env, tmp_path)
    await process.start()
    async with aiohttp.ClientSession() as http:
        try:
            yield InternalApi(process=process, http=http)
        finally:
            process.stop()


async def ids(api: InternalApi, **query: Any) -> list[str]:
    page = await api.ok("GET", "/catalog", limit=50, **query)
    return [card["id"] for card in page["items"]]


async def test_publish_reprice_sell_and_withdraw_reach_both_replicas(
    listing: ListingClient, replica: InternalApi
) -> None:
    tag = f"rep{uuid.uuid4().hex[:6]}"
    seller = await listing.seller()
    cheap = await listing.item(seller, title=f"{tag} 自行车 A", price_fen=10_000)
    dear = await listing.item(seller, title=f"{tag} 自行车 B", price_fen=20_000)
    for api in (listing, replica):  # published: searchable in the replica that wrote it and in the other one
        await eventually(
            lambda api=api: ids(api, q=tag, sort="price_asc"),
            until=lambda found: found == [cheap["id"], dear["id"]],
            what="both items searchable, cheapest first",
        )
    # Repriced: the order changes everywhere.
    await listing.ok("PATCH", f"/items/{cheap['id']}", {"seller_id": seller, "price_fen": 30_000})
    for api in (listing, replica):
        await eventually(
            lambda api=api: ids(api, q=tag, sort="price_asc"),
            until=lambda found: found == [dear["id"], cheap["id"]],
            what="the repriced item after the other",
        )
    # Sold (reserved by an order) and withdrawn: gone everywhere.
    await listing.order(dear["id"])
    await listing.ok("POST", f"/items/{cheap['id']}/withdraw", {"seller_id": seller})
    for api in (listing, replica):
        await eventually(lambda api=api: ids(api, q=tag), until=lambda found: found == [], what="both items gone")


async def test_a_replica_that_was_down_catches_up_at_start_and_answers_the_same_page(
    listing: ListingClient, replica: InternalApi
) -> None:
    tag = f"down{uuid.uuid4().hex[:6]}"
    seller = await listing.seller(name="下线又上线的店")
    kept = await listing.item(seller, title=f"{tag} 羽绒服 保留")
    leaving = await listing.item(seller, title=f"{tag} 羽绒服 将下架")
    bought = await listing.item(seller, title=f"{tag} 羽绒服 将卖出")
    await eventually(lambda: ids(replica, q=tag), until=lambda f: len(f) == 3, what="all three in the replica")
    replica.process.stop()
    # While it is down: one item is withdrawn, one sold, one comes, one is repriced.
    await listing.ok("POST", f"/items/{leaving['id']}/withdraw", {"seller_id": seller})
    await listing.order(bought["id"])
    new = await listing.item(seller, title=f"{tag} 羽绒服 新上架")
    await listing.ok("PATCH", f"/items/{kept['id']}", {"seller_id": seller, "price_fen": 12_345})
    await replica.process.start()  # the same index directory: rebuilt from the projection at start
    expected = await eventually(
        lambda: listing.ok("GET", "/catalog", q=tag, sort="newest", limit=10),
        until=lambda page: [c["id"] for c in page["items"]] == [new["id"], kept["id"]],
        what="the writer's page",
    )
    page = await replica.ok("GET", "/catalog", q=tag, sort="newest", limit=10)
    assert page["items"] == expected["items"]  # the same cards, seller facts included
    assert page["items"][1]["price_fen"] == 12_345
    assert page["items"][0]["seller"]["shop_name"] == "下线又上线的店"


async def test_the_catalog_index_directory_is_a_cache_deleting_it_rebuilds_it(
    listing: ListingClient, replica: InternalApi
) -> None:
    tag = f"cache{uuid.uuid4().hex[:6]}"
    seller = await listing.seller()
    item = await listing.item(seller, title=f"{tag} 相机")
    await eventually(lambda: ids(replica, q=tag), until=lambda f: f == [item["id"]], what="searchable")
    replica.process.stop()
    directory = Path(replica.process.env["CATALOG_INDEX_DIR"])
    assert any(directory.glob("replica-*/meta.json"))  # noqa: ASYNC240 - a test's few files
    shutil.rmtree(directory)
    await replica.process.start()
    assert await ids(replica, q=tag) == [item["id"]]  # rebuilt before the replica answered its first request
