"""The shared provider clients (shared/providers/) against sandbox processes (provider time scaled 1000×): one in
each WeChat Pay key mode a merchant can be in, and Alipay in public-key mode with user ids and in certificate mode with
OpenIDs. A merchant endpoint in the test process records the notifications the sandboxes send."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shared.mongo import Client
from shared.providers.alipay import AlipayClient
from shared.providers.settings import AlipaySettings, WechatPaySettings
from shared.providers.wechatpay import WechatPayClient
from tests.integration.sandbox.conftest import Merchant, merchant  # noqa: F401  (the notify endpoint fixture)
from tests.support.infra import MONGO_URL, OTLP_ENDPOINT
from tests.support.processes import ServiceProcess
from tests.support.providers import (
    ALIPAY_APP_ID,
    ALIPAY_SELLER_ID,
    APIV3_KEY,
    APPID,
    KEYS,
    MCHID,
    WECHAT_PAY_PUBLIC_KEY_ID,
)

# The platform settles the seller's whole part and keeps only its fee: its 商家分账 contract allows up to 100%
# (Alipay's default is 30%, more is applied for; docs/providers.md §7).
ROYALTY_CONTRACT = {"ALIPAY_ROYALTY_MAX_RATIO_PCT": "100"}


@dataclass
class Sandbox:
    process: ServiceProcess
    http: aiohttp.ClientSession
    db_name: str

    @property
    def url(self) -> str:
        return self.process.url

    async def post(self, path: str, body: Any, expect: int | None = None) -> Any:
        async with self.http.post(f"{self.url}{path}", json=body) as resp:
            data = await resp.json()
            assert expect is None or resp.status == expect, (resp.status, data)
            return data

    async def get(self, path: str) -> Any:
        async with self.http.get(f"{self.url}{path}") as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def fault(self, **rule: Any) -> None:
        await self.post("/sandbox/faults", rule, 201)

    async def clear_faults(self) -> None:
        async with self.http.delete(f"{self.url}/sandbox/faults"):
            pass


async def _sandbox(
    mongo_client: Client, log_dir: Path, http: aiohttp.ClientSession, name: str, **env: str
) -> AsyncIterator[Sandbox]:
    db_name = f"t_{uuid.uuid4().hex[:8]}_sandbox"
    process = ServiceProcess(
        "services.sandbox",
        {
            "SERVICE_NAME": name,
            "MONGO_URL": MONGO_URL,
            "MONGO_DB": db_name,
            "TIME_SCALE": "0.001",
            "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
            **env,
        },
        log_dir,
    )
    await process.start()
    try:
        yield Sandbox(process, http, db_name)
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)


@pytest.fixture(scope="package")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="package")
async def switching(
    infra: None, mongo_client: Client, log_dir: Path, http: aiohttp.ClientSession
) -> AsyncIterator[Sandbox]:
    """A merchant switching over to the WeChat Pay public key: answers and callbacks signed by either key."""
    async for sandbox in _sandbox(
        mongo_client, log_dir, http, "sandbox-switching", WECHAT_PAY_KEY_MODE="switching", **ROYALTY_CONTRACT
    ):
        yield sandbox


@pytest.fixture(scope="package")
async def public_key_only(
    infra: None, mongo_client: Client, log_dir: Path, http: aiohttp.ClientSession
) -> AsyncIterator[Sandbox]:
    """A merchant onboarded since WeChat's public keys: no platform certificates at all."""
    async for sandbox in _sandbox(mongo_client, log_dir, http, "sandbox-pubkey", WECHAT_PAY_KEY_MODE="public_key"):
        yield sandbox


@pytest.fixture(scope="package")
async def certificate_only(
    infra: None, mongo_client: Client, log_dir: Path, http: aiohttp.ClientSession
) -> AsyncIterator[Sandbox]:
    """A merchant still on platform certificates only (the sandbox's default key mode)."""
    async for sandbox in _sandbox(
        mongo_client, log_dir, http, "sandbox-certificate", WECHAT_PAY_KEY_MODE="certificate"
    ):
        yield sandbox


@pytest.fixture(scope="package")
async def openid_cert(
    infra: None, mongo_client: Client, log_dir: Path, http: aiohttp.ClientSession
) -> AsyncIterator[Sandbox]:
    """An Alipay app created under the OpenID regime, in public-key-certificate mode."""
    async for sandbox in _sandbox(
        mongo_client,
        log_dir,
        http,
        "sandbox-openid-cert",
        ALIPAY_USER_ID_MODE="open_id",
        ALIPAY_SIGN_MODE="cert",
        **ROYALTY_CONTRACT,
    ):
        yield sandbox


def wechat_settings(base: str, *, public_key: bool = True, certificates: bool = True, **over: Any) -> WechatPaySettings:
    values: dict[str, Any] = {
        "wechat_api_base": base,
        "wechat_appid": APPID,
        "wechat_mchid": MCHID,
        "wechat_apiv3_key": APIV3_KEY,
        "wechat_merchant_private_key_file": KEYS / "TEST_ONLY_wechatpay_merchant_private.pem",
        "wechat_merchant_cert_file": KEYS / "TEST_ONLY_wechatpay_merchant_cert.pem",
        "wechat_platform_certificates": certificates,
    }
    if public_key:
        values["wechat_pay_public_key_file"] = KEYS / "TEST_ONLY_wechatpay_pubkey_public.pem"
        values["wechat_pay_public_key_id"] = WECHAT_PAY_PUBLIC_KEY_ID
    return WechatPaySettings(**(values | over))


def alipay_settings(gateway: str, *, cert: bool = False) -> AlipaySettings:
    values: dict[str, Any] = {
        "alipay_gateway_url": f"{gateway}/gateway.do",
        "alipay_app_id": ALIPAY_APP_ID,
        "alipay_seller_id": ALIPAY_SELLER_ID,
        "alipay_app_private_key_file": KEYS / "TEST_ONLY_alipay_app_private.pem",
    }
    if cert:
        values |= {
            "alipay_sign_mode": "cert",
            "alipay_app_cert_file": KEYS / "TEST_ONLY_alipay_app_cert.crt",
            "alipay_cert_file": KEYS / "TEST_ONLY_alipay_cert.crt",
            "alipay_root_cert_file": KEYS / "TEST_ONLY_alipay_root_cert.crt",
        }
    else:
        values["alipay_public_key_file"] = KEYS / "TEST_ONLY_alipay_platform_public.pem"
    return AlipaySettings(**values)


@pytest.fixture(scope="package")
async def wechat(switching: Sandbox, http: aiohttp.ClientSession) -> WechatPayClient:
    """The platform's client as a switching merchant has it: public key and downloaded platform certificates."""
    client = WechatPayClient(http, wechat_settings(switching.url), timeout_s=5)
    assert await client.refresh_certificates() == 1
    return client


@pytest.fixture(scope="package")
async def alipay(switching: Sandbox, http: aiohttp.ClientSession) -> AlipayClient:
    return AlipayClient(http, alipay_settings(switching.url), timeout_s=5)


@pytest.fixture
def new_no() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}{uuid.uuid4().hex[:20]}"
