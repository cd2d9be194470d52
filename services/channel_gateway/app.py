"""The channel gateway's application: the public routes of the route table (sessions, the channel policy, rate
limits and Idempotency-Key decided before a handler runs), `/openapi.json`, and one pooled client per service."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from services.channel_gateway.api import OPENAPI, ROUTES, openapi_document, openapi_json
from services.channel_gateway.cache import MicroCache
from services.channel_gateway.clients import Clients
from services.channel_gateway.keys import (
    ALIPAY_LOGIN,
    CATALOG_CACHE,
    CLIENTS,
    LIMITER,
    SETTINGS,
    SHARE_CODES,
    SHARE_IMAGE_CACHE,
    SHARE_IMAGES,
    TOKENS,
    USERS,
    WECHAT_LOGIN,
)
from services.channel_gateway.ratelimit import RateLimiter, Rule
from services.channel_gateway.routing import Audience, Route, Session, Wiring, install
from services.channel_gateway.sessions import AlipayLogin, Tokens, Users, WechatLogin
from services.channel_gateway.settings import GatewaySettings
from services.channel_gateway.wxacode import MiniProgramCodes, ShareImages
from shared.errors import Unauthenticated
from shared.http.app import create_app
from shared.http.idempotency import IdempotencyStore
from shared.providers.alipay import AlipayClient
from shared.service import DB, mongo_context

IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def client_address(request: web.Request, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.remote or "unknown"


def rules(settings: GatewaySettings) -> dict[str, list[tuple[Rule, str]]]:
    """Each rate-limit name of the route table → the rules it counts against and whom ("user" or "client")."""
    w = settings.rate_window_s
    return {
        "login": [(Rule("login_per_client", settings.login_per_client, w), "client")],
        "checkout": [
            (Rule("checkout_per_user", settings.checkout_per_user, w), "user"),
            (Rule("checkout_per_client", settings.checkout_per_client, w), "client"),
        ],
        "withdrawal": [(Rule("withdrawals_per_user", settings.withdrawals_per_user, w), "user")],
        "share": [(Rule("shares_per_user", settings.shares_per_user, w), "user")],
        "share_resolve": [(Rule("share_resolves_per_client", settings.share_resolves_per_client, w), "client")],
    }


def wiring(app: web.Application, settings: GatewaySettings) -> Wiring:
    admin = f"Bearer {settings.admin_token.get_secret_value()}".encode()
    limits = rules(settings)

    async def authenticate(request: web.Request, audience: Audience) -> Session | None:
        token = bearer(request)
        if token is None or audience == "admin":
            return None
        return app[TOKENS].verify(token, audience)

    def authorize_admin(request: web.Request) -> None:
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, admin):
            raise Unauthenticated("the admin token is required")

    async def guard(request: web.Request, route: Route, audience: Audience, session: Session | None) -> None:
        if route.rate_limit is None:
            return
        for rule, whom in limits[route.rate_limit]:
            if whom == "user":
                if session is not None:
                    app[LIMITER].hit(rule, f"{audience}:{session.user_id}")
            else:
                app[LIMITER].hit(rule, client_address(request, settings.trust_forwarded_for))

    async def idempotent(
        request: web.Request, scope: str, compute: Callable[[], Awaitable[web.Response]]
    ) -> web.Response:
        return await app[IDEMPOTENCY].run(request, scope, compute)

    return Wiring(authenticate=authenticate, authorize_admin=authorize_admin, guard=guard, idempotent=idempotent)


def build_app(settings: GatewaySettings) -> web.Application:
    app = create_app(settings.service_name, client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[OPENAPI] = openapi_document()
    app[LIMITER] = RateLimiter()
    app[CATALOG_CACHE] = MicroCache(settings.catalog_cache_s)
    # A share's image never changes: kept in memory for an hour (and in the database for good).
    app[SHARE_IMAGE_CACHE] = MicroCache(3600.0, max_entries=2_000)
    app[TOKENS] = Tokens(settings.session_secret.get_secret_value().encode(), settings.session_ttl_s)
    app.cleanup_ctx.append(mongo_context(settings))

    async def parts(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=settings.service_connections, ttl_dns_cache=300)
        async with aiohttp.ClientSession(connector=connector) as http:
            users = Users(app[DB])
            idempotency = IdempotencyStore(app[DB])
            for part in (users, idempotency):
                await part.ensure_indexes()
            app[USERS], app[IDEMPOTENCY] = users, idempotency
            app[SHARE_IMAGES] = ShareImages(app[DB])
            app[CLIENTS] = Clients(http, settings)
            app[WECHAT_LOGIN] = WechatLogin(
                http,
                settings.wechat_mp_api_base,
                settings.wechat_appid,
                settings.wechat_app_secret.get_secret_value(),
                settings.service_timeout_s,
            )
            app[SHARE_CODES] = MiniProgramCodes(
                http,
                settings.wechat_mp_api_base,
                settings.wechat_appid,
                settings.wechat_app_secret.get_secret_value(),
                settings.service_timeout_s,
                refresh_margin_s=settings.wechat_token_refresh_margin_s,
            )
            app[ALIPAY_LOGIN] = AlipayLogin(AlipayClient(http, settings, timeout_s=settings.service_timeout_s))
            yield

    app.cleanup_ctx.append(parts)
    app.router.add_get("/openapi.json", openapi_json)
    install(app, ROUTES, wiring(app, settings))
    return app
