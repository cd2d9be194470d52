"""Helpers (no tests) for the WeChat sandbox tests: a signing merchant client, buyer actions, notification checks."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from multidict import CIMultiDictProxy

from shared.mongo import Client
from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Merchant, Received, Sandbox
from tests.support.infra import MONGO_URL, eventually
from tests.support.processes import ServiceProcess

KEYS = Path(__file__).resolve().parents[3] / "services" / "sandbox" / "keys"
APPID = "wx8888888888888888"
APP_SECRET = "sandbox-wechat-app-secret-000000"
MCHID = "1900000001"
APIV3_KEY = "SandboxApiV3Key0123456789abcdef0"


def pem(name: str) -> bytes:
    return (KEYS / name).read_bytes()


MERCHANT_PRIVATE = wp.load_private_key(pem("TEST_ONLY_wechatpay_merchant_private.pem"))
MERCHANT_SERIAL = wp.certificate_serial_no(wp.load_certificate(pem("TEST_ONLY_wechatpay_merchant_cert.pem")))
PLATFORM_CERT = wp.load_certificate(pem("TEST_ONLY_wechatpay_platform_cert.pem"))
PLATFORM_SERIAL = wp.certificate_serial_no(PLATFORM_CERT)
PLATFORM_PUBLIC = wp.load_public_key(pem("TEST_ONLY_wechatpay_platform_public.pem"))
# The WeChat Pay public key (public-key mode): a key pair of its own, under the id WeChat assigned (a setting).
PUBKEY_PUBLIC = wp.load_public_key(pem("TEST_ONLY_wechatpay_pubkey_public.pem"))
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000000012026120100000000000001"
# What the merchant trusts: the platform certificate's key under its serial (what /v3/certificates publishes) and
# the WeChat Pay public key under its id, as a merchant switching over configures both.
TRUSTED: dict[str, rsa.RSAPublicKey] = {PLATFORM_SERIAL: PLATFORM_PUBLIC, PUBLIC_KEY_ID: PUBKEY_PUBLIC}
# Any other key: what a request signed with the wrong key is signed with.
WRONG_PRIVATE = wp.load_private_key(pem("TEST_ONLY_alipay_app_private.pem"))


def fresh(prefix: str = "ord") -> str:
    """A new merchant number (out_trade_no, out_refund_no, out_bill_no: letters and digits, at most 32)."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def notify_path() -> str:
    return f"/notify/wechat/{uuid.uuid4().hex}"


@dataclass
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    raw: bytes

    @property
    def signature_valid(self) -> bool:
        try:
            wp.verify_response(dict(self.headers), self.raw, public_key=TRUSTED, now=int(time.time()))
        except wp.WechatPayError:
            return False
        return True

    def json(self) -> Any:
        """The body, after checking the platform's signature over its exact bytes (every answer is signed)."""
        assert self.signature_valid, (self.status, dict(self.headers), self.raw)
        return json.loads(self.raw) if self.raw else None

    def ok(self, status: int = 200) -> Any:
        assert self.status == status, (self.status, self.raw.decode())
        return self.json()

    def error(self, status: int, code: str) -> str:
        """Assert a signed WeChat error answer; returns its message."""
        body = self.json()
        assert (self.status, body["code"]) == (status, code), (self.status, body)
        return str(body["message"])


def encrypt_for_platform(text: str, key: rsa.RSAPublicKey = PLATFORM_PUBLIC) -> str:
    """A sensitive field (user_name, ID numbers, bank accounts) as WeChat wants it: RSA-OAEP (SHA-1) for the platform
    certificate's key (or the public key given), Base64."""
    sealed = key.encrypt(
        text.encode(), padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    )
    return base64.b64encode(sealed).decode()


class WechatClient:
    """What the payment service does against WeChat Pay, done by hand with shared.protocols.wechatpay."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        key: rsa.RSAPrivateKey = MERCHANT_PRIVATE,
        serial: str = MERCHANT_SERIAL,
        mchid: str = MCHID,
        timestamp: int | None = None,
        tamper: Callable[[bytes], bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        authorization: str | None = None,
        timeout_s: float = 10.0,
    ) -> Answer:
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        auth = authorization
        if auth is None:
            auth = wp.build_authorization(
                method=method,
                url=path,
                body=raw,
                mchid=mchid,
                serial_no=serial,
                private_key=key,
                timestamp=timestamp if timestamp is not None else int(time.time()),
                nonce=wp.new_nonce(),
            )
        sent = {"Accept": "application/json", "Content-Type": "application/json", **(headers or {})}
        if auth:
            sent["Authorization"] = auth
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            data = tamper(raw) if tamper else raw
            async with http.request(method, self.sandbox.url + path, data=data, headers=sent) as resp:
                return Answer(resp.status, resp.headers, await resp.read())

    # --- WeChat Pay v3 ---

    async def jsapi(self, body: Mapping[str, Any], **kw: Any) -> Answer:
        return await self.request("POST", "/v3/pay/transactions/jsapi", body, **kw)

    async def query(self, out_trade_no: str, **kw: Any) -> Answer:
        return await self.request("GET", f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={MCHID}", **kw)

    async def query_id(self, transaction_id: str) -> Answer:
        return await self.request("GET", f"/v3/pay/transactions/id/{transaction_id}?mchid={MCHID}")

    async def close(self, out_trade_no: str) -> Answer:
        return await self.request("POST", f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close", {"mchid": MCHID})

    async def refund(self, body: Mapping[str, Any], **kw: Any) -> Answer:
        return await self.request("POST", "/v3/refund/domestic/refunds", body, **kw)

    async def query_refund(self, out_refund_no: str) -> Answer:
        return await self.request("GET", f"/v3/refund/domestic/refunds/{out_refund_no}")

    async def transfer(self, body: Mapping[str, Any], **kw: Any) -> Answer:
        return await self.request("POST", "/v3/fund-app/mch-transfer/transfer-bills", body, **kw)

    async def query_transfer(self, out_bill_no: str) -> Answer:
        return await self.request("GET", f"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}")

    # --- login and the buyer's phone (test-only routes) ---

    async def post(self, path: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.sandbox.url}{path}", json=dict(body)) as resp:
                return resp.status, await resp.json()

    async def login_code(self, openid: str | None = None) -> dict[str, Any]:
        status, data = await self.post("/sandbox/wechat/login-codes", {"openid": openid} if openid else {})
        assert status == 200, data
        return data

    async def code2session(self, code: str, **params: str) -> tuple[aiohttp.ClientResponse, dict[str, Any]]:
        query = {"appid": APPID, "secret": APP_SECRET, "js_code": code, "grant_type": "authorization_code", **params}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.sandbox.url}/sns/jscode2session", params=query) as resp:
                return resp, json.loads(await resp.text())

    async def buyer(self) -> str:
        """A buyer who has logged in to the mini-program: their openid."""
        return str((await self.login_code())["openid"])

    async def pay(self, prepay_id: str, openid: str, **params: str) -> tuple[int, dict[str, Any]]:
        return await self.post("/sandbox/wechat/pay", {"prepay_id": prepay_id, "openid": openid, **params})

    async def placed(self, total: int = 100, *, notify_url: str | None = None, **more: Any) -> Order:
        openid = more.pop("openid", None) or await self.buyer()
        out_trade_no = more.pop("out_trade_no", None) or fresh()
        url = notify_url or f"{self.sandbox.merchant.url}{notify_path()}"
        answer = await self.jsapi(jsapi_body(out_trade_no, total, openid, url, **more))
        prepay_id = str(answer.ok()["prepay_id"])
        return Order(out_trade_no, prepay_id, openid, total, url)

    async def paid(self, total: int = 100, **more: Any) -> Order:
        order = await self.placed(total, **more)
        status, data = await self.pay(order.prepay_id, order.openid)
        assert (status, data) == (200, {"result": "ok"}), data
        return order


@dataclass
class Order:
    out_trade_no: str
    prepay_id: str
    openid: str
    total: int
    notify_url: str

    @property
    def notify_path(self) -> str:
        return "/" + self.notify_url.split("/", 3)[3]


def jsapi_body(out_trade_no: str, total: int, openid: str, notify_url: str, **more: Any) -> dict[str, Any]:
    return {
        "appid": APPID,
        "mchid": MCHID,
        "description": "二手书 《算法导论》",
        "out_trade_no": out_trade_no,
        "notify_url": notify_url,
        "amount": {"total": total, "currency": "CNY"},
        "payer": {"openid": openid},
        **more,
    }


def refund_body(out_trade_no: str, out_refund_no: str, refund: int, total: int, **more: Any) -> dict[str, Any]:
    return {
        "out_trade_no": out_trade_no,
        "out_refund_no": out_refund_no,
        "reason": "买家退货",
        "amount": {"refund": refund, "total": total, "currency": "CNY"},
        **more,
    }


def transfer_body(out_bill_no: str, openid: str, amount: int, **more: Any) -> dict[str, Any]:
    return {
        "appid": APPID,
        "out_bill_no": out_bill_no,
        "transfer_scene_id": "1005",
        "openid": openid,
        "transfer_amount": amount,
        "transfer_remark": "卖家货款提现",
        "transfer_scene_report_infos": [
            {"info_type": "岗位类型", "info_content": "二手卖家"},
            {"info_type": "报酬说明", "info_content": "货款结算"},
        ],
        **more,
    }


def verified(received: Received) -> wp.Notification:
    """A received notification, after verifying its signature and timestamp and decrypting its resource."""
    return wp.verify_notification(
        received.headers, received.body, public_key=TRUSTED, now=int(time.time()), apiv3_key=APIV3_KEY
    )


async def notifications_to(merchant: Merchant, path: str, count: int = 1, timeout_s: float = 10.0) -> list[Received]:
    async def probe() -> list[Received]:
        return merchant.to(path)

    return await eventually(probe, until=lambda got: len(got) >= count, timeout_s=timeout_s, what=f"{count} at {path}")


async def start_sandbox(
    mongo_client: Client, merchant: Merchant, log_dir: Path, name: str, env: Mapping[str, str]
) -> AsyncIterator[Sandbox]:
    """A sandbox process of its own (its own database), configured by ``env`` (e.g. WECHAT_PAY_KEY_MODE)."""
    db_name = f"t_{uuid.uuid4().hex[:8]}_{name.replace('-', '_')}"
    full = {
        "SERVICE_NAME": name,
        "MONGO_URL": MONGO_URL,
        "MONGO_DB": db_name,
        "TIME_SCALE": "0.001",
        "OTEL_ENABLED": "false",
        **env,
    }
    process = ServiceProcess("services.sandbox", full, log_dir)
    await process.start()
    try:
        yield Sandbox(process, merchant)
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)


@pytest.fixture(scope="module", name="strict_sandbox")
async def strict_sandbox_fixture(
    infra: None, mongo_client: Client, merchant: Merchant, log_dir: Path
) -> AsyncIterator[Sandbox]:
    """A second sandbox in WeChat's other configurations: public-key mode (Wechatpay-Serial is PUB_KEY_ID_...), and
    transfer bills the payee must confirm (WAIT_USER_CONFIRM)."""
    db_name = f"t_{uuid.uuid4().hex[:8]}_sandbox_strict"
    env = {
        "SERVICE_NAME": "sandbox-strict",
        "MONGO_URL": MONGO_URL,
        "MONGO_DB": db_name,
        "TIME_SCALE": "0.001",
        "WECHAT_PAY_KEY_MODE": "public_key",
        "WECHAT_TRANSFER_USER_CONFIRM": "true",
        "OTEL_ENABLED": "false",
    }
    process = ServiceProcess("services.sandbox", env, log_dir)
    await process.start()
    try:
        yield Sandbox(process, merchant)
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)
