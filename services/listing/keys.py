"""Listing's typed application keys, in one place: what the app wires and the handlers read."""

from __future__ import annotations

from aiohttp import web

from services.listing.catalog_feed import CatalogFeed
from services.listing.store import ListingStore
from services.listing.usecases import Listing

LISTING = web.AppKey("listing", Listing)
STORE = web.AppKey("listing_store", ListingStore)
CATALOG = web.AppKey("listing_catalog", CatalogFeed)
