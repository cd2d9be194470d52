"""A sample consumer process: tallies each counter.incremented event once, and always fails on counter.poisoned.

Run as `python -m tests.support.consumer_app` with the ServiceSettings environment.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from shared.bus import Consumer, command_id_for, idempotent
from shared.events import Envelope
from shared.http.app import READINESS, create_app
from shared.service import BUS, DB, background, bus_context, mongo_context, serve
from shared.settings import ServiceSettings
from shared.streams import StreamStore, execute
from shared.telemetry import setup_telemetry
from tests.support.counter import TALLY


async def _ready() -> None:
    return None


async def _not_yet() -> None:
    raise RuntimeError("consumer not started yet")


def build_app(settings: ServiceSettings) -> web.Application:
    app = create_app(settings.service_name)
    app[READINESS]["consumer"] = _not_yet
    app.cleanup_ctx.append(mongo_context(settings))
    app.cleanup_ctx.append(bus_context(settings))
    name = settings.service_name

    async def consume(app: web.Application, stop: asyncio.Event) -> None:
        store = StreamStore(app[DB])
        await store.ensure_indexes()

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

        consumer = Consumer(
            app[BUS],
            name,
            {
                "counter.incremented.v1": idempotent(app[DB], name, on_incremented),
                "counter.poisoned.v1": on_poisoned,
            },
            prefetch=settings.consumer_prefetch,
            max_attempts=settings.consumer_max_attempts,
            retry_delays_s=settings.consumer_retry_delays_s,
        )
        await consumer.start()
        app[READINESS]["consumer"] = _ready
        await stop.wait()
        await consumer.stop()

    app.cleanup_ctx.append(background("consumer", consume))
    return app


def main() -> None:
    settings = ServiceSettings.load()
    setup_telemetry(
        settings.service_name, otlp_endpoint=settings.otel_exporter_otlp_endpoint, enabled=settings.otel_enabled
    )
    asyncio.run(serve(build_app(settings), settings))


if __name__ == "__main__":
    main()
