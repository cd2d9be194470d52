"""The Mongo state of onboarding and settlement cards: application and sub-merchant streams, number claims, the
sub-merchant registry (``wechat_sub_merchants``) and the steps WeChat takes later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.sandbox.wechat.domain import applyments as da
from services.sandbox.wechat.domain import sub_merchants as ds
from shared.clock import Clock, utc
from shared.mongo import Database, is_duplicate_key
from shared.streams import Outcome, StreamStore, execute, load

# Stream ids, namespaced as the other WeChat streams are (the stream collections are the sandbox's).
APPLYMENT = "wechat.applyment:"
SUB_MERCHANT = "wechat.sub_merchant:"

APPLYMENT_IDS = "wechat_applyment_ids"  # _id: applyment_id → the application's sp_mchid and out_request_no
SUB_MCHIDS = "wechat_sub_mchids"  # _id: sub_mchid, unique applyment_id: each number minted once, once per application
SUB_MERCHANTS = "wechat_sub_merchants"  # the registry the partner-payment half reads by _id (sub_mchid)
SETTLEMENT_CHANGES = "wechat_settlement_changes"  # _id: application_no → its sub_mchid
DUE = "wechat_merchant_due"


@dataclass(frozen=True)
class Step:
    """Something WeChat does later by itself: an application's next step, a settlement change's review."""

    id: str
    kind: str  # "applyment" | "settlement"
    sp_mchid: str
    key: str  # out_request_no, or the sub_mchid of a settlement change
    expected: str  # the application's state it applies to, or the application_no of a change
    round: int
    due_at: datetime


class MerchantStore:
    """Decisions go through streams; number claims are unique inserts; the registry is a projection of the
    sub-merchant stream, rewritten until it shows the stream's last position."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.streams = StreamStore(db, clock=clock)
        self.applyment_ids = db[APPLYMENT_IDS]
        self.sub_mchids = db[SUB_MCHIDS]
        self.registry = db[SUB_MERCHANTS]
        self.settlement_changes = db[SETTLEMENT_CHANGES]
        self.due = db[DUE]

    async def ensure_indexes(self) -> None:
        await self.streams.ensure_indexes()
        await self.sub_mchids.create_index([("applyment_id", 1)], unique=True, name="applyment_id")
        await self.due.create_index([("due_at", 1)], name="due_at")

    # --- applications ---

    async def applyment(self, sp_mchid: str, out_request_no: str) -> tuple[da.Applyment, int]:
        return await load(self.streams, da.APPLYMENT, APPLYMENT + f"{sp_mchid}:{out_request_no}")

    async def run_applyment(
        self, sp_mchid: str, out_request_no: str, cmd: da.ApplymentCommand, *, command_id: str | None = None
    ) -> Outcome[da.Applyment]:
        stream = APPLYMENT + f"{sp_mchid}:{out_request_no}"
        return await execute(self.streams, da.APPLYMENT, stream, cmd, command_id=command_id)

    async def claim_applyment_id(self, applyment_id: int, sp_mchid: str, out_request_no: str) -> bool:
        """True if the number was free and is now this application's (a number that loses to an existing
        application stays claimed but unused: lookups check the stream)."""
        return await _claim(
            self.applyment_ids, {"_id": str(applyment_id), "sp_mchid": sp_mchid, "out_request_no": out_request_no}
        )

    async def by_applyment_id(self, applyment_id: str) -> tuple[str, str] | None:
        doc = await self.applyment_ids.find_one({"_id": applyment_id})
        return (str(doc["sp_mchid"]), str(doc["out_request_no"])) if doc else None

    async def claim_sub_mchid(self, candidate: str, applyment_id: int | None) -> str | None:
        """The sub_mchid of an application: ``candidate`` if it is free and the application has none yet, else the
        one it already has; None if the candidate number is taken by another (try another). One unique insert
        decides each race (two unique keys: the number, and the application)."""
        doc: dict[str, Any] = {"_id": candidate}
        if applyment_id is not None:
            doc["applyment_id"] = applyment_id
        else:
            doc["applyment_id"] = f"direct:{candidate}"  # a test-made sub-merchant has no application
        try:
            await self.sub_mchids.insert_one(doc)
            return candidate
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
        if applyment_id is not None:
            mine = await self.sub_mchids.find_one({"applyment_id": applyment_id})
            if mine is not None:
                return str(mine["_id"])
        return None

    # --- sub-merchants ---

    async def sub_merchant(self, sub_mchid: str) -> ds.SubMerchant:
        state, _ = await load(self.streams, ds.SUB_MERCHANT, SUB_MERCHANT + sub_mchid)
        return state

    async def run_sub_merchant(
        self, sub_mchid: str, cmd: ds.SubMerchantCommand, *, command_id: str | None = None
    ) -> Outcome[ds.SubMerchant]:
        outcome = await execute(self.streams, ds.SUB_MERCHANT, SUB_MERCHANT + sub_mchid, cmd, command_id=command_id)
        await self.project(sub_mchid, outcome.state, outcome.seq)
        return outcome

    async def project(self, sub_mchid: str, state: ds.SubMerchant, seq: int) -> None:
        """Write the registry document, then check the stream did not move on meanwhile: a writer that raced ahead
        and wrote first is overwritten here by a stale state, so the last writer rewrites until it is current."""
        for _ in range(10):
            if not state.exists:
                return
            await self.registry.replace_one({"_id": sub_mchid}, {**state.registry(), "seq": seq}, upsert=True)
            latest, last = await load(self.streams, ds.SUB_MERCHANT, SUB_MERCHANT + sub_mchid)
            if last == seq:
                return
            state, seq = latest, last

    async def registry_doc(self, sub_mchid: str) -> dict[str, Any] | None:
        return await self.registry.find_one({"_id": sub_mchid})

    async def claim_application_no(self, application_no: str, sub_mchid: str) -> bool:
        return await _claim(self.settlement_changes, {"_id": application_no, "sub_mchid": sub_mchid})

    # --- later steps ---

    async def schedule(self, step: Step) -> None:
        doc = {
            "_id": step.id,
            "kind": step.kind,
            "sp_mchid": step.sp_mchid,
            "key": step.key,
            "expected": step.expected,
            "round": step.round,
            "due_at": step.due_at,
        }
        await _claim(self.due, doc)

    async def due_now(self, now: datetime, limit: int = 100) -> list[Step]:
        cursor = self.due.find({"due_at": {"$lte": now}}).sort("due_at", 1).limit(limit)
        return [
            Step(
                id=doc["_id"],
                kind=doc["kind"],
                sp_mchid=doc["sp_mchid"],
                key=doc["key"],
                expected=doc["expected"],
                round=int(doc["round"]),
                due_at=utc(doc["due_at"]),
            )
            async for doc in cursor
        ]

    async def done(self, step_id: str) -> None:
        await self.due.delete_one({"_id": step_id})


async def _claim(collection: Any, doc: dict[str, Any]) -> bool:
    try:
        await collection.insert_one(doc)
    except Exception as exc:
        if is_duplicate_key(exc):
            return False
        raise
    return True
