"""Shops: one per seller, levels, and the WeChat collection flag that only moves forward."""

from __future__ import annotations

import pytest

from services.listing.domain import SHOP, ChangeLevel, OpenShop, SetCollection, Shop, ShopExists, shop_id_for
from shared.errors import NotFound
from shared.events import PAYLOADS
from tests.support.aggregates import apply, types


def opened() -> Shop:
    state, _ = apply(SHOP, Shop(), OpenShop(seller_id="usr_1", name="小鱼的铺子"))
    return state


def test_opening_a_shop_starts_at_level_one_without_wechat_collection() -> None:
    state, events = apply(SHOP, Shop(), OpenShop(seller_id="usr_1", name="小鱼的铺子"))
    assert types(events) == ["shop.opened"]
    assert PAYLOADS[("shop.opened", 1)].model_validate(events[0].payload)
    assert state.shop_id == shop_id_for("usr_1") and state.level == 1 and state.wechat_collection == "not_invited"


def test_shop_id_is_derived_from_the_seller_so_a_second_open_is_a_race_on_one_stream() -> None:
    assert shop_id_for("usr_1") == shop_id_for("usr_1") != shop_id_for("usr_2")
    assert shop_id_for("usr_1").startswith("shp_") and len(shop_id_for("usr_1")) == 30


def test_opening_twice_is_shop_exists() -> None:
    with pytest.raises(ShopExists):
        apply(SHOP, opened(), OpenShop(seller_id="usr_1", name="again"))


def test_level_change_emits_old_and_new_level() -> None:
    state, events = apply(SHOP, opened(), ChangeLevel(level=6))
    assert types(events) == ["shop.level_changed"]
    assert events[0].payload["old_level"] == 1 and events[0].payload["new_level"] == 6
    assert state.level == 6


def test_setting_the_same_level_changes_nothing() -> None:
    _, events = apply(SHOP, opened(), ChangeLevel(level=1))
    assert events == []


def test_commands_on_a_missing_shop_are_not_found() -> None:
    with pytest.raises(NotFound):
        apply(SHOP, Shop(), ChangeLevel(level=2))
    with pytest.raises(NotFound):
        apply(SHOP, Shop(), SetCollection(status="active"))


def test_collection_goes_invited_then_active() -> None:
    state, events = apply(SHOP, opened(), SetCollection(status="invited"))
    assert types(events) == ["shop.collection_changed"] and state.wechat_collection == "invited"
    state, events = apply(SHOP, state, SetCollection(status="active"))
    assert state.wechat_collection == "active"
    assert PAYLOADS[("shop.collection_changed", 1)].model_validate(events[0].payload)


def test_an_invitation_arriving_after_activation_changes_nothing() -> None:
    state, _ = apply(SHOP, opened(), SetCollection(status="active"))
    again, events = apply(SHOP, state, SetCollection(status="invited"))
    assert events == [] and again.wechat_collection == "active"
