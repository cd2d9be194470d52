"""The wallet as a real process beside a real payment process, both against one sandbox process (provider time
scaled 1000×), FerretDB and RabbitMQ: payments are made and refunded through payment, orders completed as listing
would announce them, and the wallet's books are read through its internal API and compared with the sandbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.wallet.collection_domain import id_check_character
from shared.ids import new_id
from shared.mongo import Client, Database
from tests.integration.payment.conftest import PaymentClient, payment_sandbox  # noqa: F401
from tests.integration.payment.conftest import payments as payments  # the fixture, re-exported
from tests.support.infra import delete_service_queues, eventually
from tests.support.internal_api import TOKEN, InternalApi, service_env
from tests.support.processes import ServiceProcess
from tests.support.providers import provider_env


def activation() -> dict[str, Any]:
    """What a seller submits in the workbench to activate WeChat collection (a valid ID number and card)."""
    first17 = "44030119880214003"
    return {
        "real_name": "李四",
        "id_card_number": first17 + id_check_character(first17),
        "id_card_valid_time": "长期",
        "id_card_copy": "media-front",
        "id_card_national": "media-back",
        "mobile": "13912345678",
        "bank_card": {
            "account_bank": "招商银行",
            "bank_address_code": "440300",
            "account_number": "6225880000000000002",
            "account_name": "李四",
        },
    }


def wallet_env(service: str, db_name: str, sandbox_url: str) -> dict[str, str]:
    return {
        **service_env(service, db_name),
        **provider_env(sandbox_url),
        "PROVIDER_TIMEOUT_S": "1",
        "PROVIDER_ATTEMPTS": "2",
        "PROVIDER_RETRY_DELAY_S": "0.05",
        "WORKER_INTERVAL_S": "0.2",
        "RETRY_BACKOFF_MAX_S": "0.5",
        "ATTENTION_AFTER_ATTEMPTS": "3",
        "POLL_AFTER_S": "0.5",
        "RECONCILE_INTERVAL_S": "1",
        "SWEEP_INTERVAL_S": "0.5",
    }


@dataclass
class WalletClient(InternalApi):
    db: Database
    name: str
    payments: PaymentClient

    async def sandbox_get(self, path: str) -> Any:
        async with self.http.get(f"{self.payments.sandbox.url}{path}") as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def escrow(
        self, payment_id: str, until: Any = bool, what: str = "the escrow", timeout_s: float = 20.0
    ) -> dict[str, Any]:
        async def look() -> dict[str, Any] | None:
            reply = await self.call("GET", f"/escrows/{payment_id}")
            return reply.body if reply.status == 200 else None

        found = await eventually(look, until=lambda e: e is not None and until(e), what=what, timeout_s=timeout_s)
        assert found is not None
        return found

    async def check(self, providers: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = await self.ok("GET", "/ledger/check", providers=str(providers).lower())
        return result

    async def sandbox_post(self, path: str, body: Any = None, expect: int = 200) -> Any:
        async with self.http.post(f"{self.payments.sandbox.url}{path}", json=body or {}) as resp:
            data = await resp.json()
            assert resp.status == expect, data
            return data

    async def post_with_key(self, path: str, body: Any, key: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": key}
        async with self.http.post(f"{self.process.url}/internal/v1{path}", json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async def activated_seller(self, level: int = 6) -> tuple[str, str]:
        """A shop opened at `level` (as listing announces it), invited in a batch, activated by onboarding at the
        sandbox (reviewed by itself, signed by the test), until the wallet says `active`: (seller_id, sub_mchid).
        Payment learns the seller's sub-merchant from the wallet's `wallet.collection_activated`."""
        seller, shop = new_id("usr"), new_id("shp")
        opened = {"shop_id": shop, "seller_id": seller, "name": "旧物小铺", "level": level}
        await self.payments.publish("shop.opened", opened, shop, producer="listing")
        # A batch sent before the wallet has copied the shop does not reach it: send batches until one does.
        await eventually(lambda: self._invite(seller), until=bool, what="invited")
        await self.ok("POST", f"/sellers/{seller}/collection/activation", activation(), expect=202)

        async def progress() -> dict[str, Any]:
            view: dict[str, Any] = await self.ok("POST", f"/sellers/{seller}/collection/refresh")
            application = view.get("application") or {}
            if application.get("provider_state") == "NEED_SIGN":
                await self.sandbox_post(f"/sandbox/wechat/applyments/{application['applyment_id']}/sign")
            return view

        view = await eventually(progress, until=lambda v: v["status"] == "active", timeout_s=30, what="active")
        await eventually(
            lambda: self.payments.db["payees"].find_one({"_id": seller}), until=bool, what="payment knows the payee"
        )
        return seller, str(view["sub_mchid"])

    async def _invite(self, seller: str) -> bool:
        await self.post_with_key("/invitation-batches", {"min_level": 5, "max_count": 1000}, new_id("cmd"))
        view = await self.ok("GET", f"/sellers/{seller}/collection")
        return bool(view["status"] == "invited")

    async def paid_wechat(self, amount_fen: int, seller_id: str | None = None) -> dict[str, Any]:
        """A mini-program buyer pays payment's WeChat payment to a seller's sub-merchant (the payments fixture's
        seller unless another is named)."""
        p = self.payments
        openid = await p.openid()
        extra = {"seller_id": seller_id} if seller_id else {}
        payment = await p.create(p.order("wechat_pay", amount_fen=amount_fen, openid=openid, **extra))
        reply = await p.wechat_pay(payment, openid)
        assert reply.status == 200, reply.body
        paid: dict[str, Any] = await eventually(
            lambda: p.payment(payment["id"]), until=lambda x: x["status"] == "succeeded", what="paid"
        )
        return paid

    async def complete(self, payment: dict[str, Any]) -> None:
        """Listing's order.completed for a paid order."""
        await self.payments.publish(
            "order.completed",
            {
                "order_id": payment["order_id"],
                "item_id": "itm_x",
                "seller_id": payment["seller_id"],
                "buyer_id": payment["buyer_id"],
                "channel": payment["channel"],
                "payment_method": payment["method"],
                "payment_id": payment["id"],
                "amount_fen": payment["amount_fen"],
                "completed_by": "buyer",
            },
            payment["order_id"],
            producer="listing",
        )


@pytest.fixture(scope="package")
async def wallet(payments: PaymentClient, mongo_client: Client, log_dir: Path) -> AsyncIterator[WalletClient]:
    run = uuid.uuid4().hex[:8]
    service, db_name = f"wallet-{run}", f"t_{run}_wallet"
    process = ServiceProcess("services.wallet", wallet_env(service, db_name, payments.sandbox.url), log_dir)
    process.env["WALLET_PUBLIC_BASE_URL"] = process.url
    try:
        await process.start()
        async with aiohttp.ClientSession() as http:
            yield WalletClient(process=process, http=http, db=mongo_client[db_name], name=service, payments=payments)
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)
        await delete_service_queues(service)
