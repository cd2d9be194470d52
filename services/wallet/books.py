"""The wallet's books as use cases over the kernel's streams: make, post and void transfers, and finish any left
half-applied (the sweeper). Transfers are keyed by their caller's id; every step is idempotent, so a step retried
after a crash, or run twice by a redelivered event, changes nothing the second time.

Order of the steps of a transfer: its own stream first (pending), then the debit account (which may refuse:
insufficient funds voids the transfer), then the credit account; posting and voiding record the decision on the
transfer's stream first, then apply it to both accounts. A crash between steps leaves a transfer whose accounts lag
its stream: `sweep` applies what is missing, from the transfer's stream, in the same order.
"""

from __future__ import annotations

from services.wallet.ledger import (
    ACCOUNT,
    TRANSFER,
    Account,
    ApplyPhase,
    CreateTransfer,
    InsufficientFunds,
    NotPending,
    Phase,
    PostTransfer,
    Side,
    Transfer,
    VoidTransfer,
    step_id,
)
from shared.aggregate import Cause
from shared.mongo import Collection, Database
from shared.projections import project, projected_seq
from shared.streams import Streams, StreamStore


class BooksStore:
    """The projections of accounts and transfers (caches of their streams); the sweeper finds transfers by status."""

    def __init__(self, db: Database) -> None:
        self.accounts: Collection = db["accounts"]
        self.transfers: Collection = db["transfers"]
        # What the ledger check verified of each account last time (seq and balances), so the next one replays only
        # the entries after it (a full check ignores them).
        self.checkpoints: Collection = db["ledger_checkpoints"]

    async def ensure_indexes(self) -> None:
        await self.transfers.create_index([("applied", 1)], name="applied")
        await self.transfers.create_index([("status", 1)], name="status")  # the ledger check: transfers in flight

    async def project_account(self, account: Account, seq: int) -> None:
        doc = account.model_dump(exclude={"pending"})
        doc["available_fen"] = account.available_fen
        await project(self.accounts, account.account_id, seq, doc)

    async def project_transfer(self, transfer: Transfer, seq: int) -> None:
        # `applied` (a cache flag, set once both accounts hold the transfer's last phase) is what the sweeper asks.
        await project(self.transfers, transfer.transfer_id, seq, {**transfer.model_dump(), "applied": False})

    async def mark_applied(self, transfer_id: str) -> None:
        await self.transfers.update_one({"_id": transfer_id}, {"$set": {"applied": True}})

    async def projected_seq(self, aggregate_id: str) -> int:
        collection = self.accounts if aggregate_id.startswith("acc_") else self.transfers
        return await projected_seq(collection, aggregate_id)

    async def unapplied(self, limit: int) -> list[str]:
        """Transfers whose accounts may lag their stream: pending ones, and decided ones not yet seen applied."""
        cursor = self.transfers.find({"applied": False}, projection={"_id": 1}).limit(limit)
        return [doc["_id"] async for doc in cursor]


class Books:
    def __init__(self, streams: StreamStore, store: BooksStore) -> None:
        self.store = store
        self.accounts = Streams(
            streams, ACCOUNT, store.project_account, store.projected_seq, prefix="acc_", missing="no such account"
        )
        self.transfers = Streams(
            streams, TRANSFER, store.project_transfer, store.projected_seq, prefix="trf_", missing="no such transfer"
        )

    async def account(self, account_id: str) -> Account:
        state, _ = await self.accounts.load(account_id)
        return state if state.account_id else Account(account_id=account_id)

    async def transfer(self, transfer_id: str) -> Transfer:
        return await self.transfers.get(transfer_id)

    async def _taken(self, t: Transfer, side: Side, phase: Phase) -> bool:
        return await self.accounts.store.find_by_command(step_id(t.transfer_id, side, phase)) is not None

    async def _apply(self, t: Transfer, side: Side, phase: Phase) -> None:
        """Take one step of a transfer on one account, under its step id: a step taken before changes nothing."""
        account_id = t.debit_account if side == "debit" else t.credit_account
        command = ApplyPhase(
            account_id=account_id,
            transfer_id=t.transfer_id,
            side=side,
            phase=phase,
            amount_fen=t.amount_fen,
            reason=t.reason,
            order_id=t.order_id,
            withdrawal_id=t.withdrawal_id,
            draw_reserved=t.draw_reserved,
        )
        cause = Cause(step_id(t.transfer_id, side, phase), causation_id=t.transfer_id)
        try:
            await self.accounts.run(account_id, command, cause)
        except NotPending:
            # Posted or voided here before (the state forgets decided transfers), or never reserved.
            if not await self._taken(t, side, phase):
                raise

    async def make(self, c: CreateTransfer, *, post: bool = True) -> Transfer:
        """Record the transfer (the same id and terms again is the same transfer) and reserve its amount on both
        accounts; with `post`, post it at once. Insufficient funds on the debit side void it (`insufficient_funds`)."""
        t = (await self.transfers.run(c.transfer_id, c)).state
        t = await self._reserve(t)
        if post and t.status == "pending":
            return await self._post(t)
        return t

    async def _reserve(self, t: Transfer) -> Transfer:
        if t.status != "pending":
            return await self._finish(t)
        try:
            await self._apply(t, "debit", "pending")
        except InsufficientFunds:
            # A re-run of a reservation taken before (the account has moved on since) is not a refusal.
            if not await self._taken(t, "debit", "pending"):
                return await self.void(t.transfer_id, "insufficient_funds")
        await self._apply(t, "credit", "pending")
        return t

    async def post(self, transfer_id: str) -> Transfer:
        t = await self.transfer(transfer_id)
        if t.status == "pending":
            t = await self._reserve(t)  # a pending transfer whose reservation a crash cut short (may void it)
        return await self._post(t)

    async def _post(self, t: Transfer) -> Transfer:
        # A voided transfer refuses (InvalidState); a posted one is posted already.
        t = (await self.transfers.run(t.transfer_id, PostTransfer())).state
        return await self._finish(t)

    async def void(self, transfer_id: str, reason: str) -> Transfer:
        t = (await self.transfers.run(transfer_id, VoidTransfer(reason=reason))).state
        return await self._finish(t)

    async def _finish(self, t: Transfer) -> Transfer:
        """Bring both accounts to the transfer's decided phase (posted or voided), each step idempotent."""
        if t.status not in ("posted", "voided"):
            return t
        decided: Phase = "posted" if t.status == "posted" else "voided"
        for side in ("debit", "credit"):
            try:
                await self._apply(t, side, decided)  # decided here before: found by its step id
            except NotPending:
                if decided == "voided":
                    continue  # never reserved on this side (refused, or a crash before it): nothing to undo
                await self._apply(t, side, "pending")  # a crash between deciding and reserving this side
                await self._apply(t, side, decided)
        await self.store.mark_applied(t.transfer_id)
        return t

    async def sweep(self, limit: int = 100) -> int:
        """Finish transfers a crash left half-applied: pending ones are reserved (they stay pending: their owner
        decides when to post or void), decided ones applied to both accounts. How many were looked at."""
        ids = await self.store.unapplied(limit)
        for transfer_id in ids:
            t = await self.transfer(transfer_id)
            await (self._reserve(t) if t.status == "pending" else self._finish(t))
        return len(ids)
