"""The channel gateway as a real process in front of real listing, payment, wallet and refund processes and the
sandbox: tests talk to the gateway only (and to the sandbox as the buyer's phone does), never to a service behind it,
except to read what a service recorded."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.ids import new_id
from shared.mongo import Client, Database
from tests.integration.listing.conftest import ListingClient
from tests.integration.listing.conftest import listing as listing  # the fixtures, re-exported
from tests.integration.payment.conftest import PaymentClient, payment_sandbox  # noqa: F401
from tests.integration.payment.conftest import payments as payments
from tests.integration.refund.conftest import RefundClient
from tests.integration.refund.conftest import refunds as refunds
from tests.integration.wallet.conftest import WalletClient
from tests.integration.wallet.conftest import wallet as wallet
from tests.support.infra import eventually
from tests.support.internal_api import service_env
from tests.support.processes import ServiceProcess
from tests.support.providers import provider_env

ADMIN_TOKEN = "test-admin-token-0123456789"
SANDBOX_APP_SECRET = "sandbox-wechat-app-secret-000000"


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Login:
    token: str
    user_id: str
    audience: str
    openid: str | None = None
    alipay_user_id: str | None = None


@dataclass
class GatewayClient:
    process: ServiceProcess
    http: aiohttp.ClientSession
    sandbox_url: str
    db: Database
    name: str
    services: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.process.url

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        key: str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if key is not None:
            h["Idempotency-Key"] = key
        async with self.http.request(method, self.url + path, json=body, params=params, headers=h) as resp:
            text = await resp.text()
            try:
                data: Any = await resp.json(content_type=None) if text else None
            except ValueError:
                data = text
            return Answer(resp.status, data, dict(resp.headers))

    async def ok(self, method: str, path: str, who: Login | str | None = None, **kwargs: Any) -> Any:
        token = who.token if isinstance(who, Login) else who
        reply = await self.request(method, path, token=token, **kwargs)
        assert reply.status < 300, (method, path, reply.status, reply.body)
        return reply.body

    async def admin(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        return await self.ok(method, f"/admin/v1{path}", ADMIN_TOKEN, body=body, **kwargs)

    async def sandbox(self, path: str, body: Any) -> Any:
        async with self.http.post(self.sandbox_url + path, json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def mp_login(self, openid: str | None = None) -> Login:
        """What the mini-program does: wx.login (the sandbox's code), then the gateway's session."""
        issued = await self.sandbox("/sandbox/wechat/login-codes", {"openid": openid} if openid else {})
        s = await self.ok("POST", "/mp/v1/session", body={"code": issued["code"]})
        return Login(s["token"], s["user"]["id"], "mp", openid=issued["openid"])

    async def app_login(self, alipay_user_id: str | None = None) -> Login:
        issued = await self.sandbox("/sandbox/alipay/auth-codes", {"user_id": alipay_user_id} if alipay_user_id else {})
        s = await self.ok("POST", "/app/v1/session", body={"auth_code": issued["auth_code"]})
        return Login(s["token"], s["user"]["id"], "app", alipay_user_id=issued["user_id"])


def gateway_env(service: str, db_name: str, sandbox_url: str, services: dict[str, str], **extra: str) -> dict[str, str]:
    return {
        **service_env(service, db_name),
        **provider_env(sandbox_url),
        "WECHAT_MP_API_BASE": sandbox_url,
        "WECHAT_APP_SECRET": SANDBOX_APP_SECRET,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SESSION_SECRET": "test-session-secret-0123456789abcdef",
        "SERVICE_TIMEOUT_S": "10",
        **{f"{name.upper()}_URL": url for name, url in services.items()},
        **extra,
    }


@pytest.fixture(scope="package")
async def gateway(
    listing: ListingClient,
    payments: PaymentClient,
    wallet: WalletClient,
    refunds: RefundClient,
    mongo_client: Client,
    log_dir: Path,
) -> AsyncIterator[GatewayClient]:
    run = uuid.uuid4().hex[:8]
    service, db_name = f"gateway-{run}", f"t_{run}_gateway"
    services = {
        "listing": listing.process.url,
        "payment": payments.process.url,
        "wallet": wallet.process.url,
        "refund": refunds.process.url,
    }
    # Rate limits high enough for the suite (the limits themselves are tested with their own gateway process).
    limits = {
        "LOGIN_PER_CLIENT": "10000",
        "CHECKOUT_PER_CLIENT": "10000",
        "CHECKOUT_PER_USER": "1000",
        "SHARE_RESOLVES_PER_CLIENT": "100000",
        "SHARES_PER_USER": "1000",
    }
    env = gateway_env(service, db_name, payments.sandbox.url, services, **limits)
    process = ServiceProcess("services.channel_gateway", env, log_dir)
    try:
        await process.start()
        async with aiohttp.ClientSession() as http:
            yield GatewayClient(
                process=process,
                http=http,
                sandbox_url=payments.sandbox.url,
                db=mongo_client[db_name],
                name=service,
                services=services,
            )
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)


async def shop_of(gateway: GatewayClient, seller: Login) -> dict[str, Any]:
    """The seller's shop, opened through the workbench."""
    shop: dict[str, Any] = await gateway.ok("POST", "/app/v1/shop", seller, body={"name": "小鱼的铺子"})
    return shop


async def publish_item(gateway: GatewayClient, seller: Login, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "九成新 Kindle Paperwhite",
        "description": "用了一年",
        "category": "数码",
        "condition": "like_new",
        "price_fen": 26_800,
        "images": ["https://img.example/k.jpg"],
        "city": "杭州",
        **fields,
    }
    draft = await gateway.ok("POST", "/app/v1/shop/items", seller, body=body)
    item: dict[str, Any] = await gateway.ok("POST", f"/app/v1/shop/items/{draft['id']}/publish", seller)
    return item


async def wechat_seller(gateway: GatewayClient, listing: ListingClient, payments: PaymentClient) -> Login:
    """An app seller with a shop whose WeChat collection is active — the onboarding itself (invitation, review) is
    the story test's; here the sandbox makes the sub-merchant and the wallet's event is sent as the wallet sends it."""
    seller = await gateway.app_login()
    shop = await shop_of(gateway, seller)
    made = await payments.sandbox_post("/sandbox/wechat/sub-merchants", {"merchant_shortname": "小鱼的铺子"})
    assert made.status == 201, made.body
    account = new_id("acc")
    await listing.publish(
        "wallet.collection_activated",
        {
            "seller_id": seller.user_id,
            "shop_id": shop["id"],
            "account_id": account,
            "sub_mchid": made.body["sub_mchid"],
        },
        aggregate_id=account,
        producer="wallet",
    )
    await eventually(
        lambda: listing.ok("GET", f"/shops/{shop['id']}"),
        until=lambda s: s["wechat_collection"] == "active",
        what="collection active",
    )
    await eventually(
        lambda: payments.db["payees"].find_one({"_id": seller.user_id}), until=bool, what="payment knows the payee"
    )
    return seller


APPLICATION = {
    "legal_name": "张小鱼",
    "id_card_number": "110101199003071233",
    "mobile": "13800138000",
    "settlement_card": {"card_number": "6222020200112233446", "bank_code": "ICBC", "holder_name": "张小鱼"},
}


async def invite(gateway: GatewayClient, shop: dict[str, Any], level: int = 6) -> None:
    """The admin sets the shop's level and sends invitation batches (L5+) until one reaches it — the wallet learns
    the level from listing's event, so a batch sent before that does not."""
    leveled = await gateway.admin("PUT", f"/shops/{shop['id']}/level", {"level": level})
    assert leveled["level"] == level
    await eventually(
        lambda: gateway.admin("POST", "/wechat-collection/invitation-batches", {"min_level": 5, "max_count": 1000}),
        until=lambda batch: shop["id"] in {x["shop_id"] for x in batch["invited"]},
        what="the shop invited",
    )


async def onboarded_seller(gateway: GatewayClient) -> tuple[Login, dict[str, Any]]:
    """An app seller invited and activated for WeChat collection through the workbench, the sandbox reviewing.

    Active as the wallet says: listing (the seller accepts WeChat Pay) and payment (the sub-merchant paid) learn it
    from the wallet's event, a moment later — `wechat_earnings` waits for them."""
    seller = await gateway.app_login()
    shop = await shop_of(gateway, seller)
    await invite(gateway, shop)
    submitted = await gateway.request(
        "POST", "/app/v1/shop/wechat-collection/activate", token=seller.token, body=APPLICATION
    )
    assert submitted.status == 202, submitted.body
    await eventually(
        lambda: gateway.ok("GET", "/app/v1/shop/wechat-collection", seller),
        until=lambda c: c["status"] == "active",
        timeout_s=60,
        what="WeChat collection active",
    )
    return seller, shop


# A mini-program checkout's refusals while the seller's activation is on its way to listing and to payment.
NOT_HEARD_YET = {(422, "seller_not_accepting_wechat_pay"), (409, "wechat_collection_not_active")}


async def wechat_earnings(gateway: GatewayClient, seller: Login, price_fen: int) -> dict[str, Any]:
    """A mini-program buyer buys one of the seller's items with WeChat Pay and confirms receipt; the platform fee is
    profit-shared and the rest becomes the seller's available WeChat balance. The completed order.

    Right after an activation (`onboarded_seller`) listing or payment may not have heard of it: the checkout is then
    refused (`NOT_HEARD_YET`), nothing charged and the item back on sale, so each attempt is a new request with a new
    key until one is not refused so."""
    item = await publish_item(gateway, seller, price_fen=price_fen)
    buyer = await gateway.mp_login()

    async def checkout() -> Answer:
        return await gateway.request(
            "POST", "/mp/v1/orders", token=buyer.token, key=uuid.uuid4().hex, body={"item_id": item["id"]}
        )

    def not_heard_yet(reply: Answer) -> bool:
        error = reply.body.get("error") if isinstance(reply.body, dict) else None
        return isinstance(error, dict) and (reply.status, error.get("code")) in NOT_HEARD_YET

    bought = await eventually(checkout, until=lambda r: not not_heard_yet(r), what="the checkout over WeChat Pay")
    assert bought.status == 201, bought.body
    out = bought.body
    prepay_id = out["payment"]["wechat_request_payment"]["package"].removeprefix("prepay_id=")
    await gateway.sandbox("/sandbox/wechat/pay", {"prepay_id": prepay_id, "openid": buyer.openid})
    order_id = out["order"]["id"]
    await eventually(
        lambda: gateway.ok("GET", f"/app/v1/orders/{order_id}", seller),
        until=lambda o: o["status"] == "paid",
        what="the order paid",
    )
    ship = {"carrier": "SF", "tracking_no": "SF1234567890123"}
    await gateway.ok("POST", f"/app/v1/orders/{order_id}/ship", seller, body=ship)
    done: dict[str, Any] = await gateway.ok("POST", f"/mp/v1/orders/{order_id}/confirm-receipt", buyer)
    assert done["status"] == "completed"
    return done


def account(wallet: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in wallet["accounts"] if a["kind"] == kind)
    return found
