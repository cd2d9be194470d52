"""A sample service built only from the shared library: HTTP commands append to counter streams; a relay publishes.

Run as `python -m tests.support.producer_app` with the ServiceSettings environment.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from shared.errors import NotFound
from shared.http.app import create_app, internal_auth_middleware, json_response, parse_body
from shared.http.idempotency import IdempotencyStore
from shared.service import DB, bus_context, mongo_context, relay_context, serve
from shared.settings import ServiceSettings
from shared.streams import StreamStore, execute, load
from shared.telemetry import setup_telemetry
from tests.support.counter import COUNTER, Close, Increment, Orphan, Poison

STORE = web.AppKey("store", StreamStore)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)


async def increment(request: web.Request) -> web.Response:
    counter_id = request.match_info["counter_id"]

    async def run() -> web.Response:
        command = await parse_body(request, Increment)
        outcome = await execute(request.app[STORE], COUNTER, counter_id, command)
        return json_response({"counter_id": counter_id, "value": outcome.state.value, "seq": outcome.seq}, 201)

    return await request.app[IDEMPOTENCY].run(request, "sample", run, required=False)


async def simple(request: web.Request) -> web.Response:
    commands = {"poison": Poison(), "orphan": Orphan(), "close": Close()}
    counter_id = request.match_info["counter_id"]
    outcome = await execute(request.app[STORE], COUNTER, counter_id, commands[request.match_info["action"]])
    return json_response({"counter_id": counter_id, "seq": outcome.seq}, 201)


async def get_counter(request: web.Request) -> web.Response:
    counter_id = request.match_info["counter_id"]
    state, seq = await load(request.app[STORE], COUNTER, counter_id)
    if seq == 0:
        raise NotFound(f"no counter {counter_id}")
    return json_response({"counter_id": counter_id, "value": state.value, "seq": seq, "closed": state.closed})


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail")


def build_app(settings: ServiceSettings) -> web.Application:
    app = create_app(
        settings.service_name, middlewares=[internal_auth_middleware(settings.internal_token.get_secret_value())]
    )
    app.cleanup_ctx.append(mongo_context(settings))
    app.cleanup_ctx.append(bus_context(settings))

    async def stores(app: web.Application):  # type: ignore[no-untyped-def]
        app[STORE] = StreamStore(app[DB])
        app[IDEMPOTENCY] = IdempotencyStore(app[DB])
        await app[STORE].ensure_indexes()
        await app[IDEMPOTENCY].ensure_indexes()
        yield

    app.cleanup_ctx.append(stores)

    app.cleanup_ctx.append(relay_context(settings, lambda app: app[STORE]))
    app.router.add_post("/counters/{counter_id}/increments", increment)
    app.router.add_post("/counters/{counter_id}/{action:poison|orphan|close}", simple)
    app.router.add_get("/counters/{counter_id}", get_counter)
    app.router.add_get("/crash", crash)
    return app


def main() -> None:
    settings = ServiceSettings.load()
    setup_telemetry(
        settings.service_name, otlp_endpoint=settings.otel_exporter_otlp_endpoint, enabled=settings.otel_enabled
    )
    asyncio.run(serve(build_app(settings), settings))


if __name__ == "__main__":
    main()
