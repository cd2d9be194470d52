"""Calling a service's internal API in tests: the internal token, JSON in and out, and the expected status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support.processes import ServiceProcess

TOKEN = "test-internal-token-0123456789"


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class InternalApi:
    process: ServiceProcess
    http: aiohttp.ClientSession

    async def call(self, method: str, path: str, body: Any = None, **params: Any) -> Reply:
        async with self.http.request(
            method,
            f"{self.process.url}/internal/v1{path}",
            json=body,
            params=params or None,
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as resp:
            return Reply(resp.status, await resp.json())

    async def ok(self, method: str, path: str, body: Any = None, expect: int = 200, **params: Any) -> Any:
        reply = await self.call(method, path, body, **params)
        assert reply.status == expect, reply.body
        return reply.body
