"""python -m services.sandbox: settings → telemetry → app."""

from __future__ import annotations

import asyncio
import sys

from services.sandbox.app import build_app
from services.sandbox.settings import SandboxSettings
from shared.service import serve
from shared.settings import SettingsError
from shared.telemetry import setup_telemetry


def main() -> None:
    try:
        settings = SandboxSettings.load()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    setup_telemetry(
        settings.service_name,
        otlp_endpoint=settings.otel_exporter_otlp_endpoint,
        enabled=settings.otel_enabled,
        log_level=settings.log_level,
    )
    asyncio.run(serve(build_app(settings), settings))


if __name__ == "__main__":
    main()
