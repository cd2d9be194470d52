"""Payment's typed application keys, in one place (the app sets them up; handlers read them)."""

from __future__ import annotations

from aiohttp import web

from services.payment.store import PaymentStore
from services.payment.usecases import Payments
from shared.providers.wechatpay import WechatPayClient
from shared.streams import StreamStore

PAYMENTS = web.AppKey("payments", Payments)
STORE = web.AppKey("payment_store", PaymentStore)
STREAMS = web.AppKey("payment_streams", StreamStore)
WECHAT_CLIENT = web.AppKey("wechatpay_client", WechatPayClient)
