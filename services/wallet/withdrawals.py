"""Withdrawals of a seller's WeChat balance to the settlement card, pure: each one a stream (`wdr_…`), and each
seller's daily total a stream (`wdq_<seller>.<day>`) whose entries carry the total after them, so concurrent
withdrawals can never pass the daily limit together (the append decides, as in the books).

A withdrawal: requested (its `out_request_no` minted, the amount reserved in the books) → submitted (the provider
accepted it) → succeeded (posted) | failed (voided, the daily quota given back); a succeeded one may later be
returned by the bank (退票), which restores the balance with a correcting transfer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.errors import AppError, Conflict, InvalidState
from shared.events.wallet import (
    WithdrawalAttempted,
    WithdrawalFailed,
    WithdrawalQuotaReleased,
    WithdrawalQuotaReserved,
    WithdrawalRequested,
    WithdrawalReturned,
    WithdrawalSubmitted,
    WithdrawalSucceeded,
)

WithdrawalStatus = Literal["none", "requested", "submitted", "succeeded", "failed", "returned"]
OPEN_STATUSES = ("requested", "submitted")


class DailyLimitExceeded(AppError):
    status, code = 409, "daily_limit_exceeded"


def quota_id(seller_id: str, day: str) -> str:
    return f"wdq_{seller_id}.{day}"


def out_request_no_for(withdrawal_id: str) -> str:
    """WeChat's 商户提现单号: letters and digits only, at most 32 — the withdrawal id without its underscore."""
    return withdrawal_id.replace("_", "")


class Withdrawal(BaseModel):
    withdrawal_id: str = ""
    seller_id: str = ""
    sub_mchid: str = ""
    amount_fen: int = 0
    fee_fen: int = 0
    out_request_no: str = ""
    day: str = ""
    status: WithdrawalStatus = "none"
    withdraw_id: str | None = None
    reason: str | None = None
    attempts: int = 0
    retry_at: datetime | None = None
    attention: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.status != "none"


class Request(BaseModel):
    withdrawal_id: str
    seller_id: str
    sub_mchid: str
    amount_fen: int = Field(gt=0)
    fee_fen: int = Field(ge=0)
    day: str
    handover_at: datetime


class Submitted(BaseModel):
    withdraw_id: str | None = None


class Attempted(BaseModel):
    reason: str
    retry_at: datetime
    attention_after: int


class Succeed(BaseModel):
    pass


class Fail(BaseModel):
    reason: str
    # Refused before this caller sent it (the provider's balance short): if another submitter got it to the provider
    # meanwhile, it is not failed — the provider has it.
    unsent: bool = False


class BankReturn(BaseModel):
    reason: str


WithdrawalCommand = Request | Submitted | Attempted | Succeed | Fail | BankReturn


def decide(state: Withdrawal, c: WithdrawalCommand) -> list[NewEvent]:
    if isinstance(c, Request):
        if state.exists:
            if (state.seller_id, state.amount_fen) != (c.seller_id, c.amount_fen):
                raise Conflict("this withdrawal id was used with other terms", code="withdrawal_exists")
            return []
        terms = c.model_dump(exclude={"handover_at"})
        requested = WithdrawalRequested(
            **terms, out_request_no=out_request_no_for(c.withdrawal_id), retry_at=c.handover_at
        )
        return [NewEvent.of(requested)]
    if not state.exists:
        raise InvalidState("no such withdrawal")
    if isinstance(c, Submitted):
        if state.status != "requested":
            return []
        return [NewEvent.of(WithdrawalSubmitted(withdrawal_id=state.withdrawal_id, withdraw_id=c.withdraw_id))]
    if isinstance(c, Attempted):
        if state.status not in OPEN_STATUSES:
            return []
        attempt = state.attempts + 1
        return [
            NewEvent.of(
                WithdrawalAttempted(
                    withdrawal_id=state.withdrawal_id,
                    attempt=attempt,
                    reason=c.reason[:500],
                    retry_at=c.retry_at,
                    attention=attempt >= c.attention_after,
                )
            )
        ]
    if isinstance(c, Succeed):
        if state.status in ("succeeded", "returned"):
            return []
        if state.status == "failed":
            raise InvalidState("the withdrawal failed", details={"withdrawal_id": state.withdrawal_id})
        return [
            NewEvent.of(
                WithdrawalSucceeded(
                    withdrawal_id=state.withdrawal_id,
                    seller_id=state.seller_id,
                    amount_fen=state.amount_fen,
                    fee_fen=state.fee_fen,
                )
            )
        ]
    if isinstance(c, Fail):
        if state.status == "failed" or (c.unsent and state.status != "requested"):
            return []
        if state.status in ("succeeded", "returned"):
            raise InvalidState("the withdrawal succeeded", details={"withdrawal_id": state.withdrawal_id})
        return [
            NewEvent.of(
                WithdrawalFailed(
                    withdrawal_id=state.withdrawal_id,
                    seller_id=state.seller_id,
                    amount_fen=state.amount_fen,
                    reason=c.reason[:500],
                )
            )
        ]
    # BankReturn
    if state.status == "returned":
        return []
    if state.status != "succeeded":
        raise InvalidState("only a paid-out withdrawal can come back from the bank")
    return [
        NewEvent.of(
            WithdrawalReturned(
                withdrawal_id=state.withdrawal_id,
                seller_id=state.seller_id,
                amount_fen=state.amount_fen,
                reason=c.reason[:500],
            )
        )
    ]


def _at(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def evolve(state: Withdrawal, event: RecordedEvent) -> Withdrawal:
    p = event.payload
    at = event.occurred_at
    if event.type == "wallet.withdrawal_requested":
        return Withdrawal(
            **{k: v for k, v in p.items() if k in Withdrawal.model_fields},
            status="requested",
            created_at=at,
            updated_at=at,
        )
    update: dict[str, object] = {"updated_at": at}
    if event.type == "wallet.withdrawal_submitted":
        update |= {"status": "submitted", "withdraw_id": p.get("withdraw_id"), "retry_at": None, "attention": False}
    elif event.type == "wallet.withdrawal_attempted":
        update |= {
            "attempts": p["attempt"],
            "reason": p["reason"],
            "retry_at": _at(p["retry_at"]),
            "attention": p["attention"],
        }
    elif event.type == "wallet.withdrawal_succeeded":
        update |= {"status": "succeeded", "reason": None, "retry_at": None, "attention": False}
    elif event.type == "wallet.withdrawal_failed":
        update |= {"status": "failed", "reason": p["reason"], "retry_at": None, "attention": False}
    elif event.type == "wallet.withdrawal_returned":
        update |= {"status": "returned", "reason": p["reason"]}
    else:
        return state
    return state.model_copy(update=update)


WITHDRAWAL: Aggregate[Withdrawal, WithdrawalCommand] = Aggregate(
    "withdrawal",
    Withdrawal,
    evolve,
    decide,
    state_model=Withdrawal,
    events=(
        "wallet.withdrawal_requested",
        "wallet.withdrawal_submitted",
        "wallet.withdrawal_attempted",
        "wallet.withdrawal_succeeded",
        "wallet.withdrawal_failed",
        "wallet.withdrawal_returned",
    ),
)


# ---------------------------------------------------------------------------------------- the daily quota


class Quota(BaseModel):
    seller_id: str = ""
    day: str = ""
    used_fen: int = 0
    reserved: dict[str, int] = Field(default_factory=dict)  # by withdrawal id, those counting against the day


class Reserve(BaseModel):
    seller_id: str
    day: str
    withdrawal_id: str
    amount_fen: int = Field(gt=0)
    limit_fen: int = Field(gt=0)


class Release(BaseModel):
    withdrawal_id: str


def decide_quota(state: Quota, c: Reserve | Release) -> list[NewEvent]:
    if isinstance(c, Reserve):
        if c.withdrawal_id in state.reserved:
            return []
        if state.used_fen + c.amount_fen > c.limit_fen:
            raise DailyLimitExceeded(
                "this withdrawal would pass the daily limit",
                details={"limit_fen": c.limit_fen, "used_fen": state.used_fen, "asked_fen": c.amount_fen},
            )
        return [
            NewEvent.of(
                WithdrawalQuotaReserved(
                    seller_id=c.seller_id,
                    day=c.day,
                    withdrawal_id=c.withdrawal_id,
                    amount_fen=c.amount_fen,
                    used_fen=state.used_fen + c.amount_fen,
                )
            )
        ]
    amount = state.reserved.get(c.withdrawal_id)
    if amount is None:
        return []
    return [
        NewEvent.of(
            WithdrawalQuotaReleased(
                seller_id=state.seller_id,
                day=state.day,
                withdrawal_id=c.withdrawal_id,
                used_fen=state.used_fen - amount,
            )
        )
    ]


def evolve_quota(state: Quota, event: RecordedEvent) -> Quota:
    p = event.payload
    reserved = dict(state.reserved)
    if event.type == "wallet.withdrawal_quota_reserved":
        reserved[p["withdrawal_id"]] = p["amount_fen"]
    else:
        reserved.pop(p["withdrawal_id"], None)
    return Quota(seller_id=p["seller_id"], day=p["day"], used_fen=p["used_fen"], reserved=reserved)


QUOTA: Aggregate[Quota, Reserve | Release] = Aggregate(
    "withdrawal_quota",
    Quota,
    evolve_quota,
    decide_quota,
    state_model=Quota,
    events=("wallet.withdrawal_quota_reserved", "wallet.withdrawal_quota_released"),
)
