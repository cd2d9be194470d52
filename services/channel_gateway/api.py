"""The whole public API: the route modules' registries joined, and `/openapi.json` generated from them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.channel_gateway.openapi import document
from services.channel_gateway.routes import admin, agreements, catalog, orders, refunds, session, shares, shop, wallet
from services.channel_gateway.routing import Registry

MODULES: tuple[Any, ...] = (session, catalog, orders, refunds, shop, wallet, agreements, shares, admin)


def registry() -> Registry:
    joined = Registry()
    for module in MODULES:
        for route in module.registry.routes:
            joined.add(route)
    return joined


ROUTES = registry()
OPENAPI = web.AppKey("openapi", dict)


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def openapi_document() -> dict[str, Any]:
    return document(ROUTES)
