"""WeChat sandbox rules: request validation, transaction, refund and transfer state machines, login codes, ids."""

from __future__ import annotations

import ipaddress
import re
import secrets
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from services.sandbox.records import from_payload, to_payload
from shared.streams import Aggregate, NewEvent, RecordedEvent

BEIJING = timezone(timedelta(hours=8))

# --- provider errors --------------------------------------------------------------------------------------------------


class WechatError(Exception):
    """A refusal as WeChat Pay v3 answers it: an HTTP status and ``{"code", "message"[, "detail"]}``."""

    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail:
            body["detail"] = self.detail
        return body


def param_error(message: str, detail: dict[str, Any] | None = None) -> WechatError:
    return WechatError(400, "PARAM_ERROR", message, detail)


def invalid_request(message: str) -> WechatError:
    return WechatError(400, "INVALID_REQUEST", message)


def sign_error(message: str) -> WechatError:
    return WechatError(401, "SIGN_ERROR", message)


def system_error() -> WechatError:
    return WechatError(500, "SYSTEM_ERROR", "系统异常，请稍后重试 (system error: retry with the same parameters)")


def order_not_exist() -> WechatError:
    return WechatError(404, "ORDER_NOT_EXIST", "订单不存在 (no such order)")


def resource_not_exists(message: str) -> WechatError:
    return WechatError(404, "RESOURCE_NOT_EXISTS", message)


def transfer_not_found() -> WechatError:
    return WechatError(404, "NOT_FOUND", "记录不存在 (no transfer bill with this number)")


def order_closed() -> WechatError:
    return WechatError(400, "ORDER_CLOSED", "订单已关闭 (the order is closed: place a new order under a new number)")


def order_paid() -> WechatError:
    # v3 documents no code for closing a paid order; ORDERPAID is the code the v2 close API documents for it.
    return WechatError(400, "ORDERPAID", "订单已支付 (the order is paid: refund it instead)")


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: Any, location: str = "body") -> M:
    """Validate a request; the first problem becomes a PARAM_ERROR naming the field, as WeChat reports it."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        path = "/" + "/".join(str(p) for p in (location, *err["loc"]))
        raise param_error(f"输入源“{path}”校验失败: {err['msg']}", {"location": location, "field": path}) from None


# --- wire formats -----------------------------------------------------------------------------------------------------

_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})",
)


def parse_rfc3339(text: str) -> datetime:
    """``2018-06-08T10:34:56+08:00``: a date, a time and a zone are all required; kept to millisecond precision
    (what Mongo stores) so a stored time compares equal to the same text parsed again."""
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not an rfc3339 time with a time zone (yyyy-MM-DDTHH:mm:ss+08:00): {text!r}")
    zone = match.group(8)
    normalised = text[: match.start(7)] if match.group(7) else text[: match.start(8)]
    try:
        at = datetime.fromisoformat(normalised + ("+00:00" if zone == "Z" else zone))
    except ValueError as exc:
        raise ValueError(f"not a valid time: {text!r} ({exc})") from None
    if match.group(7):
        at = at.replace(microsecond=int(match.group(7)[1:].ljust(6, "0")[:3]) * 1000)
    return at


def wire_time(at: datetime) -> str:
    """Times as WeChat writes them: rfc3339 in Beijing time, whole seconds."""
    return at.astimezone(BEIJING).replace(microsecond=0).isoformat()


def _is_local_host(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        # A single-label name is a compose service or a hosts-file alias, never a public domain.
        return host == "localhost" or "." not in host
    return address.is_loopback or address.is_private


def check_notify_url(url: str) -> str:
    """WeChat's rules for callback addresses: absolute, at most 255 chars, no query string, HTTPS on the internet.
    The sandbox also accepts HTTP to loopback, private and single-label hosts (where test merchants listen)."""
    if len(url) > 255:
        raise ValueError("notify_url must be at most 255 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("notify_url must be an absolute https:// URL")
    if parts.query or parts.fragment:
        raise ValueError("notify_url must not carry parameters (不能携带参数)")
    if parts.scheme == "http" and not _is_local_host(parts.hostname):
        raise ValueError("notify_url must use https on a public host")
    return url


# --- requests ---------------------------------------------------------------------------------------------------------

OUT_TRADE_NO = r"^[0-9A-Za-z_\-|*]{6,32}$"
OUT_REFUND_NO = r"^[0-9A-Za-z_\-|*@]{1,64}$"
OUT_BILL_NO = r"^[0-9A-Za-z]{5,32}$"
TRANSACTION_ID = r"^[0-9]{1,32}$"


class Wire(BaseModel):
    # Fields WeChat knows but the sandbox does not model are accepted and ignored, as unknown ones are.
    model_config = ConfigDict(extra="ignore")


class JsapiAmount(Wire):
    total: StrictInt = Field(gt=0, le=10**12)
    currency: Literal["CNY"] = "CNY"


class JsapiPayer(Wire):
    openid: str = Field(min_length=1, max_length=128)


class JsapiRequest(Wire):
    appid: str = Field(min_length=1, max_length=32)
    mchid: str = Field(min_length=1, max_length=32)
    description: str = Field(min_length=1, max_length=127)
    out_trade_no: str = Field(pattern=OUT_TRADE_NO)
    time_expire: str | None = Field(default=None, max_length=64)
    attach: str | None = Field(default=None, max_length=128)
    notify_url: str = Field(min_length=1)
    goods_tag: str | None = Field(default=None, max_length=32)
    support_fapiao: bool | None = None
    amount: JsapiAmount
    payer: JsapiPayer
    detail: dict[str, Any] | None = None
    scene_info: dict[str, Any] | None = None
    settle_info: dict[str, Any] | None = None

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


class CloseRequest(Wire):
    mchid: str = Field(min_length=1, max_length=32)


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


class SceneReportInfo(Wire):
    info_type: str = Field(min_length=1, max_length=15)
    info_content: str = Field(min_length=1, max_length=32)


class TransferRequest(Wire):
    appid: str = Field(min_length=1, max_length=32)
    out_bill_no: str = Field(pattern=OUT_BILL_NO)
    transfer_scene_id: str = Field(min_length=1, max_length=36)
    openid: str = Field(min_length=1, max_length=64)
    user_name: str | None = Field(default=None, min_length=1, max_length=1024)
    transfer_amount: StrictInt = Field(gt=0, le=10**12)
    transfer_remark: str = Field(min_length=1, max_length=32)
    notify_url: str | None = None
    user_recv_perception: str | None = Field(default=None, max_length=32)
    transfer_scene_report_infos: list[SceneReportInfo] = Field(default_factory=list, max_length=10)

    @field_validator("notify_url")
    @classmethod
    def _notify_url(cls, value: str | None) -> str | None:
        return None if value is None else check_notify_url(value)

    def terms(self) -> dict[str, Any]:
        # user_name is RSA-OAEP ciphertext, different on every encryption of the same name: compared by presence.
        terms = self.model_dump(mode="json", exclude={"user_name"})
        terms["user_name"] = self.user_name is not None
        return terms


def check_mchid(mchid: str, *, auth_mchid: str) -> None:
    """A request's mchid (body or query) must be the merchant that signed it."""
    if mchid != auth_mchid:
        raise param_error(f"mchid {mchid} 与请求签名的商户号 {auth_mchid} 不一致 (mchid differs from the signer)")


def check_appid(appid: str, *, mchid: str, known_appid: str) -> None:
    """The appid must be bound to the merchant."""
    if appid != known_appid:
        raise WechatError(400, "APPID_MCHID_NOT_MATCH", f"AppID和mch_id不匹配 ({appid} is not bound to {mchid})")


def check_merchant(appid: str, mchid: str, *, auth_mchid: str, known_appid: str) -> None:
    """The body's mchid is the signer's, and the appid is bound to it."""
    check_mchid(mchid, auth_mchid=auth_mchid)
    check_appid(appid, mchid=mchid, known_appid=known_appid)


# User names are required from 2,000 yuan up (payments.md C).
TRANSFER_USER_NAME_FROM_FEN = 200_000


def check_transfer_user_name(req: TransferRequest) -> None:
    if req.transfer_amount >= TRANSFER_USER_NAME_FROM_FEN and req.user_name is None:
        raise param_error(
            "转账金额 >= 2000元时，user_name 必填 (from 2000 yuan, user_name encrypted for the platform is required)"
        )


# --- transactions (JSAPI payments and their refunds) -----------------------------------------------------------------

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


def order_from_request(req: JsapiRequest, now: datetime, *, min_window_s: float) -> Order:
    expire = parse_rfc3339(req.time_expire) if req.time_expire else None
    return Order(
        appid=req.appid,
        mchid=req.mchid,
        out_trade_no=req.out_trade_no,
        description=req.description,
        total_fen=req.amount.total,
        openid=req.payer.openid,
        notify_url=req.notify_url,
        attach=req.attach,
        deadline=pay_deadline(now, expire, min_window_s=min_window_s),
        terms=req.terms(),
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


@dataclass(frozen=True)
class SettleRefund:
    out_refund_no: str
    status: RefundOutcome
    now: datetime


TransactionCommand = PlaceOrder | PayOrder | CloseOrder | RequestRefund | SettleRefund


class PayRefused(Exception):
    """The WeChat app refuses what a user tried on their phone (paying, receiving a transfer); ``code`` is a stable
    snake_case reason, ``status`` its HTTP status."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


class StateError(Exception):
    """A test action asked for a transition the state machine does not allow."""


def _decide_place(state: Transaction, cmd: PlaceOrder) -> list[NewEvent]:
    if state.order is None:
        return [NewEvent("order.placed", {**to_payload(cmd.order), "prepay_id": cmd.prepay_id, "at": cmd.now})]
    if state.order.terms != cmd.order.terms:
        differing = sorted(k for k in cmd.order.terms if cmd.order.terms.get(k) != state.order.terms.get(k))
        raise invalid_request(f"201 商户订单号重复 (out_trade_no was placed with other {', '.join(differing)})")
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
    trade_state = state.trade_state
    if trade_state in (SUCCESS, REFUND):
        raise order_paid()
    if trade_state == CLOSED:
        raise order_closed()
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
    if state.order is None:
        raise order_not_exist()
    if isinstance(cmd, PayOrder):
        return _decide_pay(state, cmd)
    if isinstance(cmd, CloseOrder):
        return _decide_close(state, cmd)
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


# --- transfers (商家转账 transfer bills) ----------------------------------------------------------------------------

ACCEPTED = "ACCEPTED"
WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"
PROCESSING_TRANSFER = "PROCESSING"
FAIL = "FAIL"
CANCELING = "CANCELING"
CANCELLED = "CANCELLED"
# 退票: not a transfer-bills state. WeChat names a returned payout REFUND in its withdrawal API (payments.md C 3).
RETURNED = "REFUND"
FINAL_TRANSFER_STATES = {SUCCESS, FAIL, CANCELLED}
TransferOutcome = Literal["SUCCESS", "FAIL", "CANCELLED"]
TRANSFER_OUTCOMES: dict[str, TransferOutcome] = {"SUCCESS": "SUCCESS", "FAIL": "FAIL", "CANCELLED": "CANCELLED"}
DECLINE_REASON = "PAYEE_ACCOUNT_ABNORMAL"
BANK_RETURN_REASON = "BANK_CARD_STATUS_ABNORMAL"


@dataclass(frozen=True)
class TransferBill:
    appid: str
    mchid: str
    out_bill_no: str
    transfer_scene_id: str
    openid: str
    amount_fen: int
    remark: str
    notify_url: str | None
    user_name: bool
    terms: dict[str, Any]


def bill_from_request(req: TransferRequest, mchid: str) -> TransferBill:
    return TransferBill(
        appid=req.appid,
        mchid=mchid,
        out_bill_no=req.out_bill_no,
        transfer_scene_id=req.transfer_scene_id,
        openid=req.openid,
        amount_fen=req.transfer_amount,
        remark=req.transfer_remark,
        notify_url=req.notify_url,
        user_name=req.user_name is not None,
        terms=req.terms(),
    )


@dataclass(frozen=True)
class TransferPlan:
    """How WeChat will finish a bill once it may (at once, or when the user has confirmed receipt): its outcome,
    and after how many seconds; None holds it until a test settles it."""

    outcome: TransferOutcome = "SUCCESS"
    after_s: float | None = 0.0


@dataclass(frozen=True)
class Transfer:
    bill: TransferBill | None = None
    transfer_bill_no: str = ""
    state: str = ACCEPTED
    fail_reason: str | None = None
    package_info: str | None = None
    plan: TransferPlan = TransferPlan()
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CreateTransfer:
    """``package_info`` set: the user must confirm receipt in the mini-program (wx.requestMerchantTransfer) first."""

    bill: TransferBill
    transfer_bill_no: str
    plan: TransferPlan
    now: datetime
    package_info: str | None = None


@dataclass(frozen=True)
class ConfirmTransfer:
    """The payee confirms receipt on the page ``package_info`` opens."""

    openid: str
    package_info: str
    now: datetime


@dataclass(frozen=True)
class SettleTransfer:
    state: TransferOutcome
    fail_reason: str | None
    now: datetime


@dataclass(frozen=True)
class CancelTransfer:
    now: datetime


@dataclass(frozen=True)
class ReturnTransfer:
    reason: str
    now: datetime


TransferCommand = CreateTransfer | ConfirmTransfer | SettleTransfer | CancelTransfer | ReturnTransfer

# Where WeChat itself may take a bill: accepted or confirmed bills finish, a cancelled one (before the user received
# it) ends.
TRANSFER_TRANSITIONS: dict[str, set[str]] = {
    ACCEPTED: {SUCCESS, FAIL},
    PROCESSING_TRANSFER: {SUCCESS, FAIL},
    CANCELING: {CANCELLED},
}


def _decide_transfer(state: Transfer, cmd: TransferCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, CreateTransfer):
        if state.bill is None:
            payload = {
                **to_payload(cmd.bill),
                "transfer_bill_no": cmd.transfer_bill_no,
                "package_info": cmd.package_info,
                "plan": {"outcome": cmd.plan.outcome, "after_s": cmd.plan.after_s},
                "at": cmd.now,
            }
            return [NewEvent("transfer.accepted", payload)]
        if state.bill.terms != cmd.bill.terms:
            differing = sorted(k for k in cmd.bill.terms if cmd.bill.terms.get(k) != state.bill.terms.get(k))
            raise invalid_request(
                f"商户单号重复，但参数不一致 (out_bill_no was used with other {', '.join(differing)})"
            )
        return []  # the same request again: the same bill, never a second payment
    if state.bill is None:
        raise transfer_not_found()
    if isinstance(cmd, SettleTransfer):
        if state.state == cmd.state:
            return []
        if cmd.state not in TRANSFER_TRANSITIONS.get(state.state, set()):
            raise StateError(f"a {state.state} transfer cannot become {cmd.state}")
        reason = (cmd.fail_reason or DECLINE_REASON) if cmd.state == FAIL else None
        return [NewEvent("transfer.settled", {"state": cmd.state, "fail_reason": reason, "at": cmd.now})]
    if isinstance(cmd, ConfirmTransfer):
        return _decide_confirm(state, cmd)
    if isinstance(cmd, CancelTransfer):
        if state.state in (CANCELING, CANCELLED):
            return []
        if state.state not in (ACCEPTED, WAIT_USER_CONFIRM):
            raise invalid_request(
                f"单据状态为 {state.state}，不允许撤销 (only a bill not yet received can be cancelled)"
            )
        return [NewEvent("transfer.canceling", {"at": cmd.now})]
    if state.state == RETURNED:
        return []
    if state.state != SUCCESS:
        raise StateError(f"only a SUCCESS transfer can be returned by the bank, this one is {state.state}")
    return [NewEvent("transfer.returned", {"fail_reason": cmd.reason, "at": cmd.now})]


def _decide_confirm(state: Transfer, cmd: ConfirmTransfer) -> list[NewEvent]:
    assert state.bill is not None
    if cmd.package_info != state.package_info or state.package_info is None:
        raise PayRefused("package_info_mismatch", 400, "package_info 无效 (not this bill's package_info)")
    if cmd.openid != state.bill.openid:
        raise PayRefused("openid_mismatch", 403, "this user is not the bill's payee openid")
    if state.state != WAIT_USER_CONFIRM:
        raise PayRefused("transfer_not_waiting", 409, f"单据状态为 {state.state}，无需确认收款")
    return [NewEvent("transfer.confirmed", {"at": cmd.now})]


def _evolve_transfer(state: Transfer, event: RecordedEvent) -> Transfer:
    p = event.payload
    if event.type == "transfer.accepted":
        plan = p.get("plan") or {}
        package_info = p.get("package_info")
        return Transfer(
            bill=from_payload(TransferBill, p),
            transfer_bill_no=p["transfer_bill_no"],
            state=WAIT_USER_CONFIRM if package_info else ACCEPTED,
            package_info=package_info,
            plan=TransferPlan(outcome=plan.get("outcome", "SUCCESS"), after_s=plan.get("after_s", 0.0)),
            created_at=p["at"],
            updated_at=p["at"],
        )
    if event.type == "transfer.confirmed":
        return replace(state, state=PROCESSING_TRANSFER, updated_at=p["at"])
    if event.type == "transfer.settled":
        return replace(state, state=p["state"], fail_reason=p.get("fail_reason"), updated_at=p["at"])
    if event.type == "transfer.canceling":
        return replace(state, state=CANCELING, updated_at=p["at"])
    if event.type == "transfer.returned":
        return replace(state, state=RETURNED, fail_reason=p["fail_reason"], updated_at=p["at"])
    return state


TRANSFER: Aggregate[Transfer, TransferCommand] = Aggregate(
    name="wechat.transfer", initial=Transfer, evolve=_evolve_transfer, decide=_decide_transfer
)


# --- mini-program login (jscode2session) ------------------------------------------------------------------------------

LOGIN_CODE_TTL_S = 300.0


@dataclass(frozen=True)
class LoginError:
    errcode: int
    errmsg: str


INVALID_CODE = LoginError(40029, "invalid code")


@dataclass(frozen=True)
class IssuedCode:
    code: str
    appid: str
    openid: str
    issued_at: datetime


def check_login(
    params: dict[str, str],
    *,
    appid: str,
    secret: str,
    issued: IssuedCode | None,
    now: datetime,
    ttl_s: float = LOGIN_CODE_TTL_S,
) -> LoginError | None:
    """jscode2session's checks in WeChat's order; None when the code may be exchanged (once: the caller claims it)."""
    if not params.get("appid"):
        return LoginError(41002, "appid missing")
    if not params.get("secret"):
        return LoginError(41004, "appsecret missing")
    if not params.get("js_code"):
        return LoginError(41008, "missing code")
    if params.get("grant_type") != "authorization_code":
        return LoginError(40002, "invalid grant_type")
    if params["appid"] != appid:
        return LoginError(40013, "invalid appid")
    if not secrets.compare_digest(params["secret"].encode(), secret.encode()):
        return LoginError(40125, "invalid appsecret")
    if issued is None or issued.appid != appid or now >= issued.issued_at + timedelta(seconds=ttl_s):
        return INVALID_CODE
    return None


# --- provider ids -----------------------------------------------------------------------------------------------------

_URLSAFE = string.ascii_letters + string.digits + "-_"


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def _chars(n: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _beijing(at: datetime, fmt: str) -> str:
    return at.astimezone(BEIJING).strftime(fmt)


@dataclass
class Ids:
    """Provider-minted numbers in WeChat's shapes; ``digits`` and ``chars`` are injectable for tests."""

    digits: Callable[[int], str] = _digits
    chars: Callable[[int, str], str] = _chars

    def openid(self) -> str:
        return "o" + self.chars(27, _URLSAFE)

    def login_code(self) -> str:
        return self.chars(32, string.ascii_letters + string.digits)

    def session_key(self) -> str:
        return self.chars(22, string.ascii_letters + string.digits + "+/") + "=="

    def prepay_id(self, now: datetime) -> str:
        return "wx" + _beijing(now, "%Y%m%d%H%M%S") + self.chars(20, "0123456789abcdef")

    def transaction_id(self, now: datetime) -> str:
        return "4200" + _beijing(now, "%Y%m%d") + self.digits(16)

    def refund_id(self, now: datetime) -> str:
        return "50" + "3" + _beijing(now, "%Y%m%d") + self.digits(18)

    def transfer_bill_no(self, now: datetime) -> str:
        return "1330" + _beijing(now, "%Y%m%d") + self.digits(28)

    def package_info(self) -> str:
        return self.chars(86, string.ascii_letters + string.digits + "+/") + "=="

    def event_id(self) -> str:
        return "EV-" + self.digits(19)

    def request_id(self) -> str:
        return self.chars(32, "0123456789ABCDEF")
