"""Shops and items: pure state machines (decide, evolve) with the rules sellers and buyers meet.

Imports nothing from aiohttp, motor or aio_pika. Orders live in `orders.py`.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.errors import AppError, Conflict, InvalidState, NotFound
from shared.events.listing import (
    ItemDrafted,
    ItemPublished,
    ItemUpdated,
    ItemWithdrawn,
    ShopCollectionChanged,
    ShopLevelChanged,
    ShopOpened,
)
from shared.ids import derived_id

Condition = Literal["new", "like_new", "good", "fair"]
ItemStatus = Literal["draft", "on_sale", "reserved", "sold", "withdrawn"]
CollectionStatus = Literal["not_invited", "invited", "active"]
MAX_PRICE_FEN = 100_000_000  # ¥1,000,000: above any second-hand single item; keeps typos out of the catalog


class ItemNotAvailable(AppError):
    status, code = 409, "item_not_available"


class ShopExists(AppError):
    status, code = 409, "shop_exists"


class NoShop(AppError):
    status, code = 409, "no_shop"


class OwnItem(AppError):
    status, code = 409, "cannot_buy_own_item"


def shop_id_for(seller_id: str) -> str:
    """A seller has one shop; deriving its id from the seller makes 'open twice' a race on one stream."""
    return derived_id("shp", "seller", seller_id)


def legacy_shop_id_for(seller_id: str) -> str:
    """The id shops opened before ids were derived with `shared.ids.derived_id` got (RFC 4648 base32, which fails
    `is_id`). Such shops keep it: lookups by seller try the current id, then this one; no new shop gets it."""
    digest = hashlib.sha256(seller_id.encode()).digest()[:16]
    return "shp_" + base64.b32encode(digest).decode().rstrip("=")[:26]


# ---------------------------------------------------------------------------------------------------------- shops


class Shop(BaseModel):
    shop_id: str = ""
    seller_id: str = ""
    name: str = ""
    level: int = 1
    wechat_collection: CollectionStatus = "not_invited"
    created_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return bool(self.shop_id)


class OpenShop(BaseModel):
    seller_id: str
    name: str = Field(min_length=1, max_length=40)
    level: int = Field(default=1, ge=1, le=20)


class ChangeLevel(BaseModel):
    level: int = Field(ge=1, le=20)


class SetCollection(BaseModel):
    status: Literal["invited", "active"]


ShopCommand = OpenShop | ChangeLevel | SetCollection
_COLLECTION_ORDER = {"not_invited": 0, "invited": 1, "active": 2}


def decide_shop(state: Shop, command: ShopCommand) -> list[NewEvent]:
    if isinstance(command, OpenShop):
        if state.exists:
            raise ShopExists("this seller already has a shop", details={"shop_id": state.shop_id})
        shop_id = shop_id_for(command.seller_id)
        return [
            NewEvent.of(
                ShopOpened(shop_id=shop_id, seller_id=command.seller_id, name=command.name, level=command.level)
            )
        ]
    if not state.exists:
        raise NotFound("no such shop")
    if isinstance(command, ChangeLevel):
        if command.level == state.level:
            return []
        return [
            NewEvent.of(
                ShopLevelChanged(
                    shop_id=state.shop_id, seller_id=state.seller_id, old_level=state.level, new_level=command.level
                )
            )
        ]
    # Collection status only moves forward (an invitation delivered after activation changes nothing).
    if _COLLECTION_ORDER[command.status] <= _COLLECTION_ORDER[state.wechat_collection]:
        return []
    return [
        NewEvent.of(
            ShopCollectionChanged(shop_id=state.shop_id, seller_id=state.seller_id, wechat_collection=command.status)
        )
    ]


def evolve_shop(state: Shop, event: RecordedEvent) -> Shop:
    p = event.payload
    if event.type == "shop.opened":
        return Shop(
            shop_id=p["shop_id"],
            seller_id=p["seller_id"],
            name=p["name"],
            level=p["level"],
            created_at=event.occurred_at,
        )
    if event.type == "shop.level_changed":
        return state.model_copy(update={"level": p["new_level"]})
    if event.type == "shop.collection_changed":
        return state.model_copy(update={"wechat_collection": p["wechat_collection"]})
    return state


SHOP: Aggregate[Shop, ShopCommand] = Aggregate(
    "shop",
    Shop,
    evolve_shop,
    decide_shop,
    state_model=Shop,
    events=("shop.opened", "shop.level_changed", "shop.collection_changed"),
)


# ---------------------------------------------------------------------------------------------------------- items

DETAIL_FIELDS = ("title", "description", "category", "condition", "price_fen", "images", "city")


class ItemFields(BaseModel):
    """Editable details; every field optional so a PATCH names only what changes."""

    title: str | None = Field(default=None, min_length=1, max_length=60)
    description: str | None = Field(default=None, max_length=2000)
    category: str | None = Field(default=None, min_length=1, max_length=40)
    condition: Condition | None = None
    price_fen: int | None = Field(default=None, gt=0, le=MAX_PRICE_FEN)
    images: list[str] | None = Field(default=None, max_length=9)
    city: str | None = Field(default=None, min_length=1, max_length=40)

    @field_validator("title", "category", "city")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None

    @field_validator("images")
    @classmethod
    def _urls(cls, value: list[str] | None) -> list[str] | None:
        for url in value or []:
            if not url.startswith(("https://", "http://")) or len(url) > 500:
                raise ValueError("images must be http(s) URLs of at most 500 characters")
        return value


class NewItemFields(ItemFields):
    title: str = Field(min_length=1, max_length=60)
    category: str = Field(min_length=1, max_length=40)
    condition: Condition
    price_fen: int = Field(gt=0, le=MAX_PRICE_FEN)
    city: str = Field(min_length=1, max_length=40)
    description: str = Field(default="", max_length=2000)
    images: list[str] = Field(default_factory=list, max_length=9)


class Item(BaseModel):
    item_id: str = ""
    shop_id: str = ""
    seller_id: str = ""
    title: str = ""
    description: str = ""
    category: str = ""
    condition: Condition = "good"
    price_fen: int = 0
    images: list[str] = Field(default_factory=list)
    city: str = ""
    status: ItemStatus = "draft"
    order_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    published_at: datetime | None = None
    reserved_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return bool(self.item_id)

    def details(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in DETAIL_FIELDS}


class DraftItem(BaseModel):
    item_id: str
    shop_id: str
    seller_id: str
    fields: NewItemFields


class EditItem(BaseModel):
    seller_id: str
    fields: ItemFields


class PublishItem(BaseModel):
    seller_id: str


class WithdrawItem(BaseModel):
    seller_id: str


class ReserveItem(BaseModel):
    order_id: str
    buyer_id: str


class ReleaseItem(BaseModel):
    """The order holding the item closed unpaid: back on sale."""

    order_id: str


class SellItem(BaseModel):
    order_id: str


class TakeBackItem(BaseModel):
    """The sale was refunded in full: the item leaves the catalog and the seller may relist it."""

    order_id: str


ItemCommand = DraftItem | EditItem | PublishItem | WithdrawItem | ReserveItem | ReleaseItem | SellItem | TakeBackItem


def _owned(state: Item, seller_id: str) -> None:
    # Another seller's item is indistinguishable from a missing one.
    if not state.exists or state.seller_id != seller_id:
        raise NotFound("no such item")


def _ids(state: Item) -> dict[str, Any]:
    return {"item_id": state.item_id, "shop_id": state.shop_id, "seller_id": state.seller_id}


def _status_update(state: Item, status: ItemStatus, order_id: str | None) -> NewEvent:
    return NewEvent.of(
        ItemUpdated(**_ids(state), changed=["status"], price_fen=state.price_fen, status=status, order_id=order_id)
    )


def decide_item(state: Item, command: ItemCommand) -> list[NewEvent]:
    if isinstance(command, DraftItem):
        if state.exists:
            raise Conflict("item exists")
        return [
            NewEvent.of(
                ItemDrafted(
                    item_id=command.item_id,
                    shop_id=command.shop_id,
                    seller_id=command.seller_id,
                    **command.fields.model_dump(),
                )
            )
        ]
    if isinstance(command, EditItem):
        _owned(state, command.seller_id)
        if state.status in ("reserved", "sold"):
            raise InvalidState(f"an item that is {state.status} cannot be edited", details={"status": state.status})
        new = command.fields.model_dump(exclude_none=True)
        changed = {k: v for k, v in new.items() if getattr(state, k) != v}
        if not changed:
            return []
        return [
            NewEvent.of(
                ItemUpdated(
                    **_ids(state),
                    changed=sorted(changed),
                    values=changed,
                    price_fen=changed.get("price_fen", state.price_fen),
                    status=state.status,
                )
            )
        ]
    if isinstance(command, PublishItem):
        _owned(state, command.seller_id)
        if state.status == "on_sale":
            return []
        if state.status not in ("draft", "withdrawn"):
            raise InvalidState(f"an item that is {state.status} cannot be published", details={"status": state.status})
        return [NewEvent.of(ItemPublished(**_ids(state), title=state.title, price_fen=state.price_fen))]
    if isinstance(command, WithdrawItem):
        _owned(state, command.seller_id)
        if state.status == "withdrawn":
            return []
        if state.status not in ("draft", "on_sale"):
            raise InvalidState(f"an item that is {state.status} cannot be withdrawn", details={"status": state.status})
        return [NewEvent.of(ItemWithdrawn(**_ids(state), reason="seller"))]
    if isinstance(command, ReserveItem):
        if not state.exists:
            raise NotFound("no such item")
        if state.status == "reserved" and state.order_id == command.order_id:
            return []
        if command.buyer_id == state.seller_id:
            raise OwnItem("sellers cannot buy their own items")
        if state.status != "on_sale":
            raise ItemNotAvailable("the item is not available", details={"status": state.status})
        return [_status_update(state, "reserved", command.order_id)]
    if isinstance(command, ReleaseItem):
        if state.status != "reserved" or state.order_id != command.order_id:
            return []  # already released, or held by another order now: nothing of ours to undo
        return [_status_update(state, "on_sale", None)]
    if isinstance(command, SellItem):
        if state.order_id != command.order_id or state.status != "reserved":
            if state.status == "sold" and state.order_id == command.order_id:
                return []
            raise InvalidState(
                "the item is not reserved by this order", details={"status": state.status, "order_id": state.order_id}
            )
        return [_status_update(state, "sold", command.order_id)]
    # TakeBackItem
    if state.status != "sold" or state.order_id != command.order_id:
        return []
    return [NewEvent.of(ItemWithdrawn(**_ids(state), reason="refunded"))]


def evolve_item(state: Item, event: RecordedEvent) -> Item:
    p = event.payload
    at = event.occurred_at
    if event.type == "item.drafted":
        return Item(
            item_id=p["item_id"],
            shop_id=p["shop_id"],
            seller_id=p["seller_id"],
            **{k: p[k] for k in DETAIL_FIELDS if k in p},
            status="draft",
            created_at=at,
            updated_at=at,
        )
    if event.type == "item.published":
        return state.model_copy(update={"status": "on_sale", "published_at": at, "updated_at": at, "order_id": None})
    if event.type == "item.withdrawn":
        return state.model_copy(update={"status": "withdrawn", "updated_at": at})
    if event.type == "item.updated":
        update: dict[str, Any] = {**p.get("values", {}), "updated_at": at}
        if "status" in p.get("changed", []):
            update |= {"status": p["status"], "order_id": p.get("order_id")}
            if p["status"] == "reserved":
                update["reserved_at"] = at
        return state.model_copy(update=update)
    return state


ITEM: Aggregate[Item, ItemCommand] = Aggregate(
    "item",
    Item,
    evolve_item,
    decide_item,
    state_model=Item,
    snapshot_every=20,
    events=("item.drafted", "item.published", "item.updated", "item.withdrawn"),
)
