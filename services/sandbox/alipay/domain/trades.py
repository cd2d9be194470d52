"""Trades (app pay, close, refund): their biz_content, unpaid-trade expiry and the trade state machine."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from services.sandbox.alipay.domain.biz import Biz, BizError
from services.sandbox.alipay.domain.royalty import RefundRoyaltyDetail
from services.sandbox.alipay.domain.wire import MAX_AMOUNT_FEN, Yuan, parse_wire_time
from services.sandbox.records import from_payload, to_payload
from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.protocols.alipay import SHANGHAI

_TIMEOUT_RE = re.compile(r"([1-9][0-9]*)([mhd])|1c")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}


def trade_expiry(opened_at: datetime, timeout_express: str | None, time_expire: str | None) -> datetime:
    """When an unpaid trade closes: ``time_expire`` wins over ``timeout_express`` (1m–15d, ``1c`` = end of today)."""
    if time_expire:
        return parse_wire_time(time_expire)
    express = timeout_express or "15d"
    match = _TIMEOUT_RE.fullmatch(express)
    if match is None:
        raise ValueError(f"timeout_express must look like 90m, 2h, 15d or 1c, got {express!r}")
    if express == "1c":
        local = opened_at.astimezone(SHANGHAI)
        return local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if not 60 <= seconds <= 15 * 86400:
        raise ValueError("timeout_express must be between 1m and 15d")
    return opened_at + timedelta(seconds=seconds)


OutTradeNo = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
TradeAmount = Annotated[Yuan, Field(ge=1, le=MAX_AMOUNT_FEN)]


class ExtendParams(Biz):
    """``royalty_freeze = "true"`` freezes the paid amount for a later 商家分账 (any other value, or none, does not)."""

    royalty_freeze: str | None = None

    @property
    def freeze(self) -> bool:
        return self.royalty_freeze == "true"


def freezes(extend_params: ExtendParams | None) -> bool:
    return extend_params is not None and extend_params.freeze


class AppPayBiz(Biz):
    extend_params: ExtendParams | None = None
    out_trade_no: OutTradeNo
    total_amount: TradeAmount
    subject: str = Field(min_length=1, max_length=256)
    product_code: Literal["QUICK_MSECURITY_PAY"]
    body: str | None = Field(default=None, max_length=128)
    timeout_express: str | None = None
    time_expire: str | None = None
    passback_params: str | None = Field(default=None, max_length=512)


class TradeRefBiz(Biz):
    out_trade_no: str | None = Field(default=None, max_length=64)
    trade_no: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_of(self) -> TradeRefBiz:
        if not self.out_trade_no and not self.trade_no:
            raise ValueError("out_trade_no or trade_no is required")
        return self


class TradeQueryBiz(TradeRefBiz):
    query_options: list[str] = Field(default_factory=list)


class CloseBiz(TradeRefBiz):
    operator_id: str | None = None


class RefundBiz(TradeRefBiz):
    refund_amount: TradeAmount
    refund_reason: str | None = Field(default=None, max_length=256)
    out_request_no: str | None = Field(default=None, max_length=64)
    refund_royalty_parameters: list[RefundRoyaltyDetail] = Field(default_factory=list, max_length=20)


class RefundQueryBiz(TradeRefBiz):
    out_request_no: str = Field(min_length=1, max_length=64)
    query_options: list[str] = Field(default_factory=list)


WAIT_BUYER_PAY = "WAIT_BUYER_PAY"
TRADE_SUCCESS = "TRADE_SUCCESS"
TRADE_CLOSED = "TRADE_CLOSED"


@dataclass(frozen=True)
class TradeOrder:
    """A merchant's order as the trade is opened with it; ``same_terms`` is what a repeat must match."""

    app_id: str
    out_trade_no: str
    total_fen: int
    subject: str
    product_code: str
    seller_id: str
    body: str | None = None
    passback_params: str | None = None
    notify_url: str | None = None
    expires_at: datetime | None = None
    agreement_no: str | None = None
    royalty_freeze: bool | None = None  # None in trades recorded before royalty existed: not frozen

    def same_terms(self, other: TradeOrder) -> bool:
        return (self.total_fen, self.subject, self.product_code) == (other.total_fen, other.subject, other.product_code)


@dataclass(frozen=True)
class RoyaltyBack:
    """Part of a refund taken back from a royalty receiver (canonical user id) of this trade."""

    user_id: str
    trans_out: str
    amount_fen: int


@dataclass(frozen=True)
class Refund:
    out_request_no: str
    amount_fen: int
    reason: str | None
    at: datetime
    # Where the money came from: the trade's frozen remainder, the collecting account's available balance, and
    # royalty receivers. Refunds recorded before royalty existed came wholly from the available balance.
    from_frozen_fen: int = 0
    from_available_fen: int = 0
    royalty_back: tuple[RoyaltyBack, ...] = ()


@dataclass(frozen=True)
class SettleDetail:
    user_id: str  # the receiver's canonical user id
    trans_in: str
    trans_in_type: str
    amount_fen: int
    detail_id: str
    desc: str | None = None
    royalty_scene: str | None = None


@dataclass(frozen=True)
class Settlement:
    out_request_no: str
    settle_no: str
    details: tuple[SettleDetail, ...]
    finish: bool
    unfrozen_fen: int
    fingerprint: str
    at: datetime

    @property
    def amount_fen(self) -> int:
        return sum(d.amount_fen for d in self.details)


@dataclass(frozen=True)
class TradeState:
    order: TradeOrder | None = None
    trade_no: str = ""
    created_at: datetime | None = None
    buyer_id: str | None = None
    buyer_open_id: str | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunds: tuple[Refund, ...] = ()
    settlements: tuple[Settlement, ...] = ()

    @property
    def refunded_fen(self) -> int:
        return sum(r.amount_fen for r in self.refunds)

    @property
    def frozen(self) -> bool:
        return self.order is not None and self.order.royalty_freeze is True

    @property
    def royalty_finished(self) -> bool:
        return any(s.finish for s in self.settlements)

    @property
    def settled_fen(self) -> int:
        return sum(s.amount_fen for s in self.settlements)

    @property
    def frozen_fen(self) -> int:
        """What is still frozen on a paid royalty trade: paid − settled − refunded from it − unfrozen."""
        if not self.frozen or self.paid_at is None or self.order is None:
            return 0
        out = (
            self.settled_fen
            + sum(r.from_frozen_fen for r in self.refunds)
            + sum(s.unfrozen_fen for s in self.settlements)
        )
        return self.order.total_fen - out

    def settled_to(self, user_id: str) -> int:
        """Settled to this receiver on this trade, less what refunds have taken back from it."""
        settled = sum(d.amount_fen for s in self.settlements for d in s.details if d.user_id == user_id)
        back = sum(b.amount_fen for r in self.refunds for b in r.royalty_back if b.user_id == user_id)
        return settled - back

    def settlement(self, out_request_no: str) -> Settlement | None:
        return next((s for s in self.settlements if s.out_request_no == out_request_no), None)

    def status(self, now: datetime) -> str:
        if self.order is None:
            raise ValueError("no trade")
        if self.paid_at is not None:
            return TRADE_CLOSED if self.refunded_fen >= self.order.total_fen else TRADE_SUCCESS
        if self.closed_at is not None:
            return TRADE_CLOSED
        if self.order.expires_at is not None and now >= self.order.expires_at:
            return TRADE_CLOSED
        return WAIT_BUYER_PAY

    def refund(self, out_request_no: str) -> Refund | None:
        return next((r for r in self.refunds if r.out_request_no == out_request_no), None)


@dataclass(frozen=True)
class OpenTrade:
    """The buyer reached the cashier (or a withholding payment names the order): the trade exists from now on."""

    order: TradeOrder
    trade_no: str
    now: datetime


@dataclass(frozen=True)
class PayTrade:
    """The buyer pays (opening the trade first if needed)."""

    order: TradeOrder
    trade_no: str
    buyer_id: str
    now: datetime
    buyer_open_id: str | None = None  # in open_id mode: the buyer's open id in this app


@dataclass(frozen=True)
class CloseTrade:
    now: datetime


@dataclass(frozen=True)
class RefundTrade:
    out_request_no: str
    amount_fen: int
    reason: str | None
    now: datetime
    # The planned split (see plan_refund); decide refuses a plan the trade no longer allows.
    from_frozen_fen: int = 0
    from_available_fen: int | None = None
    royalty_back: tuple[RoyaltyBack, ...] = ()


@dataclass(frozen=True)
class SettleTrade:
    out_request_no: str
    settle_no: str
    details: tuple[SettleDetail, ...]
    finish: bool
    max_ratio_pct: int
    fingerprint: str
    now: datetime


TradeCommand = OpenTrade | PayTrade | CloseTrade | RefundTrade | SettleTrade

ALLOC_AMOUNT = "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR"


def plan_refund(state: TradeState, amount_fen: int, royalty_back: tuple[RoyaltyBack, ...]) -> tuple[int, int]:
    """(from_frozen, from_available) of a refund: what receivers do not give back comes from the collecting account,
    the trade's frozen remainder first, then the available balance."""
    for back in royalty_back:
        if back.amount_fen > state.settled_to(back.user_id):
            raise BizError(ALLOC_AMOUNT, f"退分账金额超限: 超过分给 {back.trans_out} 的分账金额")
    rest = amount_fen - sum(b.amount_fen for b in royalty_back)
    if rest < 0:
        raise BizError(ALLOC_AMOUNT, "退分账金额超限: 退分账金额不能超过退款金额")
    from_frozen = min(state.frozen_fen, rest)
    return from_frozen, rest - from_frozen


def _decide_settle(state: TradeState, cmd: SettleTrade) -> Sequence[NewEvent]:
    assert state.order is not None
    existing = state.settlement(cmd.out_request_no)
    if existing is not None:
        if existing.fingerprint != cmd.fingerprint:
            raise BizError("ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致: 该分账请求号已用于不同的分账请求")
        return []  # a replay: answered from the recorded settlement
    if state.paid_at is None:
        raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法: 交易未支付, 不能分账")
    if not state.frozen:
        raise BizError("ACQ.TRADE_SETTLE_ERROR", "交易结算异常: 交易未冻结分账资金 (extend_params.royalty_freeze)")
    if state.royalty_finished:
        raise BizError("ACQ.TRADE_SETTLE_ERROR", "交易结算异常: 该交易的分账已完结")
    amount = sum(d.amount_fen for d in cmd.details)
    if amount > state.frozen_fen:
        raise BizError(ALLOC_AMOUNT, "分账金额超过最大可分账金额: 超过交易剩余冻结金额")
    if (state.settled_fen + amount) * 100 > state.order.total_fen * cmd.max_ratio_pct:
        raise BizError(ALLOC_AMOUNT, f"分账金额超过最大可分账金额: 累计分账超过交易金额的 {cmd.max_ratio_pct}%")
    unfrozen = state.frozen_fen - amount if cmd.finish else 0
    payload = {
        "out_request_no": cmd.out_request_no,
        "settle_no": cmd.settle_no,
        "details": [to_payload(d) for d in cmd.details],
        "finish": cmd.finish,
        "unfrozen_fen": unfrozen,
        "fingerprint": cmd.fingerprint,
        "at": cmd.now,
    }
    return [NewEvent("trade.settled", payload)]


TRADE_NOT_EXIST = ("ACQ.TRADE_NOT_EXIST", "交易不存在")


def _opened(order: TradeOrder, trade_no: str, now: datetime) -> NewEvent:
    return NewEvent("trade.created", {**to_payload(order), "trade_no": trade_no, "at": now})


def _check_same_order(state: TradeState, order: TradeOrder) -> None:
    assert state.order is not None
    if not state.order.same_terms(order):
        raise BizError("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改: 同一订单号的交易关键信息不一致")


def decide_trade(state: TradeState, cmd: TradeCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, OpenTrade):
        if state.order is None:
            return [_opened(cmd.order, cmd.trade_no, cmd.now)]
        _check_same_order(state, cmd.order)
        return []
    if isinstance(cmd, PayTrade):
        if cmd.buyer_id == cmd.order.seller_id:
            raise BizError("ACQ.BUYER_SELLER_EQUAL", "买卖家不能相同")
        events: list[NewEvent] = []
        if state.order is None:
            events.append(_opened(cmd.order, cmd.trade_no, cmd.now))
            state = evolve_trade(state, _recorded(events[-1]))
        else:
            _check_same_order(state, cmd.order)
        status = state.status(cmd.now)
        if state.paid_at is not None:
            raise BizError("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        if status == TRADE_CLOSED:
            raise BizError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        paid: dict[str, Any] = {"buyer_id": cmd.buyer_id, "at": cmd.now}
        if cmd.buyer_open_id:
            paid["buyer_open_id"] = cmd.buyer_open_id
        events.append(NewEvent("trade.paid", paid))
        return events
    if state.order is None:
        raise BizError(*TRADE_NOT_EXIST)
    if isinstance(cmd, CloseTrade):
        if state.status(cmd.now) != WAIT_BUYER_PAY:
            raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法: 只有等待付款的交易可以关闭")
        return [NewEvent("trade.closed", {"at": cmd.now})]
    if isinstance(cmd, SettleTrade):
        return _decide_settle(state, cmd)
    existing = state.refund(cmd.out_request_no)
    if existing is not None:
        if existing.amount_fen != cmd.amount_fen:
            raise BizError("ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求: 该退款请求号已用于不同金额")
        return []  # a replay: answered from the recorded refund, never refunded twice
    if state.status(cmd.now) != TRADE_SUCCESS:
        raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态非法: 只有支付成功的交易可以退款")
    assert state.order is not None
    if state.refunded_fen + cmd.amount_fen > state.order.total_fen:
        raise BizError("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限: 累计退款金额不能超过交易金额")
    for back in cmd.royalty_back:
        if back.amount_fen > state.settled_to(back.user_id):
            raise BizError(ALLOC_AMOUNT, f"退分账金额超限: 超过分给 {back.trans_out} 的分账金额")
    from_available = cmd.amount_fen - cmd.from_frozen_fen if cmd.from_available_fen is None else cmd.from_available_fen
    if cmd.from_frozen_fen > state.frozen_fen:
        # A settlement took the frozen money between the plan and this append: the caller re-plans.
        raise BizError("ACQ.SYSTEM_ERROR", "系统异常: 交易冻结金额已变化, 请重试")
    return [
        NewEvent(
            "trade.refunded",
            {
                "out_request_no": cmd.out_request_no,
                "amount_fen": cmd.amount_fen,
                "reason": cmd.reason,
                "at": cmd.now,
                "from_frozen_fen": cmd.from_frozen_fen,
                "from_available_fen": from_available,
                "royalty_back": [to_payload(b) for b in cmd.royalty_back],
            },
        )
    ]


def _recorded(event: NewEvent) -> RecordedEvent:
    at = event.payload.get("at")
    assert isinstance(at, datetime)
    return RecordedEvent(event_id="", type=event.type, version=event.version, payload=event.payload, occurred_at=at)


def _order_from(payload: dict[str, Any]) -> TradeOrder:
    return from_payload(TradeOrder, payload)


def evolve_trade(state: TradeState, event: RecordedEvent) -> TradeState:
    p = event.payload
    if event.type == "trade.created":
        return replace(state, order=_order_from(p), trade_no=p["trade_no"], created_at=p["at"])
    if event.type == "trade.paid":
        return replace(state, buyer_id=p["buyer_id"], buyer_open_id=p.get("buyer_open_id"), paid_at=p["at"])
    if event.type == "trade.closed":
        return replace(state, closed_at=p["at"])
    if event.type == "trade.refunded":
        refund = Refund(
            p["out_request_no"],
            p["amount_fen"],
            p.get("reason"),
            p["at"],
            from_frozen_fen=p.get("from_frozen_fen", 0),
            from_available_fen=p.get("from_available_fen", p["amount_fen"]),
            royalty_back=tuple(from_payload(RoyaltyBack, b) for b in p.get("royalty_back", ())),
        )
        return replace(state, refunds=(*state.refunds, refund))
    if event.type == "trade.settled":
        settlement = Settlement(
            out_request_no=p["out_request_no"],
            settle_no=p["settle_no"],
            details=tuple(from_payload(SettleDetail, d) for d in p["details"]),
            finish=p["finish"],
            unfrozen_fen=p["unfrozen_fen"],
            fingerprint=p["fingerprint"],
            at=p["at"],
        )
        return replace(state, settlements=(*state.settlements, settlement))
    return state


TRADE: Aggregate[TradeState, TradeCommand] = Aggregate(
    name="alipay.trade", initial=TradeState, evolve=evolve_trade, decide=decide_trade
)
