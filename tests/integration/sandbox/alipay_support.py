"""Helpers (no tests) for the Alipay sandbox tests: a signing merchant client, buyer actions, notification checks."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.mongo import Client
from shared.protocols import alipay as ap
from tests.integration.sandbox.conftest import Merchant, Received, Sandbox
from tests.support.infra import MONGO_URL, OTLP_ENDPOINT, eventually
from tests.support.processes import ServiceProcess

KEYS = Path(__file__).resolve().parents[3] / "services" / "sandbox" / "keys"
APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"


def pem(name: str) -> str:
    return (KEYS / name).read_text()


APP_PRIVATE = ap.load_private_key(pem("TEST_ONLY_alipay_app_private.pem"))
PLATFORM_PUBLIC = ap.load_public_key(pem("TEST_ONLY_alipay_platform_public.pem"))
# Any other key: what a request signed with the wrong key, or a forged notification, is signed with.
WRONG_PRIVATE = ap.load_private_key(pem("TEST_ONLY_alipay_platform_private.pem"))


@asynccontextmanager
async def dedicated_sandbox(
    mongo_client: Client, merchant: Merchant, log_dir: Path, **settings: str
) -> AsyncIterator[Sandbox]:
    """A sandbox process of its own (its own database), for settings the shared one does not have (open_id mode,
    cert mode) or for books no other test moves."""
    db_name = f"t_{uuid.uuid4().hex[:8]}_sandbox"
    env = {
        "SERVICE_NAME": "sandbox",
        "MONGO_URL": MONGO_URL,
        "MONGO_DB": db_name,
        "TIME_SCALE": "0.001",
        "DEFAULT_NOTIFY_URL": f"{merchant.url}/notify/default",
        "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
        **{key.upper(): value for key, value in settings.items()},
    }
    own_logs = log_dir / db_name
    own_logs.mkdir(parents=True, exist_ok=True)
    process = ServiceProcess("services.sandbox", env, own_logs)
    await process.start()
    try:
        yield Sandbox(process, merchant)
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)


def fresh(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def user_id() -> str:
    return "2088" + f"{uuid.uuid4().int % 10**12:012d}"


@dataclass
class Answer:
    status: int
    text: str
    method: str

    def verified(self) -> dict[str, Any]:
        """The response object, after checking the platform's signature over its exact text."""
        assert self.status == 200, (self.status, self.text)
        return ap.verify_response(self.text, self.method, PLATFORM_PUBLIC)

    def unsigned(self) -> dict[str, Any]:
        """For answers Alipay leaves unsigned (an unknown app): the response object, read without verification."""
        data: dict[str, Any] = json.loads(self.text)
        assert "sign" not in data, self.text
        value = data.get(ap.response_key(self.method)) or data["error_response"]
        assert isinstance(value, dict)
        return value


class AlipayClient:
    """What the payment service does against Alipay, done by hand with shared.protocols.alipay."""

    def __init__(self, sandbox: Sandbox, common: Mapping[str, str] | None = None) -> None:
        self.sandbox = sandbox
        self.gateway = f"{sandbox.url}/gateway.do"
        # Further common parameters on every request and order string (app_cert_sn, alipay_root_cert_sn in cert mode).
        self.common = dict(common or {})

    def params(
        self,
        method: str,
        biz: Mapping[str, Any] | None = None,
        *,
        notify_url: str | None = None,
        key: rsa.RSAPrivateKey = APP_PRIVATE,
        now: datetime | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        return ap.build_request_params(
            app_id=APP_ID,
            method=method,
            biz_content=biz or {},
            private_key=key,
            now=now or datetime.now(UTC),
            notify_url=notify_url,
            extra={**self.common, **(extra or {})} or None,
        )

    async def send(self, method: str, params: Mapping[str, str], *, get: bool = False) -> Answer:
        async with aiohttp.ClientSession() as http:
            if get:
                url = f"{self.gateway}?{ap.encode_params(params)}"
                async with http.get(url) as resp:
                    return Answer(resp.status, await resp.text(), method)
            async with http.post(self.gateway, data=dict(params)) as resp:
                return Answer(resp.status, await resp.text(), method)

    async def call(self, method: str, biz: Mapping[str, Any] | None = None, **kw: Any) -> Answer:
        get = kw.pop("get", False)
        return await self.send(method, self.params(method, biz, **kw), get=get)

    async def api(self, method: str, biz: Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return (await self.call(method, biz, **kw)).verified()

    # --- what the merchant hands the buyer ---

    def order_string(
        self, biz: Mapping[str, Any], *, notify_url: str | None = None, now: datetime | None = None
    ) -> str:
        if self.common:
            biz = {"product_code": ap.APP_PAY_PRODUCT_CODE, **biz}
            return ap.encode_params(self.params(ap.APP_PAY_METHOD, biz, notify_url=notify_url, now=now))
        return ap.build_app_pay_order_string(
            app_id=APP_ID, biz_content=biz, private_key=APP_PRIVATE, now=now or datetime.now(UTC), notify_url=notify_url
        )

    def sign_url(self, biz: Mapping[str, Any], *, notify_url: str | None = None) -> str:
        params = self.params("alipay.user.agreement.page.sign", biz, notify_url=notify_url)
        return f"{self.gateway}?{ap.encode_params(params)}"

    # --- buyer and bank actions (test-only routes) ---

    async def post(self, path: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.sandbox.url}{path}", json=dict(body)) as resp:
                return resp.status, await resp.json()

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.sandbox.url}{path}") as resp:
                return resp.status, await resp.json()

    async def account(self, account: str) -> dict[str, Any]:
        """The test-only balances of an Alipay account (user id or open id)."""
        status, data = await self.get(f"/sandbox/alipay/accounts/{account}")
        assert status == 200, data
        return data

    async def auth_code(self, uid: str | None = None) -> dict[str, Any]:
        status, data = await self.post("/sandbox/alipay/auth-codes", {"user_id": uid} if uid else {})
        assert status == 200, data
        return data

    async def pay(self, order_string: str, uid: str) -> tuple[int, dict[str, Any]]:
        return await self.post("/sandbox/alipay/pay", {"order_string": order_string, "user_id": uid})

    async def paid(self, out_trade_no: str, amount: str, *, notify_url: str | None = None) -> tuple[str, str]:
        """A trade the buyer has paid: (trade_no, buyer user id)."""
        uid = user_id()
        status, data = await self.pay(self.order_string(app_pay(out_trade_no, amount), notify_url=notify_url), uid)
        assert status == 200, data
        return str(data["trade_no"]), uid

    async def sign(self, sign_url: str, uid: str) -> tuple[int, dict[str, Any]]:
        return await self.post("/sandbox/alipay/agreements/sign", {"sign_url": sign_url, "user_id": uid})

    async def signed_agreement(self, biz: Mapping[str, Any] | None = None, *, notify_url: str | None = None) -> str:
        status, data = await self.sign(self.sign_url(biz or withholding_sign(), notify_url=notify_url), user_id())
        assert status == 200, data
        return str(data["agreement_no"])


def app_pay(out_trade_no: str, amount: str, **more: Any) -> dict[str, Any]:
    return {
        "out_trade_no": out_trade_no,
        "total_amount": amount,
        "subject": "二手书 《算法导论》",
        "product_code": "QUICK_MSECURITY_PAY",
        **more,
    }


def withholding_sign(**more: Any) -> dict[str, Any]:
    return {
        "personal_product_code": "GENERAL_WITHHOLDING_P",
        "product_code": "GENERAL_WITHHOLDING",
        "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
        "external_agreement_no": fresh("agr")[:32],
        "access_params": {"channel": "ALIPAYAPP"},
        **more,
    }


def withholding_pay(out_trade_no: str, amount: str, agreement_no: str, **more: Any) -> dict[str, Any]:
    return {
        "out_trade_no": out_trade_no,
        "total_amount": amount,
        "subject": "免密支付 二手耳机",
        "product_code": "GENERAL_WITHHOLDING",
        "agreement_params": {"agreement_no": agreement_no},
        **more,
    }


def notify_path() -> str:
    return f"/notify/alipay/{uuid.uuid4().hex}"


def form(received: Received) -> dict[str, str]:
    """A received notification's fields, after verifying its signature with the platform public key."""
    params = ap.parse_form(received.body)
    ap.verify_notification(params, PLATFORM_PUBLIC)
    return params


async def notifications_to(merchant: Merchant, path: str, count: int = 1, timeout_s: float = 10.0) -> list[Received]:
    async def probe() -> list[Received]:
        return merchant.to(path)

    return await eventually(probe, until=lambda got: len(got) >= count, timeout_s=timeout_s, what=f"{count} at {path}")
