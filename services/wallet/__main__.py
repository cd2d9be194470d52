"""python -m services.wallet: settings → telemetry → app (HTTP, consumer, relay, provider worker, reconciler)."""

from services.wallet.app import build_app
from services.wallet.settings import WalletSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service(WalletSettings, build_app)
