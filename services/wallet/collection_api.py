"""Wallet's internal API for WeChat collection (being written)."""

from __future__ import annotations

from aiohttp import web

from services.wallet.collection import Collection

COLLECTION = web.AppKey("collection", Collection)


def add_collection_routes(app: web.Application) -> None:
    return None
