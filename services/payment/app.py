"""Payment's application: internal API, provider notifications, the relay, its event consumer and the reconciler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from services.payment.adapters import AlipayAdapter, WechatPayAdapter
from services.payment.api import add_routes
from services.payment.consumers import handlers
from services.payment.keys import PAYMENTS, STORE, STREAMS, WECHAT_CLIENT
from services.payment.notify import alipay_notify, wechat_notify
from services.payment.port import Providers
from services.payment.settings import PaymentSettings
from services.payment.store import PaymentStore
from services.payment.usecases import Payments
from shared.http.app import create_app, internal_auth_middleware
from shared.providers.alipay import AlipayClient
from shared.providers.wechatpay import WechatPayClient
from shared.service import DB, background, bus_context, consumer_context, leased_periodic, mongo_context, relay_context
from shared.streams import StreamStore


async def keep_certificates(app: web.Application, stop: asyncio.Event) -> None:
    await app[WECHAT_CLIENT].keep_certificates(stop)


def build_app(settings: PaymentSettings) -> web.Application:
    app = create_app(
        settings.service_name,
        middlewares=[
            internal_auth_middleware(settings.internal_token.get_secret_value(), public_prefixes=("/notify/",))
        ],
    )
    app.cleanup_ctx.append(mongo_context(settings))
    app.cleanup_ctx.append(bus_context(settings))

    async def clients(app: web.Application) -> AsyncIterator[None]:
        # One pooled session for every provider call of this process.
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        streams = StreamStore(app[DB], contracts="strict")  # every event payment writes has its contract
        store = PaymentStore(app[DB], settings.reconcile_after_s)
        await streams.ensure_indexes()
        await store.ensure_indexes()
        base = settings.public_base_url.rstrip("/")
        retries = (settings.provider_attempts, settings.provider_retry_delay_s)
        wechat_client = WechatPayClient(http, settings, settings.provider_timeout_s)
        wechat = WechatPayAdapter(wechat_client, f"{base}/notify/wechatpay", *retries)
        alipay = AlipayAdapter(
            AlipayClient(http, settings, settings.provider_timeout_s), f"{base}/notify/alipay", *retries
        )
        app[WECHAT_CLIENT] = wechat_client
        app[STREAMS], app[STORE] = streams, store
        app[PAYMENTS] = Payments(streams, store, Providers(wechat, alipay), alipay, settings)
        yield
        await http.close()

    app.cleanup_ctx.append(clients)
    # Platform certificates (for merchants still on them) downloaded at start and rotated.
    app.cleanup_ctx.append(
        background("wechatpay-certificates", lambda app, stop: app[WECHAT_CLIENT].keep_certificates(stop))
    )
    app.cleanup_ctx.append(relay_context(settings, lambda app: app[STREAMS]))
    app.cleanup_ctx.append(
        consumer_context(settings, lambda app: handlers(app[PAYMENTS], app[DB], settings.service_name))
    )
    app.cleanup_ctx.append(
        leased_periodic("reconciler", settings.reconcile_interval_s, lambda app: app[PAYMENTS].reconcile())
    )
    app.router.add_post("/notify/wechatpay", wechat_notify)
    app.router.add_post("/notify/alipay", alipay_notify)
    add_routes(app)
    return app
