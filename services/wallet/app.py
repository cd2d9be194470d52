"""Wallet's application: internal API, WeChat Pay withdrawal notifications, the relay, its event consumer, the
provider worker (settlements, withdrawals, the books' sweeper), onboarding polls and the provider reconciliation."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.wallet.api import add_routes
from services.wallet.books import Books, BooksStore
from services.wallet.check import check_providers
from services.wallet.collection import Collection
from services.wallet.collection_api import COLLECTION, add_collection_routes
from services.wallet.consumers import handlers
from services.wallet.keys import IDEMPOTENCY, STORE, STREAMS, WALLET
from services.wallet.notify import wechat_notify
from services.wallet.settings import WalletSettings
from services.wallet.store import WalletStore
from services.wallet.usecases import Wallet
from shared.http.app import create_app, internal_auth_middleware
from shared.http.idempotency import IdempotencyStore
from shared.providers.alipay import AlipayClient
from shared.providers.wechatpay import WechatPayClient
from shared.service import DB, background, bus_context, consumer_context, leased_periodic, mongo_context, relay_context
from shared.streams import StreamStore

log = logging.getLogger("wallet")


async def reconcile(app: web.Application) -> dict[str, int]:
    wallet = app[WALLET]
    result = await check_providers(wallet.books, wallet.store, wallet.wechat)
    return {"sellers_compared": result["compared"], "differences": len(result["differences"])}


def build_app(settings: WalletSettings) -> web.Application:
    app = create_app(
        settings.service_name,
        middlewares=[
            internal_auth_middleware(settings.internal_token.get_secret_value(), public_prefixes=("/notify/",))
        ],
    )
    app.cleanup_ctx.append(mongo_context(settings))
    app.cleanup_ctx.append(bus_context(settings))

    async def parts(app: web.Application) -> AsyncIterator[None]:
        # One pooled session for every provider call of this process.
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        db = app[DB]
        streams = StreamStore(db, contracts="strict")  # every event the wallet writes has its contract
        books_store = BooksStore(db)
        store = WalletStore(db)
        idempotency = IdempotencyStore(db)
        wechat = WechatPayClient(http, settings, settings.provider_timeout_s)
        alipay = AlipayClient(http, settings, settings.provider_timeout_s)
        collection = Collection(streams, db, wechat, alipay, settings)
        for part in (streams, books_store, store, idempotency, collection):
            await part.ensure_indexes()
        app[STREAMS], app[STORE], app[IDEMPOTENCY], app[COLLECTION] = streams, store, idempotency, collection
        app[WALLET] = Wallet(streams, store, Books(streams, books_store), collection, wechat, alipay, settings)
        yield
        await http.close()

    app.cleanup_ctx.append(parts)
    app.cleanup_ctx.append(
        background("wechatpay-certificates", lambda app, stop: app[WALLET].wechat.keep_certificates(stop))
    )
    app.cleanup_ctx.append(relay_context(settings, lambda app: app[STREAMS]))
    app.cleanup_ctx.append(
        consumer_context(settings, lambda app: handlers(app[WALLET], app[COLLECTION], app[DB], settings.service_name))
    )
    app.cleanup_ctx.append(
        leased_periodic("provider-worker", settings.worker_interval_s, lambda app: app[WALLET].work())
    )
    app.cleanup_ctx.append(
        leased_periodic("onboarding", max(1.0, settings.poll_after_s / 2), lambda app: app[COLLECTION].poll())
    )
    app.cleanup_ctx.append(leased_periodic("provider-reconciler", settings.reconcile_interval_s, reconcile))
    app.router.add_post("/notify/wechatpay", wechat_notify)
    add_routes(app)
    add_collection_routes(app)
    return app
