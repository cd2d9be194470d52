"""Payments, provider refunds and password-free agreements: pure state machines (decide, evolve).

A payment: processing (out_trade_no minted, provider not yet answered) → requires_action (the buyer must act:
wx.requestPayment or the Alipay app) → succeeded | failed | closed. The provider's word that money moved wins over a
local close: a success reported after a close is still recorded.
The order's close is recorded on the payment's own stream (`payment.order_closed`, even before the payment exists), so
one rule decides on one stream, whichever arrives first: money taken for a closed order goes back in full by itself.
Refunds live inside their payment, so "never refund more than was paid" is decided on one stream.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.errors import AppError, Conflict, InvalidState, NotFound, ValidationFailed
from shared.events import Channel, PaymentMethod
from shared.events.payment import (
    AgreementChargeReleased,
    AgreementChargeReserved,
    AgreementRequested,
    AgreementSigned,
    AgreementUnsigned,
    PaymentActionRequired,
    PaymentClosed,
    PaymentCreated,
    PaymentFailed,
    PaymentOrderClosed,
    PaymentRefundAbnormal,
    PaymentRefunded,
    PaymentRefundFailed,
    PaymentRefundProcessing,
    PaymentRefundRequested,
    PaymentSucceeded,
    Provider,
)
from shared.fields import UserId
from shared.ids import derived_id

PaymentStatus = Literal["processing", "requires_action", "succeeded", "failed", "closed"]
RefundStatus = Literal["requested", "processing", "abnormal", "succeeded", "failed"]
SuccessSource = Literal["notification", "query", "charge"]  # what told us the payment succeeded
OPEN: tuple[PaymentStatus, ...] = ("processing", "requires_action")
PROVIDERS: dict[str, Provider] = {"alipay": "alipay", "alipay_password_free": "alipay", "wechat_pay": "wechatpay"}


class AmountMismatch(AppError):
    status, code = 422, "amount_mismatch"


class AgreementNotActive(AppError):
    status, code = 422, "agreement_not_active"


class LimitExceeded(AppError):
    status, code = 422, "limit_exceeded"


class OrderIsClosed(AppError):
    status, code = 409, "order_closed"


ORDER_CLOSED = "order_closed"  # the reason of a payment closed, or refunded, because its order closed


def payment_id_for(order_id: str) -> str:
    """One payment per order attempt: its id derives from the order, so two creates race on one stream. It is also
    the provider's number (`out_trade_no`: 30 characters of [0-9A-Z_], within WeChat's 6–32 and Alipay's 64)."""
    return derived_id("pay", "order", order_id)


def legacy_payment_id_for(order_id: str) -> str:
    """The id (and `out_trade_no`) payments created before ids came from `shared.ids.derived_id` got (RFC 4648
    base32, which fails `is_id`). Their orders keep it: the payment of an order is looked up under the current id,
    then under this one; no new payment gets it."""
    digest = hashlib.sha256(f"payment:{order_id}".encode()).digest()[:16]
    return "pay_" + base64.b32encode(digest).decode().rstrip("=")[:26]


def order_closed_refund_id(payment_id: str) -> str:
    """The one refund of a payment whose order closed (also its out_refund_no / out_request_no)."""
    return derived_id("rfd", "order_closed", payment_id)


# ------------------------------------------------------------------------------------------------------- payments


class Refund(BaseModel):
    refund_id: str
    amount_fen: int
    out_refund_no: str
    status: RefundStatus = "requested"
    provider_refund_id: str | None = None
    reason: str | None = None  # why it failed
    cause: str | None = None  # why we refund without being asked (order_closed); None for an approved refund
    requested_at: datetime | None = None
    updated_at: datetime | None = None


class Payment(BaseModel):
    payment_id: str = ""
    order_id: str = ""
    buyer_id: str = ""
    seller_id: str = ""
    channel: Channel = "app"
    method: PaymentMethod = "alipay"
    provider: Provider = "alipay"
    amount_fen: int = 0
    description: str = ""
    out_trade_no: str = ""
    expires_at: datetime | None = None
    openid: str | None = None
    alipay_user_id: str | None = None
    agreement_id: str | None = None
    agreement_no: str | None = None
    sub_mchid: str | None = None  # WeChat: the seller's sub-merchant the buyer pays
    status: PaymentStatus = "processing"
    prepay_id: str | None = None
    request_payment: dict[str, str] | None = None
    order_string: str | None = None
    provider_trade_no: str | None = None
    paid_at: datetime | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    closed_reason: str | None = None
    # The order is closed (recorded here, also before the payment exists): nothing may be charged any more, and money
    # taken anyway goes back.
    order_closed_at: datetime | None = None
    order_closed_reason: str | None = None
    refunds: dict[str, Refund] = Field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return bool(self.payment_id)

    @property
    def order_closed(self) -> bool:
        return self.order_closed_at is not None

    @property
    def debits_agreement(self) -> bool:
        """A password-free debit: it counts against its agreement's daily limit."""
        return debits_agreement(self.method) and bool(self.agreement_id)

    @property
    def refunded_fen(self) -> int:
        return sum(r.amount_fen for r in self.refunds.values() if r.status == "succeeded")

    @property
    def committed_refund_fen(self) -> int:
        """Refunded or on its way: what a new refund must leave room for."""
        return sum(r.amount_fen for r in self.refunds.values() if r.status != "failed")

    @property
    def open_refunds(self) -> list[Refund]:
        return [r for r in self.refunds.values() if r.status in ("requested", "processing", "abnormal")]


class PaymentTerms(BaseModel):
    """What a new payment is asked with: the create request's fields, declared once (the HTTP body and the create
    command extend it). The bounds keep every value within what both providers take."""

    order_id: str = Field(min_length=1, max_length=64)
    buyer_id: str = UserId
    seller_id: str = UserId
    channel: Channel
    method: PaymentMethod
    amount_fen: int = Field(gt=0, le=100_000_000)
    expires_at: AwareDatetime = Field(strict=False)
    description: str = Field(min_length=1, max_length=127)
    openid: str | None = Field(default=None, min_length=1, max_length=128)
    alipay_user_id: str | None = Field(default=None, min_length=1, max_length=64)
    agreement_id: str | None = Field(default=None, min_length=1, max_length=64)


AGREEMENT_METHODS: tuple[PaymentMethod, ...] = ("alipay_password_free",)


def debits_agreement(method: PaymentMethod) -> bool:
    """A password-free method: its payments are debits on a signed agreement, counted against its limits."""
    return method in AGREEMENT_METHODS


def check_payer(terms: PaymentTerms) -> None:
    """What a method must know of its payer before anything is asked of a provider."""
    if terms.method == "wechat_pay" and not terms.openid:
        raise ValidationFailed("a WeChat payment needs the buyer's openid", details={"openid": "required"})
    if debits_agreement(terms.method) and not terms.agreement_id:
        raise ValidationFailed("a password-free payment needs an agreement", details={"agreement_id": "required"})


class CreatePayment(PaymentTerms):
    payment_id: str
    agreement_no: str | None = None
    sub_mchid: str | None = None


class RecordPrepay(BaseModel):
    prepay_id: str
    request_payment: dict[str, str]


class RecordOrderString(BaseModel):
    order_string: str


class RecordSuccess(BaseModel):
    provider_trade_no: str
    amount_fen: int
    paid_at: datetime
    source: SuccessSource


class RecordFailure(BaseModel):
    code: str
    message: str


class ClosePayment(BaseModel):
    reason: str


class RecordOrderClosed(BaseModel):
    """The payment's order closed (listing's `order.closed`): recorded whether or not the payment exists yet."""

    payment_id: str
    order_id: str
    reason: str


class RequestRefund(BaseModel):
    refund_id: str
    amount_fen: int = Field(gt=0)


class RecordRefundAccepted(BaseModel):
    refund_id: str
    provider_refund_id: str | None = None


class RecordRefundAbnormal(BaseModel):
    refund_id: str
    provider_refund_id: str | None = None


class RecordRefundSucceeded(BaseModel):
    refund_id: str
    provider_refund_id: str | None = None
    refunded_at: datetime


class RecordRefundFailed(BaseModel):
    refund_id: str
    reason: str


PaymentCommand = (
    CreatePayment
    | RecordPrepay
    | RecordOrderString
    | RecordSuccess
    | RecordFailure
    | ClosePayment
    | RecordOrderClosed
    | RequestRefund
    | RecordRefundAccepted
    | RecordRefundAbnormal
    | RecordRefundSucceeded
    | RecordRefundFailed
)
_CREATE_FIELDS = ("order_id", "buyer_id", "seller_id", "channel", "method", "amount_fen")


def _ids(state: Payment) -> dict[str, Any]:
    return {"payment_id": state.payment_id, "order_id": state.order_id}


def _refund_ids(state: Payment, refund: Refund) -> dict[str, Any]:
    return {**_ids(state), "refund_id": refund.refund_id, "amount_fen": refund.amount_fen}


def _refund(state: Payment, refund_id: str) -> Refund:
    refund = state.refunds.get(refund_id)
    if refund is None:
        raise NotFound("no such refund on this payment", details={"refund_id": refund_id})
    return refund


def _order_closed_refund(state: Payment) -> list[NewEvent]:
    """Money taken for an order that is closed: the rest of it back in full, under a number minted once."""
    refund_id = order_closed_refund_id(state.payment_id)
    amount_fen = state.amount_fen - state.committed_refund_fen
    if refund_id in state.refunds or amount_fen <= 0:
        return []
    return [
        NewEvent.of(
            PaymentRefundRequested(
                **_ids(state), refund_id=refund_id, amount_fen=amount_fen, out_refund_no=refund_id, reason=ORDER_CLOSED
            )
        )
    ]


def _decide_order_closed(state: Payment, c: RecordOrderClosed) -> list[NewEvent]:
    if state.order_closed:
        return []
    closed = NewEvent.of(PaymentOrderClosed(payment_id=c.payment_id, order_id=c.order_id, reason=c.reason))
    if state.exists and state.status == "succeeded":
        return [closed, *_order_closed_refund(state)]
    return [closed]


def _decide_create(state: Payment, c: CreatePayment) -> list[NewEvent]:
    if state.order_closed:
        # Also a retried create of a payment that exists: nothing may be handed to the buyer to pay any more.
        raise OrderIsClosed(
            "the order is closed: it takes no payment",
            details={"order_id": c.order_id, "reason": state.order_closed_reason},
        )
    if state.exists:
        mine = {k: getattr(state, k) for k in _CREATE_FIELDS}
        asked = {k: getattr(c, k) for k in _CREATE_FIELDS}
        if mine != asked:
            raise Conflict(
                "this order already has a payment with other terms",
                code="payment_exists",
                details={"payment_id": state.payment_id},
            )
        return []
    return [
        NewEvent.of(
            PaymentCreated(
                payment_id=c.payment_id,
                order_id=c.order_id,
                buyer_id=c.buyer_id,
                seller_id=c.seller_id,
                channel=c.channel,
                method=c.method,
                amount_fen=c.amount_fen,
                expires_at=c.expires_at,
                description=c.description,
                provider=PROVIDERS[c.method],
                # The provider's number is the payment id itself: minted here, before any provider call, and reused.
                out_trade_no=c.payment_id,
                openid=c.openid,
                alipay_user_id=c.alipay_user_id,
                agreement_id=c.agreement_id,
                agreement_no=c.agreement_no,
                sub_mchid=c.sub_mchid,
            )
        )
    ]


def _decide_refund(state: Payment, command: PaymentCommand) -> list[NewEvent]:
    if isinstance(command, RequestRefund):
        if command.refund_id in state.refunds:
            if state.refunds[command.refund_id].amount_fen != command.amount_fen:
                raise Conflict(
                    "this refund was asked for with another amount",
                    code="refund_exists",
                    details={"refund_id": command.refund_id, "amount_fen": state.refunds[command.refund_id].amount_fen},
                )
            return []
        if state.status != "succeeded":
            raise InvalidState(f"a payment that is {state.status} cannot be refunded", details={"status": state.status})
        if state.committed_refund_fen + command.amount_fen > state.amount_fen:
            return [
                NewEvent.of(
                    PaymentRefundFailed(
                        **_ids(state),
                        refund_id=command.refund_id,
                        amount_fen=command.amount_fen,
                        reason="exceeds_amount_paid",
                        out_refund_no=command.refund_id,
                    )
                )
            ]
        return [
            NewEvent.of(
                PaymentRefundRequested(
                    **_ids(state),
                    refund_id=command.refund_id,
                    amount_fen=command.amount_fen,
                    out_refund_no=command.refund_id,
                )
            )
        ]
    assert isinstance(command, RecordRefundAccepted | RecordRefundAbnormal | RecordRefundSucceeded | RecordRefundFailed)
    refund = _refund(state, command.refund_id)
    if refund.status in ("succeeded", "failed"):
        return []  # terminal: a late or repeated provider answer changes nothing
    base = _refund_ids(state, refund)
    if isinstance(command, RecordRefundAccepted):
        if refund.status != "requested":
            return []
        return [NewEvent.of(PaymentRefundProcessing(**base, provider_refund_id=command.provider_refund_id))]
    if isinstance(command, RecordRefundAbnormal):
        if refund.status == "abnormal":
            return []
        return [NewEvent.of(PaymentRefundAbnormal(**base, provider_refund_id=command.provider_refund_id))]
    if isinstance(command, RecordRefundSucceeded):
        return [
            NewEvent.of(
                PaymentRefunded(
                    **base,
                    provider=state.provider,
                    out_refund_no=refund.out_refund_no,
                    provider_refund_id=command.provider_refund_id or refund.provider_refund_id,
                    refunded_at=command.refunded_at,
                    reason=refund.cause,
                )
            )
        ]
    return [NewEvent.of(PaymentRefundFailed(**base, reason=command.reason))]


def decide_payment(state: Payment, command: PaymentCommand) -> list[NewEvent]:
    if isinstance(command, CreatePayment):
        return _decide_create(state, command)
    if isinstance(command, RecordOrderClosed):
        return _decide_order_closed(state, command)
    if not state.exists:
        raise NotFound("no such payment")
    if isinstance(command, RecordPrepay | RecordOrderString):
        if state.status != "processing" or state.prepay_id or state.order_string or state.order_closed:
            return []
        if isinstance(command, RecordPrepay):
            action = PaymentActionRequired(
                **_ids(state), prepay_id=command.prepay_id, request_payment=command.request_payment
            )
        else:
            action = PaymentActionRequired(**_ids(state), order_string=command.order_string)
        return [NewEvent.of(action)]
    if isinstance(command, RecordSuccess):
        if command.amount_fen != state.amount_fen:
            raise AmountMismatch(
                "the provider reports another amount",
                details={"expected_fen": state.amount_fen, "reported_fen": command.amount_fen},
            )
        if state.status == "succeeded":
            return []
        succeeded = [
            NewEvent.of(
                PaymentSucceeded(
                    **_ids(state),
                    buyer_id=state.buyer_id,
                    seller_id=state.seller_id,
                    channel=state.channel,
                    method=state.method,
                    provider=state.provider,
                    amount_fen=state.amount_fen,
                    out_trade_no=state.out_trade_no,
                    provider_trade_no=command.provider_trade_no,
                    paid_at=command.paid_at,
                    source=command.source,
                    sub_mchid=state.sub_mchid,
                    frozen_for_settlement=True,
                )
            )
        ]
        # The provider's word wins (the success is recorded), and the order is gone: the money goes back.
        return [*succeeded, *_order_closed_refund(state)] if state.order_closed else succeeded
    if isinstance(command, RecordFailure):
        if state.status not in OPEN:
            return []
        return [
            NewEvent.of(PaymentFailed(**_ids(state), code=command.code, message=command.message)),
            NewEvent.of(PaymentClosed(**_ids(state), reason=f"declined:{command.code}")),
        ]
    if isinstance(command, ClosePayment):
        if state.status not in OPEN:
            return []
        return [NewEvent.of(PaymentClosed(**_ids(state), reason=command.reason))]
    return _decide_refund(state, command)


def _with_refund(state: Payment, refund: Refund) -> dict[str, Any]:
    return {"refunds": {**state.refunds, refund.refund_id: refund}}


_REFUND_STATUS: dict[str, RefundStatus] = {
    "payment.refund_processing": "processing",
    "payment.refund_abnormal": "abnormal",
    "payment.refunded": "succeeded",
}


def evolve_payment(state: Payment, event: RecordedEvent) -> Payment:
    p = event.payload
    at = event.occurred_at
    if event.type == "payment.created":
        fields = {k: v for k, v in p.items() if k in Payment.model_fields}
        # An order close recorded before the payment existed stays on it (and a create after it is refused).
        kept = {"order_closed_at": state.order_closed_at, "order_closed_reason": state.order_closed_reason}
        return Payment.model_validate({**fields, **kept, "status": "processing", "created_at": at, "updated_at": at})
    update: dict[str, Any] = {"updated_at": at}
    if event.type == "payment.order_closed":
        update |= {"order_closed_at": at, "order_closed_reason": p["reason"]}
    elif event.type == "payment.action_required":
        update |= {
            "status": "requires_action",
            "prepay_id": p.get("prepay_id"),
            "request_payment": p.get("request_payment"),
            "order_string": p.get("order_string"),
        }
    elif event.type == "payment.succeeded":
        update |= {
            "status": "succeeded",
            "provider_trade_no": p["provider_trade_no"],
            "paid_at": datetime.fromisoformat(p["paid_at"]),
            "closed_reason": None,
        }
    elif event.type == "payment.failed":
        update |= {"status": "failed", "failure_code": p["code"], "failure_message": p["message"]}
    elif event.type == "payment.closed":
        update |= {"closed_reason": p["reason"]}
        if state.status != "failed":
            update["status"] = "closed"
    elif event.type == "payment.refund_requested":
        refund = Refund(
            refund_id=p["refund_id"],
            amount_fen=p["amount_fen"],
            out_refund_no=p["out_refund_no"],
            cause=p.get("reason"),
            requested_at=at,
            updated_at=at,
        )
        update |= _with_refund(state, refund)
    elif event.type == "payment.refund_failed":
        existing = state.refunds.get(p["refund_id"])
        refund = existing or Refund(
            refund_id=p["refund_id"],
            amount_fen=p["amount_fen"],
            out_refund_no=p.get("out_refund_no", p["refund_id"]),
            requested_at=at,
        )
        update |= _with_refund(
            state, refund.model_copy(update={"status": "failed", "reason": p["reason"], "updated_at": at})
        )
    elif event.type in _REFUND_STATUS:
        refund = state.refunds[p["refund_id"]]
        changed = {"status": _REFUND_STATUS[event.type], "updated_at": at}
        if p.get("provider_refund_id"):
            changed["provider_refund_id"] = p["provider_refund_id"]
        update |= _with_refund(state, refund.model_copy(update=changed))
    return state.model_copy(update=update)


PAYMENT: Aggregate[Payment, PaymentCommand] = Aggregate(
    "payment",
    Payment,
    evolve_payment,
    decide_payment,
    state_model=Payment,
    snapshot_every=20,
    events=(
        "payment.created",
        "payment.action_required",
        "payment.succeeded",
        "payment.failed",
        "payment.closed",
        "payment.order_closed",
        "payment.refund_requested",
        "payment.refund_processing",
        "payment.refund_abnormal",
        "payment.refunded",
        "payment.refund_failed",
    ),
)


# ----------------------------------------------------------------------------------------------------- agreements

AgreementStatus = Literal["pending", "active", "unsigned"]


class AgreementCharge(BaseModel):
    amount_fen: int
    day: str  # the Beijing calendar day of the debit, yyyy-mm-dd: what a daily limit counts
    released: bool = False


class Agreement(BaseModel):
    agreement_id: str = ""
    buyer_id: str = ""
    alipay_user_id: str = ""
    status: AgreementStatus = "pending"
    sign_url: str = ""
    agreement_no: str | None = None
    single_limit_fen: int | None = None
    daily_limit_fen: int | None = None
    signed_at: datetime | None = None
    unsigned_at: datetime | None = None
    created_at: datetime | None = None
    # Debits reserved against the daily limit, by payment id (today's and yesterday's, Beijing time; older are dropped).
    charges: dict[str, AgreementCharge] = Field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return bool(self.agreement_id)

    def spent_fen(self, day: str) -> int:
        return sum(c.amount_fen for c in self.charges.values() if c.day == day and not c.released)


class RequestAgreement(BaseModel):
    agreement_id: str
    buyer_id: str
    alipay_user_id: str
    sign_url: str


class RecordSigned(BaseModel):
    agreement_no: str
    alipay_user_id: str
    single_limit_fen: int
    daily_limit_fen: int


class RecordUnsigned(BaseModel):
    pass


class ReserveCharge(BaseModel):
    """Count a password-free debit against the agreement's daily limit, before it is asked of Alipay."""

    payment_id: str
    amount_fen: int = Field(gt=0)
    day: str


class ReleaseCharge(BaseModel):
    """A debit that was never made (refused, or its payment closed unpaid) no longer counts."""

    payment_id: str


AgreementCommand = RequestAgreement | RecordSigned | RecordUnsigned | ReserveCharge | ReleaseCharge
BEIJING = timezone(timedelta(hours=8))


def beijing_day(at: datetime) -> str:
    return at.astimezone(BEIJING).date().isoformat()


def decide_agreement(state: Agreement, command: AgreementCommand) -> list[NewEvent]:
    if isinstance(command, RequestAgreement):
        if state.exists:
            if (state.buyer_id, state.alipay_user_id) != (command.buyer_id, command.alipay_user_id):
                # Only a retried request (same Idempotency-Key) can land on an existing agreement's stream.
                raise Conflict(
                    "this Idempotency-Key was used for another agreement request", code="idempotency_key_reused"
                )
            return []
        return [
            NewEvent.of(
                AgreementRequested(
                    agreement_id=command.agreement_id,
                    buyer_id=command.buyer_id,
                    alipay_user_id=command.alipay_user_id,
                    sign_url=command.sign_url,
                )
            )
        ]
    if not state.exists:
        raise NotFound("no such agreement")
    ids: dict[str, Any] = {"agreement_id": state.agreement_id, "buyer_id": state.buyer_id}
    if isinstance(command, ReserveCharge):
        if command.payment_id in state.charges:
            return []  # a retried create: counted once
        spent = state.spent_fen(command.day)
        if state.daily_limit_fen is not None and spent + command.amount_fen > state.daily_limit_fen:
            raise LimitExceeded(
                "the amount is over the agreement's daily limit",
                details={
                    "daily_limit_fen": state.daily_limit_fen,
                    "spent_fen": spent,
                    "amount_fen": command.amount_fen,
                },
            )
        return [
            NewEvent.of(
                AgreementChargeReserved(
                    **ids, payment_id=command.payment_id, amount_fen=command.amount_fen, day=command.day
                )
            )
        ]
    if isinstance(command, ReleaseCharge):
        charge = state.charges.get(command.payment_id)
        if charge is None or charge.released:
            return []
        return [NewEvent.of(AgreementChargeReleased(**ids, payment_id=command.payment_id))]
    if isinstance(command, RecordSigned):
        if state.status != "pending":
            return []  # a repeated sign notification, or one arriving after the buyer unsigned
        if command.alipay_user_id != state.alipay_user_id:
            raise Conflict("the agreement was signed by another Alipay user", code="agreement_user_mismatch")
        return [
            NewEvent.of(
                AgreementSigned(
                    **ids,
                    agreement_no=command.agreement_no,
                    alipay_user_id=command.alipay_user_id,
                    single_limit_fen=command.single_limit_fen,
                    daily_limit_fen=command.daily_limit_fen,
                )
            )
        ]
    if state.status == "unsigned":
        return []
    return [NewEvent.of(AgreementUnsigned(**ids, agreement_no=state.agreement_no or ""))]


def evolve_agreement(state: Agreement, event: RecordedEvent) -> Agreement:
    p = event.payload
    if event.type == "agreement.requested":
        return Agreement.model_validate({**p, "status": "pending", "created_at": event.occurred_at})
    if event.type == "agreement.signed":
        return state.model_copy(
            update={
                "status": "active",
                "agreement_no": p["agreement_no"],
                "single_limit_fen": p["single_limit_fen"],
                "daily_limit_fen": p["daily_limit_fen"],
                "signed_at": event.occurred_at,
            }
        )
    if event.type == "agreement.unsigned":
        return state.model_copy(update={"status": "unsigned", "unsigned_at": event.occurred_at})
    if event.type == "agreement.charge_reserved":
        # Only today's and yesterday's debits can still count against a daily limit: the state stays small.
        oldest = beijing_day(event.occurred_at - timedelta(days=1))
        kept = {k: c for k, c in state.charges.items() if c.day >= oldest}
        charge = AgreementCharge(amount_fen=p["amount_fen"], day=p["day"])
        return state.model_copy(update={"charges": {**kept, p["payment_id"]: charge}})
    if event.type == "agreement.charge_released" and p["payment_id"] in state.charges:
        released = state.charges[p["payment_id"]].model_copy(update={"released": True})
        return state.model_copy(update={"charges": {**state.charges, p["payment_id"]: released}})
    return state


AGREEMENT: Aggregate[Agreement, AgreementCommand] = Aggregate(
    "agreement",
    Agreement,
    evolve_agreement,
    decide_agreement,
    state_model=Agreement,
    snapshot_every=20,
    events=(
        "agreement.requested",
        "agreement.signed",
        "agreement.unsigned",
        "agreement.charge_reserved",
        "agreement.charge_released",
    ),
)


def check_agreement(agreement: Agreement, buyer_id: str, amount_fen: int) -> str:
    """The agreement_no to charge, if this buyer's agreement is active and the amount within its single limit."""
    usable = agreement.exists and agreement.buyer_id == buyer_id and agreement.status == "active"
    if not usable or not agreement.agreement_no:
        raise AgreementNotActive(
            "the password-free agreement is not active",
            details={"status": agreement.status if agreement.exists else "missing"},
        )
    if agreement.single_limit_fen is not None and amount_fen > agreement.single_limit_fen:
        raise LimitExceeded(
            "the amount is over the agreement's single-payment limit",
            details={"single_limit_fen": agreement.single_limit_fen, "amount_fen": amount_fen},
        )
    return agreement.agreement_no
