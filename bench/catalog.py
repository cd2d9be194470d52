"""The catalog at 500, 5,000 and 50,000 items on sale, answered by a listing replica's search index over HTTP.

Each size is reached by bulk-inserting items (and their shops) into a listing database's projections; then a fresh
listing process starts on it, which rebuilds its index from the projection before it answers (the time it took to
be ready is reported), and the same requests are measured: the first page, page 2 by cursor, and a `q` search.
Then publish → searchable: items drafted and published over HTTP, each polled for until the catalog shows it.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.timing import median_ms
from shared.mongo import Client
from tests.support.processes import ServiceProcess

SIZES = (500, 5_000, 50_000)
SHOPS = 200
WORDS = (
    ("苹果手机", "iPhone 13 Pro 256G"),
    ("小米手机", "12 Pro 九成新"),
    ("捷安特自行车", "山地车 27速"),
    ("Kindle", "Paperwhite 电子书"),
    ("优衣库羽绒服", "男款 L码"),
    ("《三体》", "全集 刘慈欣"),
    ("索尼相机", "A7M3 单机身"),
    ("宜家书桌", "白色 120cm"),
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class CatalogBench:
    ms: dict[str, dict[int, float]] = field(default_factory=dict)
    ready_s: dict[int, float] = field(default_factory=dict)
    searchable_ms: list[float] = field(default_factory=list)

    def add(self, measure: str, size: int, value: float) -> None:
        self.ms.setdefault(measure, {})[size] = value


def _item(n: int) -> dict[str, Any]:
    head, tail = WORDS[n % len(WORDS)]
    at = T0 + timedelta(seconds=n)
    shop = n % SHOPS
    return {
        "_id": f"itm_fill{n:07d}",
        "item_id": f"itm_fill{n:07d}",
        "shop_id": f"shp_fill{shop:04d}",
        "seller_id": f"usr_fill{shop:04d}",
        "title": f"{head} {tail} 第{n}件",
        "description": "自用 九成新 可小刀" if n % 3 else "全新未拆封 发票齐全",
        "category": ("手机", "数码", "自行车", "图书", "服饰", "家具")[n % 6],
        "condition": ("new", "like_new", "good", "fair")[n % 4],
        "price_fen": 1_000 + (n * 7919) % 500_000,
        "images": [],
        "city": ("杭州", "上海", "北京", "深圳")[n % 4],
        "status": "on_sale",
        "order_id": None,
        "created_at": at,
        "updated_at": at,
        "published_at": at,
        "reserved_at": None,
        "seq": 2,
    }


def _shop(n: int) -> dict[str, Any]:
    return {
        "_id": f"shp_fill{n:04d}",
        "shop_id": f"shp_fill{n:04d}",
        "seller_id": f"usr_fill{n:04d}",
        "name": f"小铺{n}",
        "level": 1 + n % 8,
        "wechat_collection": "active" if n % 3 == 0 else "not_invited",
        "created_at": T0,
        "seq": 1,
    }


async def measure_catalog(client: Client, env: dict[str, str], token: str, logs: Path) -> CatalogBench:
    db_name = env["MONGO_DB"]
    db = client[db_name]
    result = CatalogBench()
    await db["shops"].insert_many([_shop(n) for n in range(SHOPS)])
    have = 0
    headers = {"Authorization": f"Bearer {token}"}
    index_dir = tempfile.mkdtemp(prefix="fishbridge-bench-catalog-")
    for size in SIZES:
        for start in range(have, size, 5_000):
            await db["items"].insert_many([_item(n) for n in range(start, min(size, start + 5_000))])
        have = size
        process = ServiceProcess("services.listing", {**env, "CATALOG_INDEX_DIR": index_dir}, logs)
        started = time.perf_counter()
        await process.start(timeout_s=300)
        result.ready_s[size] = time.perf_counter() - started
        try:
            await _measure_at(size, f"{process.url}/internal/v1", headers, result)
        finally:
            process.stop()
    return result


async def _measure_at(size: int, api: str, headers: dict[str, str], result: CatalogBench) -> None:
    async with aiohttp.ClientSession(headers=headers) as http:

        async def get(**params: Any) -> Any:
            async with http.get(f"{api}/catalog", params=params) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()

        first = await get(limit=20)
        assert len(first["items"]) == 20
        result.add("catalog first page (20 cards)", size, await median_ms(lambda: get(limit=20), 200))
        cursor = (await get(limit=20, sort="price_asc"))["next_cursor"]
        page2 = await median_ms(lambda: get(limit=20, sort="price_asc", cursor=cursor), 200)
        result.add("catalog page 2 by cursor (price_asc)", size, page2)
        assert (await get(limit=20, q="苹果手机"))["items"]
        result.add("search q=苹果手机 (BM25)", size, await median_ms(lambda: get(limit=20, q="苹果手机"), 200))
        if size == SIZES[-1]:
            result.searchable_ms = await _publish_to_searchable(http, api, get, 50)


async def _publish_to_searchable(http: aiohttp.ClientSession, api: str, get: Any, n: int) -> list[float]:
    """For `n` items: from the publish reply to the first catalog answer that holds the item, in ms."""
    seller = "usr_bench_catalog"
    async with http.post(f"{api}/shops", json={"seller_id": seller, "name": "bench"}) as resp:
        assert resp.status in (201, 409), await resp.text()
    waits = []
    for i in range(n):
        tag = f"bench{i}x{int(time.time() * 1000) % 10**8}"
        body = {"seller_id": seller, "title": f"{tag} 自行车", "category": "自行车", "condition": "good"}
        async with http.post(f"{api}/items", json={**body, "price_fen": 10_000, "city": "杭州"}) as resp:
            item = await resp.json()
        async with http.post(f"{api}/items/{item['id']}/publish", json={"seller_id": seller}) as resp:
            assert resp.status == 200, await resp.text()
        published = time.perf_counter()
        while not (await get(q=tag, limit=5))["items"]:
            if time.perf_counter() - published > 10:
                raise AssertionError(f"{item['id']} not searchable after 10 s")
        waits.append((time.perf_counter() - published) * 1000)
    return waits


def report(bench: CatalogBench, baseline_ms: float) -> list[str]:
    width = max(len(m) for m in bench.ms) + 2
    head = "".join(f"{s:>11,}" for s in SIZES)
    lines = [f"{'median ms at N items on sale':<{width}}{head}   {SIZES[-1]:,}/{SIZES[0]:,}   at {SIZES[-1]:,}, B"]
    for measure, by_size in bench.ms.items():
        cells = "".join(f"{by_size[s]:>11.3f}" for s in SIZES)
        growth = by_size[SIZES[-1]] / by_size[SIZES[0]]
        lines.append(f"{measure:<{width}}{cells}   {growth:>10.2f}x   {by_size[SIZES[-1]] / baseline_ms:>8.2f} B")
    ready = ", ".join(f"{s:,}: {t:.1f} s" for s, t in bench.ready_s.items())
    lines.append(f"listing ready (index rebuilt from the projection) after start: {ready}")
    if bench.searchable_ms:
        waits = sorted(bench.searchable_ms)
        p99 = waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))]
        lines.append(
            f"publish -> searchable over HTTP ({len(waits)} items, at {SIZES[-1]:,}): "
            f"median {statistics.median(waits):.1f} ms, p99 {p99:.1f} ms, max {waits[-1]:.1f} ms"
        )
    return lines
