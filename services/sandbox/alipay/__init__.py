"""Alipay stand-in: gateway.do (OpenAPI with RSA2), buyer actions and RSA2-signed async notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.sandbox.alipay import agreements, certs, oauth, royalty, trades, transfers
from services.sandbox.alipay.domain import Ids
from services.sandbox.alipay.gateway import build_handler
from services.sandbox.alipay.runtime import ALIPAY, Alipay, CertMode
from services.sandbox.alipay.store import AlipayStore
from services.sandbox.context import DB, FAULTS, NOTIFIER
from services.sandbox.settings import SandboxSettings
from shared.clock import SystemClock
from shared.protocols.alipay import load_private_key, load_public_key
from shared.protocols.alipay_cert import cert_public_key, cert_sn, root_cert_sn


def load_certs(settings: SandboxSettings) -> CertMode | None:
    """The certificates of 公钥证书模式: required, and required to certify the configured keys, in cert mode; in
    public-key mode they only serve alipaycert.download, and are left out if absent or for other keys."""
    cert_mode = settings.alipay_sign_mode == "cert"
    files = (settings.alipay_app_cert_file, settings.alipay_root_cert_file, settings.alipay_cert_file)
    if not cert_mode and not all(f.exists() for f in files):
        return None
    app_cert, root, alipay_cert = (f.read_bytes() for f in files)
    app_public = load_public_key(settings.alipay_app_public_key_file.read_bytes())
    platform = load_private_key(settings.alipay_platform_private_key_file.read_bytes())
    problems = []
    if cert_public_key(app_cert).public_numbers() != app_public.public_numbers():
        problems.append("ALIPAY_APP_CERT_FILE does not certify ALIPAY_APP_PUBLIC_KEY_FILE")
    if cert_public_key(alipay_cert).public_numbers() != platform.public_key().public_numbers():
        problems.append("ALIPAY_CERT_FILE does not certify ALIPAY_PLATFORM_PRIVATE_KEY_FILE")
    if problems:
        if cert_mode:
            raise ValueError("; ".join(problems))
        return None
    return CertMode(cert_sn(app_cert), root_cert_sn(root), cert_sn(alipay_cert), alipay_cert)


def setup(app: web.Application, settings: SandboxSettings) -> None:
    """Register the Alipay routes and a cleanup context that wires the store (and its indexes) once Mongo is up."""
    # Keys are read now so a bad key file stops the sandbox at start-up, not at the first request.
    app_public_key = load_public_key(settings.alipay_app_public_key_file.read_bytes())
    platform_key = load_private_key(settings.alipay_platform_private_key_file.read_bytes())
    cert_mode = load_certs(settings)

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
            certs=cert_mode,
        )
        yield

    app.cleanup_ctx.append(alipay_ctx)
    methods = {**certs.METHODS, **oauth.METHODS, **trades.METHODS, **royalty.METHODS}
    gateway = build_handler({**methods, **agreements.METHODS, **transfers.METHODS}, agreements.PAGES)
    app.router.add_route("GET", "/gateway.do", gateway)
    app.router.add_route("POST", "/gateway.do", gateway)
    app.router.add_post("/sandbox/alipay/auth-codes", oauth.issue_auth_code)
    app.router.add_post("/sandbox/alipay/pay", trades.buyer_pay)
    app.router.add_post("/sandbox/alipay/agreements/sign", agreements.buyer_sign)
    app.router.add_post("/sandbox/alipay/transfers/{out_biz_no}/settle", transfers.settle)
    app.router.add_post("/sandbox/alipay/transfers/{out_biz_no}/bank-return", transfers.bank_return)
    app.router.add_get("/sandbox/alipay/accounts/{account}", royalty.account_view)
    app.router.add_get("/sandbox/alipay/trades/{trade_no}/royalty", royalty.trade_royalty_view)
