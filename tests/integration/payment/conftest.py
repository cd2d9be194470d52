"""Payment as a real process against a sandbox process (provider time scaled 1000×), FerretDB and RabbitMQ,
with a client that speaks payment's internal API, acts as the buyer in the sandbox, and injects faults."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest

from services.payment.domain import payment_id_for
from shared.bus import Bus
from shared.events import Envelope
from shared.ids import new_id
from shared.mongo import Client, Database
from tests.support.infra import AMQP_URL, MONGO_URL, OTLP_ENDPOINT, eventually
from tests.support.internal_api import TOKEN, InternalApi, Reply, publish_as, service_env
from tests.support.processes import ServiceProcess
from tests.support.providers import provider_env


@dataclass
class PaymentClient(InternalApi):
    sandbox: ServiceProcess
    db: Database
    bus: Bus
    name: str
    wechat_seller: str = ""  # a seller whose WeChat collection is active (a sub-merchant at the sandbox)
    sub_mchid: str = ""

    async def sandbox_post(self, path: str, body: Any) -> Reply:
        async with self.http.post(f"{self.sandbox.url}{path}", json=body) as resp:
            return Reply(resp.status, await resp.json())

    async def sandbox_notifications(self, key: str) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.sandbox.url}/sandbox/notifications", params={"key": key}) as resp:
            items: list[dict[str, Any]] = (await resp.json())["items"]
            return items

    async def fault(self, **rule: Any) -> None:
        reply = await self.sandbox_post("/sandbox/faults", rule)
        assert reply.status == 201, reply.body

    async def post_with_key(self, path: str, body: Any, key: str) -> Reply:
        """POST to the internal API with an Idempotency-Key."""
        headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": key}
        async with self.http.post(f"{self.process.url}/internal/v1{path}", json=body, headers=headers) as resp:
            return Reply(resp.status, await resp.json())

    async def sandbox_faults(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.sandbox.url}/sandbox/faults") as resp:
            body = await resp.json()
            items: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
            return items

    async def clear_faults(self) -> None:
        async with self.http.delete(f"{self.sandbox.url}/sandbox/faults"):
            pass

    async def openid(self) -> str:
        reply = await self.sandbox_post("/sandbox/wechat/login-codes", {})
        return str(reply.body["openid"])

    async def activate_wechat_seller(self) -> tuple[str, str]:
        """A seller onboarded as a WeChat e-commerce sub-merchant (the sandbox's shortcut), made known to payment by
        the wallet's `wallet.collection_activated`, as the wallet will."""
        reply = await self.sandbox_post("/sandbox/wechat/sub-merchants", {"merchant_shortname": "闲置小铺"})
        assert reply.status == 201, reply.body
        seller, sub_mchid = new_id("usr"), str(reply.body["sub_mchid"])
        activated = {"seller_id": seller, "shop_id": new_id("shp"), "account_id": new_id("acc"), "sub_mchid": sub_mchid}
        await self.publish("wallet.collection_activated", activated, seller, producer="wallet")
        await eventually(lambda: self.db["payees"].find_one({"_id": seller}), until=bool, what="the payee recorded")
        return seller, sub_mchid

    def order(self, method: str = "wechat_pay", amount_fen: int = 35_000, **extra: Any) -> dict[str, Any]:
        channel = "mp" if method == "wechat_pay" else "app"
        return {
            "order_id": new_id("ord"),
            "buyer_id": new_id("usr"),
            "seller_id": self.wechat_seller if method == "wechat_pay" else new_id("usr"),
            "channel": channel,
            "method": method,
            "amount_fen": amount_fen,
            "description": "九成新 Kindle",
            "expires_at": (datetime.now(UTC) + timedelta(minutes=15)).isoformat(),
            **extra,
        }

    async def create(self, order: dict[str, Any], expect: int = 201) -> dict[str, Any]:
        result: dict[str, Any] = await self.ok("POST", "/payments", order, expect)
        return result

    async def payment(self, payment_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.ok("GET", f"/payments/{payment_id}")
        return result

    async def wechat_pay(self, payment: dict[str, Any], openid: str) -> Reply:
        params = payment["wechat_request_payment"]
        prepay_id = params["package"].removeprefix("prepay_id=")
        return await self.sandbox_post("/sandbox/wechat/pay", {"prepay_id": prepay_id, "openid": openid, **params})

    async def event_types(self, stream_id: str) -> list[str]:
        cursor = self.db["stream_entries"].find({"stream_id": stream_id}).sort("seq", 1)
        return [e["type"] async for entry in cursor for e in entry["events"]]

    async def notifications(self, key: str) -> list[dict[str, Any]]:
        return [doc async for doc in self.db["notifications"].find({"key": key}).sort("received_at", 1)]

    async def publish(self, event_type: str, payload: dict[str, Any], aggregate_id: str, producer: str) -> Envelope:
        return await publish_as(self.bus, producer, event_type, payload, aggregate_id)

    async def close_order(self, order: dict[str, Any], reason: str = "buyer_cancelled") -> Envelope:
        """Listing's order.closed for an order (a create body or a payment view: both carry the order's parties)."""
        return await self.publish(
            "order.closed",
            {
                "order_id": order["order_id"],
                "item_id": "itm_x",
                "seller_id": order["seller_id"],
                "buyer_id": order["buyer_id"],
                "reason": reason,
            },
            order["order_id"],
            producer="listing",
        )

    async def alipay_pay(self, payment: dict[str, Any], user_id: str = "2088100000000021") -> Reply:
        """The buyer opens the Alipay cashier with the payment's order string and pays."""
        return await self.sandbox_post(
            "/sandbox/alipay/pay", {"order_string": payment["alipay_order_string"], "user_id": user_id}
        )

    async def approve_refund(self, payment: dict[str, Any], amount_fen: int, refund_id: str | None = None) -> str:
        refund_id = refund_id or new_id("rfd")
        await self.publish(
            "refund.approved",
            {
                "refund_id": refund_id,
                "order_id": payment["order_id"],
                "buyer_id": payment["buyer_id"],
                "seller_id": payment["seller_id"],
                "payment_id": payment["id"],
                "amount_fen": amount_fen,
            },
            refund_id,
            producer="refund",
        )
        return refund_id


@pytest.fixture(scope="package")
async def payment_sandbox(infra: None, mongo_client: Client, log_dir: Path) -> AsyncIterator[ServiceProcess]:
    db_name = f"t_{uuid.uuid4().hex[:8]}_sandbox"
    process = ServiceProcess(
        "services.sandbox",
        {
            "SERVICE_NAME": "sandbox-for-payment",
            "MONGO_URL": MONGO_URL,
            "MONGO_DB": db_name,
            "TIME_SCALE": "0.001",
            "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
            # The platform's 商家分账 contract: the wallet settles the seller's whole part (docs/providers.md §7).
            "ALIPAY_ROYALTY_MAX_RATIO_PCT": "100",
            # As `make run` has it: a merchant switching over to the WeChat Pay public key (answers and callbacks
            # signed by either key; sensitive fields encrypted for either, as the wallet's onboarding does).
            "WECHAT_PAY_KEY_MODE": "switching",
        },
        log_dir,
    )
    await process.start()
    try:
        yield process
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)


@pytest.fixture(scope="package")
async def payments(
    payment_sandbox: ServiceProcess, mongo_client: Client, log_dir: Path
) -> AsyncIterator[PaymentClient]:
    run = uuid.uuid4().hex[:8]
    service, db_name = f"payment-{run}", f"t_{run}_payment"
    process = ServiceProcess(
        "services.payment",
        {
            **service_env(service, db_name),
            "PROVIDER_TIMEOUT_S": "1",
            "PROVIDER_ATTEMPTS": "3",
            "PROVIDER_RETRY_DELAY_S": "0.05",
            "RECONCILE_AFTER_S": "1.5",
            "RECONCILE_INTERVAL_S": "0.25",
            "CLOSE_GRACE_S": "0",
            **provider_env(payment_sandbox.url),
        },
        log_dir,
    )
    process.env["PUBLIC_BASE_URL"] = process.url
    bus = await Bus.connect(AMQP_URL, name="pytest-payment")
    try:
        await process.start()
        async with aiohttp.ClientSession() as http:
            client = PaymentClient(
                process=process, http=http, sandbox=payment_sandbox, db=mongo_client[db_name], bus=bus, name=service
            )
            client.wechat_seller, client.sub_mchid = await client.activate_wechat_seller()
            yield client
    finally:
        process.stop()
        await bus.close()
        await mongo_client.drop_database(db_name)
        connection = await aio_pika.connect_robust(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for suffix in ("events", "events.dlq", "events.retry.200ms", "events.retry.500ms"):
                await channel.queue_delete(f"{service}.{suffix}")


@pytest.fixture(autouse=True)
async def _clear_faults(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "payments" in request.fixturenames:
        client: PaymentClient = request.getfixturevalue("payments")
        async with client.http.delete(f"{client.sandbox.url}/sandbox/faults"):
            pass


__all__ = ["PaymentClient", "payment_id_for"]
