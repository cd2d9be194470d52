"""The whole suite as real processes of one test module's own — the sandbox, listing (its search index in a directory),
payment, the wallet, refund and the gateway — on a RabbitMQ node of its own (tests/support/broker.py), so that fault
tests may restart the broker, kill a service or delete its index without disturbing any other test or a `make run`
suite. Buyers act through the gateway and the sandbox, as their phones do; what the services recorded is read from
their databases and internal APIs only to check the outcome.

`Suite.assert_whole` is what every fault test ends with: each purchase paid once and held in escrow once, nothing
left in an outbox, a queue or a dead-letter queue, and the wallet's ledger check (through the gateway) clean."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from services.wallet.escrow import escrow_id
from shared.mongo import Client, Database
from tests.integration.gateway.conftest import (
    Answer,
    GatewayClient,
    Login,
    gateway_env,
    onboarded_seller,
    publish_item,
)
from tests.integration.wallet.conftest import wallet_env
from tests.support.broker import PrivateBroker, remove_orphans
from tests.support.infra import MONGO_URL, OTLP_ENDPOINT, eventually
from tests.support.internal_api import InternalApi, service_env
from tests.support.processes import ServiceProcess
from tests.support.providers import provider_env

SERVICES = ("listing", "payment", "wallet", "refund")  # those with streams and an event queue


@dataclass
class Purchase:
    """A mini-program buyer's checkout of one item, under one Idempotency-Key."""

    buyer: Login
    item: dict[str, Any]
    key: str
    order_id: str = ""
    payment: dict[str, Any] = field(default_factory=dict)

    @property
    def payment_id(self) -> str:
        return str(self.payment["id"])

    @property
    def amount_fen(self) -> int:
        return int(self.item["price_fen"])


@dataclass
class Suite:
    broker: PrivateBroker
    processes: dict[str, ServiceProcess]
    gateway: GatewayClient
    http: aiohttp.ClientSession
    dbs: dict[str, Database]
    index_dir: Path
    seller: Login | None = None
    shop: dict[str, Any] = field(default_factory=dict)

    def api(self, service: str) -> InternalApi:
        return InternalApi(process=self.processes[service], http=self.http)

    def listing_replica(self, index_dir: Path) -> ServiceProcess:
        """Another replica of listing (its name, database and broker), with its search index in `index_dir`; not
        started, and the gateway does not call it."""
        listing = self.processes["listing"]
        env = {k: v for k, v in listing.env.items() if k != "HTTP_PORT"}
        env["CATALOG_INDEX_DIR"] = str(index_dir)
        replica = ServiceProcess("services.listing", env, listing.log_path.parent)
        replica.log_path = listing.log_path.with_suffix(".replica.log")
        return replica

    # ------------------------------------------------------------------------------------------- the sandbox

    async def fault(self, **rule: Any) -> dict[str, Any]:
        async with self.http.post(f"{self.gateway.sandbox_url}/sandbox/faults", json=rule) as resp:
            assert resp.status == 201, await resp.text()
            found: dict[str, Any] = await resp.json()
            return found

    async def faults(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.gateway.sandbox_url}/sandbox/faults") as resp:
            items: list[dict[str, Any]] = (await resp.json())["items"]
            return items

    async def clear_faults(self) -> None:
        async with self.http.delete(f"{self.gateway.sandbox_url}/sandbox/faults") as resp:
            assert resp.status < 300, await resp.text()

    async def onboard_seller(self) -> tuple[Login, dict[str, Any]]:
        """A seller onboarded for WeChat collection through the workbench, once listing and payment know it: they
        learn of the activation from the wallet's event, a moment later."""
        seller, shop = await onboarded_seller(self.gateway)
        await eventually(
            lambda: self.api("listing").ok("GET", f"/shops/{shop['id']}"),
            until=lambda s: s["wechat_collection"] == "active",
            what="listing knows the seller collects with WeChat",
        )
        await eventually(
            lambda: self.dbs["payment"]["payees"].find_one({"_id": seller.user_id}),
            until=bool,
            what="payment knows the payee",
        )
        return seller, shop

    # ---------------------------------------------------------------------------------------- buyer actions

    async def item(self, **fields: Any) -> dict[str, Any]:
        assert self.seller is not None
        return await publish_item(self.gateway, self.seller, **fields)

    async def ask_checkout(self, purchase: Purchase) -> Answer:
        """POST /mp/v1/orders under the purchase's key; a 201 fills in its order and payment."""
        reply = await self.gateway.request(
            "POST", "/mp/v1/orders", token=purchase.buyer.token, key=purchase.key, body={"item_id": purchase.item["id"]}
        )
        if reply.status == 201:
            purchase.order_id = reply.body["order"]["id"]
            purchase.payment = reply.body["payment"]
        return reply

    async def checkout(self, buyer: Login, item: dict[str, Any], *, timeout_s: float = 30.0) -> Purchase:
        """A checkout that answers 201 with WeChat's payment parameters; a 503 (a service or the provider away) is
        asked again under the same key, as the mini-program does."""
        purchase = Purchase(buyer=buyer, item=item, key=uuid.uuid4().hex)
        reply = await eventually(
            lambda: self.ask_checkout(purchase),
            until=lambda r: r.status != 503,
            timeout_s=timeout_s,
            what=f"the checkout of {item['id']}",
        )
        assert reply.status == 201, reply.body
        assert purchase.payment["status"] == "requires_action", purchase.payment
        return purchase

    async def pay(self, purchase: Purchase) -> None:
        """The buyer confirms wx.requestPayment."""
        prepay_id = purchase.payment["wechat_request_payment"]["package"].removeprefix("prepay_id=")
        await self.gateway.sandbox("/sandbox/wechat/pay", {"prepay_id": prepay_id, "openid": purchase.buyer.openid})

    async def buy(self, buyer: Login, item: dict[str, Any]) -> Purchase:
        """Check out and pay."""
        purchase = await self.checkout(buyer, item)
        await self.pay(purchase)
        return purchase

    # ------------------------------------------------------------------------------------ what was recorded

    async def event_types(self, service: str, stream_id: str) -> list[str]:
        cursor = self.dbs[service]["stream_entries"].find({"stream_id": stream_id}).sort("seq", 1)
        return [e["type"] async for entry in cursor for e in entry["events"]]

    async def payment_events(self, payment_id: str, event_type: str) -> list[dict[str, Any]]:
        cursor = self.dbs["payment"]["stream_entries"].find({"stream_id": payment_id}).sort("seq", 1)
        return [e async for entry in cursor for e in entry["events"] if e["type"] == event_type]

    async def payment_status(self, payment_id: str) -> str:
        found = await self.api("payment").ok("GET", f"/payments/{payment_id}")
        return str(found["status"])

    async def notifications_received(self, payment_id: str) -> list[dict[str, Any]]:
        """The provider notifications payment received for a payment."""
        return [doc async for doc in self.dbs["payment"]["notifications"].find({"key": payment_id})]

    async def ledger(self) -> dict[str, Any]:
        check: dict[str, Any] = await self.gateway.admin("GET", "/ledger/check")
        return check

    async def outboxes(self) -> dict[str, int]:
        return {s: await self.dbs[s]["stream_outbox"].count_documents({}) for s in SERVICES}

    async def queues(self) -> dict[str, int]:
        names = [f"{self.processes[s].env['SERVICE_NAME']}.events{tail}" for s in SERVICES for tail in ("", ".dlq")]
        return await self.broker.depths(*names)

    async def all_ready(self) -> dict[str, int]:
        """Each process's /readyz status."""
        statuses = {}
        for name, process in self.processes.items():
            try:
                async with self.http.get(f"{process.url}/readyz") as resp:
                    statuses[name] = resp.status
            except aiohttp.ClientError:
                statuses[name] = 0
        return statuses

    # ------------------------------------------------------------------------ nothing lost, nothing doubled

    async def assert_whole(self, purchases: list[Purchase], *, timeout_s: float = 60.0) -> dict[str, Any]:
        """Every purchase paid once and held in escrow once, every buyer with no order but theirs, nothing left in
        an outbox, a queue or a dead-letter queue, and the ledger check clean. The ledger check, for the report."""
        assert len({p.order_id for p in purchases}) == len(purchases), "a purchase listed twice"
        for p in purchases:
            await self._assert_paid_once(p, timeout_s)
        buyers = {p.buyer.user_id: p.buyer for p in purchases}
        for user_id, buyer in buyers.items():
            page = await self.gateway.ok("GET", "/mp/v1/orders", buyer, params={"limit": 100})
            mine = sorted(p.order_id for p in purchases if p.buyer.user_id == user_id)
            assert sorted(o["id"] for o in page["items"]) == mine, ("orders of", user_id, page["items"])
        await eventually(self.outboxes, until=lambda o: not any(o.values()), timeout_s=timeout_s, what="outboxes empty")
        queues = await eventually(
            self.queues,
            until=lambda q: not any(n for name, n in q.items() if not name.endswith(".dlq")),
            timeout_s=timeout_s,
            what="every event queue drained",
        )
        assert not any(queues.values()), ("dead letters", queues)
        check = await eventually(
            self.ledger,
            until=lambda c: c["ok"] and c["in_flight_transfers"] == 0,
            timeout_s=timeout_s,
            what="the ledger check clean, nothing in flight",
        )
        assert check["mismatches"] == [] and check["sum_fen"] == 0 and check["sum_zero"], check
        assert check["escrow_problems"] == [] and check["negative_accounts"] == [], check
        return check

    async def _assert_paid_once(self, p: Purchase, timeout_s: float) -> None:
        order = await eventually(
            lambda: self.gateway.ok("GET", f"/mp/v1/orders/{p.order_id}", p.buyer),
            until=lambda o: o["status"] == "paid",
            timeout_s=timeout_s,
            what=f"order {p.order_id} paid",
        )
        assert order["amount_fen"] == p.amount_fen
        item = await eventually(
            lambda: self.gateway.ok("GET", f"/mp/v1/items/{p.item['id']}"),
            until=lambda i: i["status"] == "sold",
            timeout_s=timeout_s,
            what=f"item {p.item['id']} sold",
        )
        assert item["purchasable"] is False
        # Payment: one success recorded, and the provider paid once (one out_trade_no, the payment's id).
        assert await self.payment_status(p.payment_id) == "succeeded"
        assert len(await self.payment_events(p.payment_id, "payment.succeeded")) == 1
        # Listing: the order paid once.
        assert (await self.event_types("listing", p.order_id)).count("order.paid") == 1
        # The wallet: one escrow held, by one hold transfer, each of its steps applied once on each account.
        wallet = self.api("wallet")
        escrow = await eventually(
            lambda: wallet.call("GET", f"/escrows/{p.payment_id}"),
            until=lambda r: r.status == 200 and r.body["status"] == "held",
            timeout_s=timeout_s,
            what=f"escrow of {p.payment_id} held",
        )
        assert (escrow.body["amount_fen"], escrow.body["held_fen"]) == (p.amount_fen, p.amount_fen), escrow.body
        assert (await self.event_types("wallet", escrow_id(p.payment_id))).count("wallet.escrow_held") == 1
        hold = f"trf_hold:{p.payment_id}"

        async def holds() -> list[tuple[str, str, int, bool]]:
            cursor = self.dbs["wallet"]["transfers"].find({"order_id": p.order_id, "reason": "payment_held"})
            return [(t["_id"], t["status"], t["amount_fen"], t.get("applied", False)) async for t in cursor]

        await eventually(  # the escrow is held first, then its transfer is made, posted, applied to both accounts
            holds,
            until=lambda found: found == [(hold, "posted", p.amount_fen, True)],
            timeout_s=timeout_s,
            what=f"one hold transfer posted for {p.payment_id}",
        )
        steps = [
            (e["payload"]["account_id"], e["payload"]["side"], e["payload"]["phase"])
            async for entry in self.dbs["wallet"]["stream_entries"].find({"events.payload.transfer_id": hold})
            for e in entry["events"]
            if e["type"] == "wallet.account_entry" and e["payload"]["transfer_id"] == hold
        ]
        assert len(steps) == len(set(steps)), ("a step of the hold applied twice", steps)
        assert sorted((side, phase) for _, side, phase in steps) == [
            ("credit", "pending"),
            ("credit", "posted"),
            ("debit", "pending"),
            ("debit", "posted"),
        ], steps


# ------------------------------------------------------------------------------------------------ starting it


@asynccontextmanager
async def running_suite(mongo: Client, log_dir: Path, name: str) -> AsyncIterator[Suite]:
    """The broker, the sandbox, the four services and the gateway, started (at once where they do not depend on each
    other), one seller onboarded for WeChat collection through the workbench; everything stopped and dropped after."""
    run = uuid.uuid4().hex[:8]
    remove_orphans()
    broker = PrivateBroker(log_dir)
    index_dir = Path(tempfile.mkdtemp(prefix=f"fishbridge-{name}-index-"))
    db_names = {s: f"t_{run}_{s}" for s in (*SERVICES, "sandbox", "gateway")}
    sandbox = ServiceProcess(
        "services.sandbox",
        {
            "SERVICE_NAME": f"{name}-sandbox-{run}",
            "MONGO_URL": MONGO_URL,
            "MONGO_DB": db_names["sandbox"],
            "TIME_SCALE": "0.001",
            "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
            "ALIPAY_ROYALTY_MAX_RATIO_PCT": "100",
            "WECHAT_PAY_KEY_MODE": "switching",
        },
        log_dir,
    )

    def env(service: str, **extra: str) -> dict[str, str]:
        return {**service_env(f"{name}-{service}-{run}", db_names[service]), "AMQP_URL": broker.url, **extra}

    processes = {"sandbox": sandbox}
    processes["listing"] = ServiceProcess("services.listing", env("listing", CATALOG_INDEX_DIR=str(index_dir)), log_dir)
    processes["payment"] = ServiceProcess(
        "services.payment",
        env(
            "payment",
            PROVIDER_TIMEOUT_S="1",
            PROVIDER_ATTEMPTS="3",
            PROVIDER_RETRY_DELAY_S="0.05",
            RECONCILE_AFTER_S="1.5",
            RECONCILE_INTERVAL_S="0.25",
            CLOSE_GRACE_S="0",
            **provider_env(sandbox.url),
        ),
        log_dir,
    )
    processes["payment"].env["PUBLIC_BASE_URL"] = processes["payment"].url
    wallet = wallet_env(f"{name}-wallet-{run}", db_names["wallet"], sandbox.url)
    processes["wallet"] = ServiceProcess("services.wallet", {**wallet, "AMQP_URL": broker.url}, log_dir)
    processes["wallet"].env["WALLET_PUBLIC_BASE_URL"] = processes["wallet"].url
    processes["refund"] = ServiceProcess("services.refund", env("refund", SWEEP_INTERVAL_S="0.2"), log_dir)
    services = {s: processes[s].url for s in SERVICES}
    limits = {
        "LOGIN_PER_CLIENT": "10000",
        "CHECKOUT_PER_CLIENT": "10000",
        "CHECKOUT_PER_USER": "1000",
        "SHARE_RESOLVES_PER_CLIENT": "100000",
        "SHARES_PER_USER": "1000",
    }
    gateway_name = f"{name}-gateway-{run}"
    processes["gateway"] = ServiceProcess(
        "services.channel_gateway",
        gateway_env(gateway_name, db_names["gateway"], sandbox.url, services, **limits),
        log_dir,
    )
    try:
        await asyncio.gather(broker.start(), sandbox.start())
        await asyncio.gather(*(processes[s].start() for s in SERVICES))
        await processes["gateway"].start()
        async with aiohttp.ClientSession() as http:
            gateway = GatewayClient(
                process=processes["gateway"],
                http=http,
                sandbox_url=sandbox.url,
                db=mongo[db_names["gateway"]],
                name=gateway_name,
                services=services,
            )
            suite = Suite(
                broker=broker,
                processes=processes,
                gateway=gateway,
                http=http,
                dbs={s: mongo[db] for s, db in db_names.items()},
                index_dir=index_dir,
            )
            suite.seller, suite.shop = await suite.onboard_seller()
            yield suite
    finally:
        for process in processes.values():  # asked at once, so the shutdowns overlap
            if process.proc is not None and process.proc.poll() is None:
                process.proc.terminate()
        for process in processes.values():
            process.stop()
        broker.stop()
        shutil.rmtree(index_dir, ignore_errors=True)
        for db in db_names.values():
            await mongo.drop_database(db)
