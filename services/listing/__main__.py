"""python -m services.listing: settings → telemetry → app (HTTP, consumers, relay and timers in one loop)."""

from services.listing.app import build_app
from services.listing.settings import ListingSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service(ListingSettings, build_app)
