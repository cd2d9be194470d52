"""A sandbox process (provider time scaled 1000×) and a merchant endpoint in the test process that records the
notifications it receives and answers as each test tells it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from shared.mongo import Client
from tests.support.infra import MONGO_URL, OTLP_ENDPOINT
from tests.support.processes import ServiceProcess, free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Merchant:
    """The merchant's notify endpoint: records every POST; answers with `reply` (status, body) per path."""

    url: str
    received: list[Received] = field(default_factory=list)
    replies: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def answer(self, path: str, *replies: tuple[int, str]) -> None:
        """Queue the answers for the next requests to `path`; afterwards the default (200, "success")."""
        self.replies.setdefault(path, []).extend(replies)

    def to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@dataclass
class Sandbox:
    process: ServiceProcess
    merchant: Merchant

    @property
    def url(self) -> str:
        return self.process.url

    async def fault(self, **rule: Any) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.url}/sandbox/faults", json=rule) as resp:
                assert resp.status == 201, await resp.text()
                data: dict[str, Any] = await resp.json()
                return data

    async def notifications(self, key: str) -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.url}/sandbox/notifications", params={"key": key}) as resp:
                assert resp.status == 200, await resp.text()
                items: list[dict[str, Any]] = (await resp.json())["items"]
                return items


@pytest.fixture(scope="package")
async def merchant() -> AsyncIterator[Merchant]:
    port = free_port()
    state = Merchant(url=f"http://127.0.0.1:{port}")

    async def receive(request: web.Request) -> web.Response:
        state.received.append(Received(request.path, dict(request.headers), await request.read()))
        queued = state.replies.get(request.path)
        status, body = queued.pop(0) if queued else (200, "success")
        return web.Response(status=status, text=body)

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield state
    await runner.cleanup()


@pytest.fixture(scope="package")
async def sandbox(infra: None, mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    db_name = f"t_{uuid.uuid4().hex[:8]}_sandbox"
    process = ServiceProcess(
        "services.sandbox",
        {
            "SERVICE_NAME": "sandbox",
            "MONGO_URL": MONGO_URL,
            "MONGO_DB": db_name,
            "TIME_SCALE": "0.001",
            "DEFAULT_NOTIFY_URL": f"{merchant.url}/notify/default",
            "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
        },
        log_dir,
    )
    await process.start()
    try:
        yield Sandbox(process, merchant)
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)


@pytest.fixture(autouse=True)
async def _clear_faults(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "sandbox" in request.fixturenames:
        sandbox: Sandbox = request.getfixturevalue("sandbox")
        async with aiohttp.ClientSession() as http:
            await http.delete(f"{sandbox.url}/sandbox/faults")
