"""Idempotency-Key leases on FerretDB: a key left `running` by a request that died is taken over by one retry once
its lease has run out; a key whose request is still within its lease keeps answering 409 request_in_progress."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from shared.clock import ManualClock
from shared.http.app import create_app, json_response, read_json
from shared.http.idempotency import IdempotencyStore
from shared.mongo import Database

LEASE_S = 30.0


@dataclass
class Command:
    """The command behind the route: counts its runs; a run can be made to hang, as in a process that died."""

    runs: int = 0
    hang: asyncio.Event | None = None
    fail: bool = False
    pause_s: float = 0.0

    async def __call__(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        self.runs += 1
        run = self.runs
        if self.hang is not None:
            hang, self.hang = self.hang, None
            await hang.wait()
        if self.fail:
            self.fail = False
            raise RuntimeError("the command failed")
        if self.pause_s:
            await asyncio.sleep(self.pause_s)
        return json_response({"run": run, "by": body["by"]}, 201)


@dataclass
class Rig:
    client: TestClient[web.Request, web.Application]
    clock: ManualClock
    command: Command
    db: Database

    async def post(self, by: int = 1, key: str = "k-1") -> tuple[int, dict[str, object], bool]:
        resp = await self.client.post("/things", json={"by": by}, headers={"Idempotency-Key": key})
        return resp.status, await resp.json(), resp.headers.get("Idempotent-Replayed") == "true"


@pytest.fixture
async def rig(db: Database) -> AsyncIterator[Rig]:
    clock = ManualClock()
    store = IdempotencyStore(db, lease_s=LEASE_S, clock=clock)
    await store.ensure_indexes()
    command = Command()

    async def handler(request: web.Request) -> web.Response:
        return await store.run(request, "usr_1", lambda: command(request))

    app = create_app("idempotency-test")
    app.router.add_post("/things", handler)
    async with TestClient(TestServer(app)) as client:
        yield Rig(client, clock, command, db)


@dataclass
class Hung:
    """A first request that started its command and does not finish it, as if its process had been killed."""

    task: asyncio.Task[tuple[int, dict[str, object], bool]]
    event: asyncio.Event

    async def wake(self) -> None:
        """Let it finish after all (a process that was only slow), so the test leaves nothing running."""
        self.event.set()
        await self.task


async def start_and_die(rig: Rig) -> Hung:
    event = asyncio.Event()
    rig.command.hang = event
    task = asyncio.create_task(rig.post())
    for _ in range(500):
        if rig.command.runs:
            return Hung(task, event)
        await asyncio.sleep(0.01)
    raise AssertionError("the first request never started its command")


async def test_a_running_key_within_its_lease_still_answers_409(rig: Rig) -> None:
    hung = await start_and_die(rig)
    rig.clock.advance(LEASE_S - 1)
    status, body, _ = await rig.post()
    assert status == 409
    assert body["error"]["code"] == "request_in_progress"  # type: ignore[index]
    assert rig.command.runs == 1
    await hung.wake()


async def test_a_key_left_running_past_its_lease_is_taken_over_once(rig: Rig) -> None:
    hung = await start_and_die(rig)
    rig.clock.advance(LEASE_S + 1)
    status, body, replayed = await rig.post()
    assert (status, body, replayed) == (201, {"run": 2, "by": 1}, False)
    # Later retries replay the takeover's result; nothing runs a third time.
    for _ in range(3):
        rig.clock.advance(LEASE_S + 1)
        assert await rig.post() == (201, {"run": 2, "by": 1}, True)
    assert rig.command.runs == 2
    await hung.wake()


async def test_two_concurrent_takeovers_of_a_stale_key_run_the_command_once(rig: Rig) -> None:
    hung = await start_and_die(rig)
    rig.clock.advance(LEASE_S + 1)
    rig.command.pause_s = 0.2  # the winner is still running while the others arrive
    results = await asyncio.gather(*(rig.post() for _ in range(8)))
    statuses = sorted(status for status, _, _ in results)
    assert rig.command.runs == 2  # the dead first attempt and exactly one takeover
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    winners = [body for status, body, replayed in results if status == 201 and not replayed]
    assert winners == [{"run": 2, "by": 1}]
    assert all(body["error"]["code"] == "request_in_progress" for status, body, _ in results if status == 409)  # type: ignore[index]
    await hung.wake()


async def test_a_stale_key_retried_with_another_body_is_still_409_reused(rig: Rig) -> None:
    hung = await start_and_die(rig)
    rig.clock.advance(LEASE_S + 1)
    status, body, _ = await rig.post(by=2)
    assert status == 409
    assert body["error"]["code"] == "idempotency_key_reused"  # type: ignore[index]
    assert rig.command.runs == 1
    await hung.wake()


async def test_a_failed_attempt_releases_the_key_for_the_next_retry(rig: Rig) -> None:
    rig.command.fail = True
    status, body, _ = await rig.post()
    assert (status, body["error"]["code"]) == (500, "internal_error")  # type: ignore[index]
    assert await rig.post() == (201, {"run": 2, "by": 1}, False)
    assert await rig.post() == (201, {"run": 2, "by": 1}, True)


async def test_a_key_ending_like_a_generation_is_a_key_of_its_own(rig: Rig) -> None:
    hung = await start_and_die(rig)  # key "k-1", left running
    rig.clock.advance(LEASE_S + 1)
    assert (await rig.post(key="k-1#2"))[0] == 201  # another key, not k-1's second attempt
    assert (await rig.post())[:2] == (201, {"run": 3, "by": 1})  # k-1 is still taken over
    await hung.wake()


def _raw_post(port: int, headers: dict[str, str]) -> tuple[int, bytes]:
    """http.client sends header values as latin-1: bytes that are not UTF-8 (aiohttp's client would refuse them)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/things", body=b'{"by": 1}', headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


async def test_an_idempotency_key_that_is_not_utf8_is_422_and_runs_nothing(rig: Rig) -> None:
    port = rig.client.server.port
    assert port is not None
    status, body = await asyncio.to_thread(_raw_post, port, {"Idempotency-Key": "k-\xff\xfe"})
    assert status == 422
    assert json.loads(body)["error"]["details"] == {"Idempotency-Key": "not UTF-8 text"}
    assert rig.command.runs == 0
