"""The only module that queries refund's database: one projection document per case (the stream is per order),
and the sweeper's question. Every query is a top-level equality on an indexed field (docs/queries.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.refund.domain import AfterSale
from shared.mongo import Collection, Database
from shared.projections import project, projected_seq


class RefundStore:
    def __init__(self, db: Database) -> None:
        self.cases: Collection = db["cases"]
        self.orders: Collection = db["orders"]

    async def ensure_indexes(self) -> None:
        await self.cases.create_index([("buyer_id", 1)], name="buyer")
        await self.cases.create_index([("seller_id", 1)], name="seller")
        await self.cases.create_index([("timer", 1)], name="timer")

    async def project(self, state: AfterSale, seq: int) -> None:
        """The order's after-sale position, and one document per case (both at the stream's seq)."""
        if state.order is None:
            return
        order = state.order
        await project(
            self.orders,
            f"aso_{order.order_id}",
            seq,
            {**order.model_dump(), "open_case": state.open_case, "refunded_fen": state.refunded_fen},
        )
        for case in state.cases.values():
            doc = {
                **case.model_dump(),
                "order_id": order.order_id,
                "buyer_id": order.buyer_id,
                "seller_id": order.seller_id,
                "channel": order.channel,
                "payment_id": order.payment_id,
                # The sweeper's flag: an open case with a timer running.
                "timer": case.is_open and case.deadline_at is not None,
            }
            await project(self.cases, case.refund_id, seq, doc)

    async def projected_seq(self, aggregate_id: str) -> int:
        return await projected_seq(self.orders, aggregate_id)

    async def case_doc(self, refund_id: str) -> dict[str, Any] | None:
        return await self.cases.find_one({"_id": refund_id})

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Open cases whose timer is due: one query on the `timer` flag (open cases with a deadline only)."""
        docs = [
            d async for d in self.cases.find({"timer": True}, projection={"_id": 1, "order_id": 1, "deadline_at": 1})
        ]
        due = [d for d in docs if d["deadline_at"] <= now]
        due.sort(key=lambda d: d["deadline_at"])
        return due[:limit]

    async def cases_of(self, field: str, user_id: str, limit: int, before: str | None) -> list[dict[str, Any]]:
        """A buyer's or a seller's cases, newest first (ids sort by time): one query by the user, ordered here."""
        docs = [d async for d in self.cases.find({field: user_id})]
        docs.sort(key=lambda d: d["_id"], reverse=True)
        if before is not None:
            docs = [d for d in docs if d["_id"] < before]
        return docs[: limit + 1]
