"""The wallet's projections besides the books' (services/wallet/books.py): escrows and withdrawals, with what the
provider worker asks of them. Every query is a top-level equality on an indexed field (docs/queries.md); the rest
of a condition (a time, a status among few) is applied here to the few documents it returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.wallet.escrow import Escrow
from services.wallet.withdrawals import OPEN_STATUSES, Quota, Withdrawal
from shared.mongo import Collection, Database
from shared.projections import project, projected_seq


class WalletStore:
    def __init__(self, db: Database) -> None:
        self.escrows: Collection = db["escrows"]
        self.withdrawals: Collection = db["withdrawals"]
        self.quotas: Collection = db["withdrawal_quotas"]

    async def ensure_indexes(self) -> None:
        # The worker's questions: settlements at the provider, withdrawals not finished.
        await self.escrows.create_index([("settling", 1)], name="settling")
        await self.escrows.create_index([("resettle", 1)], name="resettle")
        await self.escrows.create_index([("order_id", 1)], name="order")
        await self.withdrawals.create_index([("open", 1)], name="open")
        await self.withdrawals.create_index([("seller_id", 1)], name="seller")
        await self.withdrawals.create_index([("out_request_no", 1)], name="out_request_no")

    async def project_escrow(self, escrow: Escrow, seq: int) -> None:
        if not escrow.exists:
            return
        doc = escrow.model_dump()
        doc["settling"] = escrow.status == "settling"
        doc["resettle"] = escrow.completed and escrow.status == "held"
        doc["attention"] = bool(escrow.settlement and escrow.settlement.attention)
        await project(self.escrows, f"esc_{escrow.payment_id}", seq, doc)

    async def project_withdrawal(self, w: Withdrawal, seq: int) -> None:
        if not w.exists:
            return
        await project(self.withdrawals, w.withdrawal_id, seq, {**w.model_dump(), "open": w.status in OPEN_STATUSES})

    async def project_quota(self, q: Quota, seq: int) -> None:
        await project(self.quotas, f"wdq_{q.seller_id}.{q.day}", seq, q.model_dump(exclude={"reserved"}))

    async def projected_seq(self, aggregate_id: str) -> int:
        collection = {"esc_": self.escrows, "wdr_": self.withdrawals, "wdq_": self.quotas}[aggregate_id[:4]]
        return await projected_seq(collection, aggregate_id)

    @staticmethod
    def _due(docs: list[dict[str, Any]], field: str, now: datetime, limit: int) -> list[dict[str, Any]]:
        due = [d for d in docs if d.get(field) is None or d[field] <= now]
        due.sort(key=lambda d: d.get(field) or datetime.min.replace(tzinfo=now.tzinfo))
        return due[:limit]

    async def settlements_due(self, now: datetime, limit: int) -> list[str]:
        docs = [d async for d in self.escrows.find({"settling": True}, projection={"_id": 1, "settlement": 1})]
        for d in docs:
            d["retry_at"] = (d.get("settlement") or {}).get("retry_at")
        return [d["_id"] for d in self._due(docs, "retry_at", now, limit)]

    async def resettlements_due(self, now: datetime, limit: int) -> list[str]:
        """Completed orders whose settlement the provider refused for lack of frozen funds, due at `resettle_at`."""
        docs = [d async for d in self.escrows.find({"resettle": True}, projection={"_id": 1, "resettle_at": 1})]
        return [d["_id"] for d in self._due(docs, "resettle_at", now, limit)]

    async def withdrawals_due(self, now: datetime, limit: int) -> list[str]:
        """Open withdrawals: those the provider has not taken yet are due at `retry_at`; submitted ones are asked
        about after `poll_after` (the caller's schedule, in `retry_at` as well)."""
        docs = [d async for d in self.withdrawals.find({"open": True}, projection={"_id": 1, "retry_at": 1})]
        return [d["_id"] for d in self._due(docs, "retry_at", now, limit)]

    async def withdrawals_of(self, seller_id: str, limit: int, before: str | None) -> list[dict[str, Any]]:
        """A seller's withdrawals, newest first (ids sort by time): one query by seller, ordered here."""
        docs = [d async for d in self.withdrawals.find({"seller_id": seller_id})]
        docs.sort(key=lambda d: d["_id"], reverse=True)
        if before is not None:
            docs = [d for d in docs if d["_id"] < before]
        return docs[: limit + 1]

    async def withdrawal_by_out_request_no(self, out_request_no: str) -> str | None:
        doc = await self.withdrawals.find_one({"out_request_no": out_request_no}, projection={"_id": 1})
        return str(doc["_id"]) if doc else None

    async def attention(self) -> dict[str, list[dict[str, Any]]]:
        """What operators should look at: settlements and withdrawals whose provider step keeps failing."""
        settlements = [d async for d in self.escrows.find({"settling": True}) if d.get("attention")]
        withdrawals = [d async for d in self.withdrawals.find({"open": True}) if d.get("attention")]
        return {"settlements": settlements, "withdrawals": withdrawals}

    async def escrows_all(self) -> list[dict[str, Any]]:
        return [d async for d in self.escrows.find({})]
