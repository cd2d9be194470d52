"""Shares (issue 18) in listing, over the in-memory store: codes, collisions, resolving, attribution and the stats
the consumer counts from events (never in the request's path)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import cast

import pytest

from services.listing import usecases
from services.listing.consumers import handlers
from services.listing.domain import ItemNotAvailable, NewItemFields
from services.listing.orders import RecordPayment
from services.listing.settings import ListingSettings
from services.listing.shares import InvalidShareCode, fact_of, stats
from services.listing.store import ListingStore
from services.listing.usecases import Listing
from shared.bus import Bus
from shared.clock import ManualClock
from shared.errors import NotFound, Unavailable
from shared.events import Envelope
from shared.ids import new_id
from shared.relay import Relay
from shared.share_codes import CODE
from shared.streams import Cause, StreamStore
from tests.support.memory import MemoryBus, MemoryDatabase, as_database

SETTINGS = ListingSettings(
    mongo_url="mongodb://memory/", amqp_url="amqp://memory/", internal_token="unit-test-internal-token"
)


class World:
    def __init__(self) -> None:
        self.clock = ManualClock(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
        self.db = as_database(MemoryDatabase())
        self.streams = StreamStore(self.db, clock=self.clock, contracts="strict")
        self.store = ListingStore(self.db)
        self.listing = Listing(self.streams, self.store, SETTINGS, clock=self.clock)
        self.table = handlers(self.listing, self.db, "listing")
        self.bus = MemoryBus()
        self.relay = Relay(self.streams, cast(Bus, self.bus), producer="listing")
        self.delivered: list[Envelope] = []

    async def item(self, status: str = "on_sale") -> tuple[str, str]:
        seller = new_id("usr")
        await self.listing.open_shop(seller, "小鱼的铺子")
        fields = NewItemFields(
            title="Kindle Paperwhite", category="books", condition="good", price_fen=35_000, city="杭州"
        )
        item = await self.listing.draft_item(seller, fields)
        if status != "draft":
            await self.listing.publish_item(item.item_id, seller)
        if status == "withdrawn":
            await self.listing.withdraw_item(item.item_id, seller)
        return item.item_id, seller

    async def consume(self) -> None:
        """Publish what the streams hold and deliver it to listing's own consumer, as RabbitMQ would."""
        while await self.relay.run_once():
            pass
        await self.bus.deliver(self.table)
        self.delivered += self.bus.published
        self.bus.published.clear()


@pytest.fixture
async def world() -> World:
    w = World()
    await w.streams.ensure_indexes()
    await w.store.ensure_indexes()
    return w


async def test_a_share_gets_a_readable_code_that_resolves_in_any_case(world: World) -> None:
    item_id, seller = await world.item()
    sharer = new_id("usr")
    share, item = await world.listing.share_item(item_id, sharer, "app")
    assert CODE.fullmatch(share.code) and item.item_id == item_id
    assert (share.item_id, share.seller_id, share.sharer_id, share.channel) == (item_id, seller, sharer, "app")
    spaced = f"{share.code[:4].lower()}-{share.code[4:].lower()}"
    assert (await world.listing.share(spaced)).code == share.code
    doc = await world.store.shares.find_one({"_id": f"shr_{share.code}"})
    assert doc is not None and doc["sharer_id"] == sharer
    for unknown in ("ZZZZZZZZZ", "0OIL", ""):
        with pytest.raises(NotFound):
            await world.listing.share(unknown)


async def test_only_items_others_can_buy_are_shared(world: World) -> None:
    draft, _ = await world.item("draft")
    with pytest.raises(NotFound):
        await world.listing.share_item(draft, new_id("usr"), "mp")
    withdrawn, _ = await world.item("withdrawn")
    with pytest.raises(ItemNotAvailable):
        await world.listing.share_item(withdrawn, new_id("usr"), "mp")
    with pytest.raises(NotFound):
        await world.listing.share_item(new_id("itm"), new_id("usr"), "mp")


async def test_a_code_collision_is_decided_by_the_first_append_and_the_loser_draws_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    item_id, _ = await world.item()
    first, _ = await world.listing.share_item(item_id, new_id("usr"), "app")
    draws: Iterator[str] = iter([first.code, first.code, "23456789A"])
    monkeypatch.setattr(usecases, "new_code", lambda: next(draws))
    second, _ = await world.listing.share_item(item_id, new_id("usr"), "mp")
    assert second.code == "23456789A"
    # The first share is untouched: its stream still has its one entry.
    assert [
        e.payload["sharer_id"] for entry in await world.streams.read(f"shr_{first.code}") for e in entry.events
    ] == [first.sharer_id]
    monkeypatch.setattr(usecases, "new_code", lambda: first.code)
    with pytest.raises(Unavailable):
        await world.listing.share_item(item_id, new_id("usr"), "mp")


async def test_views_and_orders_through_shares_are_counted_from_events_once_each(world: World) -> None:
    item_id, seller = await world.item()
    alice, bob = new_id("usr"), new_id("usr")
    a, _ = await world.listing.share_item(item_id, alice, "app")
    b, _ = await world.listing.share_item(item_id, bob, "mp")
    for viewer in (None, new_id("usr"), alice):  # the sharer's own view is not one the share brought
        share, item, shop = await world.listing.view_share(a.code.lower(), "mp", viewer)
        assert share.code == a.code and item.item_id == item_id and shop is None
    await world.listing.view_share(b.code, "app", None)
    # Nothing is counted in the request: the stats come from the consumer.
    assert (await world.listing.share_stats(item_id, seller)).views == 0
    await world.consume()
    buyer = new_id("usr")
    order = await world.listing.place_order(item_id, buyer, "app", "alipay", "r1", share_code=a.code.lower())
    assert (order.share_code, order.sharer_id) == (a.code, alice)
    await world.consume()
    payment_id = new_id("pay")
    command = RecordPayment(payment_id=payment_id, amount_fen=order.amount_fen, method="alipay")
    paid = await world.listing.record_payment(order.order_id, command, Cause(command_id=f"paid:{payment_id}"))
    assert paid.status == "paid" and paid.sharer_id == alice
    await world.consume()
    got = await world.listing.share_stats(item_id, seller)
    assert (got.views, got.orders, got.paid_orders, got.shares) == (3, 1, 1, 2)
    assert [(s.user_id, s.views, s.orders) for s in got.sharers] == [(alice, 2, 1), (bob, 1, 0)]
    # Redelivered, every event meets its fact's key.
    await world.bus.deliver(world.table, world.delivered)
    assert len([doc async for doc in world.store.share_facts.find({})]) == 5
    assert (await world.listing.share_stats(item_id, seller)) == got


async def test_a_sharer_with_a_shop_is_named_and_a_share_code_must_be_of_the_item(world: World) -> None:
    item_id, _ = await world.item()
    other_item, _ = await world.item()
    sharer = new_id("usr")
    await world.listing.open_shop(sharer, "转发的铺子")
    share, _ = await world.listing.share_item(item_id, sharer, "app")
    _, _, shop = await world.listing.view_share(share.code, "app", None)
    assert shop is not None and shop.name == "转发的铺子"
    with pytest.raises(InvalidShareCode) as refused:
        await world.listing.place_order(other_item, new_id("usr"), "app", "alipay", None, share_code=share.code)
    assert (refused.value.status, refused.value.code) == (422, "invalid_share_code")
    with pytest.raises(InvalidShareCode):
        await world.listing.place_order(item_id, new_id("usr"), "app", "alipay", None, share_code="ZZZZZZZZZ")
    # Neither refusal reserved the item.
    assert (await world.listing.item(item_id)).status == "on_sale"


async def test_buying_through_ones_own_share_credits_no_sharer(world: World) -> None:
    item_id, seller = await world.item()
    buyer = new_id("usr")
    share, _ = await world.listing.share_item(item_id, buyer, "app")
    order = await world.listing.place_order(item_id, buyer, "app", "alipay", None, share_code=share.code)
    assert (order.share_code, order.sharer_id) == (share.code, None)
    await world.consume()
    assert (await world.listing.share_stats(item_id, seller)).orders == 0


async def test_stats_are_the_sellers_only(world: World) -> None:
    item_id, _ = await world.item()
    with pytest.raises(NotFound):
        await world.listing.share_stats(item_id, new_id("usr"))


def test_facts_come_only_from_views_and_attributed_orders() -> None:
    view = {"item_id": "itm_1", "sharer_id": "usr_1"}
    assert fact_of("share.viewed", view) == ("view", "itm_1", "usr_1")
    assert fact_of("order.created", {**view, "sharer_id": None}) is None
    assert fact_of("order.paid", view) == ("paid", "itm_1", "usr_1")
    assert fact_of("order.shipped", view) is None


def test_stats_list_every_sharer_most_views_first() -> None:
    facts = [{"kind": k, "sharer_id": u} for k, u in [("view", "b"), ("view", "b"), ("order", "a"), ("paid", "a")]]
    got = stats("itm_1", facts, ["a", "b", "c"])
    assert [(s.user_id, s.views, s.orders, s.paid_orders) for s in got.sharers] == [
        ("b", 2, 0, 0),
        ("a", 0, 1, 1),
        ("c", 0, 0, 0),
    ]
    assert (got.views, got.orders, got.paid_orders, got.shares) == (2, 1, 1, 3)
