"""The public API's shared models (API.md): inputs the handlers parse and answers they render. Route modules add
their own; everything here ends up in the OpenAPI document's components."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.listing.domain import Condition
from shared.channels import check_seller_accepts, policy
from shared.errors import AppError
from shared.events import Channel

MAX_PRICE_FEN = 100_000_000


class In(BaseModel):
    """A request body: unknown fields are refused (422), values must have their JSON types."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query parameters (strings from the URL, converted)."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Query):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, min_length=1, max_length=500)


# ------------------------------------------------------------------------------------------------------- session


class UserOut(BaseModel):
    id: str
    channel: Literal["app", "mp"]


class SessionOut(BaseModel):
    token: str
    expires_at: str
    user: UserOut


# ------------------------------------------------------------------------------------------------------- catalog


class SellerOut(BaseModel):
    id: str
    shop_id: str
    shop_name: str | None = None
    level: int | None = None


class ItemCard(BaseModel):
    id: str
    title: str
    price_fen: int
    category: str
    condition: Condition
    city: str
    images: list[str]
    status: Literal["draft", "on_sale", "reserved", "sold", "withdrawn"]
    seller: SellerOut
    purchasable: bool
    unpurchasable_reason: str | None
    payment_methods: list[str]


class ItemDetail(ItemCard):
    description: str
    created_at: str | None


class ItemCardPage(BaseModel):
    items: list[ItemCard]
    next_cursor: str | None


def purchasability(item: dict[str, Any], channel: Channel) -> tuple[bool, str | None]:
    """Whether this audience can buy the item now, and why not: the item's state, then the channel policy."""
    if item.get("status") != "on_sale":
        return False, "item_not_available"
    try:
        check_seller_accepts(channel, bool(item.get("seller", {}).get("wechat_collection")))
    except AppError as exc:
        return False, exc.code
    return True, None


def card(item: dict[str, Any], channel: Channel) -> dict[str, Any]:
    """A listing item as this audience's ItemCard."""
    purchasable, reason = purchasability(item, channel)
    seller = item.get("seller", {})
    return {
        "id": item["id"],
        "title": item["title"],
        "price_fen": item["price_fen"],
        "category": item["category"],
        "condition": item["condition"],
        "city": item["city"],
        "images": item.get("images", []),
        "status": item["status"],
        "seller": {
            "id": seller.get("id"),
            "shop_id": seller.get("shop_id"),
            "shop_name": seller.get("shop_name"),
            "level": seller.get("level"),
        },
        "purchasable": purchasable,
        "unpurchasable_reason": reason,
        "payment_methods": list(policy(channel).payment_methods),
    }


def detail(item: dict[str, Any], channel: Channel) -> dict[str, Any]:
    return card(item, channel) | {"description": item.get("description", ""), "created_at": item.get("created_at")}
