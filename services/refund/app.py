"""Refund's application: internal API, the relay, its event consumer and the leased timer sweeper."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.refund.api import add_routes
from services.refund.consumers import handlers
from services.refund.keys import IDEMPOTENCY, REFUNDS, STREAMS
from services.refund.settings import RefundSettings
from services.refund.store import RefundStore
from services.refund.usecases import Refunds
from shared.http.app import create_app, internal_auth_middleware
from shared.http.idempotency import IdempotencyStore
from shared.service import DB, bus_context, consumer_context, leased_periodic, mongo_context, relay_context
from shared.streams import StreamStore


def build_app(settings: RefundSettings) -> web.Application:
    app = create_app(
        settings.service_name, middlewares=[internal_auth_middleware(settings.internal_token.get_secret_value())]
    )
    app.cleanup_ctx.append(mongo_context(settings))
    app.cleanup_ctx.append(bus_context(settings))

    async def parts(app: web.Application) -> AsyncIterator[None]:
        streams = StreamStore(app[DB], contracts="strict")
        store = RefundStore(app[DB])
        idempotency = IdempotencyStore(app[DB])
        for part in (streams, store, idempotency):
            await part.ensure_indexes()
        app[STREAMS], app[IDEMPOTENCY] = streams, idempotency
        app[REFUNDS] = Refunds(streams, store, settings)
        yield

    app.cleanup_ctx.append(parts)
    app.cleanup_ctx.append(relay_context(settings, lambda app: app[STREAMS]))
    app.cleanup_ctx.append(
        consumer_context(settings, lambda app: handlers(app[REFUNDS], app[DB], settings.service_name))
    )
    app.cleanup_ctx.append(leased_periodic("timers", settings.sweep_interval_s, lambda app: app[REFUNDS].sweep()))
    add_routes(app)
    return app
