"""Items: draft → on_sale → reserved → sold, withdrawn; owner-only edits; one reservation at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.listing.domain import (
    ITEM,
    DraftItem,
    EditItem,
    Item,
    ItemFields,
    ItemNotAvailable,
    NewItemFields,
    OwnItem,
    PublishItem,
    ReleaseItem,
    ReserveItem,
    SellItem,
    TakeBackItem,
    WithdrawItem,
)
from shared.errors import InvalidState, NotFound
from shared.events import PAYLOADS
from tests.support.aggregates import T0, apply, types

FIELDS = NewItemFields(
    title="九成新 Kindle Paperwhite",
    description="用了一年，无划痕",
    category="电子书",
    condition="like_new",
    price_fen=35_000,
    images=["https://img.example/1.jpg"],
    city="杭州",
)


def drafted() -> Item:
    state, _ = apply(ITEM, Item(), DraftItem(item_id="itm_1", shop_id="shp_1", seller_id="usr_s", fields=FIELDS))
    return state


def on_sale() -> Item:
    state, _ = apply(ITEM, drafted(), PublishItem(seller_id="usr_s"))
    return state


def reserved(order_id: str = "ord_1") -> Item:
    state, _ = apply(ITEM, on_sale(), ReserveItem(order_id=order_id, buyer_id="usr_b"), T0 + timedelta(minutes=1))
    return state


def sold() -> Item:
    state, _ = apply(ITEM, reserved(), SellItem(order_id="ord_1"))
    return state


def test_a_new_item_is_a_draft_with_every_detail() -> None:
    state, events = apply(ITEM, Item(), DraftItem(item_id="itm_1", shop_id="shp_1", seller_id="usr_s", fields=FIELDS))
    assert types(events) == ["item.drafted"]
    assert PAYLOADS[("item.drafted", 1)].model_validate(events[0].payload)
    assert state.status == "draft" and state.title == FIELDS.title and state.price_fen == 35_000
    assert state.images == FIELDS.images and state.city == "杭州" and state.created_at == T0


def test_publishing_puts_a_draft_on_sale() -> None:
    state, events = apply(ITEM, drafted(), PublishItem(seller_id="usr_s"))
    assert types(events) == ["item.published"] and state.status == "on_sale" and state.published_at == T0


def test_publishing_an_item_on_sale_again_changes_nothing() -> None:
    _, events = apply(ITEM, on_sale(), PublishItem(seller_id="usr_s"))
    assert events == []


@pytest.mark.parametrize("make", [reserved, sold])
def test_reserved_or_sold_items_cannot_be_published_withdrawn_or_edited(make) -> None:  # type: ignore[no-untyped-def]
    for command in (
        PublishItem(seller_id="usr_s"),
        WithdrawItem(seller_id="usr_s"),
        EditItem(seller_id="usr_s", fields=ItemFields(price_fen=1)),
    ):
        with pytest.raises(InvalidState):
            apply(ITEM, make(), command)


def test_only_the_owner_edits_publishes_or_withdraws() -> None:
    for command in (
        PublishItem(seller_id="usr_x"),
        WithdrawItem(seller_id="usr_x"),
        EditItem(seller_id="usr_x", fields=ItemFields(price_fen=1)),
    ):
        with pytest.raises(NotFound):
            apply(ITEM, drafted(), command)


def test_edit_names_only_changed_fields_and_carries_their_values() -> None:
    state, events = apply(
        ITEM, on_sale(), EditItem(seller_id="usr_s", fields=ItemFields(price_fen=30_000, title=FIELDS.title))
    )
    assert types(events) == ["item.updated"]
    assert events[0].payload["changed"] == ["price_fen"] and events[0].payload["values"] == {"price_fen": 30_000}
    assert PAYLOADS[("item.updated", 1)].model_validate(events[0].payload)
    assert state.price_fen == 30_000 and state.status == "on_sale"


def test_an_edit_that_changes_nothing_records_nothing() -> None:
    _, events = apply(ITEM, on_sale(), EditItem(seller_id="usr_s", fields=ItemFields(city="杭州")))
    assert events == []


def test_withdrawn_items_can_be_edited_and_relisted() -> None:
    state, events = apply(ITEM, on_sale(), WithdrawItem(seller_id="usr_s"))
    assert types(events) == ["item.withdrawn"] and state.status == "withdrawn"
    state, _ = apply(ITEM, state, EditItem(seller_id="usr_s", fields=ItemFields(price_fen=100)))
    state, _ = apply(ITEM, state, PublishItem(seller_id="usr_s"))
    assert state.status == "on_sale" and state.price_fen == 100


def test_reserving_an_item_on_sale_holds_it_for_the_order() -> None:
    state = reserved()
    assert state.status == "reserved" and state.order_id == "ord_1" and state.reserved_at == T0 + timedelta(minutes=1)


@pytest.mark.parametrize("make", [drafted, reserved, sold])
def test_only_items_on_sale_can_be_reserved(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ItemNotAvailable):
        apply(ITEM, make(), ReserveItem(order_id="ord_2", buyer_id="usr_b2"))


def test_reserving_again_for_the_same_order_changes_nothing() -> None:
    _, events = apply(ITEM, reserved(), ReserveItem(order_id="ord_1", buyer_id="usr_b"))
    assert events == []


def test_sellers_cannot_buy_their_own_items() -> None:
    with pytest.raises(OwnItem):
        apply(ITEM, on_sale(), ReserveItem(order_id="ord_1", buyer_id="usr_s"))


def test_reserving_a_missing_item_is_not_found() -> None:
    with pytest.raises(NotFound):
        apply(ITEM, Item(), ReserveItem(order_id="ord_1", buyer_id="usr_b"))


def test_releasing_puts_the_item_back_on_sale_once() -> None:
    state, events = apply(ITEM, reserved(), ReleaseItem(order_id="ord_1"))
    assert types(events) == ["item.updated"] and state.status == "on_sale" and state.order_id is None
    _, again = apply(ITEM, state, ReleaseItem(order_id="ord_1"))
    assert again == []


def test_a_stale_release_does_not_free_an_item_held_by_another_order() -> None:
    state, _ = apply(ITEM, reserved("ord_1"), ReleaseItem(order_id="ord_1"))
    state, _ = apply(ITEM, state, ReserveItem(order_id="ord_2", buyer_id="usr_b2"))
    state, events = apply(ITEM, state, ReleaseItem(order_id="ord_1"))
    assert events == [] and state.order_id == "ord_2"


def test_selling_marks_the_reserved_item_sold_and_is_idempotent() -> None:
    state = sold()
    assert state.status == "sold" and state.order_id == "ord_1"
    _, events = apply(ITEM, state, SellItem(order_id="ord_1"))
    assert events == []


def test_selling_an_item_not_reserved_by_the_order_is_invalid() -> None:
    with pytest.raises(InvalidState):
        apply(ITEM, on_sale(), SellItem(order_id="ord_1"))
    with pytest.raises(InvalidState):
        apply(ITEM, reserved("ord_2"), SellItem(order_id="ord_1"))


def test_a_full_refund_takes_the_sold_item_off_sale_for_the_seller_to_relist() -> None:
    state, events = apply(ITEM, sold(), TakeBackItem(order_id="ord_1"))
    assert types(events) == ["item.withdrawn"] and events[0].payload["reason"] == "refunded"
    assert state.status == "withdrawn"
    state, _ = apply(ITEM, state, PublishItem(seller_id="usr_s"))
    assert state.status == "on_sale"
    _, again = apply(ITEM, state, TakeBackItem(order_id="ord_1"))
    assert again == []


def test_item_fields_are_validated() -> None:
    bad = [
        {"price_fen": 0},
        {"price_fen": -5},
        {"price_fen": 100_000_001},
        {"title": "   "},
        {"images": ["ftp://x"]},
        {"images": [f"https://img/{i}" for i in range(10)]},
        {"condition": "broken"},
    ]
    for fields in bad:
        with pytest.raises(ValidationError):
            ItemFields.model_validate(fields)
    with pytest.raises(ValidationError):
        NewItemFields.model_validate({"title": "x"})
