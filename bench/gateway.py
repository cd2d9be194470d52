"""The channel gateway's hot paths over HTTP, from processes of its own (sandbox, listing, payment, the gateway and a
bare aiohttp baseline, on free ports and databases `bench_*_<run>`, never the `make run` suite's):

(a) a catalog page, `GET /mp/v1/catalog?limit=20` over a few hundred items on sale, under 32 concurrent connections
    (an aiohttp client load loop in this process), as requests/s against a bare aiohttp JSON endpoint answering the
    same page's bytes from a process of its own (bench/json_baseline.py), measured in alternating rounds in the same
    run; with p50/p99 latency. Goal (reported, not asserted): at least 0.25x the baseline's requests/s, p99 <= 20 ms.
    Beside them, the listing call behind the gateway under the same load, the gateway with its catalog micro-cache
    off (a page asked for the first time in its second: every request a call to listing), and all three on one
    connection.
(b) a checkout, `POST /app/v1/orders` (Alipay, an Idempotency-Key each), p50/p99 over sequential checkouts of
    distinct items by one signed-in buyer, beside the same two internal calls made directly (listing `POST /orders`,
    payment `POST /payments`): what the gateway adds to a checkout.

The load client shares the machine with the processes it measures (and listing behind the gateway), as a real
client would not: on a small machine the figures are a floor. Telemetry export is off, as in the other benches
(spans are still made: every answer carries its traceparent). RabbitMQ: a vhost of the bench's own.
Standalone: `FISHBRIDGE_DATA=/work/main/.data .venv/bin/python -m bench.gateway` (the infrastructure must be running).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from shared.mongo import make_client
from tests.support.infra import AMQP_BASE_URL, MONGO_URL, VHOST_PREFIX, rabbitmqctl, start_infra
from tests.support.processes import ServiceProcess
from tests.support.providers import provider_env

TOKEN = "bench-internal-token-0123456789"
ADMIN_TOKEN = "bench-admin-token-0123456789"
SANDBOX_APP_SECRET = "sandbox-wechat-app-secret-000000"  # the sandbox's AppSecret (services/sandbox/settings.py)
# Nothing listens on the discard port: refund and the wallet are not called on these paths, and a call would be 503.
UNUSED_URL = "http://127.0.0.1:9"
CONNECTIONS = 32
ROUNDS = 2  # the load targets measured in turn, this many times each (the order reversed every other round)
ROUND_S = 4.0  # seconds of load per round and target
WARMUP_S = 1.0  # seconds of load before each round, not counted
CATALOG_ITEMS = 300  # on sale while the catalog is measured (plus the checkouts' items, on sale too by then)
CHECKOUTS = 100  # sequential checkouts through the gateway, and as many direct
SHOPS = 4
GOAL_RATIO = 0.25
GOAL_P99_MS = 20.0
WORDS = ("九成新", "苹果", "手机", "Kindle", "相机", "自行车", "书", "耳机")


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


@dataclass
class Load:
    """What a load loop saw: requests answered 200 in `elapsed_s`, their latencies (ms), any other answers."""

    requests: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, other: Load) -> None:
        self.requests += other.requests
        self.elapsed_s += other.elapsed_s
        self.latencies_ms += other.latencies_ms
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0


@dataclass
class Latencies:
    samples_ms: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 0.99)


@dataclass
class GatewayBench:
    items_on_sale: int
    page_bytes: int
    baseline: Load
    catalog: Load
    listing: Load
    single: list[Latencies]  # baseline, gateway, listing: one connection, sequential
    checkout: Latencies
    direct: Latencies
    uncached: Load  # the gateway with its catalog micro-cache off
    insert_ms: float | None = None

    @property
    def ratio(self) -> float:
        return self.catalog.rps / self.baseline.rps


async def load(url: str, seconds: float, connections: int = CONNECTIONS, headers: dict[str, str] | None = None) -> Load:
    """`connections` workers, each on its own kept-alive connection, GET `url` back to back for `seconds`."""
    result = Load()
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                async with http.get(url) as resp:
                    await resp.read()
                    status = resp.status
                if status == 200:
                    result.requests += 1
                    result.latencies_ms.append((time.perf_counter() - sent) * 1000)
                else:
                    result.errors[str(status)] = result.errors.get(str(status), 0) + 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        result.elapsed_s = time.perf_counter() - started
    return result


async def sequential(call: Callable[[], Coroutine[Any, Any, Any]], n: int) -> Latencies:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return Latencies(samples)


@contextlib.contextmanager
def own_vhost(run: str) -> Iterator[str]:
    """A RabbitMQ vhost of the bench's own (the AMQP URL of it): the processes of `bench/run.py`, which may still be
    running, and a `make run` suite never see this bench's events, nor it theirs. The pid in the name lets a test
    session remove it if this process dies first (tests/support/infra.py)."""
    vhost = f"{VHOST_PREFIX}{os.getpid()}-gw{run}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield AMQP_BASE_URL.rstrip("/") + "/" + urllib.parse.quote(vhost, safe="")
    finally:
        rabbitmqctl("delete_vhost", vhost)


def process(module: str, name: str, db: str, logs: Path, amqp_url: str, **env: str) -> ServiceProcess:
    common = {
        "SERVICE_NAME": name,
        "MONGO_URL": MONGO_URL,
        "MONGO_DB": db,
        "AMQP_URL": amqp_url,
        "INTERNAL_TOKEN": TOKEN,
        "OTEL_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    return ServiceProcess(module, {**common, **env}, logs)


async def measure_gateway(run: str | None = None, insert_ms: float | None = None) -> GatewayBench:
    """Start the processes, fill the catalog, measure (a) and (b), stop everything and drop the databases."""
    run = run or uuid.uuid4().hex[:6]
    with own_vhost(run) as amqp_url:
        return await _measure(run, insert_ms, amqp_url)


async def _measure(run: str, insert_ms: float | None, amqp: str) -> GatewayBench:
    logs = Path(tempfile.mkdtemp(prefix="fishbridge-bench-gateway-"))
    dbs = {name: f"bench_gw_{name}_{run}" for name in ("sandbox", "listing", "payment", "gateway")}
    sandbox = process("services.sandbox", f"bench-gw-sandbox-{run}", dbs["sandbox"], logs, amqp, TIME_SCALE="0.001")
    listing = process("services.listing", f"bench-gw-listing-{run}", dbs["listing"], logs, amqp)
    payment = process("services.payment", f"bench-gw-payment-{run}", dbs["payment"], logs, amqp)
    payment.env.update({**provider_env(sandbox.url), "PUBLIC_BASE_URL": payment.url})
    gateway_env = dict(
        **provider_env(sandbox.url),
        LISTING_URL=listing.url,
        PAYMENT_URL=payment.url,
        REFUND_URL=UNUSED_URL,
        WALLET_URL=UNUSED_URL,
        WECHAT_MP_API_BASE=sandbox.url,
        WECHAT_APP_SECRET=SANDBOX_APP_SECRET,
        ADMIN_TOKEN=ADMIN_TOKEN,
        SESSION_SECRET=f"bench-session-secret-{uuid.uuid4().hex}",
        # The checkouts are one buyer's, back to back: far more than a person's limit.
        CHECKOUT_PER_USER="100000",
        CHECKOUT_PER_CLIENT="100000",
        LOGIN_PER_CLIENT="100000",
    )
    gateway = process("services.channel_gateway", f"bench-gw-gateway-{run}", dbs["gateway"], logs, amqp, **gateway_env)
    # The same gateway with its catalog micro-cache off: every page a call to listing (a catalog of distinct pages).
    uncached = process(
        "services.channel_gateway",
        f"bench-gw-uncached-{run}",
        dbs["gateway"],
        logs,
        amqp,
        **gateway_env,
        CATALOG_CACHE_S="0",
    )
    page_file = logs / "catalog-page.json"
    baseline = process("bench.json_baseline", f"bench-gw-baseline-{run}", "unused", logs, amqp)
    baseline.env["BASELINE_BODY_FILE"] = str(page_file)
    started: list[ServiceProcess] = []
    client = make_client(MONGO_URL)
    try:
        for p in (sandbox, listing, payment, gateway, uncached):
            started.append(p)  # stopped at the end even if it never got ready
            await p.start()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as internal:
            for_checkout, for_direct = await fill_catalog(internal, f"{listing.url}/internal/v1", run)
            on_sale = CATALOG_ITEMS + len(for_checkout) + len(for_direct)
            async with aiohttp.ClientSession() as http:
                catalog_url = f"{gateway.url}/mp/v1/catalog?limit=20"
                async with http.get(catalog_url) as resp:
                    assert resp.status == 200, await resp.text()
                    page = await resp.read()
                assert len(json.loads(page)["items"]) == 20, page[:500]
                page_file.write_bytes(page)
                started.append(baseline)
                await baseline.start()
                behind = f"{listing.url}/internal/v1/catalog?limit=20"
                targets = [
                    (f"{baseline.url}/json", {}),
                    (catalog_url, {}),
                    (behind, {"Authorization": f"Bearer {TOKEN}"}),
                    (f"{uncached.url}/mp/v1/catalog?limit=20", {}),
                ]
                base, cat, lst, unc = await alternate(*targets)
                single = [await one_connection(http, url, headers) for url, headers in targets[:3]]
                buyer = await app_login(http, gateway.url, sandbox.url)
                checkout, direct = await interleaved(
                    gateway_checkout(http, gateway.url, buyer, for_checkout),
                    direct_checkout(internal, listing.url, payment.url, for_direct),
                    CHECKOUTS,
                )
        return GatewayBench(on_sale, len(page), base, cat, lst, single, checkout, direct, unc, insert_ms)
    finally:
        for p in reversed(started):
            p.stop()
        for name in dbs.values():
            await client.drop_database(name)
        client.close()


async def fill_catalog(http: aiohttp.ClientSession, api: str, run: str) -> tuple[list[str], list[str]]:
    """SHOPS sellers' items on sale through listing's API: CATALOG_ITEMS for the catalog, and CHECKOUTS each for the
    gateway's and the direct checkouts (on sale too while the catalog is measured). Answers the two lists of ids."""

    async def post(path: str, body: dict[str, Any], expect: int = 201) -> Any:
        async with http.post(f"{api}{path}", json=body) as resp:
            assert resp.status == expect, await resp.text()
            return await resp.json()

    sellers = [f"usr_benchgw{run}s{n}" for n in range(SHOPS)]
    for n, seller in enumerate(sellers):
        await post("/shops", {"seller_id": seller, "name": f"小铺{n}"})
    ids = []
    for i in range(CATALOG_ITEMS + 2 * CHECKOUTS):
        seller = sellers[i % SHOPS]
        body = {
            "seller_id": seller,
            "title": f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} 第{i}件",
            "description": "自用 九成新",
            "category": "数码",
            "condition": "good",
            "price_fen": 1000 + i * 7,
            "city": "杭州",
        }
        item = await post("/items", body)
        await post(f"/items/{item['id']}/publish", {"seller_id": seller}, 200)
        ids.append(item["id"])
    return ids[CATALOG_ITEMS : CATALOG_ITEMS + CHECKOUTS], ids[CATALOG_ITEMS + CHECKOUTS :]


async def alternate(*targets: tuple[str, dict[str, str]]) -> list[Load]:
    """ROUNDS rounds of each target (url, headers), in turn, reversing the order every other round, so a busy
    machine's drift falls on all alike."""
    totals = [Load() for _ in targets]
    order = list(range(len(targets)))
    for r in range(ROUNDS):
        for i in order if r % 2 == 0 else order[::-1]:
            url, headers = targets[i]
            await load(url, WARMUP_S, headers=headers)
            totals[i].add(await load(url, ROUND_S, headers=headers))
    return totals


async def one_connection(http: aiohttp.ClientSession, url: str, headers: dict[str, str], n: int = 300) -> Latencies:
    """Sequential requests on one connection: the time one request takes with the machine otherwise idle."""

    async def get() -> None:
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            await resp.read()

    return await sequential(get, n)


async def app_login(http: aiohttp.ClientSession, gateway: str, sandbox: str) -> str:
    async with http.post(f"{sandbox}/sandbox/alipay/auth-codes", json={}) as resp:
        assert resp.status == 200, await resp.text()
        auth_code = (await resp.json())["auth_code"]
    async with http.post(f"{gateway}/app/v1/session", json={"auth_code": auth_code}) as resp:
        assert resp.status == 201, await resp.text()
        token: str = (await resp.json())["token"]
    return token


async def interleaved(
    first: Callable[[], Coroutine[Any, Any, Any]], second: Callable[[], Coroutine[Any, Any, Any]], n: int
) -> tuple[Latencies, Latencies]:
    """`n` sequential calls of each, one of one then one of the other, so a busy machine's drift falls on both."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(n):
        for call, into in ((first, samples[0]), (second, samples[1])):
            started = time.perf_counter()
            await call()
            into.append((time.perf_counter() - started) * 1000)
    return Latencies(samples[0]), Latencies(samples[1])


def gateway_checkout(
    http: aiohttp.ClientSession, gateway: str, token: str, items: list[str]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Each call checks out the next item through the gateway, as the app does (Alipay, a key of its own)."""
    pending = iter(items)

    async def checkout() -> None:
        item = next(pending)
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{item}"}
        body = {"item_id": item, "payment_method": "alipay"}
        async with http.post(f"{gateway}/app/v1/orders", json=body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            answer = await resp.json()
        assert answer["payment"]["alipay_order_string"], answer

    return checkout


def direct_checkout(
    http: aiohttp.ClientSession, listing: str, payment: str, items: list[str]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Each call makes the two calls the gateway makes for a checkout, straight to listing and payment."""
    pending = iter(items)

    async def checkout() -> None:
        item = next(pending)
        body = {
            "item_id": item,
            "buyer_id": "usr_benchgwdirect",
            "channel": "app",
            "payment_method": "alipay",
            "request_id": f"bench:{item}",
        }
        async with http.post(f"{listing}/internal/v1/orders", json=body) as resp:
            assert resp.status == 201, await resp.text()
            order = await resp.json()
        terms = {
            "order_id": order["id"],
            "buyer_id": order["buyer_id"],
            "seller_id": order["seller_id"],
            "channel": "app",
            "method": "alipay",
            "amount_fen": order["amount_fen"],
            "expires_at": order["expires_at"],
            "description": order["item"]["title"][:127],
            "alipay_user_id": "2088000000009999",
        }
        async with http.post(f"{payment}/internal/v1/payments", json=terms) as resp:
            assert resp.status in (200, 201), await resp.text()
            created = await resp.json()
        assert created["alipay_order_string"], created

    return checkout


def report(bench: GatewayBench) -> list[str]:
    def verdict(ok: bool) -> str:
        return "ok" if ok else "OVER"

    base, cat = bench.baseline, bench.catalog
    rows = [
        (
            f"baseline: bare aiohttp GET /json (the same {bench.page_bytes:,} bytes), {CONNECTIONS} connections",
            base,
            "1.00 (A)",
        ),
        (
            f"gateway: GET /mp/v1/catalog?limit=20 ({bench.items_on_sale} on sale), {CONNECTIONS} connections",
            cat,
            f"{bench.ratio:.2f} A   goal ≥{GOAL_RATIO} {verdict(bench.ratio >= GOAL_RATIO)},"
            f" p99 ≤{GOAL_P99_MS:g} ms {verdict(percentile(cat.latencies_ms, 0.99) <= GOAL_P99_MS)}",
        ),
        (
            f"gateway, micro-cache off (CATALOG_CACHE_S=0: every page asks listing), {CONNECTIONS} connections",
            bench.uncached,
            f"{bench.uncached.rps / base.rps:.2f} A",
        ),
        (
            f"behind it: listing GET /internal/v1/catalog?limit=20, {CONNECTIONS} connections",
            bench.listing,
            f"{bench.listing.rps / base.rps:.2f} A",
        ),
    ]
    width = max(len(r[0]) for r in rows) + 2
    lines = [
        f"{'under load (' + str(ROUNDS) + ' rounds of ' + f'{ROUND_S:g} s each)':<{width}}"
        f"{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}   req/s ratio"
    ]
    for label, measured, ratio in rows:
        p50 = statistics.median(measured.latencies_ms)
        p99 = percentile(measured.latencies_ms, 0.99)
        lines.append(f"{label:<{width}}{measured.rps:>9.0f}{p50:>9.2f}{p99:>9.2f}   {ratio}")
        if measured.errors:
            lines.append(f"  answers other than 200: {measured.errors}")
    base1, gw1, lst1 = bench.single
    lines.append(
        f"one connection, sequential, p50 (p99) ms: baseline {base1.p50:.2f} ({base1.p99:.2f}), gateway"
        f" {gw1.p50:.2f} ({gw1.p99:.2f}), listing behind it {lst1.p50:.2f} ({lst1.p99:.2f})"
    )
    b = bench.insert_ms
    seq = [
        (f"gateway: POST /app/v1/orders (Alipay), {len(bench.checkout.samples_ms)} sequential", bench.checkout),
        ("direct: listing POST /orders + payment POST /payments", bench.direct),
    ]
    width = max(width, max(len(s[0]) for s in seq) + 2)
    lines.append(f"{'checkout, sequential':<{width}}{'p50 ms':>9}{'p99 ms':>9}" + ("   p50 in B" if b else ""))
    for label, lat in seq:
        lines.append(f"{label:<{width}}{lat.p50:>9.2f}{lat.p99:>9.2f}" + (f"   {lat.p50 / b:>8.2f} B" if b else ""))
    lines.append(
        f"checkout p50 through the gateway - direct: {bench.checkout.p50 - bench.direct.p50:+.2f} ms"
        f" ({bench.checkout.p50 / bench.direct.p50:.2f}x; the session, rate limits, the Idempotency-Key record, the"
        " user, the models; the two interleaved, one of each in turn)"
    )
    return lines


async def main() -> None:
    start_infra()
    bench = await measure_gateway()
    for line in report(bench):
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
