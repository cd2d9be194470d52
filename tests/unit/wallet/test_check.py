"""The ledger check over the in-memory database: clean books check clean; an incremental check replays only the
entries after each account's verified checkpoint; a corrupted entry is found (before a checkpoint only by a full
check); a transfer in flight keeps the sum of pending debits and credits equal and is listed."""

from __future__ import annotations

from typing import Any

import pytest

from services.wallet import flows
from services.wallet.check import check_books
from services.wallet.store import WalletStore
from tests.unit.wallet.test_books import books


async def test_clean_books_check_clean_and_the_next_check_reads_only_what_came_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = await books()
    store = WalletStore(b.store.accounts.database)
    await b.make(flows.hold("pay_1", "ord_1", "usr_s", "wechatpay", 26_800))
    first = await check_books(b, store)
    assert first["ok"] and first["sum_zero"] and first["accounts"] == 2 and not first["in_flight"]

    async def whole(*_: Any, **__: Any) -> Any:
        raise AssertionError("an incremental check reads no verified stream whole")

    await b.make(flows.hold("pay_2", "ord_2", "usr_s", "wechatpay", 1_000))
    with monkeypatch.context() as patched:
        patched.setattr(b.accounts.store, "read", whole)
        again = await check_books(b, store)
    assert again["ok"] and again["totals"]["posted_fen"] == 0

    await b.make(flows.withdrawal("wdr_1", "usr_s", 1_000), post=False)  # no such balance: refused, voided
    for t in flows.completion("ord_1", "usr_s", "wechatpay", 26_800):
        await b.make(t)
    await b.make(flows.withdrawal("wdr_2", "usr_s", 5_000), post=False)  # in flight
    third = await check_books(b, store)
    assert third["ok"] and third["sum_zero"], third
    assert [t["_id"] for t in third["in_flight"]] == ["trf_withdraw:wdr_2"]
    assert third["totals"]["pending_debit_fen"] == third["totals"]["pending_credit_fen"] == 5_000


async def test_a_corrupted_entry_is_found_and_one_before_the_checkpoint_only_by_a_full_check() -> None:
    b = await books()
    store = WalletStore(b.store.accounts.database)
    await b.make(flows.hold("pay_1", "ord_1", "usr_s", "wechatpay", 26_800))
    assert (await check_books(b, store))["ok"]
    frozen = flows.frozen("usr_s", "wechatpay")
    entries = b.accounts.store.entries
    doc = await entries.find_one({"_id": f"{frozen}#1"})
    assert doc is not None
    doc["events"][0]["payload"]["amount_fen"] = 26_900  # the amount no longer adds up to the balance it carries
    await entries.replace_one({"_id": doc["_id"]}, doc)

    assert (await check_books(b, store))["ok"]  # verified before: the incremental check trusts its checkpoint
    full = await check_books(b, store, full=True)
    assert not full["ok"] and [m["account_id"] for m in full["mismatches"]] == [frozen]
