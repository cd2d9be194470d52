"""A fake WeChat Pay and Alipay for the collection's unit tests: the client methods `Collection` calls, over an
in-memory model of applications, sub-merchants and royalty receivers, recording each call and raising queued
failures. The fake WeChat "decrypts" what `encrypt` gave out, so tests can check what was sent."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from services.wallet.collection import Collection
from services.wallet.settings import WalletSettings
from shared.clock import ManualClock
from shared.events import Envelope
from shared.ids import new_id
from shared.providers.alipay import AlipayClient
from shared.providers.errors import ProviderRejected
from shared.providers.wechatpay import WechatPayClient
from shared.streams import StreamStore
from tests.support.memory import MemoryDatabase, as_database

NO_FILE = Path("/nonexistent")
SERIAL = "PUB_KEY_ID_0119000000012026120100000000000001"


def wallet_settings(**overrides: Any) -> WalletSettings:
    values: dict[str, Any] = {
        "mongo_url": "mongodb://memory/",
        "amqp_url": "amqp://memory/",
        "internal_token": "unit-test-internal-token",
        "otel_enabled": False,
        "wallet_public_base_url": "https://fishbridge.test",
        "wechat_api_base": "https://wechat.fake",
        "wechat_appid": "wx_fake",
        "wechat_mchid": "1900000001",
        "wechat_apiv3_key": "0" * 32,
        "wechat_merchant_private_key_file": NO_FILE,
        "wechat_merchant_cert_file": NO_FILE,
        "wechat_pay_public_key_file": NO_FILE,
        "wechat_pay_public_key_id": SERIAL,
        "alipay_gateway_url": "https://alipay.fake/gateway.do",
        "alipay_app_id": "2021000000000001",
        "alipay_seller_id": "2088000000000001",
        "alipay_app_private_key_file": NO_FILE,
        "alipay_public_key_file": NO_FILE,
        "provider_retry_delay_s": 0,
        "poll_after_s": 30,
        "retry_backoff_max_s": 600,
    }
    return WalletSettings(**{**values, **overrides})


@dataclass
class _Calls:
    calls: list[tuple[str, str]] = field(default_factory=list)
    failures: dict[str, list[Exception]] = field(default_factory=lambda: defaultdict(list))

    def fail_next(self, method: str, *errors: Exception) -> None:
        self.failures[method].extend(errors)

    def called(self, method: str) -> list[str]:
        return [key for name, key in self.calls if name == method]

    def _enter(self, method: str, key: str) -> None:
        self.calls.append((method, key))
        if self.failures[method]:
            raise self.failures[method].pop(0)


class FakeWechat(_Calls):
    def __init__(self) -> None:
        super().__init__()
        self.clear: dict[str, str] = {}  # ciphertext → plaintext: only WeChat can read what `encrypt` gives out
        self.applyments: dict[str, dict[str, Any]] = {}
        self.bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.cards: dict[str, dict[str, Any]] = {}
        self.changes: dict[str, dict[str, Any]] = {}

    def encrypt(self, text: str) -> tuple[str, str]:
        ciphertext = f"RSA-OAEP:{len(self.clear) + 1:06d}"
        self.clear[ciphertext] = text
        return ciphertext, SERIAL

    def decrypted(self, value: str) -> str:
        return self.clear[value]

    async def submit_applyment(self, body: dict[str, Any], serial: str) -> dict[str, Any]:
        number = body["out_request_no"]
        self._enter("submit_applyment", number)
        assert serial == SERIAL
        self.bodies[number].append(body)
        found = self.applyments.get(number)
        if found is None or found["applyment_state"] == "REJECTED":
            applyment_id = found["applyment_id"] if found else 2_000_000 + len(self.applyments)
            self.applyments[number] = {
                "applyment_id": applyment_id,
                "out_request_no": number,
                "applyment_state": "CHECKING",
                "applyment_state_desc": "资料校验中",
            }
        return {"applyment_id": self.applyments[number]["applyment_id"], "out_request_no": number}

    async def query_applyment(self, out_request_no: str) -> dict[str, Any]:
        self._enter("query_applyment", out_request_no)
        found = self.applyments.get(out_request_no)
        if found is None:
            raise ProviderRejected("RESOURCE_NOT_EXISTS", "申请单不存在", 404)
        return dict(found)

    def decide(self, out_request_no: str, state: str, reason: str | None = None) -> None:
        """WeChat's review moves the application (sub_mchid from NEED_SIGN on, audit_detail when REJECTED)."""
        a = self.applyments[out_request_no]
        a["applyment_state"] = state
        a.pop("sign_url", None)
        a.pop("audit_detail", None)
        if state in ("NEED_SIGN", "FINISH"):
            a.setdefault("sub_mchid", f"16{a['applyment_id']:08d}")
            self.cards.setdefault(a["sub_mchid"], {"account_type": "ACCOUNT_TYPE_PRIVATE", "account_bank": "招商银行"})
        if state == "NEED_SIGN":
            a["sign_url"] = f"https://pay.weixin.qq.com/public/apply4ec_sign/s?applymentId={a['applyment_id']}"
        if state == "REJECTED":
            a["audit_detail"] = [{"param_name": "account_number", "reject_reason": reason or "银行卡号校验失败"}]

    async def modify_settlement(self, sub_mchid: str, **terms: str) -> dict[str, Any]:
        self._enter("modify_settlement", sub_mchid)
        application_no = f"{len(self.changes) + 1:018d}"
        self.changes[application_no] = {
            "account_bank": terms["account_bank"],
            "account_number": "*" * 8 + terms["account_number"][-4:],
            "verify_result": "AUDITING",
        }
        return {"application_no": application_no}

    async def settlement(self, sub_mchid: str) -> dict[str, Any]:
        self._enter("settlement", sub_mchid)
        return {**self.cards[sub_mchid], "account_number": "***************0002", "verify_result": "VERIFY_SUCCESS"}

    async def settlement_application(self, sub_mchid: str, application_no: str) -> dict[str, Any]:
        self._enter("settlement_application", application_no)
        return dict(self.changes[application_no])


class FakeAlipay(_Calls):
    def __init__(self) -> None:
        super().__init__()
        self.bound: dict[str, str | None] = {}

    async def bind_receivers(self, out_request_no: str, receivers: list[tuple[str, str | None]]) -> dict[str, Any]:
        self._enter("bind_receivers", out_request_no)
        for account, name in receivers:
            self.bound[account] = name
        return {"result_code": "SUCCESS"}


@dataclass
class World:
    collection: Collection
    wechat: FakeWechat
    alipay: FakeAlipay
    clock: ManualClock
    db: MemoryDatabase
    seq: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    async def deliver(self, event_type: str, payload: dict[str, Any], *, seq: int, event_id: str | None = None) -> None:
        """Listing's event reaching the wallet's consumer (its shop stream's `seq`)."""
        envelope = Envelope(
            event_id=event_id or new_id("evt"),
            type=event_type,
            version=1,
            occurred_at=self.clock.now(),
            producer="listing",
            aggregate_id=payload["shop_id"],
            seq=seq,
            payload=payload,
        )
        await self.collection.handlers("wallet")[f"{event_type}.v1"](envelope)

    async def open_shop(self, level: int, *, seller_id: str | None = None, name: str = "闲置小铺") -> tuple[str, str]:
        seller_id = seller_id or new_id("usr")
        shop_id = new_id("shp")
        await self.deliver(
            "shop.opened", {"shop_id": shop_id, "seller_id": seller_id, "name": name, "level": level}, seq=1
        )
        self.clock.advance(1)
        return seller_id, shop_id

    async def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        found = []
        async for doc in self.db["stream_entries"].find({}):
            for e in doc["events"]:
                if event_type is None or e["type"] == event_type:
                    found.append({**e, "stream_id": doc["stream_id"]})
        return found


async def world(**overrides: Any) -> World:
    clock = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    mdb = MemoryDatabase()
    db = as_database(mdb)
    streams = StreamStore(db, clock=clock, contracts="strict")
    await streams.ensure_indexes()
    wechat, alipay = FakeWechat(), FakeAlipay()
    collection = Collection(
        streams, db, cast(WechatPayClient, wechat), cast(AlipayClient, alipay), wallet_settings(**overrides), clock
    )
    await collection.ensure_indexes()
    return World(collection, wechat, alipay, clock, mdb)


def id_number(first17: str = "11010519491231002") -> str:
    from services.wallet.collection_domain import id_check_character

    return first17 + id_check_character(first17)


def activation(**overrides: Any) -> dict[str, Any]:
    """A valid activation body: 张三, a valid ID number, a Luhn-valid personal card in his name."""
    card = {
        "account_bank": "招商银行",
        "bank_address_code": "110000",
        "account_number": "6225880000000000002",
        "account_name": "张三",
    }
    body: dict[str, Any] = {
        "real_name": "张三",
        "id_card_number": id_number(),
        "id_card_valid_time": "2036-01-01",
        "id_card_copy": "media-front",
        "id_card_national": "media-back",
        "mobile": "13800138000",
        "bank_card": card,
    }
    card.update(overrides.pop("bank_card", {}))
    body.update(overrides)
    return body
