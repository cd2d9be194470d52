"""Alipay stand-in: gateway.do (OpenAPI with RSA2), buyer actions and RSA2-signed async notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.sandbox.alipay import agreements, oauth, royalty, trades, transfers
from services.sandbox.alipay.domain import Ids
from services.sandbox.alipay.gateway import build_handler
from services.sandbox.alipay.runtime import ALIPAY, Alipay
from services.sandbox.alipay.store import AlipayStore
from services.sandbox.context import DB, FAULTS, NOTIFIER
from services.sandbox.settings import SandboxSettings
from shared.clock import SystemClock
from shared.protocols.alipay import load_private_key, load_public_key


def setup(app: web.Application, settings: SandboxSettings) -> None:
    """Register the Alipay routes and a cleanup context that wires the store (and its indexes) once Mongo is up."""
    # Keys are read now so a bad key file stops the sandbox at start-up, not at the first request.
    app_public_key = load_public_key(settings.alipay_app_public_key_file.read_bytes())
    platform_key = load_private_key(settings.alipay_platform_private_key_file.read_bytes())

    async def alipay_ctx(app: web.Application) -> AsyncIterator[None]:
        clock = SystemClock()
        store = AlipayStore(app[DB], clock)
        await store.ensure_indexes()
        app[ALIPAY] = Alipay(
            settings=settings,
            app_public_key=app_public_key,
            platform_key=platform_key,
            store=store,
            notifier=app[NOTIFIER],
            faults=app[FAULTS],
            clock=clock,
            ids=Ids(),
        )
        yield

    app.cleanup_ctx.append(alipay_ctx)
    gateway = build_handler(
        {**oauth.METHODS, **trades.METHODS, **royalty.METHODS, **agreements.METHODS, **transfers.METHODS},
        agreements.PAGES,
    )
    app.router.add_route("GET", "/gateway.do", gateway)
    app.router.add_route("POST", "/gateway.do", gateway)
    app.router.add_post("/sandbox/alipay/auth-codes", oauth.issue_auth_code)
    app.router.add_post("/sandbox/alipay/pay", trades.buyer_pay)
    app.router.add_post("/sandbox/alipay/agreements/sign", agreements.buyer_sign)
    app.router.add_post("/sandbox/alipay/transfers/{out_biz_no}/settle", transfers.settle)
    app.router.add_post("/sandbox/alipay/transfers/{out_biz_no}/bank-return", transfers.bank_return)
    app.router.add_get("/sandbox/alipay/accounts/{account}", royalty.account_view)
    app.router.add_get("/sandbox/alipay/trades/{trade_no}/royalty", royalty.trade_royalty_view)
