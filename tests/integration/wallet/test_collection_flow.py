"""The collection in-process against a real sandbox process over HTTP, real FerretDB and RabbitMQ (the wallet app's
process fixture comes with tests/integration/wallet/conftest.py): invitation → activation → the sandbox's review →
polling → FINISH → `wallet.collection_activated` on RabbitMQ with the sandbox's sub_mchid; a REJECTED application
resubmitted and finished; the Alipay account bound; the settlement card changed; the queries shaped for FerretDB."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.wallet.collection import Collection
from services.wallet.collection_domain import ActivationRequest, id_check_character
from services.wallet.settings import WalletSettings
from shared.bus import Bus
from shared.events import Envelope
from shared.ids import new_id
from shared.mongo import Client, Database
from shared.providers.alipay import AlipayClient
from shared.providers.wechatpay import WechatPayClient
from shared.relay import Relay
from shared.streams import StreamStore
from tests.support.infra import MONGO_URL, OTLP_ENDPOINT, eventually
from tests.support.internal_api import service_env
from tests.support.processes import ServiceProcess
from tests.support.providers import provider_env
from tests.support.queries import QueryLog, leading_fields

pytestmark = pytest.mark.infra

LUHN_OK = "6225880000000000002"
LUHN_BAD = "6225880137000002"


@pytest.fixture(scope="module")
async def collection_sandbox(infra: None, mongo_client: Client, log_dir: Path) -> AsyncIterator[ServiceProcess]:
    """The sandbox at real speed (nothing moves by itself during a test: the test decides), holding both WeChat Pay
    keys (`switching`), since the wallet encrypts for the public key it is configured with."""
    db_name = f"t_{uuid.uuid4().hex[:8]}_sandbox"
    process = ServiceProcess(
        "services.sandbox",
        {
            "SERVICE_NAME": "sandbox-for-wallet-collection",
            "MONGO_URL": MONGO_URL,
            "MONGO_DB": db_name,
            "TIME_SCALE": "1",
            "WECHAT_PAY_KEY_MODE": "switching",
            "OTEL_EXPORTER_OTLP_ENDPOINT": OTLP_ENDPOINT,
        },
        log_dir,
    )
    await process.start()
    try:
        yield process
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)


@dataclass
class Harness:
    collection: Collection
    sandbox: ServiceProcess
    http: aiohttp.ClientSession
    db: Database
    seen: list[Envelope]

    async def sandbox_post(self, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.post(f"{self.sandbox.url}{path}", json=body if body is not None else {}) as resp:
            return resp.status, await resp.json()

    async def decide(self, applyment_id: str, state: str, reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"state": state} | ({"reason": reason} if reason else {})
        status, view = await self.sandbox_post(f"/sandbox/wechat/applyments/{applyment_id}/decide", body)
        assert status == 200, view
        return dict(view)

    async def sign(self, applyment_id: str) -> dict[str, Any]:
        status, view = await self.sandbox_post(f"/sandbox/wechat/applyments/{applyment_id}/sign")
        assert status == 200, view
        return dict(view)

    async def open_shop(self, level: int) -> tuple[str, str]:
        seller_id, shop_id = new_id("usr"), new_id("shp")
        envelope = Envelope(
            event_id=new_id("evt"),
            type="shop.opened",
            version=1,
            occurred_at=datetime.now(UTC),
            producer="listing",
            aggregate_id=shop_id,
            seq=1,
            payload={"shop_id": shop_id, "seller_id": seller_id, "name": "旧物小铺", "level": level},
        )
        await self.collection.handlers("wallet")["shop.opened.v1"](envelope)
        return seller_id, shop_id

    def activated(self, seller_id: str) -> list[Envelope]:
        return [e for e in self.seen if e.type == "wallet.collection_activated" and e.payload["seller_id"] == seller_id]


def _id_number() -> str:
    first17 = "44030119880214003"
    return first17 + id_check_character(first17)


def _activation(card: str) -> ActivationRequest:
    return ActivationRequest.model_validate(
        {
            "real_name": "李四",
            "id_card_number": _id_number(),
            "id_card_valid_time": "长期",
            "id_card_copy": "media-front",
            "id_card_national": "media-back",
            "mobile": "13912345678",
            "bank_card": {
                "account_bank": "招商银行",
                "bank_address_code": "440300",
                "account_number": card,
                "account_name": "李四",
            },
        }
    )


@pytest.fixture
async def harness(
    collection_sandbox: ServiceProcess, watched_db: tuple[Database, QueryLog], bus: Bus, watch: Any
) -> AsyncIterator[tuple[Harness, QueryLog]]:
    db, queries = watched_db
    env = {**service_env("wallet-collection-test", db.name), **provider_env(collection_sandbox.url)}
    env.pop("CONSUMER_RETRY_DELAYS_S")  # JSON, as the environment gives it; no consumer runs here
    settings = WalletSettings(
        **{k.lower(): v for k, v in env.items()},
        wallet_public_base_url="http://127.0.0.1:1",
        poll_after_s=0,
        provider_retry_delay_s=0.05,
        otel_enabled=False,
    )
    seen = await watch("wallet.#")  # every event of this test's streams is routable, and seen
    streams = StreamStore(db, contracts="strict")
    await streams.ensure_indexes()
    stop = asyncio.Event()
    relay = Relay(streams, bus, producer="wallet", poll_s=0.05)
    async with aiohttp.ClientSession() as http:
        wechat = WechatPayClient(http, settings, timeout_s=5)
        alipay = AlipayClient(http, settings, timeout_s=5)
        collection = Collection(streams, db, wechat, alipay, settings)
        await collection.ensure_indexes()
        task = asyncio.create_task(relay.run(stop))
        try:
            yield Harness(collection, collection_sandbox, http, db, seen), queries
        finally:
            stop.set()
            relay.wake.set()
            await asyncio.wait_for(task, 10)


async def test_an_invited_seller_is_onboarded_and_activated_once_with_the_sandboxs_sub_mchid(
    harness: tuple[Harness, QueryLog],
) -> None:
    h, _ = harness
    seller, shop = await h.open_shop(7)
    batch = await h.collection.run_batch("bat_" + uuid.uuid4().hex[:26].upper(), 5, 10)
    assert batch.seller_ids == [seller]

    state = await h.collection.activate(seller, _activation(LUHN_OK))
    assert state.status == "applying" and state.applyment_id is not None
    assert (await h.collection.poll())["checked"] == 1  # CHECKING: nothing new
    assert (await h.collection.application(seller)).provider_state == "CHECKING"

    await h.decide(state.applyment_id, "AUDITING")
    await h.collection.poll()
    assert (await h.collection.application(seller)).provider_state == "AUDITING"
    need_sign = await h.decide(state.applyment_id, "NEED_SIGN")
    await h.collection.poll()
    waiting = await h.collection.application(seller)
    assert waiting.provider_state == "NEED_SIGN" and waiting.sub_mchid == need_sign["sub_mchid"]
    assert waiting.sign_url == need_sign["sign_url"]
    assert await h.collection.sub_mchid_of(seller) is None

    finished = await h.sign(state.applyment_id)
    assert finished["applyment_state"] == "FINISH"
    counts = await asyncio.gather(h.collection.poll(), h.collection.poll())
    await h.collection.refresh(seller)
    assert sum(c["activated"] for c in counts) == 1
    assert await h.collection.sub_mchid_of(seller) == finished["sub_mchid"]

    events = await eventually(
        lambda: asyncio.sleep(0, h.activated(seller)), until=bool, what="wallet.collection_activated on RabbitMQ"
    )
    await asyncio.sleep(0.5)  # anything published twice would have arrived by now
    assert len(h.activated(seller)) == 1, h.activated(seller)
    assert events[0].payload == {
        "seller_id": seller,
        "shop_id": shop,
        "account_id": f"acc_{seller}.wechat_available",
        "sub_mchid": finished["sub_mchid"],
    }
    invited = [e for e in h.seen if e.type == "wallet.invited" and e.payload["seller_id"] == seller]
    assert len(invited) == 1 and invited[0].payload["batch_id"] == batch.batch_id


async def test_a_rejected_application_shows_the_sandboxs_reason_and_a_resubmission_finishes(
    harness: tuple[Harness, QueryLog],
) -> None:
    h, _ = harness
    seller, _ = await h.open_shop(9)
    await h.collection.run_batch("bat_" + uuid.uuid4().hex[:26].upper(), 5, 10)
    first = await h.collection.activate(seller, _activation(LUHN_BAD))
    assert first.applyment_id is not None
    await h.decide(first.applyment_id, "REJECTED")  # the sandbox's own review: the card fails Luhn
    rejected, changed = await h.collection.refresh(seller)
    assert changed and rejected.status == "rejected"
    assert [d["param_name"] for d in rejected.audit_detail] == ["account_number"]
    assert "Luhn" in rejected.audit_detail[0]["reject_reason"]

    second = await h.collection.activate(seller, _activation(LUHN_OK))
    assert second.out_request_no != first.out_request_no and second.attempt == 2
    assert second.applyment_id is not None and second.applyment_id != first.applyment_id
    finished = await h.decide(second.applyment_id, "FINISH")
    await h.collection.poll()
    assert await h.collection.sub_mchid_of(seller) == finished["sub_mchid"]
    await eventually(lambda: asyncio.sleep(0, h.activated(seller)), until=bool, what="the activation published")


async def test_the_settlement_card_change_goes_through_the_sandbox(harness: tuple[Harness, QueryLog]) -> None:
    h, _ = harness
    seller, _ = await h.open_shop(6)
    await h.collection.run_batch("bat_" + uuid.uuid4().hex[:26].upper(), 5, 10)
    state = await h.collection.activate(seller, _activation(LUHN_OK))
    assert state.applyment_id is not None
    await h.decide(state.applyment_id, "FINISH")
    await h.collection.refresh(seller)
    _, application_no = await h.collection.change_settlement_card(
        seller, account_bank="工商银行", bank_address_code="440300", account_number="6222020200112233440",
        account_name="李四",
    )  # fmt: skip
    found = await h.collection.settlement_card(seller)
    assert found["application_no"] == application_no
    assert found["change"]["verify_result"] == "AUDITING"
    assert found["change"]["account_number"].endswith("3440") and "6222020200112233440" not in str(found)
    assert found["card"]["verify_result"] == "VERIFY_SUCCESS"


async def test_the_alipay_account_is_bound_at_the_sandbox(harness: tuple[Harness, QueryLog]) -> None:
    h, _ = harness
    seller = new_id("usr")
    payee = await h.collection.bind_alipay(seller, "2088102233445566", "李四")
    assert payee.status == "bound"
    assert await h.collection.alipay_account_of(seller) == "2088102233445566"
    again = await h.collection.bind_alipay(seller, "2088102233445566", "李四")
    assert again.out_request_no == payee.out_request_no


async def test_the_hot_queries_are_equalities_on_indexed_fields(harness: tuple[Harness, QueryLog]) -> None:
    h, queries = harness
    sellers = [(await h.open_shop(level))[0] for level in (5, 8, 6)]
    queries.seen.clear()
    batch = await h.collection.run_batch("bat_" + uuid.uuid4().hex[:26].upper(), 5, 2)
    assert batch.seller_ids == [sellers[1], sellers[2]]
    await h.collection.activate(sellers[1], _activation(LUHN_OK))
    await h.collection.poll()
    await h.collection.sub_mchid_of(sellers[1])
    names = ("collection_shops", "collection_invitations", "collection_onboarding", "collection_submissions")
    indexed = await leading_fields(h.db, *names, "stream_entries")
    assert {c for c, _, _ in queries.seen} >= {"collection_shops", "collection_onboarding"}
    assert queries.unindexed(indexed) == []
