"""python -m services.payment: settings → telemetry → app (HTTP, notifications, consumer, relay, reconciler)."""

from services.payment.app import build_app
from services.payment.settings import PaymentSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service(PaymentSettings, build_app)
