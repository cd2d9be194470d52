"""Listing's application: internal API, the relay of its streams, its event consumer and its timers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from services.listing.api import LISTING, STORE, add_routes
from services.listing.commands import Listing
from services.listing.consumers import handlers
from services.listing.settings import ListingSettings
from services.listing.store import ListingStore
from shared.http.app import create_app, internal_auth_middleware
from shared.relay import Relay, SlotLease
from shared.service import BUS, DB, background, bus_context, consumer_context, mongo_context
from shared.streams import StreamStore

log = logging.getLogger("services.listing")


def build_app(settings: ListingSettings) -> web.Application:
    app = create_app(
        settings.service_name, middlewares=[internal_auth_middleware(settings.internal_token.get_secret_value())]
    )
    app.cleanup_ctx.append(mongo_context(settings))
    app.cleanup_ctx.append(bus_context(settings))

    async def stores(app: web.Application) -> AsyncIterator[None]:
        streams = StreamStore(app[DB])
        store = ListingStore(app[DB])
        await streams.ensure_indexes()
        await store.ensure_indexes()
        app[STORE] = store
        app[LISTING] = Listing(streams, store, settings)
        yield

    async def relay(app: web.Application, stop: asyncio.Event) -> None:
        lease = SlotLease(app[DB], "relay", slot_s=5)
        await Relay(
            app[LISTING].streams, app[BUS], producer=settings.service_name, poll_s=settings.relay_poll_s, lease=lease
        ).run(stop)

    async def timers(app: web.Application, stop: asyncio.Event) -> None:
        lease = SlotLease(app[DB], "timers", slot_s=max(5.0, settings.sweep_interval_s * 2))
        while not stop.is_set():
            if await lease.holds():
                done = await app[LISTING].sweep()
                if any(done.values()):
                    log.info("timers: %s", done)
            try:
                await asyncio.wait_for(stop.wait(), timeout=settings.sweep_interval_s)
            except TimeoutError:
                pass

    app.cleanup_ctx.append(stores)
    app.cleanup_ctx.append(background("relay", relay))
    app.cleanup_ctx.append(
        consumer_context(settings, lambda app: handlers(app[LISTING], app[DB], settings.service_name))
    )
    app.cleanup_ctx.append(background("timers", timers))
    add_routes(app)
    return app
