"""Wallet's typed application keys, in one place (the app sets them up; handlers read them)."""

from __future__ import annotations

from aiohttp import web

from services.wallet.store import WalletStore
from services.wallet.usecases import Wallet
from shared.http.idempotency import IdempotencyStore
from shared.streams import StreamStore

WALLET = web.AppKey("wallet", Wallet)
STORE = web.AppKey("wallet_store", WalletStore)
STREAMS = web.AppKey("wallet_streams", StreamStore)
IDEMPOTENCY = web.AppKey("wallet_idempotency", IdempotencyStore)
