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
ACCOUNT = "wechat.account:"

PREPAY_IDS = "wechat_prepay_ids"
TRANSACTION_IDS = "wechat_transaction_ids"
REFUND_NOS = "wechat_refund_nos"
TRANSFER_BILL_NOS = "wechat_transfer_bill_nos"
LOGIN_CODES = "wechat_login_codes"
LOGIN_CODE_USES = "wechat_login_code_uses"
# Mini-program access tokens (by `_id` = the token) and each app's latest (`_id` = "latest:<appid>").
ACCESS_TOKENS = "wechat_access_tokens"
OPENIDS = "wechat_openids"
DUE = "wechat_due"
# Written by the onboarding half of the sandbox (applyments): {_id: sub_mchid, state, merchant_shortname, settlement}.
SUB_MERCHANTS = "wechat_sub_merchants"
REFUND_IDS = "wechat_refund_ids"
ECOMMERCE_REFUND_NOS = "wechat_ecommerce_refund_nos"
WITHDRAW_IDS = "wechat_withdraw_ids"
WITHDRAW_NOS = "wechat_withdraw_nos"


def partner_key(sp_mchid: str, sub_mchid: str) -> str:
    """Where a partner order's stream and numbers live: out_trade_no and out_refund_no are unique per seller."""
    return f"{sp_mchid}/{sub_mchid}"


def sub_mchid_of(key: str) -> str | None:
    """The seller of a partner key; None for a direct merchant's."""
    return key.split("/", 1)[1] if "/" in key else None


@dataclass(frozen=True)
class Due:
    """A settlement WeChat performs by itself later: a refund or transfer reaching its outcome."""

    id: str
    kind: str  # "refund" | "transfer" | "split" | "withdraw"
    mchid: str  # a partner key for a partner order's refund, the sub_mchid for a split or a withdrawal
    key: str  # out_trade_no for a refund, out_bill_no for a transfer, out_order_no, out_request_no
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
        self.access_tokens = db[ACCESS_TOKENS]
        self.openids = db[OPENIDS]
        self.due = db[DUE]
        self.sub_merchants = db[SUB_MERCHANTS]
        self.refund_ids = db[REFUND_IDS]
        self.ecommerce_refund_nos = db[ECOMMERCE_REFUND_NOS]
        self.withdraw_ids = db[WITHDRAW_IDS]
        self.withdraw_nos = db[WITHDRAW_NOS]

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
                if event.type == "refund.requested":
                    doc = {"_id": event.payload["refund_id"], **ref, "out_refund_no": event.payload["out_refund_no"]}
                    await _insert_lookup(self.refund_ids, doc)
        return outcome

    async def by_prepay_id(self, prepay_id: str) -> tuple[str, str] | None:
        doc = await self.prepay_ids.find_one({"_id": prepay_id})
        return (str(doc["mchid"]), str(doc["out_trade_no"])) if doc else None

    async def order_of_transaction(self, transaction_id: str) -> tuple[str, str] | None:
        """(merchant key, out_trade_no) of a paid order, whoever's it is."""
        doc = await self.transaction_ids.find_one({"_id": transaction_id})
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

    async def refund_of_id(self, mchid: str, refund_id: str) -> str | None:
        """The out_refund_no of a refund_id of this merchant key."""
        doc = await self.refund_ids.find_one({"_id": refund_id})
        return str(doc["out_refund_no"]) if doc and doc["mchid"] == mchid else None

    async def remember_ecommerce_refund(self, out_refund_no: str, key: str) -> None:
        """For the test-only settle action, which names only the out_refund_no (the first seller to use it)."""
        await _insert_lookup(self.ecommerce_refund_nos, {"_id": out_refund_no, "mchid": key})

    async def ecommerce_refund_key(self, out_refund_no: str) -> str | None:
        doc = await self.ecommerce_refund_nos.find_one({"_id": out_refund_no})
        return str(doc["mchid"]) if doc else None

    # --- sub-merchants and their accounts ---

    async def sub_merchant(self, sub_mchid: str) -> dict[str, Any] | None:
        return await self.sub_merchants.find_one({"_id": sub_mchid})

    async def account(self, mchid: str) -> d.Account:
        state, _ = await load(self.streams, d.ACCOUNT, ACCOUNT + mchid)
        return state

    async def run_account(
        self, mchid: str, cmd: d.AccountCommand, *, command_id: str | None = None
    ) -> Outcome[d.Account]:
        outcome = await execute(self.streams, d.ACCOUNT, ACCOUNT + mchid, cmd, command_id=command_id)
        if outcome.entry is not None:
            for event in outcome.entry.events:
                if event.type == "withdraw.accepted":
                    ref = {"sub_mchid": mchid, "out_request_no": event.payload["out_request_no"]}
                    await _insert_lookup(self.withdraw_ids, {"_id": event.payload["withdraw_id"], **ref})
                    await _insert_lookup(self.withdraw_nos, {"_id": event.payload["out_request_no"], **ref})
        return outcome

    async def withdrawal_of_id(self, sub_mchid: str, withdraw_id: str) -> str | None:
        doc = await self.withdraw_ids.find_one({"_id": withdraw_id})
        return str(doc["out_request_no"]) if doc and doc["sub_mchid"] == sub_mchid else None

    async def withdrawal_owner(self, out_request_no: str) -> str | None:
        """The sub_mchid that first used an out_request_no (the test-only actions name only the number)."""
        doc = await self.withdraw_nos.find_one({"_id": out_request_no})
        return str(doc["sub_mchid"]) if doc else None

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
