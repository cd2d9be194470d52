"""The WeChat stand-in's Mongo state: transaction and transfer streams, number lookups, login codes, due settlements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.sandbox.wechat import domain as d
from shared.clock import Clock, utc
from shared.mongo import Collection, Database, is_duplicate_key
from shared.streams import Outcome, StreamStore, execute, load

# Stream ids are namespaced: the stream collections are shared with the Alipay half of the sandbox.
TRANSACTION = "wechat.transaction:"
TRANSFER = "wechat.transfer:"

PREPAY_IDS = "wechat_prepay_ids"
TRANSACTION_IDS = "wechat_transaction_ids"
REFUND_NOS = "wechat_refund_nos"
TRANSFER_BILL_NOS = "wechat_transfer_bill_nos"
LOGIN_CODES = "wechat_login_codes"
LOGIN_CODE_USES = "wechat_login_code_uses"
OPENIDS = "wechat_openids"
DUE = "wechat_due"


@dataclass(frozen=True)
class Due:
    """A settlement WeChat performs by itself later: a refund or transfer reaching its outcome."""

    id: str
    kind: str  # "refund" | "transfer"
    mchid: str
    key: str  # out_trade_no for a refund, out_bill_no for a transfer
    out_refund_no: str | None
    outcome: str
    fail_reason: str | None
    due_at: datetime


class WechatStore:
    """Decisions go through streams (a unique (stream_id, seq) decides every race). The other collections are keyed
    by the provider number they look up (`_id`), so a unique insert also decides who owns a number."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.streams = StreamStore(db, clock=clock)
        self.prepay_ids = db[PREPAY_IDS]
        self.transaction_ids = db[TRANSACTION_IDS]
        self.refund_nos = db[REFUND_NOS]
        self.transfer_bill_nos = db[TRANSFER_BILL_NOS]
        self.login_codes = db[LOGIN_CODES]
        self.login_code_uses = db[LOGIN_CODE_USES]
        self.openids = db[OPENIDS]
        self.due = db[DUE]

    async def ensure_indexes(self) -> None:
        await self.streams.ensure_indexes()
        await self.due.create_index([("due_at", 1)], name="due_at")

    # --- transactions ---

    async def transaction(self, mchid: str, out_trade_no: str) -> d.Transaction:
        state, _ = await load(self.streams, d.TRANSACTION, TRANSACTION + f"{mchid}:{out_trade_no}")
        return state

    async def run_transaction(
        self, mchid: str, out_trade_no: str, cmd: d.TransactionCommand, *, command_id: str | None = None
    ) -> Outcome[d.Transaction]:
        outcome = await execute(
            self.streams, d.TRANSACTION, TRANSACTION + f"{mchid}:{out_trade_no}", cmd, command_id=command_id
        )
        if outcome.entry is not None:
            ref = {"mchid": mchid, "out_trade_no": out_trade_no}
            for event in outcome.entry.events:
                if "prepay_id" in event.payload:
                    await _insert_lookup(self.prepay_ids, {"_id": event.payload["prepay_id"], **ref})
                if event.type == "order.paid":
                    await _insert_lookup(self.transaction_ids, {"_id": event.payload["transaction_id"], **ref})
        return outcome

    async def by_prepay_id(self, prepay_id: str) -> tuple[str, str] | None:
        doc = await self.prepay_ids.find_one({"_id": prepay_id})
        return (str(doc["mchid"]), str(doc["out_trade_no"])) if doc else None

    async def out_trade_no_of(self, mchid: str, transaction_id: str) -> str | None:
        doc = await self.transaction_ids.find_one({"_id": transaction_id})
        return str(doc["out_trade_no"]) if doc and doc["mchid"] == mchid else None

    async def claim_refund_no(self, mchid: str, out_refund_no: str, out_trade_no: str) -> str:
        """The order an out_refund_no belongs to: this one if the number is new, else whichever claimed it first."""
        key = f"{mchid}:{out_refund_no}"
        try:
            await self.refund_nos.insert_one({"_id": key, "out_trade_no": out_trade_no})
            return out_trade_no
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        owner = await self.refund_nos.find_one({"_id": key})
        assert owner is not None
        return str(owner["out_trade_no"])

    async def refund_owner(self, mchid: str, out_refund_no: str) -> str | None:
        doc = await self.refund_nos.find_one({"_id": f"{mchid}:{out_refund_no}"})
        return str(doc["out_trade_no"]) if doc else None

    # --- transfers ---

    async def transfer(self, mchid: str, out_bill_no: str) -> d.Transfer:
        state, _ = await load(self.streams, d.TRANSFER, TRANSFER + f"{mchid}:{out_bill_no}")
        return state

    async def run_transfer(
        self, mchid: str, out_bill_no: str, cmd: d.TransferCommand, *, command_id: str | None = None
    ) -> Outcome[d.Transfer]:
        outcome = await execute(
            self.streams, d.TRANSFER, TRANSFER + f"{mchid}:{out_bill_no}", cmd, command_id=command_id
        )
        if outcome.created:
            doc = {"_id": outcome.state.transfer_bill_no, "mchid": mchid, "out_bill_no": out_bill_no}
            await _insert_lookup(self.transfer_bill_nos, doc)
        return outcome

    async def out_bill_no_of(self, mchid: str, transfer_bill_no: str) -> str | None:
        doc = await self.transfer_bill_nos.find_one({"_id": transfer_bill_no})
        return str(doc["out_bill_no"]) if doc and doc["mchid"] == mchid else None

    # --- login ---

    async def save_login_code(self, issued: d.IssuedCode) -> None:
        await self.login_codes.insert_one(
            {"_id": issued.code, "appid": issued.appid, "openid": issued.openid, "issued_at": issued.issued_at}
        )
        await self.remember_openid(issued.appid, issued.openid)

    async def login_code(self, code: str) -> d.IssuedCode | None:
        doc = await self.login_codes.find_one({"_id": code})
        if doc is None:
            return None
        return d.IssuedCode(code=code, appid=doc["appid"], openid=doc["openid"], issued_at=utc(doc["issued_at"]))

    async def use_login_code(self, code: str, now: datetime) -> bool:
        """True for the first use only: codes are single-use, and a unique insert decides between racing uses."""
        try:
            await self.login_code_uses.insert_one({"_id": code, "used_at": now})
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise
        return True

    async def remember_openid(self, appid: str, openid: str) -> None:
        await _insert_lookup(self.openids, {"_id": f"{appid}:{openid}"})

    async def knows_openid(self, appid: str, openid: str) -> bool:
        return await self.openids.find_one({"_id": f"{appid}:{openid}"}) is not None

    # --- settlements WeChat performs later ---

    async def schedule(self, due: Due) -> None:
        doc: dict[str, Any] = {
            "_id": due.id,
            "kind": due.kind,
            "mchid": due.mchid,
            "key": due.key,
            "out_refund_no": due.out_refund_no,
            "outcome": due.outcome,
            "fail_reason": due.fail_reason,
            "due_at": due.due_at,
        }
        await _insert_lookup(self.due, doc)

    async def due_now(self, now: datetime, limit: int = 100) -> list[Due]:
        cursor = self.due.find({"due_at": {"$lte": now}}).sort("due_at", 1).limit(limit)
        return [
            Due(
                id=doc["_id"],
                kind=doc["kind"],
                mchid=doc["mchid"],
                key=doc["key"],
                out_refund_no=doc.get("out_refund_no"),
                outcome=doc["outcome"],
                fail_reason=doc.get("fail_reason"),
                due_at=utc(doc["due_at"]),
            )
            async for doc in cursor
        ]

    async def done(self, due_id: str) -> None:
        await self.due.delete_one({"_id": due_id})


async def _insert_lookup(collection: Collection, doc: dict[str, Any]) -> None:
    try:
        await collection.insert_one(doc)
    except Exception as exc:
        if not is_duplicate_key(exc):
            raise
