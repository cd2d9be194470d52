"""python -m services.refund: settings → telemetry → app (HTTP, consumer, relay, timers)."""

from services.refund.app import build_app
from services.refund.settings import RefundSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service(RefundSettings, build_app)
