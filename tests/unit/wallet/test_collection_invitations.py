"""The wallet's copy of shops and their levels (from listing's events, in any order) and invitation batches: highest
level first then oldest, each seller invited once even when batches run at once."""

from __future__ import annotations

import asyncio
from collections import Counter

from services.wallet.collection_domain import invitation_stream
from shared.ids import new_id
from tests.unit.wallet.collection_fakes import world


async def test_a_batch_invites_the_highest_levels_first_then_the_oldest_shops() -> None:
    w = await world()
    old5, _ = await w.open_shop(5)
    low, _ = await w.open_shop(4)
    seven, _ = await w.open_shop(7)
    new5, _ = await w.open_shop(5)
    nine, nine_shop = await w.open_shop(9)

    first = await w.collection.run_batch("bat_A", 5, 3)
    assert first.status == "completed"
    assert first.seller_ids == [nine, seven, old5]
    invited = await w.events("wallet.invited")
    assert [e["payload"]["seller_id"] for e in invited] == [nine, seven, old5]
    assert invited[0]["payload"] == {
        "invitation_id": invitation_stream(nine),
        "batch_id": "bat_A",
        "seller_id": nine,
        "shop_id": nine_shop,
        "level": 9,
    }

    second = await w.collection.run_batch("bat_B", 5, 10)
    assert second.seller_ids == [new5]  # level 4 is below the batch's minimum
    third = await w.collection.run_batch("bat_C", 1, 10)
    assert third.seller_ids == [low]
    assert (await w.collection.run_batch("bat_D", 1, 10)).seller_ids == []


async def test_the_same_batch_run_again_invites_nobody_more() -> None:
    w = await world()
    for level in (6, 7, 8):
        await w.open_shop(level)
    first = await w.collection.run_batch("bat_same", 5, 2)
    again = await w.collection.run_batch("bat_same", 5, 2)
    assert again.seller_ids == first.seller_ids and len(first.seller_ids) == 2
    assert len(await w.events("wallet.invited")) == 2


async def test_concurrent_batches_invite_each_seller_once() -> None:
    w = await world()
    sellers = [(await w.open_shop(5 + i % 4))[0] for i in range(12)]
    a, b = await asyncio.gather(w.collection.run_batch("bat_1", 5, 8), w.collection.run_batch("bat_2", 5, 8))
    invited = [e["payload"]["seller_id"] for e in await w.events("wallet.invited")]
    assert Counter(invited) == Counter(sellers)  # all twelve, each once
    assert not set(a.seller_ids) & set(b.seller_ids)
    assert sorted(a.seller_ids + b.seller_ids) == sorted(sellers)
    assert len(a.seller_ids) <= 8 and len(b.seller_ids) <= 8
    by_batch = {e["payload"]["seller_id"]: e["payload"]["batch_id"] for e in await w.events("wallet.invited")}
    assert {s: "bat_1" for s in a.seller_ids} | {s: "bat_2" for s in b.seller_ids} == by_batch


async def test_a_level_change_arriving_before_the_opening_is_kept() -> None:
    w = await world()
    seller, shop = new_id("usr"), new_id("shp")
    change = {"shop_id": shop, "seller_id": seller, "old_level": 1, "new_level": 8}
    await w.deliver("shop.level_changed", change, seq=3)
    assert (await w.collection.run_batch("bat_early", 5, 5)).seller_ids == []  # not opened yet: not a candidate
    await w.deliver("shop.opened", {"shop_id": shop, "seller_id": seller, "name": "小铺", "level": 1}, seq=1)
    copy = await w.collection.shop(shop)
    assert (copy.level, copy.opened, copy.name) == (8, True, "小铺")
    assert (await w.collection.run_batch("bat_after", 5, 5)).seller_ids == [seller]


async def test_a_stale_level_change_never_overrides_a_later_one_and_redeliveries_change_nothing() -> None:
    w = await world()
    seller, shop = await w.open_shop(3)
    await w.deliver("shop.level_changed", {"shop_id": shop, "seller_id": seller, "old_level": 4, "new_level": 6}, seq=3)
    await w.deliver("shop.level_changed", {"shop_id": shop, "seller_id": seller, "old_level": 3, "new_level": 4}, seq=2)
    assert (await w.collection.shop(shop)).level == 6
    same = {"shop_id": shop, "seller_id": seller, "old_level": 6, "new_level": 7}
    await w.deliver("shop.level_changed", same, seq=4, event_id="evt_once")
    await w.deliver("shop.level_changed", same, seq=4, event_id="evt_once")
    assert (await w.collection.shop(shop)).level == 7
    assert len(await w.events("wallet.shop_level_recorded")) == 2  # seq 3 and seq 4; seq 2 came too late


async def test_a_level_raised_above_the_minimum_makes_a_shop_a_candidate_and_a_lowered_one_not() -> None:
    w = await world()
    up, up_shop = await w.open_shop(2)
    down, down_shop = await w.open_shop(9)
    await w.deliver("shop.level_changed", {"shop_id": up_shop, "seller_id": up, "old_level": 2, "new_level": 5}, seq=2)
    await w.deliver(
        "shop.level_changed", {"shop_id": down_shop, "seller_id": down, "old_level": 9, "new_level": 4}, seq=2
    )
    assert (await w.collection.run_batch("bat_levels", 5, 10)).seller_ids == [up]


async def test_an_invited_shop_stays_invited_when_its_level_changes() -> None:
    w = await world()
    seller, shop = await w.open_shop(6)
    assert (await w.collection.run_batch("bat_x", 5, 1)).seller_ids == [seller]
    await w.deliver("shop.level_changed", {"shop_id": shop, "seller_id": seller, "old_level": 6, "new_level": 7}, seq=2)
    assert (await w.collection.run_batch("bat_y", 5, 1)).seller_ids == []
