"""Alipay sandbox rules: trade, agreement and transfer state machines, limits, request validation, provider ids."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from services.sandbox.records import from_payload, to_payload
from shared.money import fen_to_yuan, yuan_to_fen
from shared.protocols.alipay import SHANGHAI, AlipayMalformed, format_timestamp, parse_timestamp
from shared.streams import Aggregate, NewEvent, RecordedEvent

# --- errors -----------------------------------------------------------------------------------------------------------

SUCCESS = {"code": "10000", "msg": "Success"}


class BizError(Exception):
    """A business failure as Alipay reports it: code 40004 with a ``sub_code`` (``ACQ.*`` for trades)."""

    def __init__(
        self,
        sub_code: str,
        sub_msg: str,
        *,
        code: str = "40004",
        msg: str = "Business Failed",
        member: str | None = None,
    ) -> None:
        super().__init__(f"{sub_code}: {sub_msg}")
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        # Some methods (alipay.system.oauth.token) report failures under error_response, not <method>_response.
        self.member = member

    def response(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "sub_code": self.sub_code, "sub_msg": self.sub_msg}


def invalid(exc: ValidationError, sub_code: str = "ACQ.INVALID_PARAMETER") -> BizError:
    """Pydantic's complaint about biz_content, as the ``INVALID_PARAMETER`` failure Alipay answers with."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "biz_content"
        problems.append(f"{where}: {err['msg']}")
    return BizError(sub_code, "参数无效: " + "; ".join(problems))


B = TypeVar("B", bound=BaseModel)


def parse_biz(model: type[B], biz: dict[str, Any], sub_code: str = "ACQ.INVALID_PARAMETER") -> B:
    try:
        return model.model_validate(biz)
    except ValidationError as exc:
        raise invalid(exc, sub_code) from None


# --- money and time ---------------------------------------------------------------------------------------------------

MAX_AMOUNT_FEN = 100_000_000 * 100  # Alipay's ceiling for one trade: 100,000,000 yuan


def parse_yuan(value: object) -> int:
    """A wire amount (``"12.34"``, or a JSON number parsed as Decimal/int) as integer fen; never through float."""
    if isinstance(value, bool):
        raise ValueError("an amount is not a boolean")
    if isinstance(value, str):
        return yuan_to_fen(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("an amount must not be negative")
        return value * 100
    if isinstance(value, Decimal):
        fen = value * 100
        if not fen.is_finite() or fen < 0 or fen != fen.to_integral_value():
            raise ValueError(f"not a yuan amount with at most two decimals: {value}")
        return int(fen)
    raise ValueError('an amount is a yuan string such as "12.34"')


Yuan = Annotated[int, BeforeValidator(parse_yuan)]


def yuan(fen: int) -> str:
    return fen_to_yuan(fen)


def beijing_day(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def beijing_month(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m")


def wire_time(at: datetime) -> str:
    return format_timestamp(at)


def wire_time_ms(at: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss.SSS``: the form Alipay uses for ``gmt_refund`` in notifications."""
    local = at.astimezone(SHANGHAI)
    return local.strftime("%Y-%m-%d %H:%M:%S") + f".{local.microsecond // 1000:03d}"


def parse_wire_time(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except AlipayMalformed as exc:
        raise ValueError(str(exc)) from None


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


# --- provider ids -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ids:
    """Provider-side numbers in Alipay's shapes; the random source is injectable for deterministic tests."""

    randbelow: Callable[[int], int] = secrets.randbelow

    def digits(self, n: int) -> str:
        return f"{self.randbelow(10**n):0{n}d}"

    def hex(self, n: int) -> str:
        return "".join("0123456789abcdef"[self.randbelow(16)] for _ in range(n))

    def user_id(self) -> str:
        return "2088" + self.digits(12)

    def trade_no(self, now: datetime) -> str:
        return now.astimezone(SHANGHAI).strftime("%Y%m%d") + "2200" + self.digits(16)

    def agreement_no(self, now: datetime) -> str:
        return now.astimezone(SHANGHAI).strftime("%Y") + self.digits(16)

    def transfer_order_id(self, now: datetime) -> str:
        return now.astimezone(SHANGHAI).strftime("%Y%m%d") + "1100700" + self.digits(17)

    def notify_id(self) -> str:
        return self.hex(34)

    def auth_code(self) -> str:
        return self.hex(32)

    def token(self, prefix: str) -> str:
        return prefix + self.hex(32) + "X01"


USER_ID_RE = re.compile(r"2088[0-9]{12}")


def masked_logon_id(user_id: str) -> str:
    """A masked logon id (a phone number, as Alipay shows it) derived from the user id."""
    return f"138****{user_id[-4:]}"


# --- request validation (biz_content) ---------------------------------------------------------------------------------


class Biz(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


OutTradeNo = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
TradeAmount = Annotated[Yuan, Field(ge=1, le=MAX_AMOUNT_FEN)]


class AppPayBiz(Biz):
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


class CloseBiz(TradeRefBiz):
    operator_id: str | None = None


class RefundBiz(TradeRefBiz):
    refund_amount: TradeAmount
    refund_reason: str | None = Field(default=None, max_length=256)
    out_request_no: str | None = Field(default=None, max_length=64)


class RefundQueryBiz(TradeRefBiz):
    out_request_no: str = Field(min_length=1, max_length=64)
    query_options: list[str] = []


class AgreementParams(Biz):
    agreement_no: str = Field(min_length=1, max_length=64)


WithholdingProduct = Literal["GENERAL_WITHHOLDING", "CYCLE_PAY_AUTH"]
PersonalProduct = Literal["GENERAL_WITHHOLDING_P", "CYCLE_PAY_AUTH_P"]
PERSONAL_PRODUCT = {"GENERAL_WITHHOLDING": "GENERAL_WITHHOLDING_P", "CYCLE_PAY_AUTH": "CYCLE_PAY_AUTH_P"}


class WithholdPayBiz(Biz):
    out_trade_no: OutTradeNo
    total_amount: TradeAmount
    subject: str = Field(min_length=1, max_length=256)
    product_code: WithholdingProduct
    agreement_params: AgreementParams
    body: str | None = Field(default=None, max_length=128)


class AccessParams(Biz):
    channel: Literal["ALIPAYAPP", "QRCODE", "QRCODEORSMS"]


class PeriodRule(Biz):
    period_type: Literal["DAY", "MONTH"]
    period: int = Field(ge=1)
    execute_time: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    single_amount: Annotated[Yuan, Field(ge=1)]
    total_amount: Annotated[Yuan, Field(ge=1)] | None = None
    total_payments: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _day_period(self) -> PeriodRule:
        if self.period_type == "DAY" and self.period < 7:
            raise ValueError("a DAY period must be at least 7 days")
        return self


DEFAULT_SIGN_SCENE = "DEFAULT|DEFAULT"


class AgreementSignBiz(Biz):
    personal_product_code: PersonalProduct
    product_code: WithholdingProduct
    sign_scene: str = Field(default=DEFAULT_SIGN_SCENE, pattern=r"^[A-Z0-9_]+\|[A-Z0-9_]+$")
    external_agreement_no: str | None = Field(default=None, min_length=1, max_length=32)
    external_logon_id: str | None = Field(default=None, max_length=100)
    access_params: AccessParams
    sign_validity_period: str | None = Field(default=None, pattern=r"^[1-9][0-9]*[dm]$")
    period_rule_params: PeriodRule | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AgreementSignBiz:
        if PERSONAL_PRODUCT[self.product_code] != self.personal_product_code:
            raise ValueError(f"personal_product_code {self.personal_product_code} does not go with {self.product_code}")
        if self.product_code == "CYCLE_PAY_AUTH" and self.period_rule_params is None:
            raise ValueError("CYCLE_PAY_AUTH needs period_rule_params")
        if self.product_code != "CYCLE_PAY_AUTH" and self.period_rule_params is not None:
            raise ValueError("period_rule_params is for CYCLE_PAY_AUTH only")
        if self.external_agreement_no and self.sign_scene == DEFAULT_SIGN_SCENE:
            raise ValueError("sign_scene must not be the default when external_agreement_no is given")
        return self


class AgreementRefBiz(Biz):
    """``agreement_no`` (which wins), or the user + product + scene + external number."""

    agreement_no: str | None = None
    alipay_user_id: str | None = None
    personal_product_code: PersonalProduct | None = None
    sign_scene: str | None = None
    external_agreement_no: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> AgreementRefBiz:
        if self.agreement_no:
            return self
        if not (self.alipay_user_id and self.personal_product_code and self.external_agreement_no):
            raise ValueError("agreement_no, or alipay_user_id + personal_product_code + external_agreement_no")
        return self


class BankcardExtInfo(Biz):
    account_type: Literal["1", "2"]  # 1 corporate, 2 personal
    inst_name: str | None = None
    inst_province: str | None = None
    inst_city: str | None = None
    inst_branch_name: str | None = None
    bank_code: str | None = None

    @model_validator(mode="after")
    def _corporate_needs_bank(self) -> BankcardExtInfo:
        if self.account_type == "1" and not (
            self.bank_code or (self.inst_name and self.inst_province and self.inst_city and self.inst_branch_name)
        ):
            raise ValueError("a corporate account needs bank_code or inst_name, inst_province, inst_city, branch")
        return self


class PayeeInfo(Biz):
    identity: str = Field(min_length=1, max_length=100)
    identity_type: Literal["BANKCARD_ACCOUNT", "ALIPAY_USER_ID", "ALIPAY_LOGON_ID"]
    name: str | None = Field(default=None, max_length=100)
    bankcard_ext_info: BankcardExtInfo | None = None


class TransferBiz(Biz):
    out_biz_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    trans_amount: Annotated[Yuan, Field(ge=10, le=MAX_AMOUNT_FEN)]  # at least 0.10 yuan
    product_code: Literal["TRANS_BANKCARD_NO_PWD", "TRANS_ACCOUNT_NO_PWD"]
    biz_scene: Literal["DIRECT_TRANSFER"]
    order_title: str = Field(min_length=1, max_length=128)
    payee_info: PayeeInfo
    remark: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _payee_fits_product(self) -> TransferBiz:
        payee = self.payee_info
        if self.product_code == "TRANS_BANKCARD_NO_PWD":
            if payee.identity_type != "BANKCARD_ACCOUNT":
                raise ValueError("TRANS_BANKCARD_NO_PWD pays a BANKCARD_ACCOUNT")
            if not payee.name or payee.bankcard_ext_info is None:
                raise ValueError("a bank card payee needs name and bankcard_ext_info")
        else:
            if payee.identity_type == "BANKCARD_ACCOUNT":
                raise ValueError("TRANS_ACCOUNT_NO_PWD pays an ALIPAY_USER_ID or ALIPAY_LOGON_ID")
            if payee.identity_type == "ALIPAY_USER_ID" and not USER_ID_RE.fullmatch(payee.identity):
                raise ValueError("an ALIPAY_USER_ID is 16 digits starting with 2088")
            if payee.identity_type == "ALIPAY_LOGON_ID" and not payee.name:
                raise ValueError("an ALIPAY_LOGON_ID payee needs name")
        return self


class TransferQueryBiz(Biz):
    out_biz_no: str | None = None
    order_id: str | None = None
    pay_fund_order_id: str | None = None
    product_code: str | None = None
    biz_scene: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> TransferQueryBiz:
        if not (self.out_biz_no or self.order_id or self.pay_fund_order_id):
            raise ValueError("out_biz_no, order_id or pay_fund_order_id is required")
        if self.out_biz_no and not (self.order_id or self.pay_fund_order_id):
            if not (self.product_code and self.biz_scene):
                raise ValueError("product_code and biz_scene are required with out_biz_no")
        return self


# --- trades -----------------------------------------------------------------------------------------------------------

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

    def same_terms(self, other: TradeOrder) -> bool:
        return (self.total_fen, self.subject, self.product_code) == (other.total_fen, other.subject, other.product_code)


@dataclass(frozen=True)
class Refund:
    out_request_no: str
    amount_fen: int
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class TradeState:
    order: TradeOrder | None = None
    trade_no: str = ""
    created_at: datetime | None = None
    buyer_id: str | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunds: tuple[Refund, ...] = ()

    @property
    def refunded_fen(self) -> int:
        return sum(r.amount_fen for r in self.refunds)

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


@dataclass(frozen=True)
class CloseTrade:
    now: datetime


@dataclass(frozen=True)
class RefundTrade:
    out_request_no: str
    amount_fen: int
    reason: str | None
    now: datetime


TradeCommand = OpenTrade | PayTrade | CloseTrade | RefundTrade

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
        events.append(NewEvent("trade.paid", {"buyer_id": cmd.buyer_id, "at": cmd.now}))
        return events
    if state.order is None:
        raise BizError(*TRADE_NOT_EXIST)
    if isinstance(cmd, CloseTrade):
        if state.status(cmd.now) != WAIT_BUYER_PAY:
            raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法: 只有等待付款的交易可以关闭")
        return [NewEvent("trade.closed", {"at": cmd.now})]
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
    return [
        NewEvent(
            "trade.refunded",
            {"out_request_no": cmd.out_request_no, "amount_fen": cmd.amount_fen, "reason": cmd.reason, "at": cmd.now},
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
        return replace(state, buyer_id=p["buyer_id"], paid_at=p["at"])
    if event.type == "trade.closed":
        return replace(state, closed_at=p["at"])
    if event.type == "trade.refunded":
        refund = Refund(p["out_request_no"], p["amount_fen"], p.get("reason"), p["at"])
        return replace(state, refunds=(*state.refunds, refund))
    return state


TRADE: Aggregate[TradeState, TradeCommand] = Aggregate(
    name="alipay.trade", initial=TradeState, evolve=evolve_trade, decide=decide_trade
)


# --- password-free agreements -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WithholdingLimits:
    """Contract configuration: GENERAL_WITHHOLDING limits are undocumented; CYCLE_PAY_AUTH ones are Alipay's caps."""

    general_single_fen: int
    general_daily_fen: int
    cycle_single_fen: int
    cycle_daily_fen: int
    cycle_monthly_fen: int


@dataclass(frozen=True)
class AgreementLimits:
    single_fen: int
    daily_fen: int
    monthly_fen: int | None = None
    total_fen: int | None = None
    total_times: int | None = None


def agreement_limits(biz: AgreementSignBiz, config: WithholdingLimits) -> AgreementLimits:
    if biz.product_code == "GENERAL_WITHHOLDING":
        return AgreementLimits(single_fen=config.general_single_fen, daily_fen=config.general_daily_fen)
    rule = biz.period_rule_params
    assert rule is not None
    return AgreementLimits(
        single_fen=min(rule.single_amount, config.cycle_single_fen),
        daily_fen=config.cycle_daily_fen,
        monthly_fen=config.cycle_monthly_fen,
        total_fen=rule.total_amount,
        total_times=rule.total_payments,
    )


def agreement_invalid_time(signed_at: datetime, sign_validity_period: str | None) -> datetime:
    """``d`` days or ``m`` months (of 30 days) from signing; without a period Alipay's far-future default."""
    if not sign_validity_period:
        return datetime(2115, 2, 1, tzinfo=SHANGHAI)
    n, unit = int(sign_validity_period[:-1]), sign_validity_period[-1]
    return signed_at + timedelta(days=n if unit == "d" else 30 * n)


@dataclass(frozen=True)
class AgreementTerms:
    agreement_no: str
    app_id: str
    user_id: str
    personal_product_code: str
    product_code: str
    sign_scene: str
    external_agreement_no: str | None
    external_logon_id: str | None
    limits: AgreementLimits
    signed_at: datetime
    invalid_at: datetime
    notify_url: str | None

    def payload(self) -> dict[str, Any]:
        return {
            "agreement_no": self.agreement_no,
            "app_id": self.app_id,
            "user_id": self.user_id,
            "personal_product_code": self.personal_product_code,
            "product_code": self.product_code,
            "sign_scene": self.sign_scene,
            "external_agreement_no": self.external_agreement_no,
            "external_logon_id": self.external_logon_id,
            "limits": {
                "single_fen": self.limits.single_fen,
                "daily_fen": self.limits.daily_fen,
                "monthly_fen": self.limits.monthly_fen,
                "total_fen": self.limits.total_fen,
                "total_times": self.limits.total_times,
            },
            "signed_at": self.signed_at,
            "invalid_at": self.invalid_at,
            "notify_url": self.notify_url,
        }


@dataclass(frozen=True)
class Charge:
    out_trade_no: str
    amount_fen: int
    at: datetime


@dataclass(frozen=True)
class AgreementState:
    terms: AgreementTerms | None = None
    charges: tuple[Charge, ...] = ()
    unsigned_at: datetime | None = None

    def status(self, now: datetime) -> str:
        """NORMAL while signed and valid; UNSIGN after unsigning; STOP once past its invalid time."""
        if self.terms is None:
            raise ValueError("no agreement")
        if self.unsigned_at is not None:
            return "UNSIGN"
        if now >= self.terms.invalid_at:
            return "STOP"
        return "NORMAL"

    def charge(self, out_trade_no: str) -> Charge | None:
        return next((c for c in self.charges if c.out_trade_no == out_trade_no), None)

    def charged_fen(self, *, day: str | None = None, month: str | None = None) -> int:
        return sum(
            c.amount_fen
            for c in self.charges
            if (day is None or beijing_day(c.at) == day) and (month is None or beijing_month(c.at) == month)
        )


@dataclass(frozen=True)
class SignAgreement:
    terms: AgreementTerms


@dataclass(frozen=True)
class ChargeAgreement:
    out_trade_no: str
    amount_fen: int
    product_code: str
    app_id: str
    now: datetime


@dataclass(frozen=True)
class VoidCharge:
    """Undo a charge whose trade could not be recorded (its out_trade_no belongs to another payment)."""

    out_trade_no: str
    now: datetime


@dataclass(frozen=True)
class UnsignAgreement:
    now: datetime
    notify_url: str | None = None


AgreementCommand = SignAgreement | ChargeAgreement | VoidCharge | UnsignAgreement

AGREEMENT_NOT_EXIST = ("ACQ.AGREEMENT_NOT_EXIST", "用户协议不存在或已解约")
USER_AGREEMENT_NOT_EXIST = ("USER_AGREEMENT_NOT_EXIST", "用户协议不存在")


def decide_agreement(state: AgreementState, cmd: AgreementCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, SignAgreement):
        if state.terms is not None:
            return []
        return [NewEvent("agreement.signed", cmd.terms.payload())]
    if isinstance(cmd, UnsignAgreement):
        if state.terms is None or state.unsigned_at is not None:
            raise BizError(*USER_AGREEMENT_NOT_EXIST)
        return [NewEvent("agreement.unsigned", {"at": cmd.now, "notify_url": cmd.notify_url})]
    if isinstance(cmd, VoidCharge):
        if state.charge(cmd.out_trade_no) is None:
            return []
        return [NewEvent("agreement.charge_voided", {"out_trade_no": cmd.out_trade_no, "at": cmd.now})]
    if state.terms is None or state.unsigned_at is not None or state.terms.app_id != cmd.app_id:
        raise BizError(*AGREEMENT_NOT_EXIST)
    if state.charge(cmd.out_trade_no) is not None:
        return []  # this out_trade_no was charged already: never twice
    if state.status(cmd.now) != "NORMAL":
        raise BizError("ACQ.AGREEMENT_INVALID", "用户协议失效")
    if cmd.product_code != state.terms.product_code:
        raise BizError("ACQ.AGREEMENT_ERROR", "协议信息异常: product_code 与签约产品不一致")
    limits = state.terms.limits
    if cmd.amount_fen > limits.single_fen:
        raise BizError("ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED", "扣款的单笔金额超过签约时限制")
    if state.charged_fen(day=beijing_day(cmd.now)) + cmd.amount_fen > limits.daily_fen:
        raise BizError("ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR", "买家付款日限额超限")
    if limits.monthly_fen is not None:
        if state.charged_fen(month=beijing_month(cmd.now)) + cmd.amount_fen > limits.monthly_fen:
            raise BizError("ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR", "买家付款月额度超限")
    if limits.total_fen is not None and state.charged_fen() + cmd.amount_fen > limits.total_fen:
        raise BizError("ACQ.CYCLE_PAY_TOTAL_FEE_EXCEED", "扣款的累计金额超过签约时限制")
    if limits.total_times is not None and len(state.charges) + 1 > limits.total_times:
        raise BizError("ACQ.CYCLE_PAY_TOTAL_TIMES_EXCEED", "扣款的总次数超过签约时限制")
    return [
        NewEvent("agreement.charged", {"out_trade_no": cmd.out_trade_no, "amount_fen": cmd.amount_fen, "at": cmd.now})
    ]


def _terms_from(p: dict[str, Any]) -> AgreementTerms:
    lim = p["limits"]
    return AgreementTerms(
        agreement_no=p["agreement_no"],
        app_id=p["app_id"],
        user_id=p["user_id"],
        personal_product_code=p["personal_product_code"],
        product_code=p["product_code"],
        sign_scene=p["sign_scene"],
        external_agreement_no=p.get("external_agreement_no"),
        external_logon_id=p.get("external_logon_id"),
        limits=AgreementLimits(
            single_fen=lim["single_fen"],
            daily_fen=lim["daily_fen"],
            monthly_fen=lim.get("monthly_fen"),
            total_fen=lim.get("total_fen"),
            total_times=lim.get("total_times"),
        ),
        signed_at=p["signed_at"],
        invalid_at=p["invalid_at"],
        notify_url=p.get("notify_url"),
    )


def evolve_agreement(state: AgreementState, event: RecordedEvent) -> AgreementState:
    p = event.payload
    if event.type == "agreement.signed":
        return replace(state, terms=_terms_from(p))
    if event.type == "agreement.charged":
        return replace(state, charges=(*state.charges, Charge(p["out_trade_no"], p["amount_fen"], p["at"])))
    if event.type == "agreement.charge_voided":
        return replace(state, charges=tuple(c for c in state.charges if c.out_trade_no != p["out_trade_no"]))
    if event.type == "agreement.unsigned":
        return replace(state, unsigned_at=p["at"])
    return state


AGREEMENT: Aggregate[AgreementState, AgreementCommand] = Aggregate(
    name="alipay.agreement", initial=AgreementState, evolve=evolve_agreement, decide=decide_agreement
)


# --- payouts (alipay.fund.trans.uni.transfer) -------------------------------------------------------------------------

TransferStatus = Literal["SUCCESS", "FAIL", "DEALING", "REFUND"]


@dataclass(frozen=True)
class TransferOrder:
    app_id: str
    out_biz_no: str
    amount_fen: int
    product_code: str
    biz_scene: str
    order_title: str
    payee_identity: str
    payee_identity_type: str
    payee_name: str | None
    remark: str | None = None

    def same_terms(self, other: TransferOrder) -> bool:
        keys = ("amount_fen", "product_code", "payee_identity", "payee_identity_type", "payee_name")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


@dataclass(frozen=True)
class TransferState:
    order: TransferOrder | None = None
    order_id: str = ""
    pay_fund_order_id: str = ""
    created_at: datetime | None = None
    initial: str = "DEALING"
    settle_at: datetime | None = None  # a DEALING transfer becomes SUCCESS at this time (None: only when told)
    settled: str | None = None
    settled_at: datetime | None = None
    error_code: str | None = None
    fail_reason: str | None = None
    returned_at: datetime | None = None

    def status(self, now: datetime) -> TransferStatus:
        if self.order is None:
            raise ValueError("no transfer")
        if self.returned_at is not None:
            return "REFUND"
        current = self.settled or self.initial
        if current == "DEALING" and self.settle_at is not None and now >= self.settle_at:
            current = "SUCCESS"
        if current not in ("SUCCESS", "FAIL", "DEALING"):
            raise ValueError(f"unknown transfer status {current!r}")
        return cast(TransferStatus, current)

    def paid_at(self, now: datetime) -> datetime | None:
        status = self.status(now)
        if status not in ("SUCCESS", "REFUND"):
            return None
        if self.settled_at is not None:
            return self.settled_at
        if self.initial == "DEALING":
            return self.settle_at
        return self.created_at


@dataclass(frozen=True)
class CreateTransfer:
    order: TransferOrder
    order_id: str
    pay_fund_order_id: str
    outcome: Literal["SUCCESS", "FAIL", "DEALING"]
    settle_at: datetime | None
    now: datetime


@dataclass(frozen=True)
class SettleTransfer:
    status: Literal["SUCCESS", "FAIL"]
    fail_reason: str | None
    now: datetime


@dataclass(frozen=True)
class ReturnTransfer:
    """退票: the bank sent a card payout back after reporting success."""

    reason: str
    now: datetime


TransferCommand = CreateTransfer | SettleTransfer | ReturnTransfer

ORDER_NOT_EXIST = ("ORDER_NOT_EXIST", "转账订单不存在")
DECLINE_REASON = ("PAYEE_CARD_INFO_ERROR", "收款方卡信息错误")


class TransferStateError(Exception):
    """A test-only transfer action that the transfer's state does not allow."""


def decide_transfer(state: TransferState, cmd: TransferCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, CreateTransfer):
        if state.order is not None:
            if not state.order.same_terms(cmd.order):
                raise BizError("PAYMENT_INFO_INCONSISTENCY", "两次请求商户单号一样，但是参数不一致")
            return []
        failed = cmd.outcome == "FAIL"
        return [
            NewEvent(
                "transfer.created",
                {
                    **to_payload(cmd.order),
                    "order_id": cmd.order_id,
                    "pay_fund_order_id": cmd.pay_fund_order_id,
                    "status": cmd.outcome,
                    "settle_at": cmd.settle_at,
                    "error_code": DECLINE_REASON[0] if failed else None,
                    "fail_reason": DECLINE_REASON[1] if failed else None,
                    "at": cmd.now,
                },
            )
        ]
    if state.order is None:
        raise TransferStateError("no such transfer")
    status = state.status(cmd.now)
    if isinstance(cmd, SettleTransfer):
        if status != "DEALING":
            raise TransferStateError(f"only a DEALING transfer can be settled; this one is {status}")
        reason = cmd.fail_reason or DECLINE_REASON[1]
        return [
            NewEvent(
                "transfer.settled",
                {
                    "status": cmd.status,
                    "error_code": DECLINE_REASON[0] if cmd.status == "FAIL" else None,
                    "fail_reason": reason if cmd.status == "FAIL" else None,
                    "at": cmd.now,
                },
            )
        ]
    if state.order.product_code != "TRANS_BANKCARD_NO_PWD":
        raise TransferStateError("only a bank card payout can be returned by the bank")
    if status != "SUCCESS":
        raise TransferStateError(f"only a SUCCESS payout can be returned; this one is {status}")
    return [NewEvent("transfer.returned", {"reason": cmd.reason, "at": cmd.now})]


def _transfer_order_from(p: dict[str, Any]) -> TransferOrder:
    return from_payload(TransferOrder, p)


def evolve_transfer(state: TransferState, event: RecordedEvent) -> TransferState:
    p = event.payload
    if event.type == "transfer.created":
        return replace(
            state,
            order=_transfer_order_from(p),
            order_id=p["order_id"],
            pay_fund_order_id=p["pay_fund_order_id"],
            created_at=p["at"],
            initial=p["status"],
            settle_at=p.get("settle_at"),
            error_code=p.get("error_code"),
            fail_reason=p.get("fail_reason"),
        )
    if event.type == "transfer.settled":
        return replace(
            state,
            settled=p["status"],
            settled_at=p["at"],
            error_code=p.get("error_code"),
            fail_reason=p.get("fail_reason"),
        )
    if event.type == "transfer.returned":
        return replace(state, returned_at=p["at"], error_code="REFUND", fail_reason=p["reason"])
    return state


TRANSFER: Aggregate[TransferState, TransferCommand] = Aggregate(
    name="alipay.transfer", initial=TransferState, evolve=evolve_transfer, decide=decide_transfer
)


@dataclass(frozen=True)
class PayoutDay:
    """One app's payouts on one Beijing day: what the daily limit is decided on."""

    counted: dict[str, int] = field(default_factory=dict)

    @property
    def total_fen(self) -> int:
        return sum(self.counted.values())


@dataclass(frozen=True)
class CountPayout:
    out_biz_no: str
    amount_fen: int
    daily_limit_fen: int


def decide_payout_day(state: PayoutDay, cmd: CountPayout) -> Sequence[NewEvent]:
    if cmd.out_biz_no in state.counted:
        return []
    if state.total_fen + cmd.amount_fen > cmd.daily_limit_fen:
        raise BizError("EXCEED_LIMIT_DM_AMOUNT", "日累计额度超限")
    return [NewEvent("payout_day.counted", {"out_biz_no": cmd.out_biz_no, "amount_fen": cmd.amount_fen})]


def evolve_payout_day(state: PayoutDay, event: RecordedEvent) -> PayoutDay:
    if event.type == "payout_day.counted":
        return PayoutDay({**state.counted, event.payload["out_biz_no"]: event.payload["amount_fen"]})
    return state


PAYOUT_DAY: Aggregate[PayoutDay, CountPayout] = Aggregate(
    name="alipay.payout_day", initial=PayoutDay, evolve=evolve_payout_day, decide=decide_payout_day
)


def check_single_payout(amount_fen: int, single_limit_fen: int) -> None:
    if amount_fen > single_limit_fen:
        raise BizError("EXCEED_LIMIT_SM_AMOUNT", "单笔额度超限")
