"""Listing's application: internal API, the relay of its streams, its event consumer and its timers."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.listing.api import add_routes
from services.listing.catalog_feed import CatalogFeed, open_index
from services.listing.consumers import handlers
from services.listing.keys import CATALOG, LISTING, STORE
from services.listing.settings import ListingSettings
from services.listing.store import ListingStore
from services.listing.usecases import Listing
from shared.http.app import READINESS, create_app, internal_auth_middleware
from shared.service import BUS, DB, bus_context, consumer_context, leased_periodic, mongo_context, relay_context
from shared.streams import StreamStore


async def _ready() -> None:
    """The catalog is subscribed and caught up (it is, once the app has started)."""


def build_app(settings: ListingSettings) -> web.Application:
    app = create_app(
        settings.service_name, middlewares=[internal_auth_middleware(settings.internal_token.get_secret_value())]
    )
    app.cleanup_ctx.append(mongo_context(settings))
    app.cleanup_ctx.append(bus_context(settings))

    async def stores(app: web.Application) -> AsyncIterator[None]:
        streams = StreamStore(app[DB], contracts="strict")  # every listing event has a registered contract
        store = ListingStore(app[DB])
        await streams.ensure_indexes()
        await store.ensure_indexes()
        app[STORE] = store
        app[LISTING] = Listing(streams, store, settings)
        yield

    app.cleanup_ctx.append(stores)

    async def catalog(app: web.Application) -> AsyncIterator[None]:
        index, lock = open_index(settings.catalog_index_dir)
        feed = CatalogFeed(
            app[BUS],
            app[LISTING],
            app[STORE],
            index,
            service=settings.service_name,
            commit_interval_s=settings.catalog_commit_interval_s,
        )
        app[CATALOG] = feed
        await feed.start()  # subscribed and caught up before the first request
        app[READINESS]["catalog"] = _ready
        yield
        await feed.stop()
        index.close()
        if lock is not None:
            lock.close()

    app.cleanup_ctx.append(catalog)
    app.cleanup_ctx.append(relay_context(settings, lambda app: app[LISTING].streams))
    app.cleanup_ctx.append(
        consumer_context(settings, lambda app: handlers(app[LISTING], app[DB], settings.service_name))
    )
    app.cleanup_ctx.append(leased_periodic("timers", settings.sweep_interval_s, lambda app: app[LISTING].sweep()))
    add_routes(app)
    return app
