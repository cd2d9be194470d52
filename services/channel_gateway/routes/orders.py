"""Checkout and orders. Checkout (`POST P/orders`, Idempotency-Key) reserves the item at listing, creates the
order's payment at payment, and answers the client's payment parameters: `wx.requestPayment`'s fields with their
`paySign` in the mini-program, the Alipay order string in the app, or a password-free payment already made.

A definite refusal of the payment (4xx) releases the reservation (the order is cancelled) before the refusal is
answered. A payment service that does not answer (503) leaves the reservation alone: the client retries with the
same key, which finds the same order and the same payment (both are idempotent per order), and an order never paid
is closed by listing at its `expires_at`, which releases the item. So does a payment still `processing` (the
provider did not answer payment: down, or timing out): it has nothing for the client to pay with, so it is a 503 as
well, never stored under the key, and the retry gets the parameters once the provider answers (payment's reconciler
keeps asking it meanwhile)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.channel_gateway.clients import Clients, ServiceError
from services.channel_gateway.keys import CLIENTS, USERS
from services.channel_gateway.models import In, PageQuery
from services.channel_gateway.routing import Ctx, NotAvailableInChannel, Registry
from services.listing.orders import OrderStatus
from shared.channels import check_payment_method
from shared.errors import Unauthenticated, Unavailable

log = logging.getLogger("channel_gateway.orders")
registry = Registry()


class OrderItem(BaseModel):
    id: str
    title: str
    price_fen: int


class Shipment(BaseModel):
    carrier: str
    tracking_no: str
    shipped_at: str | None


class TimelineEntry(BaseModel):
    at: str | None
    type: str
    actor: str | None = None


class OrderOut(BaseModel):
    id: str
    item: OrderItem
    buyer_id: str
    seller_id: str
    channel: Literal["app", "mp"]
    payment_method: str
    status: OrderStatus
    amount_fen: int
    shipment: Shipment | None
    created_at: str | None
    expires_at: str | None
    paid_at: str | None = None
    completed_at: str | None = None
    refunded_fen: int = 0
    closed_reason: str | None = None
    share_code: str | None = Field(default=None, description="the share the buyer came through")
    sharer_id: str | None = Field(default=None, description="who shared it (none for the buyer's own share)")
    timeline: list[TimelineEntry]


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class WechatRequestPayment(BaseModel):
    """The arguments of the mini-program's `wx.requestPayment`, signed for this buyer (RSA, `paySign`)."""

    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class PaymentOut(BaseModel):
    id: str
    method: str
    status: Literal["requires_action", "processing", "succeeded", "failed", "closed"]
    amount_fen: int
    wechat_request_payment: WechatRequestPayment | None
    alipay_order_string: str | None
    failure_code: str | None = None
    failure_message: str | None = None


class CheckoutIn(In):
    item_id: str = Field(min_length=1, max_length=64)
    payment_method: Literal["wechat_pay", "alipay", "alipay_password_free"] | None = Field(
        default=None, description="this audience's methods only; omitted: the audience's first (mp: wechat_pay)"
    )
    agreement_id: str | None = Field(default=None, min_length=1, max_length=64)
    share_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description="the share the buyer came through (any letter case): the order records the sharer",
    )


class CheckoutOut(BaseModel):
    order: OrderOut
    payment: PaymentOut


class OrdersQuery(PageQuery):
    role: Literal["buyer", "seller"] = "buyer"
    status: OrderStatus | None = None


class ShipIn(In):
    carrier: str = Field(min_length=1, max_length=40)
    tracking_no: str = Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")


def order_out(order: dict[str, Any]) -> OrderOut:
    return OrderOut.model_validate({k: v for k, v in order.items() if k in OrderOut.model_fields})


def payment_out(payment: dict[str, Any]) -> PaymentOut:
    return PaymentOut.model_validate({k: v for k, v in payment.items() if k in PaymentOut.model_fields})


@registry.route(
    "POST",
    "/orders",
    summary="Checkout: reserve the item, create its payment, answer the client's payment parameters",
    body=CheckoutIn,
    response=CheckoutOut,
    status=201,
    idempotency_key=True,
    rate_limit="checkout",
    errors=(409, 422),
    tags=("orders",),
)
async def checkout(ctx: Ctx[CheckoutIn, Any]) -> tuple[int, CheckoutOut]:
    body = ctx.body
    method = check_payment_method(ctx.channel, body.payment_method or ctx.policy.payment_methods[0])
    user = await ctx.app[USERS].get(ctx.user_id)
    if user is None:
        raise Unauthenticated("no such user")
    clients = ctx.app[CLIENTS]
    key = hashlib.sha256(ctx.request.headers["Idempotency-Key"].encode()).hexdigest()
    # Listing decides the policy's seller rule and the one winner among buyers; the request id makes a retry of
    # this checkout find its own order.
    order = await clients.listing.place_order(
        body.item_id, user.user_id, ctx.channel, method, f"gw:{key}", body.share_code
    )
    terms = {
        "order_id": order["id"],
        "buyer_id": user.user_id,
        "seller_id": order["seller_id"],
        "channel": ctx.channel,
        "method": method,
        "amount_fen": order["amount_fen"],
        "expires_at": order["expires_at"],
        "description": order["item"]["title"][:127],
        "openid": user.openid,
        "alipay_user_id": user.alipay_user_id,
        "agreement_id": body.agreement_id,
    }
    try:
        payment = await _create_payment(clients, {k: v for k, v in terms.items() if v is not None})
    except ServiceError:
        # Refused for good (a limit, an agreement not active, a seller without a sub-merchant): nothing was charged,
        # so the item goes back on sale before the refusal is answered.
        await clients.listing.order_action(order["id"], "cancel", {"buyer_id": user.user_id})
        raise
    if payment["status"] == "processing":
        raise Unavailable(
            "the payment provider has not answered yet; retry with the same Idempotency-Key",
            details={"service": "payment", "order_id": order["id"]},
        )
    if payment["status"] == "succeeded":  # a password-free charge: listing learns it from payment's event
        order = await clients.listing.order(order["id"])
    return 201, CheckoutOut(order=order_out(order), payment=payment_out(payment))


# Listing and payment each learn from the wallet's event that a seller collects with WeChat; for the moment between
# the two, listing may reserve an item whose seller payment does not know yet. Asked again for this long.
PAYEE_LAG_S = 3.0


async def _create_payment(clients: Clients, terms: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PAYEE_LAG_S
    while True:
        try:
            return await clients.payment.create(terms)  # one payment per order, however often asked
        except ServiceError as exc:
            if exc.code != "wechat_collection_not_active" or loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


@registry.route(
    "GET",
    "/orders",
    summary="The caller's orders as buyer, or (app) as seller",
    query=OrdersQuery,
    response=OrderPage,
    errors=(403,),  # role=seller where the policy has no shop
    tags=("orders",),
)
async def list_orders(ctx: Ctx[Any, OrdersQuery]) -> OrderPage:
    q = ctx.query
    if q.role == "seller" and not ctx.policy.manage_shop:
        raise NotAvailableInChannel("seller views are in the app", details={"channel": ctx.channel})
    params = q.model_dump(exclude={"role"}, exclude_none=True)
    page = await ctx.app[CLIENTS].listing.orders(q.role, ctx.user_id, params)
    return OrderPage(items=[order_out(o) for o in page["items"]], next_cursor=page.get("next_cursor"))


@registry.route("GET", "/orders/{order_id}", summary="One of the caller's orders", response=OrderOut, tags=("orders",))
async def get_order(ctx: Ctx[Any, Any]) -> OrderOut:
    return order_out(await ctx.app[CLIENTS].listing.order(ctx.path("order_id"), viewer_id=ctx.user_id))


@registry.route(
    "POST",
    "/orders/{order_id}/ship",
    summary="The seller ships a paid order with its carrier and tracking number",
    body=ShipIn,
    response=OrderOut,
    capability="manage_shop",
    errors=(409,),
    tags=("orders",),
)
async def ship(ctx: Ctx[ShipIn, Any]) -> OrderOut:
    body = {"seller_id": ctx.user_id, "carrier": ctx.body.carrier, "tracking_no": ctx.body.tracking_no}
    return order_out(await ctx.app[CLIENTS].listing.order_action(ctx.path("order_id"), "ship", body))


@registry.route(
    "POST",
    "/orders/{order_id}/confirm-receipt",
    summary="The buyer confirms receipt: the order completes and the seller is settled",
    response=OrderOut,
    errors=(409,),
    tags=("orders",),
)
async def confirm_receipt(ctx: Ctx[Any, Any]) -> OrderOut:
    order = await ctx.app[CLIENTS].listing.order_action(
        ctx.path("order_id"), "confirm-receipt", {"buyer_id": ctx.user_id}
    )
    return order_out(order)


@registry.route(
    "POST",
    "/orders/{order_id}/cancel",
    summary="The buyer cancels an order still waiting for payment",
    response=OrderOut,
    errors=(409,),
    tags=("orders",),
)
async def cancel(ctx: Ctx[Any, Any]) -> OrderOut:
    order = await ctx.app[CLIENTS].listing.order_action(ctx.path("order_id"), "cancel", {"buyer_id": ctx.user_id})
    return order_out(order)
