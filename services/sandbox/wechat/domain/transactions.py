"""JSAPI transactions and their refunds: the requests, pay deadlines and the transaction state machine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator

from services.sandbox.records import from_payload, to_payload
from services.sandbox.wechat.domain.errors import (
    PayRefused,
    StateError,
    invalid_request,
    order_closed,
    order_not_exist,
    order_paid,
)
from services.sandbox.wechat.domain.requests import Wire, differing_terms
from services.sandbox.wechat.domain.wire import check_notify_url, parse_rfc3339
from shared.aggregate import Aggregate, NewEvent, RecordedEvent

OUT_TRADE_NO = r"^[0-9A-Za-z_\-|*]{6,32}$"
OUT_REFUND_NO = r"^[0-9A-Za-z_\-|*@]{1,64}$"
TRANSACTION_ID = r"^[0-9]{1,32}$"


class JsapiAmount(Wire):
    total: StrictInt = Field(gt=0, le=10**12)
    currency: Literal["CNY"] = "CNY"


class JsapiPayer(Wire):
    openid: str = Field(min_length=1, max_length=128)


class _OrderRequest(Wire):
    """The fields the direct and the partner JSAPI order share, with their rules."""

    description: str = Field(min_length=1, max_length=127)
    out_trade_no: str = Field(pattern=OUT_TRADE_NO)
    time_expire: str | None = Field(default=None, max_length=64)
    attach: str | None = Field(default=None, max_length=128)
    notify_url: str = Field(min_length=1)
    goods_tag: str | None = Field(default=None, max_length=32)
    support_fapiao: bool | None = None
    amount: JsapiAmount
    detail: dict[str, Any] | None = None
    scene_info: dict[str, Any] | None = None

    @field_validator("time_expire")
    @classmethod
    def _time_expire(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rfc3339(value)
        return value

    @field_validator("notify_url")
    @classmethod
    def _notify_url(cls, value: str) -> str:
        return check_notify_url(value)

    def terms(self) -> dict[str, Any]:
        """What a repeated request must match exactly ("201 商户订单号重复" otherwise), optional fields included."""
        terms = self.model_dump(mode="json")
        if self.time_expire is not None:
            terms["time_expire"] = parse_rfc3339(self.time_expire).astimezone(UTC).isoformat()
        return terms


class JsapiRequest(_OrderRequest):
    appid: str = Field(min_length=1, max_length=32)
    mchid: str = Field(min_length=1, max_length=32)
    payer: JsapiPayer
    settle_info: dict[str, Any] | None = None


class PartnerPayer(Wire):
    sp_openid: str = Field(min_length=1, max_length=128)
    sub_openid: str | None = Field(default=None, min_length=1, max_length=128)


class SettleInfo(Wire):
    profit_sharing: StrictBool = False
    subsidy_amount: StrictInt | None = Field(default=None, ge=0)


class PartnerJsapiRequest(_OrderRequest):
    """POST /v3/pay/partner/transactions/jsapi: the platform (sp_mchid) places an order for a seller (sub_mchid)."""

    sp_appid: str = Field(min_length=1, max_length=32)
    sp_mchid: str = Field(min_length=1, max_length=32)
    sub_appid: str | None = Field(default=None, min_length=1, max_length=32)
    sub_mchid: str = Field(min_length=1, max_length=32)
    payer: PartnerPayer
    settle_info: SettleInfo | None = None


class CloseRequest(Wire):
    mchid: str = Field(min_length=1, max_length=32)


class PartnerCloseRequest(Wire):
    sp_mchid: str = Field(min_length=1, max_length=32)
    sub_mchid: str = Field(min_length=1, max_length=32)


class RefundAmount(Wire):
    refund: StrictInt = Field(gt=0, le=10**12)
    total: StrictInt = Field(gt=0, le=10**12)
    currency: Literal["CNY"]
    # Refund sources (`from`) are for discounted orders; the sandbox has no discounts and ignores them.


class RefundRequest(Wire):
    transaction_id: str | None = Field(default=None, pattern=TRANSACTION_ID)
    out_trade_no: str | None = Field(default=None, pattern=OUT_TRADE_NO)
    out_refund_no: str = Field(pattern=OUT_REFUND_NO)
    reason: str | None = Field(default=None, max_length=80)
    notify_url: str | None = None
    funds_account: Literal["AVAILABLE", "UNSETTLED"] | None = None
    amount: RefundAmount

    @field_validator("notify_url")
    @classmethod
    def _notify_url(cls, value: str | None) -> str | None:
        return None if value is None else check_notify_url(value)


NOTPAY = "NOTPAY"
SUCCESS = "SUCCESS"
CLOSED = "CLOSED"
REFUND = "REFUND"

TRADE_STATE_DESC = {
    NOTPAY: "订单未支付",
    SUCCESS: "支付成功",
    CLOSED: "订单已关闭",
    REFUND: "订单发生过退款",
}

PROCESSING = "PROCESSING"
ABNORMAL = "ABNORMAL"
RefundStatus = Literal["PROCESSING", "SUCCESS", "ABNORMAL", "CLOSED"]
RefundOutcome = Literal["SUCCESS", "ABNORMAL", "CLOSED"]
REFUND_OUTCOMES: dict[str, RefundOutcome] = {"SUCCESS": "SUCCESS", "ABNORMAL": "ABNORMAL", "CLOSED": "CLOSED"}

# The prepay_id is valid for 2 hours (payments.md A); unpaid orders without time_expire can be paid for 7 days;
# time_expire is moved to at least 1 minute and at most 90 days after the order (the v3 JSAPI page).
PREPAY_TTL = timedelta(hours=2)
DEFAULT_PAY_WINDOW = timedelta(days=7)
MIN_PAY_WINDOW_S = 60.0
MAX_PAY_WINDOW = timedelta(days=90)
REFUND_WINDOW = timedelta(days=365)
MAX_REFUNDS = 50


def pay_deadline(created_at: datetime, time_expire: datetime | None, *, min_window_s: float) -> datetime:
    """The last moment the buyer can pay: time_expire kept within [created + min window, created + 90 days]."""
    if time_expire is None:
        return created_at + DEFAULT_PAY_WINDOW
    earliest = created_at + timedelta(seconds=min_window_s)
    return min(max(time_expire, earliest), created_at + MAX_PAY_WINDOW)


@dataclass(frozen=True)
class Order:
    """A merchant's JSAPI order as first placed; ``terms`` is what every repeat must match."""

    appid: str
    mchid: str
    out_trade_no: str
    description: str
    total_fen: int
    openid: str
    notify_url: str
    attach: str | None
    deadline: datetime
    terms: dict[str, Any]
    # Partner orders only: the seller's second-level merchant (appid, mchid and openid are then sp_appid, sp_mchid
    # and payer.sp_openid) and whether its funds stay frozen for profit sharing.
    sub_mchid: str | None = None
    profit_sharing: bool | None = None

    @property
    def partner(self) -> bool:
        return self.sub_mchid is not None


def _order(req: JsapiRequest | PartnerJsapiRequest, now: datetime, min_window_s: float, **who: Any) -> Order:
    """The order a JSAPI request (direct or partner) places; `who` names the merchant, app, payer and seller."""
    expire = parse_rfc3339(req.time_expire) if req.time_expire else None
    return Order(
        out_trade_no=req.out_trade_no,
        description=req.description,
        total_fen=req.amount.total,
        notify_url=req.notify_url,
        attach=req.attach,
        deadline=pay_deadline(now, expire, min_window_s=min_window_s),
        terms=req.terms(),
        **who,
    )


def order_from_request(req: JsapiRequest, now: datetime, *, min_window_s: float) -> Order:
    return _order(req, now, min_window_s, appid=req.appid, mchid=req.mchid, openid=req.payer.openid)


def partner_order_from_request(req: PartnerJsapiRequest, now: datetime, *, min_window_s: float) -> Order:
    return _order(
        req,
        now,
        min_window_s,
        appid=req.sp_appid,
        mchid=req.sp_mchid,
        openid=req.payer.sp_openid,
        sub_mchid=req.sub_mchid,
        profit_sharing=req.settle_info is not None and req.settle_info.profit_sharing,
    )


@dataclass(frozen=True)
class Refund:
    out_refund_no: str
    refund_id: str
    amount_fen: int
    total_fen: int
    reason: str | None
    notify_url: str | None
    funds_account: str | None
    status: RefundStatus
    created_at: datetime
    success_time: datetime | None = None
    refund_account: str | None = None  # e-commerce refunds: who pays (REFUND_SOURCE_SUB_MERCHANT)

    def same_request(self, amount_fen: int, total_fen: int) -> bool:
        return (self.amount_fen, self.total_fen) == (amount_fen, total_fen)


@dataclass(frozen=True)
class Transaction:
    order: Order | None = None
    created_at: datetime | None = None
    prepay_id: str | None = None
    prepay_at: datetime | None = None
    transaction_id: str | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunds: tuple[Refund, ...] = ()

    @property
    def trade_state(self) -> str:
        """NOTPAY stays NOTPAY past the pay deadline: WeChat does not close orders, the merchant must."""
        if self.paid_at is not None:
            return REFUND if any(r.status != CLOSED for r in self.refunds) else SUCCESS
        return CLOSED if self.closed_at is not None else NOTPAY

    @property
    def committed_refund_fen(self) -> int:
        """Refunded or on its way back: only a CLOSED refund gives its amount back to the order."""
        return sum(r.amount_fen for r in self.refunds if r.status != CLOSED)

    def refundable_fen(self) -> int:
        assert self.order is not None
        return self.order.total_fen - self.committed_refund_fen

    def refund(self, out_refund_no: str) -> Refund | None:
        return next((r for r in self.refunds if r.out_refund_no == out_refund_no), None)

    def prepay_valid(self, now: datetime) -> bool:
        return self.prepay_at is not None and now < self.prepay_at + PREPAY_TTL


@dataclass(frozen=True)
class PlaceOrder:
    """POST /v3/pay/transactions/jsapi: the first request places the order, a repeat must match it."""

    order: Order
    prepay_id: str
    now: datetime


@dataclass(frozen=True)
class PayOrder:
    """The buyer confirms wx.requestPayment for a prepay_id."""

    prepay_id: str
    openid: str
    transaction_id: str
    now: datetime
    declined: bool = False


@dataclass(frozen=True)
class CloseOrder:
    now: datetime


@dataclass(frozen=True)
class RequestRefund:
    out_refund_no: str
    refund_id: str
    amount_fen: int
    total_fen: int
    reason: str | None
    notify_url: str | None
    funds_account: str | None
    now: datetime
    refund_account: str | None = None


@dataclass(frozen=True)
class SettleRefund:
    out_refund_no: str
    status: RefundOutcome
    now: datetime


TransactionCommand = PlaceOrder | PayOrder | CloseOrder | RequestRefund | SettleRefund


def _decide_place(state: Transaction, cmd: PlaceOrder) -> list[NewEvent]:
    if state.order is None:
        return [NewEvent("order.placed", {**to_payload(cmd.order), "prepay_id": cmd.prepay_id, "at": cmd.now})]
    if state.order.terms != cmd.order.terms:
        differing = differing_terms(state.order.terms, cmd.order.terms)
        raise invalid_request(f"201 商户订单号重复 (out_trade_no was placed with other {differing})")
    trade_state = state.trade_state
    if trade_state in (SUCCESS, REFUND):
        raise order_paid()
    if trade_state == CLOSED or cmd.now >= state.order.deadline:
        raise order_closed()
    if state.prepay_valid(cmd.now):
        return []  # the same order again: the same prepay_id
    return [NewEvent("order.prepay_renewed", {"prepay_id": cmd.prepay_id, "at": cmd.now})]


def _decide_pay(state: Transaction, cmd: PayOrder) -> list[NewEvent]:
    assert state.order is not None
    if cmd.prepay_id != state.prepay_id:
        raise PayRefused("prepay_id_expired", 409, "prepay_id 已失效: a newer prepay_id replaced it")
    if cmd.openid != state.order.openid:
        raise PayRefused("openid_mismatch", 403, "this buyer is not the order's payer.openid")
    trade_state = state.trade_state
    if trade_state in (SUCCESS, REFUND):
        raise PayRefused("order_paid", 409, "订单已支付")
    if trade_state == CLOSED:
        raise PayRefused("order_closed", 409, "订单已关闭")
    if cmd.now >= state.order.deadline:
        raise PayRefused("order_expired", 409, "订单已过支付结束时间 (time_expire has passed)")
    if not state.prepay_valid(cmd.now):
        raise PayRefused("prepay_id_expired", 409, "prepay_id 已过期 (valid for 2 hours): place the order again")
    if cmd.declined:
        raise PayRefused("payment_declined", 402, "支付失败: the buyer's payment was declined")
    return [NewEvent("order.paid", {"transaction_id": cmd.transaction_id, "at": cmd.now})]


def _decide_close(state: Transaction, cmd: CloseOrder) -> list[NewEvent]:
    """WeChat answers 204 for a number it has never seen and for an order already closed: it checks the number's
    format only (community evidence, docs/providers.md 8). Nothing is recorded for an unknown number."""
    if state.order is None:
        return []
    trade_state = state.trade_state
    if trade_state in (SUCCESS, REFUND):
        raise order_paid()
    if trade_state == CLOSED:
        return []
    return [NewEvent("order.closed", {"at": cmd.now})]


def _decide_refund(state: Transaction, cmd: RequestRefund) -> list[NewEvent]:
    assert state.order is not None
    existing = state.refund(cmd.out_refund_no)
    if existing is not None:
        if not existing.same_request(cmd.amount_fen, cmd.total_fen):
            raise invalid_request(
                "订单金额或退款金额与之前请求不一致，请核实后再试 (out_refund_no reused with other amounts)"
            )
        if existing.status != CLOSED:
            return []  # 同一退款单号多次请求只退一笔: the recorded refund answers
        raise invalid_request("退款单已关闭 (this out_refund_no was closed: refund under a new out_refund_no)")
    if state.paid_at is None:
        raise invalid_request("订单未支付，不能退款 (the order is not paid)")
    if cmd.total_fen != state.order.total_fen:
        raise invalid_request(
            f"amount.total 与原订单金额不一致 (the order total is {state.order.total_fen} fen, not {cmd.total_fen})"
        )
    if cmd.now >= state.paid_at + REFUND_WINDOW:
        raise invalid_request("订单已超过退款期限 (orders can be refunded for one year)")
    if len(state.refunds) >= MAX_REFUNDS:
        raise invalid_request(f"退款次数超过限制 (at most {MAX_REFUNDS} refunds per order)")
    if cmd.amount_fen > state.refundable_fen():
        raise invalid_request(
            f"申请退款金额超过订单可退金额 ({state.refundable_fen()} fen left to refund, {cmd.amount_fen} asked)"
        )
    return [
        NewEvent(
            "refund.requested",
            {
                "out_refund_no": cmd.out_refund_no,
                "refund_id": cmd.refund_id,
                "amount_fen": cmd.amount_fen,
                "total_fen": cmd.total_fen,
                "reason": cmd.reason,
                "notify_url": cmd.notify_url,
                "funds_account": cmd.funds_account,
                "refund_account": cmd.refund_account,
                "at": cmd.now,
            },
        )
    ]


# ABNORMAL is not terminal: a refund to a closed card is retried (异常退款) to SUCCESS, or ends CLOSED.
REFUND_TRANSITIONS: dict[str, set[str]] = {
    PROCESSING: {SUCCESS, ABNORMAL, CLOSED},
    ABNORMAL: {SUCCESS, CLOSED},
    SUCCESS: set(),
    CLOSED: set(),
}


def _decide_settle_refund(state: Transaction, cmd: SettleRefund) -> list[NewEvent]:
    refund = state.refund(cmd.out_refund_no)
    if refund is None:
        raise StateError(f"no refund {cmd.out_refund_no}")
    if refund.status == cmd.status:
        return []
    if cmd.status not in REFUND_TRANSITIONS[refund.status]:
        raise StateError(f"a {refund.status} refund cannot become {cmd.status}")
    return [NewEvent("refund.settled", {"out_refund_no": cmd.out_refund_no, "status": cmd.status, "at": cmd.now})]


def decide_transaction(state: Transaction, cmd: TransactionCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, PlaceOrder):
        return _decide_place(state, cmd)
    if isinstance(cmd, CloseOrder):
        return _decide_close(state, cmd)
    if state.order is None:
        raise order_not_exist()
    if isinstance(cmd, PayOrder):
        return _decide_pay(state, cmd)
    if isinstance(cmd, RequestRefund):
        return _decide_refund(state, cmd)
    return _decide_settle_refund(state, cmd)


def evolve_transaction(state: Transaction, event: RecordedEvent) -> Transaction:
    p = event.payload
    if event.type == "order.placed":
        return replace(
            state, order=from_payload(Order, p), created_at=p["at"], prepay_id=p["prepay_id"], prepay_at=p["at"]
        )
    if event.type == "order.prepay_renewed":
        return replace(state, prepay_id=p["prepay_id"], prepay_at=p["at"])
    if event.type == "order.paid":
        return replace(state, transaction_id=p["transaction_id"], paid_at=p["at"])
    if event.type == "order.closed":
        return replace(state, closed_at=p["at"])
    if event.type == "refund.requested":
        refund = Refund(
            out_refund_no=p["out_refund_no"],
            refund_id=p["refund_id"],
            amount_fen=p["amount_fen"],
            total_fen=p["total_fen"],
            reason=p.get("reason"),
            notify_url=p.get("notify_url"),
            funds_account=p.get("funds_account"),
            refund_account=p.get("refund_account"),
            status="PROCESSING",
            created_at=p["at"],
        )
        return replace(state, refunds=(*state.refunds, refund))
    if event.type == "refund.settled":
        status = p["status"]
        refunds = tuple(
            replace(r, status=status, success_time=p["at"] if status == SUCCESS else r.success_time)
            if r.out_refund_no == p["out_refund_no"]
            else r
            for r in state.refunds
        )
        return replace(state, refunds=refunds)
    return state


TRANSACTION: Aggregate[Transaction, TransactionCommand] = Aggregate(
    name="wechat.transaction", initial=Transaction, evolve=evolve_transaction, decide=decide_transaction
)
