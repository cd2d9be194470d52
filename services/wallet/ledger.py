"""The wallet's double-entry books, pure: accounts and two-phase transfers as aggregates on the kernel.

A transfer moves `amount_fen` from a debit account to a credit account, under an id its caller chooses (derived from
what causes it, so a redelivered event makes the same transfer). It is its own stream (`trf_…`): pending, then posted
or voided, its terms immutable. Each account is a stream (`acc_…`) whose entries apply one side of one phase of one
transfer and carry the account's balances after it, so the append at the next seq decides: a seller's account can
never go below zero however many transfers race for it. Every step is idempotent by (transfer, side, phase).

Balances: `posted` is what the account holds; `pending_debit` is reserved for transfers out not yet posted;
`pending_credit` is on its way in. What an account can still give is `posted - pending_debit` — only accounts whose
kind allows it (the providers' side of the books) go below zero. Over all accounts the posted balances sum to zero,
and so do pending debits minus pending credits: every fen is somewhere.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.errors import AppError, Conflict, InvalidState
from shared.events.wallet import AccountEntry, TransferPending, TransferPosted, TransferVoided

Side = Literal["debit", "credit"]
Phase = Literal["pending", "posted", "voided"]
TransferStatus = Literal["none", "pending", "posted", "voided"]

# What each phase does to (posted, pending_debit, pending_credit), by side, for an amount a.
_EFFECT: dict[tuple[Side, Phase], tuple[int, int, int]] = {
    ("debit", "pending"): (0, 1, 0),
    ("debit", "posted"): (-1, -1, 0),
    ("debit", "voided"): (0, -1, 0),
    ("credit", "pending"): (0, 0, 1),
    ("credit", "posted"): (1, 0, -1),
    ("credit", "voided"): (0, 0, -1),
}

# Accounts that stand for money outside the books (what the providers hold for us to account for) may go negative;
# every other account (a seller's balance, fees earned, withdrawals in flight) never does.
NEGATIVE_ALLOWED_PREFIXES = ("acc_ext.",)


class InsufficientFunds(AppError):
    status, code = 409, "insufficient_funds"


def may_go_negative(account_id: str) -> bool:
    return account_id.startswith(NEGATIVE_ALLOWED_PREFIXES)


# ----------------------------------------------------------------------------------------------------- accounts


class Account(BaseModel):
    account_id: str = ""
    posted_fen: int = 0
    pending_debit_fen: int = 0
    pending_credit_fen: int = 0
    # The transfers pending on this account, by transfer id and side. A transfer leaves it when posted or voided
    # here, so the state stays as small as what is in flight however long the stream grows; a step already taken is
    # recognised by its command id (`step_id`), unique across the books.
    pending: dict[str, int] = Field(default_factory=dict)
    entries: int = 0

    @property
    def available_fen(self) -> int:
        return self.posted_fen - self.pending_debit_fen


class ApplyPhase(BaseModel):
    """Apply one side of one phase of a transfer to this account."""

    account_id: str
    transfer_id: str
    side: Side
    phase: Phase
    amount_fen: int = Field(gt=0)
    reason: str | None = None
    order_id: str | None = None
    withdrawal_id: str | None = None
    draw_reserved: bool = False


def _key(transfer_id: str, side: Side) -> str:
    return f"{transfer_id}:{side}"


def step_id(transfer_id: str, side: Side, phase: Phase) -> str:
    """The command id of one side of one phase of a transfer: taken at most once (the unique command index)."""
    return f"ledger:{transfer_id}:{side}:{phase}"


class NotPending(InvalidState):
    """Posting or voiding a side that is not pending here: already decided (its step id exists) or never reserved."""


def decide_account(state: Account, c: ApplyPhase) -> list[NewEvent]:
    """Pending reserves (an account that cannot give the amount refuses: InsufficientFunds); posted and voided
    resolve a pending side. The caller runs each step under its `step_id`, so a step taken before is a no-op."""
    pending = _key(c.transfer_id, c.side) in state.pending
    if c.phase == "pending":
        if pending:
            return []
    elif not pending:
        raise NotPending(f"transfer {c.transfer_id} is not pending on {c.account_id}", details={"asked": c.phase})
    d_posted, d_debit, d_credit = (n * c.amount_fen for n in _EFFECT[(c.side, c.phase)])
    posted = state.posted_fen + d_posted
    pending_debit = state.pending_debit_fen + d_debit
    pending_credit = state.pending_credit_fen + d_credit
    if c.side == "debit" and c.phase == "pending" and not may_go_negative(c.account_id):
        # A fact the provider has already made (a refund) may draw on money reserved for transfers still pending
        # (a withdrawal the provider will now refuse), never below a zero balance; anything else only on what is
        # available.
        if (posted - c.amount_fen < 0) if c.draw_reserved else (posted - pending_debit < 0):
            raise InsufficientFunds(
                f"{c.account_id} cannot give {c.amount_fen} fen",
                details={"available_fen": state.available_fen, "asked_fen": c.amount_fen},
            )
    entry = AccountEntry(
        account_id=c.account_id,
        transfer_id=c.transfer_id,
        side=c.side,
        phase=c.phase,
        amount_fen=c.amount_fen,
        posted_fen=posted,
        pending_debit_fen=pending_debit,
        pending_credit_fen=pending_credit,
        reason=c.reason,
        order_id=c.order_id,
        withdrawal_id=c.withdrawal_id,
    )
    return [NewEvent.of(entry)]


def evolve_account(state: Account, event: RecordedEvent) -> Account:
    p: dict[str, Any] = event.payload
    key = _key(p["transfer_id"], p["side"])
    pending = dict(state.pending)
    if p["phase"] == "pending":
        pending[key] = p["amount_fen"]
    else:
        pending.pop(key, None)
    return state.model_copy(
        update={
            "account_id": p["account_id"],
            "posted_fen": p["posted_fen"],
            "pending_debit_fen": p["pending_debit_fen"],
            "pending_credit_fen": p["pending_credit_fen"],
            "pending": pending,
            "entries": state.entries + 1,
        }
    )


def replay_balances(events: list[RecordedEvent], start: tuple[int, int, int] = (0, 0, 0)) -> tuple[int, int, int]:
    """An account's balances recomputed from its entries' amounts alone (not the balances they carry), from `start`
    (the balances a verified checkpoint holds): what the ledger check compares with the balances the last entry
    carries."""
    posted, pending_debit, pending_credit = start
    for event in events:
        p = event.payload
        d_posted, d_debit, d_credit = _EFFECT[(p["side"], p["phase"])]
        posted += d_posted * p["amount_fen"]
        pending_debit += d_debit * p["amount_fen"]
        pending_credit += d_credit * p["amount_fen"]
    return posted, pending_debit, pending_credit


ACCOUNT: Aggregate[Account, ApplyPhase] = Aggregate(
    "account",
    Account,
    evolve_account,
    decide_account,
    state_model=Account,
    snapshot_schema="2",  # `pending` (in flight only) replaced `applied` (every transfer ever)
    long_lived=True,
    events=("wallet.account_entry",),
)


# ---------------------------------------------------------------------------------------------------- transfers


class Transfer(BaseModel):
    transfer_id: str = ""
    debit_account: str = ""
    credit_account: str = ""
    amount_fen: int = 0
    reason: str = ""
    order_id: str | None = None
    withdrawal_id: str | None = None
    draw_reserved: bool = False
    status: TransferStatus = "none"
    void_reason: str | None = None


class CreateTransfer(BaseModel):
    # No '.': the id is a key of each account's state, and a document key may not hold one.
    transfer_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:\-]+$")
    debit_account: str = Field(min_length=1)
    credit_account: str = Field(min_length=1)
    amount_fen: int = Field(gt=0)
    reason: str = Field(min_length=1, max_length=64)
    order_id: str | None = None
    withdrawal_id: str | None = None
    # Set for what a provider has already done (a refund): see `decide_account`.
    draw_reserved: bool = False


class PostTransfer(BaseModel):
    pass


class VoidTransfer(BaseModel):
    reason: str = Field(min_length=1, max_length=64)


TransferCommand = CreateTransfer | PostTransfer | VoidTransfer
_TERMS = ("debit_account", "credit_account", "amount_fen", "reason", "order_id", "withdrawal_id", "draw_reserved")


def decide_transfer(state: Transfer, c: TransferCommand) -> list[NewEvent]:
    if isinstance(c, CreateTransfer):
        if c.debit_account == c.credit_account:
            raise Conflict("a transfer moves money between two accounts", code="same_account")
        if state.status != "none":
            if any(getattr(state, k) != getattr(c, k) for k in _TERMS):
                raise Conflict(
                    "this transfer id was used with other terms",
                    code="transfer_exists",
                    details={"transfer_id": c.transfer_id},
                )
            return []
        return [NewEvent.of(TransferPending(**c.model_dump()))]
    if state.status == "none":
        raise InvalidState("no such transfer")
    if isinstance(c, PostTransfer):
        if state.status == "posted":
            return []
        if state.status == "voided":
            raise InvalidState("the transfer was voided", details={"transfer_id": state.transfer_id})
        return [NewEvent.of(TransferPosted(transfer_id=state.transfer_id))]
    if state.status == "voided":
        return []
    if state.status == "posted":
        raise InvalidState("the transfer was posted", details={"transfer_id": state.transfer_id})
    return [NewEvent.of(TransferVoided(transfer_id=state.transfer_id, reason=c.reason))]


def evolve_transfer(state: Transfer, event: RecordedEvent) -> Transfer:
    p = event.payload
    if event.type == "wallet.transfer_pending":
        return Transfer(**{k: v for k, v in p.items() if k in Transfer.model_fields}, status="pending")
    if event.type == "wallet.transfer_posted":
        return state.model_copy(update={"status": "posted"})
    if event.type == "wallet.transfer_voided":
        return state.model_copy(update={"status": "voided", "void_reason": p["reason"]})
    return state


TRANSFER: Aggregate[Transfer, TransferCommand] = Aggregate(
    "transfer",
    Transfer,
    evolve_transfer,
    decide_transfer,
    state_model=Transfer,
    events=("wallet.transfer_pending", "wallet.transfer_posted", "wallet.transfer_voided"),
)
