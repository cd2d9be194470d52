"""The sandbox's lookups on the real database: an agreement is found by its external number, which leads the index
(the app id, the same on every agreement of a sandbox, led it before and narrowed nothing; docs/queries.md); the
royalty and identity lookups go by _id (relations are listed by app id: the whole set is the answer)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.sandbox.alipay import domain as d
from services.sandbox.alipay.store import (
    AGREEMENTS,
    LOGIN_NAMES,
    OPEN_IDS,
    RELATIONS,
    SETTLE_REQUESTS,
    SETTLES,
    AlipayStore,
)
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


async def test_royalty_and_identity_lookups_use_indexes(db: Database, watched_db: tuple[Database, QueryLog]) -> None:
    watched, queries = watched_db
    store = AlipayStore(watched, SystemClock())
    await store.ensure_indexes()
    queries.seen.clear()
    assert await store.remember_identity("openId", "074aOpenId", "2088000000000009") == "2088000000000009"
    assert await store.remember_identity("openId", "074aOpenId", "2088000000000008") == "2088000000000009"
    assert await store.user_of("openId", "074aOpenId") == "2088000000000009"
    assert await store.user_of("loginName", "a@b.cn") is None
    await store.remember_identity("loginName", "a@b.cn", "2088000000000007")
    assert await store.user_of("loginName", "a@b.cn") == "2088000000000007"
    await store.run_relation("app-1", "2088000000000009", d.BindRelation("userId", "2088000000000009", None, None, T0))
    assert await store.relation_user_ids("app-1") == ["2088000000000009"]
    assert await store.claim_settle_request("app-1", "s1", "T1") == "T1"
    assert await store.claim_settle_request("app-1", "s1", "T2") == "T1"  # the first trade keeps it
    await store.save_settle_no("S1", "app-1", "o1", "s1")
    assert (await store.settle_of("S1") or {})["out_request_no"] == "s1"
    await store.book("2088000000000009", d.Book("pay", "p1", 100, 0, T0))
    await store.book("2088000000000009", d.Book("pay", "p1", 100, 0, T0))  # the same booking: once
    assert (await store.account("2088000000000009")).available_fen == 100
    collections = (OPEN_IDS, LOGIN_NAMES, RELATIONS, SETTLES, SETTLE_REQUESTS)
    assert queries.unindexed(await leading_fields(db, *collections)) == []
