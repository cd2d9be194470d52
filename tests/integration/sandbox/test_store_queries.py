"""The sandbox's lookups on the real database: an agreement is found by its external number, which leads the index
(the app id, the same on every agreement of a sandbox, led it before and narrowed nothing; docs/queries.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.sandbox.alipay.store import AGREEMENTS, AlipayStore
from shared.clock import SystemClock
from shared.mongo import Database
from tests.support.queries import QueryLog, leading_fields

T0 = datetime(2026, 11, 1, tzinfo=UTC)


async def test_agreements_are_found_by_their_external_number(
    db: Database, watched_db: tuple[Database, QueryLog]
) -> None:
    await db[AGREEMENTS].create_index([("app_id", 1), ("external_agreement_no", 1)], name="external_no")  # before
    watched, queries = watched_db
    store = AlipayStore(watched, SystemClock())
    await store.ensure_indexes()
    await store.ensure_indexes()
    info = await db[AGREEMENTS].index_information()
    assert "external_no" not in info
    assert [field for field, _ in info["by_external_no"]["key"]] == ["external_agreement_no", "app_id"]
    await db[AGREEMENTS].insert_many(
        [
            {"_id": f"2026{n}", "app_id": "app-1", "external_agreement_no": f"ext-{n % 3}", "signed_at": T0}
            for n in range(6)
        ]
    )
    queries.seen.clear()
    found = await store.agreement_nos_by_external("app-1", "ext-1")
    assert sorted(doc["_id"] for doc in found) == ["20261", "20264"]
    assert await store.agreement_nos_by_external("app-2", "ext-1") == []
    assert queries.unindexed(await leading_fields(db, AGREEMENTS)) == []
