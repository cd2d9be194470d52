"""Refund's typed application keys."""

from __future__ import annotations

from aiohttp import web

from services.refund.usecases import Refunds
from shared.http.idempotency import IdempotencyStore
from shared.streams import StreamStore

REFUNDS = web.AppKey("refunds", Refunds)
STREAMS = web.AppKey("refund_streams", StreamStore)
IDEMPOTENCY = web.AppKey("refund_idempotency", IdempotencyStore)
