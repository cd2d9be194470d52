"""Payloads of the events the listing service produces: shops, items, orders and shares."""

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


@register("shop.collection_changed")
class ShopCollectionChanged(Payload):
    """The shop's WeChat collection status as listing learned it from wallet (invited, then active)."""

    shop_id: str
    seller_id: str
    wechat_collection: Literal["not_invited", "invited", "active"]


@register("shop.level_changed")
class ShopLevelChanged(Payload):
    shop_id: str
    seller_id: str
    old_level: int = Field(ge=1)
    new_level: int = Field(ge=1)


Condition = Literal["new", "like_new", "good", "fair"]


class ItemDetails(Payload):
    """What a seller writes about an item; events that set the details carry all of them."""

    title: str
    description: str = ""
    category: str = ""
    condition: Condition = "good"
    price_fen: int = Field(gt=0)
    images: list[str] = Field(default_factory=list)
    city: str = ""


@register("item.drafted")
class ItemDrafted(ItemDetails):
    item_id: str
    shop_id: str
    seller_id: str


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
    # Added within v1: the new values of the changed detail fields, and the order holding a reserved item.
    values: dict[str, object] = Field(default_factory=dict)
    order_id: str | None = None


@register("item.withdrawn")
class ItemWithdrawn(Payload):
    item_id: str
    shop_id: str
    seller_id: str
    reason: Literal["seller", "refunded"] = "seller"


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
    item_title: str = ""
    # The share the buyer came through (issue 18) and who made it; absent when none, or when the buyer shared it.
    share_code: str | None = None
    sharer_id: str | None = None


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
    share_code: str | None = None
    sharer_id: str | None = None


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


@register("order.payment_started")
class OrderPaymentStarted(Payload):
    """The buyer started paying: from now on the payment service closes the unpaid payment at its provider after the
    deadline, and its `payment.closed` closes the order (listing's own timer waits for it)."""

    order_id: str
    seller_id: str
    buyer_id: str
    payment_id: str


@register("order.late_payment")
class OrderLatePayment(Payload):
    """A payment succeeded at the provider after the order had closed; the payment service refunds it in full."""

    order_id: str
    seller_id: str
    buyer_id: str
    payment_id: str
    amount_fen: int = Field(gt=0)


@register("order.refund_opened")
class OrderRefundOpened(Payload):
    """A refund case opened on a paid or shipped order: the order is `refunding`, auto-confirm is paused."""

    order_id: str
    refund_id: str
    seller_id: str
    buyer_id: str
    previous_status: Literal["paid", "shipped"]
    auto_confirm_remaining_s: float | None = None


@register("order.refund_closed")
class OrderRefundClosed(Payload):
    """The case closed without a refund: the order is back where it was, auto-confirm resumes."""

    order_id: str
    refund_id: str
    seller_id: str
    buyer_id: str
    status: Literal["paid", "shipped"]
    auto_confirm_at: AwareDatetime | None = None
    # Set when the case refunded part of the order: what the order has had refunded in all; the trade goes on.
    refunded_fen: int | None = Field(default=None, ge=0)


@register("order.refunded")
class OrderRefunded(Payload):
    order_id: str
    item_id: str
    seller_id: str
    buyer_id: str
    refund_id: str
    amount_fen: int = Field(gt=0)


@register("share.created")
class ShareCreated(Payload):
    """A user of either audience shared an on-sale item: the share's code (its stream is `shr_<code>`, so the first
    append decides a code collision) names the item and who shared it."""

    code: str
    item_id: str
    shop_id: str
    seller_id: str
    sharer_id: str
    channel: Channel


@register("share.viewed")
class ShareViewed(Payload):
    """Someone opened a share (resolved its code); each view is its own one-entry stream (`shv_…`), so views of a
    popular share never contend. Not emitted for the sharer's own views."""

    code: str
    item_id: str
    seller_id: str
    sharer_id: str
    channel: Channel
    viewer_id: str | None = None
