"""Payment's store on the real database: the reconciler's scans are equalities on the field leading their index,
and the audit log of notifications is indexed by what a notification is about (docs/queries.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.payment.store import PaymentStore
from shared.mongo import Database
from tests.support.queries import QueryLog, leading_fields

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
async def watched(watched_db: tuple[Database, QueryLog]) -> tuple[PaymentStore, QueryLog]:
    """A store on a client that records every query it sends."""
    db, queries = watched_db
    store = PaymentStore(db, reconcile_after_s=60)
    await store.ensure_indexes()
    return store, queries


async def test_due_payments_and_refunds_are_found_by_status_equalities(watched: tuple[PaymentStore, QueryLog]) -> None:
    store, queries = watched
    late, later = T0, T0 + timedelta(hours=1)
    await store.payments.insert_many(
        [
            {"_id": "pay_proc_due", "status": "processing", "check_at": late, "refunds_open": False},
            {"_id": "pay_proc_later", "status": "processing", "check_at": later, "refunds_open": False},
            {"_id": "pay_action_due", "status": "requires_action", "check_at": late, "refunds_open": False},
            {"_id": "pay_done", "status": "succeeded", "check_at": None, "refunds_open": False},
            {
                "_id": "pay_refund_due",
                "status": "succeeded",
                "check_at": None,
                "refunds_open": True,
                "refund_check_at": late,
            },
            {
                "_id": "pay_refund_later",
                "status": "succeeded",
                "check_at": None,
                "refunds_open": True,
                "refund_check_at": later,
            },
        ]
    )
    queries.seen.clear()
    now = T0 + timedelta(minutes=1)
    assert sorted(await store.payments_due(now, 10)) == ["pay_action_due", "pay_proc_due"]
    assert len(await store.payments_due(now, 1)) == 1
    assert sorted(await store.payments_due(later, 10)) == ["pay_action_due", "pay_proc_due", "pay_proc_later"]
    assert await store.refunds_due(now, 10) == ["pay_refund_due"]
    indexed = await leading_fields(store.payments.database, "payments")
    assert {"status", "refunds_open"} <= indexed["payments"]
    assert queries.seen and queries.unindexed(indexed) == []


async def test_notifications_are_indexed_by_key_and_the_index_led_by_provider_is_dropped(db: Database) -> None:
    # A database from before: the same fields, led by the provider.
    await db["notifications"].create_index([("provider", 1), ("key", 1), ("received_at", 1)], name="key")
    store = PaymentStore(db, reconcile_after_s=60)
    await store.ensure_indexes()
    await store.ensure_indexes()  # and again, as every start does
    info = await db["notifications"].index_information()
    assert "key" not in info
    assert [field for field, _ in info["by_key"]["key"]] == ["key", "provider", "received_at"]
