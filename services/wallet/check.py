"""The ledger check: every balance recomputed from its entries, the sum over all accounts, the transfers in flight,
payments against holds and refunds against releases, and each seller's books against the provider's balances.

It reads everything (an operator's and the reconciler's question, not a request path): one query per account
stream, one for all transfers in flight, one for all escrows, one provider balance call per WeChat sub-merchant.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.wallet import flows
from services.wallet.books import Books
from services.wallet.ledger import may_go_negative, replay_balances
from services.wallet.store import WalletStore
from shared.aggregate import Entry
from shared.providers.errors import ProviderMisconfigured, ProviderRejected, ProviderUnavailable
from shared.providers.wechatpay import WechatPayClient

log = logging.getLogger("wallet.check")


async def _entries_after(books: Books, account_id: str, seq: int) -> list[Entry]:
    """The entries of an account after `seq`, each read by its `_id` until the first missing (as `load_head`)."""
    found: list[Entry] = []
    while (doc := await books.accounts.store.entries.find_one({"_id": f"{account_id}#{seq + 1}"})) is not None:
        entry = Entry.model_validate(doc)
        found.append(entry)
        seq = entry.seq
    return found


async def _check_account(
    books: Books, account_id: str, full: bool
) -> tuple[tuple[int, int, int], dict[str, Any] | None]:
    """(the balances replayed from the entries, a mismatch or None). From the account's verified checkpoint unless
    `full`; a verified account moves its checkpoint to the entry replayed last."""
    checkpoints = books.store.checkpoints
    cp = None if full else await checkpoints.find_one({"_id": account_id})
    start = (cp["posted_fen"], cp["pending_debit_fen"], cp["pending_credit_fen"]) if cp else (0, 0, 0)
    seq = int(cp["seq"]) if cp else 0
    entries = await _entries_after(books, account_id, seq) if cp else await books.accounts.store.read(account_id)
    events = [e for entry in entries for e in entry.events]
    replayed = replay_balances(events, start)
    last = events[-1].payload if events else None
    carried = (last["posted_fen"], last["pending_debit_fen"], last["pending_credit_fen"]) if last else start
    head = entries[-1].seq if entries else seq
    state, loaded_seq = await books.accounts.load(account_id)
    loaded = (state.posted_fen, state.pending_debit_fen, state.pending_credit_fen)
    # An account that took an entry after the replay read its head is compared at the head the replay reached.
    if replayed != carried or (loaded_seq == head and loaded != replayed):
        mismatch = {"account_id": account_id, "replayed": replayed, "last_entry": carried, "loaded": loaded}
        return replayed, mismatch
    if head > seq:
        checkpoint = dict(zip(("posted_fen", "pending_debit_fen", "pending_credit_fen"), replayed, strict=True))
        await checkpoints.replace_one({"_id": account_id}, {"seq": head, **checkpoint}, upsert=True)
    return replayed, None


async def check_books(books: Books, store: WalletStore, *, full: bool = False) -> dict[str, Any]:
    """Every account's balances replayed from its entries (after its verified checkpoint, or all of them when
    `full`) against what its last entry carries and what a load gives, the sum over all accounts, the transfers in
    flight, and every escrow's transfers."""
    account_ids = [doc["_id"] async for doc in books.store.accounts.find({}, projection={"_id": 1})]
    mismatches: list[dict[str, Any]] = []
    totals = {"posted_fen": 0, "pending_debit_fen": 0, "pending_credit_fen": 0}
    negative: list[str] = []
    overcommitted: list[str] = []
    for account_id in account_ids:
        replayed, mismatch = await _check_account(books, account_id, full)
        if mismatch is not None:
            mismatches.append(mismatch)
        totals["posted_fen"] += replayed[0]
        totals["pending_debit_fen"] += replayed[1]
        totals["pending_credit_fen"] += replayed[2]
        if not may_go_negative(account_id) and replayed[0] < 0:
            negative.append(account_id)
        elif not may_go_negative(account_id) and replayed[0] - replayed[1] < 0:
            # A refund the provider made drew on money a pending withdrawal reserved (which the provider will
            # refuse): transient, and listed; never a negative balance.
            overcommitted.append(account_id)
    in_flight = [
        {
            k: doc.get(k)
            for k in ("_id", "debit_account", "credit_account", "amount_fen", "reason", "order_id", "withdrawal_id")
        }
        async for doc in books.store.transfers.find({"status": "pending"})
    ]
    holds = await _check_escrows(books, store)
    sum_zero = totals["posted_fen"] == 0 and totals["pending_debit_fen"] == totals["pending_credit_fen"]
    return {
        "accounts": len(account_ids),
        "full": full,
        "mismatches": mismatches,
        "negative_accounts": negative,
        "overcommitted_accounts": overcommitted,
        "totals": totals,
        "sum_zero": sum_zero,
        "in_flight": in_flight,
        "escrows": holds,
        "ok": not mismatches and not negative and sum_zero and not holds["problems"],
    }


async def _check_escrows(books: Books, store: WalletStore) -> dict[str, Any]:
    """Every held payment exactly one posted hold; every refund its posted release; a settled escrow its posted
    settlement transfers (a transfer's id is derived from what caused it, so "exactly one" is its id)."""
    problems: list[dict[str, Any]] = []
    escrows = await store.escrows_all()

    async def status(transfer_id: str) -> str:
        doc = await books.store.transfers.find_one({"_id": transfer_id}, projection={"status": 1})
        return str(doc["status"]) if doc else "missing"

    for esc in escrows:
        expected = [f"trf_hold:{esc['payment_id']}"]
        expected += [f"trf_refund:{refund_id}" for refund_id in esc.get("refunds", {})]
        settlement = esc.get("settlement") or {}
        if esc.get("status") == "settled" and settlement.get("held_fen"):
            if settlement.get("fee_fen"):
                expected.append(f"trf_fee:{settlement['out_request_no']}")
            if settlement.get("seller_fen"):
                expected.append(f"trf_release:{settlement['out_request_no']}")
        found = await asyncio.gather(*(status(t) for t in expected))
        for transfer_id, got in zip(expected, found, strict=True):
            if got != "posted":
                problems.append({"payment_id": esc["payment_id"], "transfer_id": transfer_id, "status": got})
    return {"count": len(escrows), "problems": problems}


async def check_providers(books: Books, store: WalletStore, wechat: WechatPayClient) -> dict[str, Any]:
    """Each WeChat seller's books against the sub-merchant's balance at WeChat Pay: frozen (pending_amount) and
    available (available_amount; a withdrawal is taken from it when WeChat accepts it, as the books reserve it)."""
    sellers: dict[str, str] = {}
    for esc in await store.escrows_all():
        if esc.get("provider") == "wechatpay" and esc.get("sub_mchid"):
            sellers[esc["seller_id"]] = esc["sub_mchid"]
    differences: list[dict[str, Any]] = []
    unreachable: list[dict[str, Any]] = []
    compared = 0
    for seller_id, sub_mchid in sorted(sellers.items()):
        try:
            balance = await wechat.balance(sub_mchid)
        except (ProviderUnavailable, ProviderRejected, ProviderMisconfigured) as exc:
            unreachable.append({"seller_id": seller_id, "sub_mchid": sub_mchid, "error": str(exc)})
            continue
        compared += 1
        frozen = await books.account(flows.frozen(seller_id, "wechatpay"))
        available = await books.account(flows.released(seller_id, "wechatpay"))
        books_view = {"frozen_fen": frozen.posted_fen, "available_fen": available.available_fen}
        provider_view = {
            "frozen_fen": int(balance.get("pending_amount", 0)),
            "available_fen": int(balance.get("available_amount", 0)),
        }
        if books_view != provider_view:
            differences.append(
                {
                    "seller_id": seller_id,
                    "sub_mchid": sub_mchid,
                    "books": books_view,
                    "provider": provider_view,
                    # Transfers in flight explain a difference while a provider step is under way.
                    "in_flight_fen": frozen.pending_debit_fen + available.pending_debit_fen,
                }
            )
    if differences:
        log.warning("books differ from WeChat Pay for %d sellers: %s", len(differences), differences)
    return {
        "compared": compared,
        "differences": differences,
        "unreachable": unreachable,
        "ok": not differences and not unreachable,
    }
