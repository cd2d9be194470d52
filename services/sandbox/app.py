"""The sandbox app: WeChat and Alipay provider routes, buyer actions, fault control, notification delivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.sandbox import alipay, wechat
from services.sandbox.context import FAULTS, NOTIFIER, SETTINGS
from services.sandbox.faults import FaultRegistry, FaultRule
from services.sandbox.notifier import Notifier
from services.sandbox.settings import SandboxSettings
from shared.errors import NotFound
from shared.http.app import create_app, json_response, parse_body
from shared.service import DB, background, mongo_context


async def add_fault(request: web.Request) -> web.Response:
    rule = await parse_body(request, FaultRule)
    return json_response(request.app[FAULTS].add(rule), 201)


async def list_faults(request: web.Request) -> web.Response:
    return json_response({"items": [f.model_dump() for f in request.app[FAULTS].list()]})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].clear()
    return web.Response(status=204)


async def notifications(request: web.Request) -> web.Response:
    """Test-only: the notifications sent (or held, dropped) about one key, with every delivery attempt."""
    key = request.query.get("key", "")
    if not key:
        raise NotFound("give ?key=<out_trade_no | out_refund_no | agreement_no | ...>")
    found = await request.app[NOTIFIER].find(key)
    return json_response({"items": [n.model_dump(mode="json") for n in found]})


def build_app(settings: SandboxSettings) -> web.Application:
    app = create_app(settings.service_name)
    app[SETTINGS] = settings
    app[FAULTS] = FaultRegistry()
    app.cleanup_ctx.append(mongo_context(settings))

    async def notifier_ctx(app: web.Application) -> AsyncIterator[None]:
        app[NOTIFIER] = Notifier(
            app[DB], app[FAULTS], time_scale=settings.time_scale, timeout_s=settings.notify_timeout_s
        )
        await app[NOTIFIER].ensure_indexes()
        yield

    async def deliver(app: web.Application, stop: asyncio.Event) -> None:
        await app[NOTIFIER].run(stop)

    app.cleanup_ctx.append(notifier_ctx)
    app.cleanup_ctx.append(background("notifier", deliver))
    app.router.add_post("/sandbox/faults", add_fault)
    app.router.add_get("/sandbox/faults", list_faults)
    app.router.add_delete("/sandbox/faults", clear_faults)
    app.router.add_get("/sandbox/notifications", notifications)
    wechat.setup(app, settings)
    alipay.setup(app, settings)
    return app
