"""The catalog and item detail, the same items for both audiences, each card with this audience's purchasability
and payment methods (the channel policy decides; listing answers a page in one call)."""

from __future__ import annotations

import json
from typing import Any, Literal

from aiohttp import web
from pydantic import Field, model_validator

from services.channel_gateway.keys import CATALOG_CACHE, CLIENTS
from services.channel_gateway.models import MAX_PRICE_FEN, ItemCardPage, ItemDetail, PageQuery, card, detail
from services.channel_gateway.routing import Ctx, Registry
from services.listing.domain import Condition
from shared.errors import NotFound

registry = Registry()


class CatalogQuery(PageQuery):
    q: str | None = Field(default=None, max_length=100, description="search words (Chinese is segmented)")
    category: str | None = Field(default=None, max_length=40)
    condition: Condition | None = None
    city: str | None = Field(default=None, max_length=40)
    seller_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    min_price_fen: int | None = Field(default=None, ge=0, le=MAX_PRICE_FEN)
    max_price_fen: int | None = Field(default=None, ge=0, le=MAX_PRICE_FEN)
    sort: Literal["newest", "price_asc", "price_desc", "relevance"] | None = None

    @model_validator(mode="after")
    def _price_range(self) -> CatalogQuery:
        low, high = self.min_price_fen, self.max_price_fen
        if low is not None and high is not None and low > high:
            raise ValueError("min_price_fen must not exceed max_price_fen")
        return self


@registry.route(
    "GET",
    "/catalog",
    summary="A page of items on sale, with this audience's purchasability and payment methods",
    auth="none",
    query=CatalogQuery,
    response=ItemCardPage,
    capability="browse_catalog",
    tags=("catalog",),
)
async def catalog(ctx: Ctx[Any, CatalogQuery]) -> web.Response:
    """The same page for every client of an audience, so it is served from the micro-cache for a moment."""
    params = ctx.query.model_dump(exclude_none=True)

    async def render() -> bytes:
        page = await ctx.app[CLIENTS].listing.catalog(params)
        items = [card(item, ctx.channel) for item in page["items"]]
        out = ItemCardPage.model_validate({"items": items, "next_cursor": page.get("next_cursor")})
        return out.model_dump_json().encode()

    key = f"{ctx.audience}:{json.dumps(params, sort_keys=True, ensure_ascii=False)}"
    body = await ctx.app[CATALOG_CACHE].get(key, render)
    return web.Response(body=body, content_type="application/json", charset="utf-8")


@registry.route(
    "GET",
    "/items/{item_id}",
    summary="An item in any status (a withdrawn or sold one says so), as this audience sees it",
    auth="none",
    response=ItemDetail,
    capability="browse_catalog",
    tags=("catalog",),
)
async def item(ctx: Ctx[Any, Any]) -> ItemDetail:
    found = await ctx.app[CLIENTS].listing.item(ctx.path("item_id"))
    if found.get("status") == "draft":
        raise NotFound("no such item")  # a seller's draft is not public
    return ItemDetail.model_validate(detail(found, ctx.channel))
