"""WeChat stand-in: mini-program login, WeChat Pay v3 (JSAPI direct and partner, refunds, transfer bills, e-commerce
profit sharing, balances and withdrawals), callbacks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.sandbox.context import DB, FAULTS, NOTIFIER
from services.sandbox.settings import SandboxSettings
from services.sandbox.wechat import (
    domain,
    funds,
    login,
    notify,
    partner,
    profitsharing,
    refunds,
    settler,
    transactions,
    transfers,
    v3,
    wxacode,
)
from services.sandbox.wechat.merchants import setup as setup_merchants
from services.sandbox.wechat.runtime import WECHAT, Wechat, load_keys
from services.sandbox.wechat.store import WechatStore
from shared.clock import SystemClock
from shared.service import background

TRANSFER_BILLS = "/v3/fund-app/mch-transfer/transfer-bills"
PARTNER = "/v3/pay/partner/transactions"
ECOMMERCE = "/v3/ecommerce"


def setup(app: web.Application, settings: SandboxSettings) -> None:
    """Register the WeChat routes, a cleanup context that wires the store (and its indexes) once Mongo is up, and
    the settler that finishes refunds and transfers."""
    # Keys are read now so a bad key file stops the sandbox at start-up, not at the first request.
    keys = load_keys(settings)

    async def wechat_ctx(app: web.Application) -> AsyncIterator[None]:
        clock = SystemClock()
        store = WechatStore(app[DB], clock)
        await store.ensure_indexes()
        app[WECHAT] = Wechat(
            settings=settings,
            keys=keys,
            store=store,
            notifier=app[NOTIFIER],
            faults=app[FAULTS],
            clock=clock,
            ids=domain.Ids(),
        )
        app[NOTIFIER].register_signer("wechat", notify.signer(app[WECHAT]))
        yield

    async def settle(app: web.Application, stop: asyncio.Event) -> None:
        await settler.run(app[WECHAT], stop)

    app.cleanup_ctx.append(wechat_ctx)
    app.cleanup_ctx.append(background("wechat-settler", settle))

    r = app.router
    r.add_get("/sns/jscode2session", login.jscode2session)
    r.add_post("/sandbox/wechat/login-codes", login.issue_login_code)
    r.add_get("/cgi-bin/token", wxacode.cgi_token)
    r.add_post("/cgi-bin/stable_token", wxacode.stable_token)
    r.add_post("/wxa/getwxacodeunlimit", wxacode.getwxacodeunlimit)
    r.add_post("/sandbox/wechat/access-tokens/{token}/expire", wxacode.expire_token)
    r.add_post("/sandbox/wechat/pay", transactions.buyer_pay)
    r.add_post("/sandbox/wechat/refunds/{out_refund_no}/settle", refunds.settle_action)
    r.add_post("/sandbox/wechat/transfers/{out_bill_no}/confirm", transfers.confirm)
    r.add_post("/sandbox/wechat/transfers/{out_bill_no}/settle", transfers.settle_action)
    r.add_post("/sandbox/wechat/transfers/{out_bill_no}/bank-return", transfers.bank_return)
    r.add_get("/sandbox/wechat/accounts/{mchid}", funds.account_view)
    r.add_post("/sandbox/wechat/withdrawals/{out_request_no}/settle", funds.settle_action)
    r.add_post("/sandbox/wechat/withdrawals/{out_request_no}/bank-return", funds.bank_return)
    r.add_post("/sandbox/wechat/profitsharing/{out_order_no}/settle", profitsharing.settle_action)

    r.add_get("/v3/certificates", v3.route(transactions.certificates))
    r.add_post("/v3/pay/transactions/jsapi", v3.route(transactions.jsapi))
    r.add_get("/v3/pay/transactions/out-trade-no/{out_trade_no}", v3.route(transactions.query_by_out_trade_no))
    r.add_get("/v3/pay/transactions/id/{transaction_id}", v3.route(transactions.query_by_transaction_id))
    r.add_post("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", v3.route(transactions.close))
    r.add_post("/v3/refund/domestic/refunds", v3.route(refunds.request_refund))
    r.add_get("/v3/refund/domestic/refunds/{out_refund_no}", v3.route(refunds.query_refund))
    r.add_post(TRANSFER_BILLS, v3.route(transfers.create))
    r.add_get(TRANSFER_BILLS + "/out-bill-no/{out_bill_no}", v3.route(transfers.query_by_out_bill_no))
    r.add_get(TRANSFER_BILLS + "/transfer-bill-no/{transfer_bill_no}", v3.route(transfers.query_by_transfer_bill_no))
    r.add_post(TRANSFER_BILLS + "/out-bill-no/{out_bill_no}/cancel", v3.route(transfers.cancel))
    r.add_post(PARTNER + "/jsapi", v3.route(partner.jsapi))
    r.add_get(PARTNER + "/out-trade-no/{out_trade_no}", v3.route(partner.query_by_out_trade_no))
    r.add_get(PARTNER + "/id/{transaction_id}", v3.route(partner.query_by_transaction_id))
    r.add_post(PARTNER + "/out-trade-no/{out_trade_no}/close", v3.route(partner.close))
    r.add_post(ECOMMERCE + "/refunds/apply", v3.route(refunds.apply_ecommerce))
    r.add_get(ECOMMERCE + "/refunds/out-refund-no/{out_refund_no}", v3.route(refunds.query_ecommerce))
    r.add_get(ECOMMERCE + "/refunds/id/{refund_id}", v3.route(refunds.query_ecommerce_by_id))
    r.add_post(ECOMMERCE + "/profitsharing/orders", v3.route(profitsharing.split))
    r.add_get(ECOMMERCE + "/profitsharing/orders", v3.route(profitsharing.query_split))
    r.add_get(ECOMMERCE + "/profitsharing/orders/{transaction_id}/amounts", v3.route(profitsharing.amounts))
    r.add_post(ECOMMERCE + "/profitsharing/finish-order", v3.route(profitsharing.finish_order))
    r.add_post(ECOMMERCE + "/profitsharing/returnorders", v3.route(profitsharing.return_order))
    r.add_get(ECOMMERCE + "/profitsharing/returnorders", v3.route(profitsharing.query_return))
    r.add_get(ECOMMERCE + "/fund/balance/{sub_mchid}", v3.route(funds.balance))
    r.add_post(ECOMMERCE + "/fund/withdraw", v3.route(funds.withdraw))
    r.add_get(ECOMMERCE + "/fund/withdraw/out-request-no/{out_request_no}", v3.route(funds.query_by_out_request_no))
    r.add_get(ECOMMERCE + "/fund/withdraw/{withdraw_id}", v3.route(funds.query_by_withdraw_id))
    setup_merchants(app)  # 二级商户进件 and settlement cards (before the catch-all)
    r.add_route("*", "/v3/{tail:.*}", v3.not_found)
