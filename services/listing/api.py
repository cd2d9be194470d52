"""Listing's internal HTTP API for the gateway (`/internal/v1`, internal token): parse, call a use case, render."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.listing.catalog import CatalogQuery
from services.listing.domain import Item, ItemFields, ItemStatus, NewItemFields, Shop
from services.listing.keys import CATALOG, LISTING, STORE
from services.listing.orders import Order, OrderStatus
from services.listing.shares import Share
from services.listing.store import ORDER_LIST, SELLER_ITEMS
from shared.errors import NotFound, ValidationFailed
from shared.events import Channel, PaymentMethod
from shared.fields import UserId
from shared.fields import iso as _iso
from shared.http.app import json_response, parse_body, parse_query
from shared.pagination import decode_cursor, next_cursor


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OpenShopBody(Strict):
    seller_id: str = UserId
    name: str = Field(min_length=1, max_length=40)


class LevelBody(Strict):
    level: int = Field(ge=1, le=20)


class NewItemBody(NewItemFields):
    model_config = ConfigDict(extra="forbid", strict=True)
    seller_id: str = UserId


class EditItemBody(ItemFields):
    model_config = ConfigDict(extra="forbid", strict=True)
    seller_id: str = UserId


class SellerBody(Strict):
    seller_id: str = UserId


class BuyerBody(Strict):
    buyer_id: str = UserId


class ShipBody(Strict):
    seller_id: str = UserId
    carrier: str = Field(min_length=1, max_length=40)
    tracking_no: str = Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")


class PlaceOrderBody(Strict):
    item_id: str = Field(min_length=1, max_length=64)
    buyer_id: str = UserId
    channel: Channel
    payment_method: PaymentMethod
    request_id: str | None = Field(default=None, min_length=1, max_length=255)
    share_code: str | None = Field(default=None, min_length=1, max_length=20)


class ShareBody(Strict):
    sharer_id: str = UserId
    channel: Channel


class ViewBody(Strict):
    channel: Channel
    viewer_id: str | None = Field(default=None, min_length=1, max_length=64)


class PageQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=500)


class SellerItemsQuery(PageQuery):
    seller_id: str = UserId
    status: ItemStatus | None = None


class OrdersQuery(PageQuery):
    role: Literal["buyer", "seller"]
    user_id: str = UserId
    status: OrderStatus | None = None


class SellerQuery(BaseModel):
    seller_id: str = UserId


class ViewerQuery(BaseModel):
    viewer_id: str | None = Field(default=None, max_length=64)


def shop_view(shop: Shop | dict[str, Any]) -> dict[str, Any]:
    s = shop if isinstance(shop, Shop) else Shop.model_validate({k: v for k, v in shop.items() if k != "_id"})
    return {
        "id": s.shop_id,
        "seller_id": s.seller_id,
        "name": s.name,
        "level": s.level,
        "wechat_collection": s.wechat_collection,
        "created_at": _iso(s.created_at),
    }


def item_view(item: Item | dict[str, Any], shop: dict[str, Any] | Shop | None) -> dict[str, Any]:
    """An item as the gateway renders it: details, status, and the seller facts channel policy needs."""
    i = (
        item
        if isinstance(item, Item)
        else Item.model_validate({k: v for k, v in item.items() if k in Item.model_fields})
    )
    seller: dict[str, Any] = {"id": i.seller_id, "shop_id": i.shop_id}
    if shop is not None:
        s = shop_view(shop)
        seller |= {"shop_name": s["name"], "level": s["level"], "wechat_collection": s["wechat_collection"] == "active"}
    return {
        "id": i.item_id,
        "title": i.title,
        "description": i.description,
        "category": i.category,
        "condition": i.condition,
        "price_fen": i.price_fen,
        "images": i.images,
        "city": i.city,
        "status": i.status,
        "created_at": _iso(i.created_at),
        "updated_at": _iso(i.updated_at),
        "published_at": _iso(i.published_at),
        "seller": seller,
    }


def card_view(card: dict[str, Any], shop: dict[str, Any] | None) -> dict[str, Any]:
    """A catalog card (as the search index stores it) in `item_view`'s shape."""
    seller: dict[str, Any] = {"id": card["seller_id"], "shop_id": card["shop_id"]}
    if shop is not None:
        seller |= shop
    fields = ("title", "description", "category", "condition", "price_fen", "images", "city", "status")
    return {
        "id": card["id"],
        **{name: card[name] for name in fields},
        "created_at": card["created_at"],
        "updated_at": card["updated_at"],
        "published_at": card["published_at"],
        "seller": seller,
    }


def order_view(order: Order | dict[str, Any]) -> dict[str, Any]:
    o = order if isinstance(order, Order) else Order.model_validate({k: v for k, v in order.items() if k != "_id"})
    shipment = o.shipment
    return {
        "id": o.order_id,
        "item": {"id": o.item_id, "title": o.item_title, "price_fen": o.item_price_fen},
        "shop_id": o.shop_id,
        "buyer_id": o.buyer_id,
        "seller_id": o.seller_id,
        "channel": o.channel,
        "payment_method": o.payment_method,
        "status": o.status,
        "amount_fen": o.amount_fen,
        "payment_id": o.payment_id,
        "refund_id": o.refund_id,
        "closed_reason": o.closed_reason,
        "refunded_fen": o.refunded_fen,
        "share_code": o.share_code,
        "sharer_id": o.sharer_id,
        "shipment": None
        if shipment is None
        else {
            "carrier": shipment.carrier,
            "tracking_no": shipment.tracking_no,
            "shipped_at": _iso(shipment.shipped_at),
        },
        "created_at": _iso(o.created_at),
        "expires_at": _iso(o.expires_at),
        "paid_at": _iso(o.paid_at),
        "completed_at": _iso(o.completed_at),
        "auto_confirm_at": _iso(o.auto_confirm_at),
        "timeline": [{"at": _iso(t.at), "type": t.type, "actor": t.actor} for t in o.timeline],
    }


def share_view(share: Share) -> dict[str, Any]:
    return {
        "code": share.code,
        "item_id": share.item_id,
        "shop_id": share.shop_id,
        "seller_id": share.seller_id,
        "sharer_id": share.sharer_id,
        "channel": share.channel,
        "created_at": _iso(share.created_at),
    }


def _page(items: list[dict[str, Any]], cursor: str | None) -> web.Response:
    return json_response({"items": items, "next_cursor": cursor})


def _keyset_args(query: PageQuery, name: str) -> tuple[Any, str | None]:
    if not query.cursor:
        return None, None
    return decode_cursor(query.cursor, name)


# -------------------------------------------------------------------------------------------------------- shops


async def open_shop(request: web.Request) -> web.Response:
    body = await parse_body(request, OpenShopBody)
    shop = await request.app[LISTING].open_shop(body.seller_id, body.name)
    return json_response(shop_view(shop), 201)


async def get_shop(request: web.Request) -> web.Response:
    return json_response(shop_view(await request.app[LISTING].shop(request.match_info["shop_id"])))


async def get_seller_shop(request: web.Request) -> web.Response:
    return json_response(shop_view(await request.app[LISTING].shop_of(request.match_info["seller_id"])))


async def set_level(request: web.Request) -> web.Response:
    body = await parse_body(request, LevelBody)
    shop = await request.app[LISTING].change_level(request.match_info["shop_id"], body.level)
    return json_response(shop_view(shop))


# -------------------------------------------------------------------------------------------------------- items


async def _with_shop(request: web.Request, item: Item) -> dict[str, Any]:
    shops = await request.app[STORE].shops_by_id([item.shop_id])
    return item_view(item, shops.get(item.shop_id))


async def draft_item(request: web.Request) -> web.Response:
    body = await parse_body(request, NewItemBody)
    fields = NewItemFields.model_validate(body.model_dump(exclude={"seller_id"}))
    item = await request.app[LISTING].draft_item(body.seller_id, fields)
    return json_response(await _with_shop(request, item), 201)


async def edit_item(request: web.Request) -> web.Response:
    body = await parse_body(request, EditItemBody)
    fields = ItemFields.model_validate(body.model_dump(exclude={"seller_id"}, exclude_unset=True))
    if "price_fen" in body.model_fields_set and body.price_fen is None:
        raise ValidationFailed("price_fen cannot be removed", details={"price_fen": "required"})
    item = await request.app[LISTING].edit_item(request.match_info["item_id"], body.seller_id, fields)
    return json_response(await _with_shop(request, item))


async def item_action(request: web.Request) -> web.Response:
    body = await parse_body(request, SellerBody)
    listing = request.app[LISTING]
    item_id = request.match_info["item_id"]
    if request.match_info["action"] == "publish":
        item = await listing.publish_item(item_id, body.seller_id)
    else:
        item = await listing.withdraw_item(item_id, body.seller_id)
    return json_response(await _with_shop(request, item))


async def get_item(request: web.Request) -> web.Response:
    item = await request.app[LISTING].item(request.match_info["item_id"])
    return json_response(await _with_shop(request, item))


async def seller_items(request: web.Request) -> web.Response:
    query = parse_query(request, SellerItemsQuery)
    key, row_id = _keyset_args(query, "seller_items")
    store = request.app[STORE]
    rows = await store.seller_items(query.seller_id, query.status, key, row_id, query.limit)
    shops = await store.shops_by_id([r["shop_id"] for r in rows])
    items = [item_view(r, shops.get(r["shop_id"])) for r in rows[: query.limit]]
    return _page(items, next_cursor("seller_items", SELLER_ITEMS, rows, query.limit))


async def catalog(request: web.Request) -> web.Response:
    """A page of the catalog from this replica's search index, with each seller's shop facts: no database query."""
    query = parse_query(request, CatalogQuery)
    feed = request.app[CATALOG]
    cards, cursor = feed.index.search(query)
    return _page([card_view(card.data, feed.shop_facts(card.shop_id)) for card in cards], cursor)


# ------------------------------------------------------------------------------------------------------- orders


async def place_order(request: web.Request) -> web.Response:
    body = await parse_body(request, PlaceOrderBody)
    order = await request.app[LISTING].place_order(
        body.item_id, body.buyer_id, body.channel, body.payment_method, body.request_id, body.share_code
    )
    return json_response(order_view(order), 201)


async def list_orders(request: web.Request) -> web.Response:
    query = parse_query(request, OrdersQuery)
    key, row_id = _keyset_args(query, "orders")
    rows = await request.app[STORE].orders_of(query.role, query.user_id, query.status, key, row_id, query.limit)
    return _page([order_view(r) for r in rows[: query.limit]], next_cursor("orders", ORDER_LIST, rows, query.limit))


async def get_order(request: web.Request) -> web.Response:
    viewer = parse_query(request, ViewerQuery).viewer_id
    order = await request.app[LISTING].order(request.match_info["order_id"])
    if viewer is not None and viewer not in (order.buyer_id, order.seller_id):
        raise NotFound("no such order")  # another user's order is indistinguishable from a missing one
    return json_response(order_view(order))


async def cancel_order(request: web.Request) -> web.Response:
    body = await parse_body(request, BuyerBody)
    return json_response(order_view(await request.app[LISTING].cancel(request.match_info["order_id"], body.buyer_id)))


async def confirm_receipt(request: web.Request) -> web.Response:
    body = await parse_body(request, BuyerBody)
    order = await request.app[LISTING].confirm_receipt(request.match_info["order_id"], body.buyer_id)
    return json_response(order_view(order))


async def ship_order(request: web.Request) -> web.Response:
    body = await parse_body(request, ShipBody)
    order = await request.app[LISTING].ship(
        request.match_info["order_id"], body.seller_id, body.carrier, body.tracking_no
    )
    return json_response(order_view(order))


# ------------------------------------------------------------------------------------------------------- shares


async def share_item(request: web.Request) -> web.Response:
    body = await parse_body(request, ShareBody)
    share, item = await request.app[LISTING].share_item(request.match_info["item_id"], body.sharer_id, body.channel)
    return json_response({**share_view(share), "item": await _with_shop(request, item)}, 201)


async def get_share(request: web.Request) -> web.Response:
    return json_response(share_view(await request.app[LISTING].share(request.match_info["code"])))


async def view_share(request: web.Request) -> web.Response:
    """Resolve a share for a viewer and count the view (by an event): the share, its item and the sharer's shop."""
    body = await parse_body(request, ViewBody)
    share, item, sharer_shop = await request.app[LISTING].view_share(
        request.match_info["code"], body.channel, body.viewer_id
    )
    return json_response(
        {
            **share_view(share),
            "item": await _with_shop(request, item),
            "sharer_shop": None if sharer_shop is None else shop_view(sharer_shop),
        }
    )


async def share_stats(request: web.Request) -> web.Response:
    seller_id = parse_query(request, SellerQuery).seller_id
    stats = await request.app[LISTING].share_stats(request.match_info["item_id"], seller_id)
    return json_response(stats.model_dump())


def add_routes(app: web.Application) -> None:
    r = app.router
    p = "/internal/v1"
    r.add_post(f"{p}/shops", open_shop)
    r.add_get(f"{p}/shops/{{shop_id}}", get_shop)
    r.add_put(f"{p}/shops/{{shop_id}}/level", set_level)
    r.add_get(f"{p}/sellers/{{seller_id}}/shop", get_seller_shop)
    r.add_post(f"{p}/items", draft_item)
    r.add_get(f"{p}/items", seller_items)
    r.add_get(f"{p}/items/{{item_id}}", get_item)
    r.add_patch(f"{p}/items/{{item_id}}", edit_item)
    r.add_post(f"{p}/items/{{item_id}}/{{action:publish|withdraw}}", item_action)
    r.add_get(f"{p}/catalog", catalog)
    r.add_post(f"{p}/orders", place_order)
    r.add_get(f"{p}/orders", list_orders)
    r.add_get(f"{p}/orders/{{order_id}}", get_order)
    r.add_post(f"{p}/orders/{{order_id}}/cancel", cancel_order)
    r.add_post(f"{p}/orders/{{order_id}}/confirm-receipt", confirm_receipt)
    r.add_post(f"{p}/orders/{{order_id}}/ship", ship_order)
    r.add_post(f"{p}/items/{{item_id}}/shares", share_item)
    r.add_get(f"{p}/items/{{item_id}}/share-stats", share_stats)
    r.add_get(f"{p}/shares/{{code}}", get_share)
    r.add_post(f"{p}/shares/{{code}}/views", view_share)
