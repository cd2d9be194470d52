"""The wallet bench's bulk seed (bench/wallet.py) against the kernel: the accounts it writes load, through the books,
to the balances their entries carry, and the ledger check finds the books whole — so the seed cannot drift from
the format the books append."""

from __future__ import annotations

from bench.wallet import HELD_FEN, WITHDRAWN_FEN, accounts_of, seed_ledger
from services.wallet import flows
from services.wallet.books import Books, BooksStore
from services.wallet.check import check_books
from services.wallet.ledger import ACCOUNT, replay_balances
from services.wallet.store import WalletStore
from shared.streams import StreamStore, load_head
from tests.support.memory import MemoryDatabase, as_database

SELLER = "usr_seed"
ENTRIES = 120


async def test_the_seeded_accounts_load_to_the_balances_their_entries_carry_and_the_books_are_whole() -> None:
    db = as_database(MemoryDatabase())
    streams, books_store, store = StreamStore(db, contracts="strict"), BooksStore(db), WalletStore(db)
    for indexed in (streams, books_store, store):
        await indexed.ensure_indexes()
    seeded = await seed_ledger(db, SELLER, ENTRIES)
    books = Books(streams, books_store)
    cycles = ENTRIES // 4
    ext, frozen, available = accounts_of(SELLER)
    expected = {ext: -cycles * (HELD_FEN - WITHDRAWN_FEN), frozen: 0, available: cycles * (HELD_FEN - WITHDRAWN_FEN)}
    for account_id, posted in expected.items():
        entries = await streams.read(account_id)
        assert [e.seq for e in entries] == list(range(1, ENTRIES + 1))
        events = [event for entry in entries for event in entry.events]
        last = events[-1].payload
        carried = (last["posted_fen"], last["pending_debit_fen"], last["pending_credit_fen"])
        assert replay_balances(events) == carried == (posted, 0, 0)
        account = await books.account(account_id)
        assert account == seeded[account_id]
        assert (account.posted_fen, account.pending_debit_fen, account.pending_credit_fen) == carried
        assert (account.entries, account.pending) == (ENTRIES, {})
        head = await load_head(streams, ACCOUNT, account_id)
        assert (head.seq, head.snapshot_seq, head.entries) == (ENTRIES, ENTRIES, [])  # loaded from the snapshot
        projected = await books_store.accounts.find_one({"_id": account_id})
        assert projected is not None and (projected["seq"], projected["posted_fen"]) == (ENTRIES, posted)
    checked = await check_books(books, store)
    assert checked["ok"], checked
    assert checked["accounts"] == 3

    # The books go on from the seeded head as from one they appended themselves.
    hold = flows.hold("pay_after", "ord_after", SELLER, "wechatpay", 300)
    assert (await books.make(hold)).status == "posted"
    out = flows.withdrawal("wdr_after", SELLER, 100)
    assert (await books.make(out, post=False)).status == "pending"
    assert (await books.account(frozen)).posted_fen == 300
    assert (await books.account(available)).available_fen == expected[available] - 100
    assert (await books.account(ext)).entries == ENTRIES + 3  # the hold pending and posted, the withdrawal pending
    assert (await check_books(books, store))["ok"]


async def test_a_seed_refuses_accounts_that_have_entries() -> None:
    db = as_database(MemoryDatabase())
    await seed_ledger(db, SELLER, 8)
    try:
        await seed_ledger(db, SELLER, 8)
    except ValueError:
        return
    raise AssertionError("a second seed of the same accounts was accepted")
