"""The onboarding store's lookups on the real database: every hot query is an equality on `_id` or an index's leading
field (docs/queries.md); only the stepper's scan of pending steps is a range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.sandbox.wechat.domain import applyments as da
from services.sandbox.wechat.domain import sub_merchants as ds
from services.sandbox.wechat.merchant_store import (
    APPLYMENT_IDS,
    DUE,
    SETTLEMENT_CHANGES,
    SUB_MCHIDS,
    SUB_MERCHANTS,
    MerchantStore,
    Step,
)
from shared.clock import SystemClock
from shared.mongo import Database
from shared.streams import ENTRIES
from tests.support.queries import QueryLog, leading_fields

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _submission() -> da.Submission:
    return da.Submission(
        organization_type="2500",
        merchant_shortname="旧书",
        merchant_name=None,
        bank_account_type="75",
        account_bank="招商银行",
        bank_name=None,
        bank_branch_id=None,
        bank_address_code="440300",
        account_number_last4="0002",
        account_number_masked="***0002",
        account_name_masked="*三",
        id_card_name_masked="*三",
        id_card_number_masked="***002X",
        contact_name_masked="*三",
        mobile_phone_masked="***8000",
    )


async def test_onboarding_lookups_use_ids_and_leading_fields(watched_db: tuple[Database, QueryLog]) -> None:
    watched, queries = watched_db
    store = MerchantStore(watched, SystemClock())
    await store.ensure_indexes()
    queries.seen.clear()

    assert await store.claim_applyment_id(2000002000000001, "1900000001", "A1")
    assert not await store.claim_applyment_id(2000002000000001, "1900000001", "A2")
    await store.run_applyment("1900000001", "A1", da.SubmitApplyment(2000002000000001, "A1", _submission(), T0))
    assert await store.by_applyment_id("2000002000000001") == ("1900000001", "A1")
    assert await store.claim_sub_mchid("1600000001", 2000002000000001) == "1600000001"
    assert await store.claim_sub_mchid("1600000002", 2000002000000001) == "1600000001"  # one per application
    assert await store.claim_sub_mchid("1600000001", 2000002000000002) is None  # the number is taken
    card = ds.settlement_of(
        account_type=da.ACCOUNT_TYPE_PRIVATE,
        account_bank="招商银行",
        bank_name=None,
        bank_branch_id=None,
        bank_address_code=None,
        account_number="6225880000000000002",
        account_name_masked="*三",
    )
    mirror = ds.MirrorApplyment(
        "1600000001", "1900000001", da.NEED_SIGN, 2000002000000001, "A1", 2, "旧书", None, card, T0
    )
    await store.run_sub_merchant("1600000001", mirror)
    doc = await store.registry_doc("1600000001")
    assert doc is not None and doc["state"] == "NEED_SIGN"
    assert await store.claim_application_no("100", "1600000001")
    await store.schedule(Step("s1", "applyment", "1900000001", "A1", da.CHECKING, 1, T0))
    assert [s.id for s in await store.due_now(T0 + timedelta(seconds=1))] == ["s1"]
    await store.done("s1")

    hot = await leading_fields(watched, APPLYMENT_IDS, SUB_MCHIDS, SUB_MERCHANTS, SETTLEMENT_CHANGES, ENTRIES)
    assert queries.unindexed(hot) == []
    due = [q for q in queries.seen if q[0] == DUE and q[1] == "find"]
    assert [flt for _, _, flt in due] == [{"due_at": {"$lte": T0 + timedelta(seconds=1)}}]
