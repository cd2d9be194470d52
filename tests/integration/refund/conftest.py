"""Refund as real processes beside listing, payment, the wallet and the sandbox: orders are placed, paid and shipped
through listing and payment, cases driven through refund's internal API, and the money followed to the sandbox and
the wallet's books. Two refund processes: one with the real timers, one with timers of seconds (`fast_refunds`);
each keeps its own cases (its own database), and both see every order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.mongo import Client, Database
from tests.integration.flows.test_checkout_flow import wechat_seller_item
from tests.integration.listing.conftest import ListingClient
from tests.integration.listing.conftest import listing as listing  # the fixtures, re-exported
from tests.integration.payment.conftest import PaymentClient, payment_sandbox  # noqa: F401
from tests.integration.payment.conftest import payments as payments
from tests.integration.wallet.conftest import WalletClient
from tests.integration.wallet.conftest import wallet as wallet
from tests.support.infra import delete_service_queues, eventually
from tests.support.internal_api import TOKEN, InternalApi, service_env
from tests.support.processes import ServiceProcess


@dataclass
class RefundClient(InternalApi):
    db: Database
    name: str

    async def open(self, order: dict[str, Any], expect: int = 201, key: str | None = None, **body: Any) -> Any:
        """Open a case; while refund has not heard of the order's payment or shipment yet (listing's events are on
        their way), the answer is 404 or 422 with nothing written, and the request is sent again."""
        payload = {"buyer_id": order["buyer_id"], "kind": "refund_only", "amount_fen": order["amount_fen"], **body}

        async def attempt() -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": key or uuid.uuid4().hex}
            async with self.http.post(
                f"{self.process.url}/internal/v1/orders/{order['id']}/refunds", json=payload, headers=headers
            ) as resp:
                return resp.status, await resp.json()

        def settled(reply: tuple[int, Any]) -> bool:
            status, data = reply
            lagging = status == 404 or (status == 422 and data["error"]["message"] == "nothing was shipped to return")
            return status == expect or not lagging

        status, data = await eventually(attempt, until=settled, what="the case opened")
        assert status == expect, data
        return data

    async def case(self, refund_id: str, user_id: str, until: Any = None, what: str = "the case") -> dict[str, Any]:
        async def look() -> dict[str, Any]:
            found: dict[str, Any] = await self.ok("GET", f"/refunds/{refund_id}", user_id=user_id)
            return found

        if until is None:
            return await look()
        result: dict[str, Any] = await eventually(look, until=until, what=what, timeout_s=30)
        return result


@dataclass
class World:
    listing: ListingClient
    payments: PaymentClient
    wallet: WalletClient

    async def paid_order(self, method: str = "wechat_pay", price_fen: int = 26_800) -> dict[str, Any]:
        """An order placed in listing and paid through payment at the sandbox (WeChat in the mini-program, or Alipay
        in the app), until listing says it is paid."""
        p = self.payments
        if method == "wechat_pay":
            item = await wechat_seller_item(self.listing, p)
            order = await self.listing.order(item["id"], channel="mp", method="wechat_pay")
            openid = await p.openid()
            body = p.order("wechat_pay", openid=openid)
        else:
            seller = await self.listing.seller()
            item = await self.listing.item(seller, price_fen=price_fen)
            order = await self.listing.order(item["id"], channel="app", method="alipay")
            body = p.order("alipay")
        body |= {
            "order_id": order["id"],
            "buyer_id": order["buyer_id"],
            "seller_id": order["seller_id"],
            "amount_fen": order["amount_fen"],
            "expires_at": order["expires_at"],
        }
        payment = await p.create(body)
        reply = await (p.wechat_pay(payment, openid) if method == "wechat_pay" else p.alipay_pay(payment))
        assert reply.status == 200, reply.body
        await eventually(
            lambda: self.listing.ok("GET", f"/orders/{order['id']}", buyer_id=order["buyer_id"]),
            until=lambda o: o["status"] == "paid",
            what="the order paid",
        )
        await self.wallet.escrow(payment["id"])
        return order | {"payment_id": payment["id"]}

    async def ship(self, order: dict[str, Any]) -> None:
        body = {"seller_id": order["seller_id"], "carrier": "SF", "tracking_no": "SF1234567890123"}
        await self.listing.ok("POST", f"/orders/{order['id']}/ship", body)


async def _refund(name: str, env: dict[str, str], mongo_client: Client, log_dir: Path) -> AsyncIterator[RefundClient]:
    run = uuid.uuid4().hex[:8]
    service, db_name = f"{name}-{run}", f"t_{run}_refund"
    process = ServiceProcess("services.refund", {**service_env(service, db_name), **env}, log_dir)
    try:
        await process.start()
        async with aiohttp.ClientSession() as http:
            yield RefundClient(process=process, http=http, db=mongo_client[db_name], name=service)
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)
        await delete_service_queues(service)


@pytest.fixture(scope="package")
async def refunds(infra: None, mongo_client: Client, log_dir: Path) -> AsyncIterator[RefundClient]:
    async for client in _refund("refund", {"SWEEP_INTERVAL_S": "0.2"}, mongo_client, log_dir):
        yield client


@pytest.fixture(scope="package")
async def fast_refunds(infra: None, mongo_client: Client, log_dir: Path) -> AsyncIterator[RefundClient]:
    """The seller answers within 2 s, a return is confirmed within 2 s, a refused refund is asked again after 1 s,
    swept every 0.2 s."""
    env = {"SELLER_RESPONSE_S": "2", "RETURN_CONFIRM_S": "2", "REFUND_RETRY_S": "1", "SWEEP_INTERVAL_S": "0.2"}
    async for client in _refund("refund-fast", env, mongo_client, log_dir):
        yield client


@pytest.fixture
def world(listing: ListingClient, payments: PaymentClient, wallet: WalletClient) -> World:
    return World(listing, payments, wallet)
