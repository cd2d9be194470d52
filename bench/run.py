"""make bench: listing's and payment's hot paths as ratios to this machine's baselines, measured in the same run.

Baselines: one FerretDB `insert_one` (the unit every stream append pays) and one HTTP round trip to /healthz of the
same service process. Each figure is a median over sequential calls unless it says otherwise.
Run: `make bench` (starts the infrastructure; starts its own listing, payment and sandbox processes). The wallet's
books are measured in-process (bench/wallet.py), after the rest; then the channel gateway (bench/gateway.py: its own
sandbox, listing, payment and gateway processes, and a bare aiohttp process as its baseline). Last, the suite-level
figures: append → consumer effect against raw aio-pika (bench/events.py), and checkouts through the gateway to
escrow for 60 s with the whole suite's memory at rest (bench/checkouts.py, bench/rss.py).
`make bench BENCH_ARGS='--suite-only'` measures only the suite-level figures and the gateway's catalog page;
`--checkout-s N` shortens the checkout load.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench import checkouts as checkouts_bench
from bench import events as events_bench
from bench import rss
from bench.catalog import measure_catalog
from bench.catalog import report as catalog_report
from bench.gateway import measure_gateway
from bench.gateway import report as gateway_report
from bench.sizes import SIZES, measure_sizes, payment_body, report
from bench.timing import median_ms, median_sync_ms
from bench.wallet import measure_wallet
from bench.wallet import report as wallet_report
from shared.mongo import make_client
from shared.protocols import alipay as ap
from shared.protocols import wechatpay as wp
from tests.support.infra import AMQP_URL, MONGO_URL, create_test_vhost, delete_test_vhost, start_infra
from tests.support.processes import ServiceProcess
from tests.support.providers import ALIPAY_APP_ID, KEYS, MCHID, provider_env

TOKEN = "bench-internal-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def service(module: str, name: str, env: dict[str, str], logs: Path) -> ServiceProcess:
    common = {
        "SERVICE_NAME": name,
        "MONGO_URL": MONGO_URL,
        "MONGO_DB": f"bench_{name}",
        "AMQP_URL": AMQP_URL,
        "INTERNAL_TOKEN": TOKEN,
        "OTEL_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    return ServiceProcess(module, {**common, **env}, logs)


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--suite-only", action="store_true", help="only the suite-level figures and the catalog page")
    parser.add_argument("--checkout-s", type=float, default=checkouts_bench.DURATION_S, help="checkout load, seconds")
    parser.add_argument("--items", type=int, default=None, help="items published for the checkout load")
    args = parser.parse_args(argv)
    start_infra()
    # Its own RabbitMQ vhost, like a test session: a running `make run` suite never sees the bench's events.
    create_test_vhost()
    try:
        if not args.suite_only:
            await measure()
        await measure_suite(args.checkout_s, args.suite_only, args.items)
    finally:
        delete_test_vhost()


async def measure_suite(checkout_s: float, with_catalog: bool, items: int | None = None) -> None:
    """The figures of the whole product: the catalog page through the gateway (when not measured already), append →
    effect in another process, checkouts to escrow, and the suite's memory at rest."""
    run = uuid.uuid4().hex[:6]
    logs = Path(tempfile.mkdtemp(prefix="fishbridge-bench-"))
    client = make_client(MONGO_URL)
    try:
        insert = await _insert_baseline(client, run)
    finally:
        client.close()
    print("\nSuite level (bench/events.py, bench/checkouts.py, bench/rss.py), each part printed once measured:")
    if with_catalog:
        gateway = await measure_gateway(run, insert)
        print("The channel gateway over HTTP (A: a bare aiohttp JSON endpoint in the same run):")
        print("\n".join(gateway_report(gateway)), flush=True)
    events = await events_bench.measure_events(run, logs)
    print("Append → consumer effect in another process:")
    print("\n".join(events_bench.report(events)), flush=True)
    checkouts = await checkouts_bench.measure_checkouts(logs, checkout_s, items=items)
    print("Checkouts through the gateway to escrow, counted from the wallet's ledger:")
    print("\n".join(checkouts_bench.report(checkouts)))
    print("The whole suite's memory at rest (its six processes, the RabbitMQ node it uses and the infrastructure):")
    print("\n".join(rss.report(checkouts.memory, checkouts_bench.GOAL_RSS_MB)), flush=True)


async def _insert_baseline(client: Any, run: str) -> float:
    scratch = client[f"bench_scratch_{run}"]["docs"]
    counter = iter(range(10**9))
    try:
        return await median_ms(lambda: scratch.insert_one({"_id": next(counter), "x": 1}), 300)
    finally:
        await client.drop_database(f"bench_scratch_{run}")


async def measure() -> None:
    run = uuid.uuid4().hex[:6]
    logs = Path(tempfile.mkdtemp(prefix="fishbridge-bench-"))
    client = make_client(MONGO_URL)
    sandbox = service("services.sandbox", f"bench-sandbox-{run}", {"TIME_SCALE": "0.001"}, logs)
    listing = service("services.listing", f"bench-listing-{run}", {}, logs)
    payment = service("services.payment", f"bench-payment-{run}", {}, logs)
    payment.env.update({**provider_env(sandbox.url), "PUBLIC_BASE_URL": payment.url})
    rows: list[tuple[str, float, str]] = []
    try:
        for process in (sandbox, listing, payment):
            await process.start()
        scratch = client[f"bench_scratch_{run}"]["docs"]
        counter = iter(range(10**9))
        insert = await median_ms(lambda: scratch.insert_one({"_id": next(counter), "x": 1}), 300)
        async with aiohttp.ClientSession(headers=AUTH) as http:

            async def post(url: str, body: Any, expect: int = 201) -> Any:
                async with http.post(url, json=body) as resp:
                    assert resp.status == expect, await resp.text()
                    return await resp.json()

            async def get(url: str, **params: Any) -> Any:
                async with http.get(url, params=params or None) as resp:
                    assert resp.status == 200, await resp.text()
                    return await resp.json()

            health = await median_ms(lambda: get(f"{listing.url}/healthz"), 300)
            api = f"{listing.url}/internal/v1"
            seller = f"usr_bench_{run}"
            await post(f"{api}/shops", {"seller_id": seller, "name": "bench"})
            # First, while the databases are empty: the hot paths at 500, 5,000 and 50,000 stream entries.
            sized = await measure_sizes(
                client[listing.env["MONGO_DB"]],
                client[payment.env["MONGO_DB"]],
                http,
                api,
                f"{payment.url}/internal/v1",
                seller,
            )
            words = ["九成新", "苹果", "手机", "Kindle", "相机", "自行车", "书", "耳机"]
            items = []
            for i in range(400):
                body = {
                    "seller_id": seller,
                    "title": f"{words[i % 8]} {words[(i * 3) % 8]} 第{i}件",
                    "category": "数码",
                    "condition": "good",
                    "price_fen": 1000 + i * 7,
                    "city": "杭州",
                }
                item = await post(f"{api}/items", body)
                await post(f"{api}/items/{item['id']}/publish", {"seller_id": seller}, 200)
                items.append(item["id"])
            pending = iter(items)
            order = await median_ms(
                lambda: post(
                    f"{api}/orders",
                    {"item_id": next(pending), "buyer_id": "usr_b", "channel": "app", "payment_method": "alipay"},
                ),
                100,
            )
            contested = items[-1]
            started = time.perf_counter()
            replies = await asyncio.gather(
                *(
                    http.post(
                        f"{api}/orders",
                        json={
                            "item_id": contested,
                            "buyer_id": f"usr_{i}",
                            "channel": "app",
                            "payment_method": "alipay",
                        },
                    )
                    for i in range(50)
                )
            )
            rush = (time.perf_counter() - started) * 1000
            winners = sum(r.status == 201 for r in replies)
            for r in replies:
                r.release()
            pay = await median_ms(lambda: post(f"{payment.url}/internal/v1/payments", payment_body(seller)), 100)

        # The catalog at 500 / 5,000 / 50,000 items on sale, from fresh listing processes on a database of its own.
        catalog_env = service("services.listing", f"bench-catalog-{run}", {}, logs).env
        catalog = await measure_catalog(client, {k: v for k, v in catalog_env.items() if k != "HTTP_PORT"}, TOKEN, logs)

        merchant_key = wp.load_private_key((KEYS / "TEST_ONLY_wechatpay_merchant_private.pem").read_bytes())
        wechat_sign = median_sync_ms(
            lambda: wp.build_authorization(
                method="POST",
                url="/v3/pay/transactions/jsapi",
                body=b'{"a":1}',
                mchid=MCHID,
                serial_no="SERIAL",
                private_key=merchant_key,
                timestamp=int(time.time()),
                nonce="n" * 32,
            ),
            500,
        )
        app_key = ap.load_private_key((KEYS / "TEST_ONLY_alipay_app_private.pem").read_bytes())
        alipay_sign = median_sync_ms(
            lambda: ap.build_request_params(
                app_id=ALIPAY_APP_ID,
                method="alipay.trade.query",
                biz_content={"out_trade_no": "x"},
                private_key=app_key,
                now=datetime.now(UTC),
            ),
            500,
        )

        # The wallet's books at 500 and 50,000 entries per account: in-process, no service process, its own databases.
        wallet = await measure_wallet(run, insert)

        rows = [
            ("baseline: FerretDB insert_one", insert, "1.00 (B)"),
            ("baseline: HTTP GET /healthz (listing)", health, f"{health / insert:.2f} B"),
            ("listing: place an order (reserve + order, 2 appends)", order, f"{order / insert:.2f} B"),
            (f"listing: 50 concurrent buyers, one item ({winners} winner), total", rush, f"{rush / insert:.2f} B"),
            ("payment: create an Alipay app payment (sign + 2 appends)", pay, f"{pay / insert:.2f} B"),
            ("payment: WeChat request signature (RSA-2048)", wechat_sign, f"{wechat_sign / insert:.2f} B"),
            ("payment: Alipay request signature (RSA2)", alipay_sign, f"{alipay_sign / insert:.2f} B"),
        ]
    finally:
        for process in (payment, listing, sandbox):
            process.stop()
        for name in await client.list_database_names():
            if name.startswith("bench_") and run in name:
                await client.drop_database(name)
        client.close()
    # The gateway, once the processes above are gone: a catalog page under 32 connections against a bare aiohttp
    # endpoint, and its checkout, from processes of its own.
    gateway = await measure_gateway(run, insert)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'median ms':>10}  ratio to B")
    for label, ms, ratio in rows:
        print(f"{label:<{width}}  {ms:>10.3f}  {ratio}")
    print(f"\nThe figures above were measured after these, on databases of {SIZES[-1]:,}+ stream entries:")
    for line in report(sized, insert):
        print(line)
    print("\nThe catalog, from a listing replica's search index over HTTP:")
    for line in catalog_report(catalog, insert):
        print(line)
    print("\nThe wallet's books, in-process on FerretDB (a hold and a withdrawal as their accounts grow):")
    for line in wallet_report(wallet):
        print(line)
    print("\nThe channel gateway over HTTP (A: a bare aiohttp JSON endpoint in the same run, B as above):")
    for line in gateway_report(gateway):
        print(line)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
    sys.exit(0)
