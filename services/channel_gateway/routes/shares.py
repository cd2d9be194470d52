"""Sharing items across the two audiences (issue 18): a share's code, page path, deep link, copy-paste text and
mini-program code; resolving a code (no session needed) to this audience's item card; the seller's share stats.

Listing owns shares (a share is a stream whose first append owns its code) and counts what they bring from events:
each resolve is a `share.viewed` event, each order placed with a share code carries the sharer on `order.created`
and `order.paid`, and listing's consumer turns those into the stats; nothing is counted in the checkout's path."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from services.channel_gateway.keys import CLIENTS, SETTINGS, SHARE_CODES, SHARE_IMAGE_CACHE, SHARE_IMAGES, TOKENS
from services.channel_gateway.models import ItemCard, card
from services.channel_gateway.routing import PREFIX, Audience, Ctx, Registry
from services.channel_gateway.settings import GatewaySettings
from shared.errors import NotFound
from shared.money import format_cny
from shared.share_codes import normalize

registry = Registry()


class ShareOut(BaseModel):
    code: str = Field(description="9 characters, no 0/O/1/I/L; read back in any letter case")
    mp_path: str = Field(description="the mini-program page with the code as its scene (at most 32 characters)")
    app_url: str = Field(description="the app's deep link to the share")
    text: str = Field(description="a copy-paste message with the title, the price and the code")
    mp_code_url: str = Field(description="the mini-program code image (PNG) of the share")
    created_at: str | None


class SharerOut(BaseModel):
    shop_name: str | None


class ShareResolution(BaseModel):
    code: str
    item: ItemCard
    sharer: SharerOut


class SharerStatsOut(BaseModel):
    user_id: str
    views: int
    orders: int
    paid_orders: int = 0


class ShareStatsOut(BaseModel):
    views: int = Field(description="opens of the item's shares (the sharer's own not counted)")
    orders: int = Field(description="orders placed through the item's shares")
    paid_orders: int = Field(default=0, description="of those, orders paid")
    shares: int = Field(default=0, description="how many people shared the item")
    sharers: list[SharerStatsOut]


def share_text(title: str, price_fen: int, code: str, app_url: str) -> str:
    """The copy-paste message, the way share "passwords" look: the title, the price, the code and the link; the
    code is read back from the whole pasted text by the client, or typed."""
    short = title if len(title) <= 30 else title[:29] + "…"
    return (
        f"【Fishbridge】「{short}」{format_cny(price_fen)} "
        f"复制整段话打开 Fishbridge App 或微信小程序，口令 {code[:3]}-{code[3:6]}-{code[6:]} {app_url}"
    )


def share_out(settings: GatewaySettings, audience: Audience, share: dict[str, Any]) -> ShareOut:
    code, item = share["code"], share["item"]
    app_url = settings.share_app_url_base + code
    base = settings.public_base_url.rstrip("/")
    return ShareOut(
        code=code,
        mp_path=f"{settings.share_mp_page}?scene={code}",
        app_url=app_url,
        text=share_text(item["title"], item["price_fen"], code, app_url),
        mp_code_url=f"{base}{PREFIX[audience]}/shares/{code}/mp-code",
        created_at=share.get("created_at"),
    )


def _viewer(ctx: Ctx[Any, Any]) -> str | None:
    """The signed-in viewer, if the request carries a valid session of this audience; resolving needs none, and an
    invalid one is not an error here (a public link must open however stale the client's session is)."""
    scheme, _, token = ctx.request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    session = ctx.app[TOKENS].verify(token.strip(), ctx.channel)
    return session.user_id if session is not None else None


def _code(ctx: Ctx[Any, Any]) -> str:
    code = normalize(ctx.path("code"))
    if code is None:
        raise NotFound("no such share")  # cannot be a code: not looked up at all
    return code


@registry.route(
    "POST",
    "/items/{item_id}/shares",
    summary="Share an item: its code, mini-program path, app link, copy-paste text and mini-program code",
    response=ShareOut,
    status=201,
    rate_limit="share",
    errors=(409,),
    tags=("sharing",),
)
async def create_share(ctx: Ctx[Any, Any]) -> tuple[int, ShareOut]:
    share = await ctx.app[CLIENTS].listing.share_item(ctx.path("item_id"), ctx.user_id, ctx.channel)
    return 201, share_out(ctx.app[SETTINGS], ctx.audience, share)


@registry.route(
    "GET",
    "/shares/{code}",
    summary="Resolve a share code (any letter case; no session needed) to this audience's item card",
    auth="none",
    response=ShareResolution,
    rate_limit="share_resolve",
    tags=("sharing",),
)
async def resolve_share(ctx: Ctx[Any, Any]) -> ShareResolution:
    found = await ctx.app[CLIENTS].listing.view_share(_code(ctx), ctx.channel, _viewer(ctx))
    shop = found.get("sharer_shop")
    return ShareResolution(
        code=found["code"],
        item=ItemCard.model_validate(card(found["item"], ctx.channel)),
        sharer=SharerOut(shop_name=shop["name"] if shop else None),
    )


@registry.route(
    "GET",
    "/shares/{code}/mp-code",
    summary="The share's mini-program code (PNG, from WeChat's getwxacodeunlimit; fetched once per share)",
    auth="none",
    media_type="image/png",
    rate_limit="share_resolve",
    tags=("sharing",),
)
async def mp_code(ctx: Ctx[Any, Any]) -> web.Response:
    code = _code(ctx)
    app = ctx.app

    async def fetch() -> bytes:
        stored = await app[SHARE_IMAGES].get(code)
        if stored is not None:
            return stored
        await app[CLIENTS].listing.share(code)  # 404 for an unknown code, before WeChat is asked
        settings = app[SETTINGS]
        png = await app[SHARE_CODES].unlimited_code(code, settings.share_mp_page, settings.wechat_mp_env_version)
        await app[SHARE_IMAGES].put(code, png)
        return png

    png = await app[SHARE_IMAGE_CACHE].get(code, fetch)
    return web.Response(
        body=png,
        content_type="image/png",
        headers={"Cache-Control": "public, max-age=86400, immutable", "ETag": f'"{code}"'},
    )


@registry.route(
    "GET",
    "/shop/items/{item_id}/shares/stats",
    summary="What an item's shares brought: views, orders and who shared (the seller's own items only)",
    response=ShareStatsOut,
    capability="manage_shop",
    tags=("sharing", "shop"),
)
async def share_stats(ctx: Ctx[Any, Any]) -> ShareStatsOut:
    stats = await ctx.app[CLIENTS].listing.share_stats(ctx.path("item_id"), ctx.user_id)
    return ShareStatsOut.model_validate({k: v for k, v in stats.items() if k in ShareStatsOut.model_fields})
