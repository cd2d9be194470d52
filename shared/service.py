"""Running a service process: Mongo and RabbitMQ as cleanup contexts, background workers, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

from aiohttp import web

from shared.bus import Bus, Consumer, Handler
from shared.http.app import READINESS
from shared.mongo import Database, make_client, ping
from shared.relay import Relay, SlotLease
from shared.settings import ServiceSettings, SettingsError
from shared.streams import StreamStore
from shared.telemetry import setup_telemetry, shutdown_telemetry

log = logging.getLogger("shared.service")
T = TypeVar("T", bound=ServiceSettings)

DB = web.AppKey("db", Database)
BUS = web.AppKey("bus", Bus)
STOP = web.AppKey("stop", asyncio.Event)


def mongo_context(settings: ServiceSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        client = make_client(settings.mongo_url, appname=settings.service_name)
        db = client[settings.mongo_db]
        app[DB] = db
        app[READINESS]["mongo"] = lambda: ping(db)
        yield
        client.close()

    return ctx


def bus_context(settings: ServiceSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        bus = await Bus.connect(settings.amqp_url, name=settings.service_name)
        app[BUS] = bus
        app[READINESS]["rabbitmq"] = bus.check
        yield
        await bus.close()

    return ctx


async def _consumer_not_started() -> None:
    raise RuntimeError("event consumer not started yet")


async def _consumer_started() -> None:
    return None


def consumer_context(
    settings: ServiceSettings, handlers: Callable[[web.Application], Mapping[str, Handler]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The service's event consumer (`<service>.events`) as a background worker; /readyz waits until it consumes."""
    name = settings.service_name

    async def consume(app: web.Application, stop: asyncio.Event) -> None:
        consumer = Consumer(
            app[BUS],
            name,
            handlers(app),
            prefetch=settings.consumer_prefetch,
            max_attempts=settings.consumer_max_attempts,
            retry_delays_s=settings.consumer_retry_delays_s,
        )
        await consumer.start()
        app[READINESS]["consumer"] = _consumer_started
        await stop.wait()
        await consumer.stop()

    worker = background("consumer", consume)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[READINESS]["consumer"] = _consumer_not_started
        async for _ in worker(app):
            yield

    return ctx


def relay_context(
    settings: ServiceSettings, streams: Callable[[web.Application], StreamStore]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The outbox relay of the service's streams, leased so one replica publishes at a time."""

    async def relay(app: web.Application, stop: asyncio.Event) -> None:
        lease = SlotLease(app[DB], "relay", slot_s=5)
        await Relay(
            streams(app), app[BUS], producer=settings.service_name, poll_s=settings.relay_poll_s, lease=lease
        ).run(stop)

    return background("relay", relay)


def leased_periodic(
    name: str, interval_s: float, work: Callable[[web.Application], Awaitable[Mapping[str, int]]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Run `work` every `interval_s` on the one replica holding the `name` lease (timers, reconcilers)."""

    async def loop(app: web.Application, stop: asyncio.Event) -> None:
        lease = SlotLease(app[DB], name, slot_s=max(5.0, interval_s * 2))
        while not stop.is_set():
            if await lease.holds():
                done = await work(app)
                if any(done.values()):
                    log.info("%s: %s", name, dict(done))
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                pass

    return background(name, loop)


def background(
    name: str, work: Callable[[web.Application, asyncio.Event], Awaitable[None]]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running `work(app, stop)` until shutdown; a crash is logged and the worker restarted."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        stop = asyncio.Event()

        async def supervise() -> None:
            while not stop.is_set():
                try:
                    await work(app, stop)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background worker %s crashed; restarting in 1s", name)
                    await asyncio.sleep(1)

        task = asyncio.create_task(supervise(), name=name)
        yield
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()

    return ctx


async def serve(app: web.Application, settings: ServiceSettings) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly (cleanup contexts run, spans are flushed)."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info("%s listening on %s:%s", settings.service_name, settings.http_host, settings.http_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("%s shutting down", settings.service_name)
    await runner.cleanup()
    shutdown_telemetry()


def run_service(settings_cls: type[T], build_app: Callable[[T], web.Application]) -> None:
    """A service's `python -m` entry point: settings (exit 2 with the bad variables named) → telemetry → serve."""
    try:
        settings = settings_cls.load()
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
