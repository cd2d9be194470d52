"""A sample consumer process: tallies each counter.incremented event once, and always fails on counter.poisoned.

Run as `python -m tests.support.consumer_app` with the ServiceSettings environment.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from shared.bus import Handler, command_id_for, idempotent
from shared.events import Envelope
from shared.http.app import create_app
from shared.service import DB, bus_context, consumer_context, mongo_context, serve
from shared.settings import ServiceSettings
from shared.streams import StreamStore, execute
from shared.telemetry import setup_telemetry
from tests.support.counter import TALLY


def build_app(settings: ServiceSettings) -> web.Application:
    app = create_app(settings.service_name)
    app.cleanup_ctx.append(mongo_context(settings))
    app.cleanup_ctx.append(bus_context(settings))
    name = settings.service_name

    async def indexes(app: web.Application) -> AsyncIterator[None]:
        await StreamStore(app[DB]).ensure_indexes()
        yield

    app.cleanup_ctx.append(indexes)

    def table(app: web.Application) -> dict[str, Handler]:
        store = StreamStore(app[DB])

        async def on_incremented(envelope: Envelope) -> None:
            await execute(
                store,
                TALLY,
                f"tally-{envelope.aggregate_id}",
                envelope.event_id,
                command_id=command_id_for(name, envelope),
                causation_id=envelope.event_id,
            )

        async def on_poisoned(envelope: Envelope) -> None:
            raise RuntimeError(f"poisoned on purpose: {envelope.aggregate_id}")

        return {
            "counter.incremented.v1": idempotent(app[DB], name, on_incremented),
            "counter.poisoned.v1": on_poisoned,
        }

    app.cleanup_ctx.append(consumer_context(settings, table))
    return app


def main() -> None:
    settings = ServiceSettings.load()
    setup_telemetry(
        settings.service_name, otlp_endpoint=settings.otel_exporter_otlp_endpoint, enabled=settings.otel_enabled
    )
    asyncio.run(serve(build_app(settings), settings))


if __name__ == "__main__":
    main()
