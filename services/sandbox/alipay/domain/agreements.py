"""Password-free (withholding) agreements: signing and charging requests, limits, the agreement state machine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from services.sandbox.alipay.domain.biz import Biz, BizError
from services.sandbox.alipay.domain.trades import ExtendParams, OutTradeNo, TradeAmount
from services.sandbox.alipay.domain.wire import Yuan, beijing_day, beijing_month
from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.protocols.alipay import SHANGHAI


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
    extend_params: ExtendParams | None = None


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
    alipay_open_id: str | None = None
    personal_product_code: PersonalProduct | None = None
    sign_scene: str | None = None
    external_agreement_no: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> AgreementRefBiz:
        if self.agreement_no:
            return self
        user = self.alipay_user_id or self.alipay_open_id
        if not (user and self.personal_product_code and self.external_agreement_no):
            raise ValueError(
                "agreement_no, or alipay_user_id (alipay_open_id) + personal_product_code + external_agreement_no"
            )
        return self


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
    open_id: str | None = None  # in open_id mode: the user's open id in this app (alipay_open_id)

    def payload(self) -> dict[str, Any]:
        extra = {"open_id": self.open_id} if self.open_id else {}
        return {
            **extra,
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
        open_id=p.get("open_id"),
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
