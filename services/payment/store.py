"""The only module that queries payment's database: projections of payments and agreements, the reconciler's
schedule, and the audit log of every provider notification received."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.payment.domain import OPEN, Agreement, Payment
from shared.mongo import Collection, Database, drop_index_if_present
from shared.projections import project, projected_seq


class PaymentStore:
    def __init__(self, db: Database, reconcile_after_s: float) -> None:
        self.payments: Collection = db["payments"]
        self.agreements: Collection = db["agreements"]
        self.notifications: Collection = db["notifications"]
        # Sellers who activated WeChat collection (wallet.collection_activated): their e-commerce sub-merchant.
        self.payees: Collection = db["payees"]
        self.reconcile_after = timedelta(seconds=reconcile_after_s)

    async def ensure_indexes(self) -> None:
        await self.payments.create_index([("order_id", 1)], name="order")
        await self.payments.create_index([("buyer_id", 1), ("created_at", -1)], name="buyer")
        await self.payments.create_index([("status", 1), ("check_at", 1)], name="open_payments")
        await self.payments.create_index([("refunds_open", 1), ("refund_check_at", 1)], name="open_refunds")
        await self.agreements.create_index([("buyer_id", 1), ("created_at", -1), ("_id", -1)], name="buyer")
        # The audit log is looked up by what a notification is about (`key`: an out_trade_no, refund or agreement
        # number), so `key` leads; led by `provider` (two values) the index would narrow nothing (docs/queries.md).
        await self.notifications.create_index([("key", 1), ("provider", 1), ("received_at", 1)], name="by_key")
        await drop_index_if_present(self.notifications, "key")  # the same fields led by provider, before
        await self.notifications.create_index([("received_at", 1)], name="received_at")

    async def project_payment(self, payment: Payment, seq: int) -> None:
        if not payment.exists:
            return  # only an order close recorded ahead of the payment: nothing to show or reconcile
        doc = payment.model_dump()
        assert payment.updated_at is not None
        # When the reconciler should look next: a while after the last change, while anything is still open.
        doc["check_at"] = payment.updated_at + self.reconcile_after if payment.status in OPEN else None
        doc["refunds_open"] = bool(payment.open_refunds)
        doc["refund_check_at"] = payment.updated_at + self.reconcile_after if payment.open_refunds else None
        await project(self.payments, payment.payment_id, seq, doc)

    async def project_agreement(self, agreement: Agreement, seq: int) -> None:
        await project(self.agreements, agreement.agreement_id, seq, agreement.model_dump())

    async def projected_seq(self, aggregate_id: str) -> int:
        collection = self.payments if aggregate_id.startswith("pay_") else self.agreements
        return await projected_seq(collection, aggregate_id)

    async def payments_due(self, now: datetime, limit: int) -> list[str]:
        """Open payments whose check is due, at most `limit`: one query per open status, each an equality on the
        leading field of `open_payments` (an `$in` is not pushed down to an index by FerretDB on PostgreSQL); the
        `check_at` range is evaluated on the payments in that status only (docs/queries.md)."""
        due: list[str] = []
        for status in OPEN:
            if len(due) >= limit:
                break
            cursor = self.payments.find({"status": status, "check_at": {"$lte": now}}, projection={"_id": 1}).limit(
                limit - len(due)
            )
            due.extend([doc["_id"] async for doc in cursor])
        return due

    async def refunds_due(self, now: datetime, limit: int) -> list[str]:
        cursor = self.payments.find(
            {"refunds_open": True, "refund_check_at": {"$lte": now}}, projection={"_id": 1}
        ).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def check_later(
        self,
        payment_id: str,
        field: str,
        now: datetime,
        base_s: float,
        *,
        backoff_max_s: float | None = None,
        not_after: datetime | None = None,
    ) -> datetime:
        """Scheduling hint only (not state): the next time the reconciler should ask about this payment, `base_s`
        from now; with `backoff_max_s`, each such call without a change in between doubles the wait (base_s,
        2·base_s, … up to backoff_max_s), and a new projection of the payment resets it. Never after `not_after`."""
        misses_field = f"{field}_misses"
        update: dict[str, Any] = {}
        wait_s = base_s
        if backoff_max_s is not None:
            doc = await self.payments.find_one({"_id": payment_id}, projection={misses_field: 1})
            misses = int(doc.get(misses_field, 0)) if doc else 0
            wait_s = min(backoff_max_s, base_s * 2 ** min(misses, 30))
            update[misses_field] = misses + 1
        at = now + timedelta(seconds=wait_s)
        if not_after is not None:
            at = min(at, not_after)
        await self.payments.update_one({"_id": payment_id}, {"$set": {field: at, **update}})
        return at

    async def agreements_of(
        self, buyer_id: str, limit: int, before: tuple[datetime, str] | None
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"buyer_id": buyer_id}
        if before is not None:
            at, row_id = before
            # buyer_id stays a top-level equality (what an index serves on FerretDB over PostgreSQL, docs/queries.md).
            query["$or"] = [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": row_id}}]
        cursor = self.agreements.find(query).sort([("created_at", -1), ("_id", -1)]).limit(limit + 1)
        return [doc async for doc in cursor]

    async def record_payee(self, seller_id: str, sub_mchid: str, account_id: str) -> None:
        """The wallet's word on where a seller's WeChat payments go (the latest activation wins)."""
        doc = {"sub_mchid": sub_mchid, "account_id": account_id}
        await self.payees.replace_one({"_id": seller_id}, doc, upsert=True)

    async def sub_mchid_of(self, seller_id: str) -> str | None:
        doc = await self.payees.find_one({"_id": seller_id}, projection={"sub_mchid": 1})
        return str(doc["sub_mchid"]) if doc else None

    async def record_notification(self, doc: dict[str, Any]) -> None:
        await self.notifications.insert_one(doc)
