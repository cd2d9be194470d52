"""商家分账 (royalty settlement): relation, settle and refund-royalty biz_content, and the account books.

Money moves in two places. The trade stream decides how much of a trade is still frozen (settle, finish and refund
are appends to it, so they cannot overdraw the trade). Account streams (the collecting account and every receiver)
keep the balances: each booking is an append with a command id naming its cause, so re-running a step books once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from services.sandbox.alipay.domain.biz import Biz, BizError
from services.sandbox.alipay.domain.wire import Yuan
from shared.aggregate import Aggregate, NewEvent, RecordedEvent

AccountType = Literal["userId", "openId", "loginName"]
RequestNo = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
MAX_RECEIVERS_PER_CALL = 20
MAX_RELATIONS = 100  # 分账关系集 holds at most 100 receivers (RELATION_QUANTITY_LIMIT)

OPEN_ID_RE = re.compile(r"0[0-9A-Za-z]{43,63}")
USER_ID_FULL_RE = re.compile(r"2088[0-9]{12}")


def check_account(kind: str, account: str) -> None:
    """The shape Alipay requires of an account of this type (INVALID_PARAMETER otherwise)."""
    if kind == "userId" and not USER_ID_FULL_RE.fullmatch(account):
        raise ValueError("a userId account is 2088 followed by 12 digits")
    if kind == "openId" and not OPEN_ID_RE.fullmatch(account):
        raise ValueError("an openId account is Alipay's open id (e.g. 074a…, 44+ characters)")
    if kind == "loginName" and not 3 <= len(account) <= 100:
        raise ValueError("a loginName account is the receiver's Alipay login (email or phone)")


class RoyaltyEntity(Biz):
    type: AccountType
    account: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, max_length=64)
    memo: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _valid(self) -> RoyaltyEntity:
        check_account(self.type, self.account)
        if self.type == "loginName" and not self.name:
            raise ValueError("name is required with a loginName receiver")
        return self


class RelationBindBiz(Biz):
    out_request_no: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")]
    receiver_list: list[RoyaltyEntity] = Field(min_length=1, max_length=MAX_RECEIVERS_PER_CALL)


class RelationBatchQueryBiz(Biz):
    out_request_no: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")]
    page_num: int = Field(default=1, ge=1)
    page_size: int = Field(default=20, ge=1, le=100)


class RoyaltyDetail(Biz):
    """OpenApiRoyaltyDetailInfoPojo as 商家分账 uses it: a transfer from the collecting account to a bound receiver."""

    royalty_type: Literal["transfer"] = "transfer"
    trans_out: str | None = Field(default=None, max_length=64)
    trans_out_type: AccountType | None = None
    trans_in_type: AccountType = "userId"
    trans_in: str = Field(min_length=1, max_length=100)
    trans_in_name: str | None = Field(default=None, max_length=64)
    amount: Annotated[Yuan, Field(ge=1)]
    desc: str | None = Field(default=None, max_length=2000)
    royalty_scene: str | None = Field(default=None, max_length=32)

    @model_validator(mode="after")
    def _valid(self) -> RoyaltyDetail:
        check_account(self.trans_in_type, self.trans_in)
        return self


class SettleExtendParams(Biz):
    royalty_finish: str | None = None


class SettleBiz(Biz):
    out_request_no: RequestNo
    trade_no: str = Field(min_length=1, max_length=64)
    royalty_parameters: list[RoyaltyDetail] = Field(default_factory=list, max_length=MAX_RECEIVERS_PER_CALL)
    operator_id: str | None = None
    royalty_mode: Literal["sync", "async"] = "sync"
    extend_params: SettleExtendParams | None = None

    @property
    def finish(self) -> bool:
        return self.extend_params is not None and self.extend_params.royalty_finish == "true"

    @model_validator(mode="after")
    def _needs_details(self) -> SettleBiz:
        if not self.royalty_parameters and not self.finish:
            raise ValueError("royalty_parameters is required unless extend_params.royalty_finish is true")
        return self


class SettleQueryBiz(Biz):
    settle_no: str | None = Field(default=None, max_length=64)
    out_request_no: str | None = Field(default=None, max_length=64)
    trade_no: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _identified(self) -> SettleQueryBiz:
        if not self.settle_no and not (self.out_request_no and self.trade_no):
            raise ValueError("settle_no, or out_request_no together with trade_no")
        return self


class OnsettleQueryBiz(Biz):
    trade_no: str = Field(min_length=1, max_length=64)
    out_request_no: str | None = None


class RefundRoyaltyDetail(Biz):
    """One entry of refund_royalty_parameters: take ``amount`` back from the receiver ``trans_out``."""

    royalty_type: Literal["transfer"] = "transfer"
    trans_out: str = Field(min_length=1, max_length=100)
    trans_out_type: AccountType = "userId"
    trans_in_type: AccountType | None = None
    trans_in: str | None = None
    amount: Annotated[Yuan, Field(ge=1)]
    desc: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _valid(self) -> RefundRoyaltyDetail:
        check_account(self.trans_out_type, self.trans_out)
        return self


# --- relations (per receiver) -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelationState:
    bound: bool = False
    type: str = ""
    account: str = ""
    name: str | None = None
    memo: str | None = None
    bound_at: datetime | None = None


@dataclass(frozen=True)
class BindRelation:
    type: str
    account: str
    name: str | None
    memo: str | None
    now: datetime


@dataclass(frozen=True)
class UnbindRelation:
    now: datetime


RelationCommand = BindRelation | UnbindRelation


def decide_relation(state: RelationState, cmd: RelationCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, BindRelation):
        same = (state.type, state.account, state.name, state.memo) == (cmd.type, cmd.account, cmd.name, cmd.memo)
        if state.bound and same:
            return []
        payload = {"type": cmd.type, "account": cmd.account, "name": cmd.name, "memo": cmd.memo, "at": cmd.now}
        return [NewEvent("royalty_relation.bound", payload)]
    if not state.bound:
        return []
    return [NewEvent("royalty_relation.unbound", {"at": cmd.now})]


def evolve_relation(state: RelationState, event: RecordedEvent) -> RelationState:
    p = event.payload
    if event.type == "royalty_relation.bound":
        return RelationState(True, p["type"], p["account"], p.get("name"), p.get("memo"), p["at"])
    if event.type == "royalty_relation.unbound":
        return replace(state, bound=False)
    return state


RELATION: Aggregate[RelationState, RelationCommand] = Aggregate(
    name="alipay.royalty_relation", initial=RelationState, evolve=evolve_relation, decide=decide_relation
)


# --- account books ------------------------------------------------------------------------------------------------

BALANCE_NOT_ENOUGH = "ACQ.SELLER_BALANCE_NOT_ENOUGH"


@dataclass(frozen=True)
class AccountState:
    """An Alipay account's money in the sandbox: ``available`` (spendable) and ``frozen`` (held for royalty)."""

    available_fen: int = 0
    frozen_fen: int = 0
    royalty_in_fen: int = 0  # settled to this account as a receiver
    royalty_back_fen: int = 0  # taken back from it by refunds
    bookings: int = 0


@dataclass(frozen=True)
class Book:
    """One movement. ``kind`` names it (pay, settle_out, settle_in, unfreeze, refund, royalty_back, void);
    a negative available delta is refused when it would overdraw the account, unless ``overdraw`` is allowed."""

    kind: str
    ref: str
    available_delta: int
    frozen_delta: int
    now: datetime
    overdraw: bool = False
    message: str = "卖家余额不足"


def decide_account(state: AccountState, cmd: Book) -> Sequence[NewEvent]:
    if cmd.available_delta < 0 and not cmd.overdraw and state.available_fen + cmd.available_delta < 0:
        raise BizError(BALANCE_NOT_ENOUGH, cmd.message)
    if cmd.frozen_delta < 0 and state.frozen_fen + cmd.frozen_delta < 0:
        raise BizError("ACQ.SYSTEM_ERROR", "系统异常: 冻结余额不足")  # the trade stream prevents this
    if cmd.available_delta == 0 and cmd.frozen_delta == 0:
        return []
    payload = {
        "kind": cmd.kind,
        "ref": cmd.ref,
        "available_delta": cmd.available_delta,
        "frozen_delta": cmd.frozen_delta,
        "at": cmd.now,
    }
    return [NewEvent("account.booked", payload)]


def evolve_account(state: AccountState, event: RecordedEvent) -> AccountState:
    if event.type != "account.booked":
        return state
    p = event.payload
    kind, available = p["kind"], p["available_delta"]
    return AccountState(
        available_fen=state.available_fen + available,
        frozen_fen=state.frozen_fen + p["frozen_delta"],
        royalty_in_fen=state.royalty_in_fen + (available if kind == "settle_in" else 0),
        royalty_back_fen=state.royalty_back_fen
        + (-available if kind == "royalty_back" else 0)
        - (available if kind == "royalty_back_void" else 0),
        bookings=state.bookings + 1,
    )


ACCOUNT: Aggregate[AccountState, Book] = Aggregate(
    name="alipay.account", initial=AccountState, evolve=evolve_account, decide=decide_account
)
