"""The sandbox notifier asks its database what is due, then sleeps until the next retry (no fixed 50 ms poll)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp import web

from services.sandbox.faults import FaultRegistry
from services.sandbox.notifier import Notifier
from shared.clock import ManualClock
from tests.support.memory import MemoryDatabase, as_database


def notifier(clock: ManualClock | None = None) -> Notifier:
    return Notifier(as_database(MemoryDatabase()), FaultRegistry(), time_scale=1.0, timeout_s=1.0, clock=clock)


async def test_what_is_due_comes_oldest_first_and_the_next_retry_time_with_it() -> None:
    clock = ManualClock()
    n = notifier(clock)
    first = (await n.enqueue("wechat", topic="t", key="k1", url="http://x/", body="{}", headers={}))[0]
    clock.advance(1)
    second = (await n.enqueue("wechat", topic="t", key="k2", url="http://x/", body="{}", headers={}))[0]
    later = (await n.enqueue("wechat", topic="t", key="k3", url="http://x/", body="{}", headers={}))[0]
    await n.collection.update_one({"_id": later}, {"$set": {"next_at": clock.now() + timedelta(seconds=30)}})
    due, soonest = await n._due()
    assert [d.id for d in due] == [first, second]
    assert soonest == clock.now() + timedelta(seconds=30)
    await n.collection.update_one({"_id": later}, {"$set": {"state": "delivered"}})
    assert [d.id for d in (await n._due())[0]] == [first, second]
    assert (await n._due())[1] is None  # nothing pending later
    for doc_id in (first, second):
        await n.collection.update_one({"_id": doc_id}, {"$set": {"state": "delivered"}})
    assert await n._due() == ([], None)


async def test_an_idle_notifier_asks_its_database_seldom_and_an_enqueue_wakes_it() -> None:
    received: list[bytes] = []
    app = web.Application()

    async def notify(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=204)

    app.router.add_post("/notify", notify)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    n = notifier()
    asks = 0
    due = n._due

    async def counted() -> tuple[list[object], object]:
        nonlocal asks
        asks += 1
        return await due()  # type: ignore[return-value]

    n._due = counted  # type: ignore[method-assign,assignment]
    stop = asyncio.Event()
    task = asyncio.create_task(n.run(stop, idle_s=0.5))
    try:
        await asyncio.sleep(1.2)
        assert 2 <= asks <= 4  # every 0.5 s while idle (a 50 ms poll would have asked two dozen times)
        await n.enqueue("wechat", topic="t", key="k", url=f"http://127.0.0.1:{port}/notify", body="{}", headers={})
        for _ in range(50):
            if received:
                break
            await asyncio.sleep(0.01)
        assert received == [b"{}"]  # delivered at once, not at the next idle look
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=2)
        await runner.cleanup()
