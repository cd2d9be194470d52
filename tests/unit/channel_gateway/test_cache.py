"""The catalog's micro-cache: one computation per key and moment, shared by concurrent misses; errors not kept."""

from __future__ import annotations

import asyncio

import pytest

from services.channel_gateway.cache import MicroCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_page_is_computed_once_per_moment_and_again_after_it() -> None:
    clock = Clock()
    cache = MicroCache(1.0, clock=clock)
    calls: list[str] = []

    async def compute() -> bytes:
        calls.append("x")
        return f"page {len(calls)}".encode()

    assert await cache.get("mp:{}", compute) == b"page 1"
    clock.now += 0.9
    assert await cache.get("mp:{}", compute) == b"page 1"
    assert await cache.get("app:{}", compute) == b"page 2"  # another audience, another page
    clock.now += 0.2
    assert await cache.get("mp:{}", compute) == b"page 3"
    assert (cache.hits, cache.misses) == (1, 3)


async def test_concurrent_misses_share_one_computation() -> None:
    cache = MicroCache(1.0)
    started = 0
    release = asyncio.Event()

    async def compute() -> bytes:
        nonlocal started
        started += 1
        await release.wait()
        return b"page"

    waiting = [asyncio.create_task(cache.get("k", compute)) for _ in range(32)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting) == [b"page"] * 32
    assert started == 1


async def test_a_failure_is_not_kept_and_reaches_every_waiter() -> None:
    cache = MicroCache(1.0)
    release = asyncio.Event()

    async def failing() -> bytes:
        await release.wait()
        raise RuntimeError("listing unavailable")

    waiting = [asyncio.create_task(cache.get("k", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def fine() -> bytes:
        return b"page"

    assert await cache.get("k", fine) == b"page"  # the failure was not cached


async def test_no_ttl_means_no_cache_and_the_oldest_entries_go_first() -> None:
    off = MicroCache(0)
    count = 0

    async def compute() -> bytes:
        nonlocal count
        count += 1
        return b"x"

    await off.get("k", compute)
    await off.get("k", compute)
    assert count == 2
    small = MicroCache(10.0, max_entries=2)
    for key in ("a", "b", "c"):
        await small.get(key, compute)
    assert list(small._entries) == ["b", "c"]
    with pytest.raises(KeyError):
        small._entries["a"]
