"""Payloads of the events the listing service produces: shops, items and orders."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from shared.events._base import Channel, Payload, PaymentMethod
from shared.events.registry import register


@register("shop.opened")
class ShopOpened(Payload):
    shop_id: str
    seller_id: str
    name: str
    level: int = Field(ge=1)


@register("shop.level_changed")
class ShopLevelChanged(Payload):
    shop_id: str
    seller_id: str
    old_level: int = Field(ge=1)
    new_level: int = Field(ge=1)


@register("item.published")
class ItemPublished(Payload):
    item_id: str
    shop_id: str
    seller_id: str
    title: str
    price_fen: int = Field(gt=0)


@register("item.updated")
class ItemUpdated(Payload):
    item_id: str
    shop_id: str
    seller_id: str
    changed: list[str] = Field(default_factory=list, description="names of the fields that changed")
    price_fen: int = Field(gt=0)
    status: str


@register("item.withdrawn")
class ItemWithdrawn(Payload):
    item_id: str
    shop_id: str
    seller_id: str


@register("order.created")
class OrderCreated(Payload):
    order_id: str
    item_id: str
    shop_id: str
    seller_id: str
    buyer_id: str
    channel: Channel
    payment_method: PaymentMethod
    amount_fen: int = Field(gt=0)
    expires_at: AwareDatetime


@register("order.paid")
class OrderPaid(Payload):
    order_id: str
    item_id: str
    seller_id: str
    buyer_id: str
    channel: Channel
    payment_method: PaymentMethod
    payment_id: str
    amount_fen: int = Field(gt=0)


@register("order.shipped")
class OrderShipped(Payload):
    order_id: str
    seller_id: str
    buyer_id: str
    carrier: str
    tracking_no: str
    auto_confirm_at: datetime | None = None


@register("order.completed")
class OrderCompleted(Payload):
    order_id: str
    item_id: str
    seller_id: str
    buyer_id: str
    channel: Channel
    payment_method: PaymentMethod
    payment_id: str
    amount_fen: int = Field(gt=0)
    completed_by: Literal["buyer", "auto"]


@register("order.closed")
class OrderClosed(Payload):
    order_id: str
    item_id: str
    seller_id: str
    buyer_id: str
    reason: Literal["buyer_cancelled", "payment_expired", "payment_closed"]


@register("order.refunded")
class OrderRefunded(Payload):
    order_id: str
    item_id: str
    seller_id: str
    buyer_id: str
    refund_id: str
    amount_fen: int = Field(gt=0)
