"""Payloads of the events the payment service produces: payments, provider refunds and password-free agreements."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.events._base import Channel, Payload, PaymentMethod
from shared.events.registry import register

Provider = Literal["alipay", "wechatpay"]
SuccessSource = Literal["notification", "query", "charge"]


@register("payment.created")
class PaymentCreated(Payload):
    """A payment was opened for an order (its provider number minted, the provider not yet called). The fields other
    services rely on; the event carries more for payment's own use."""

    payment_id: str
    order_id: str
    buyer_id: str
    seller_id: str
    channel: Channel
    method: PaymentMethod
    amount_fen: int = Field(gt=0)
    expires_at: AwareDatetime
    # Payment's own use (its state is rebuilt from them); optional, so other services need not rely on them.
    description: str | None = None
    provider: Provider | None = None
    out_trade_no: str | None = Field(default=None, description="the provider's number: the payment id itself")
    openid: str | None = None
    alipay_user_id: str | None = Field(default=None, description="the buyer's Alipay user id or OpenID")
    agreement_id: str | None = None
    agreement_no: str | None = None
    sub_mchid: str | None = Field(default=None, description="WeChat: the seller's e-commerce sub-merchant, paid")


@register("payment.action_required")
class PaymentActionRequired(Payload):
    """Internal (payment's own stream, not in the public catalog): the buyer must act. A WeChat prepay (prepay_id and
    the wx.requestPayment parameters) or an Alipay app-pay order string: the other fields are None."""

    payment_id: str
    order_id: str
    prepay_id: str | None = None
    request_payment: dict[str, str] | None = None
    order_string: str | None = None


@register("payment.succeeded")
class PaymentSucceeded(Payload):
    payment_id: str
    order_id: str
    buyer_id: str
    seller_id: str
    channel: Channel
    method: PaymentMethod
    provider: Provider
    amount_fen: int = Field(gt=0)
    out_trade_no: str
    provider_trade_no: str = Field(description="Alipay trade_no or WeChat transaction_id")
    paid_at: AwareDatetime
    source: SuccessSource | None = Field(default=None, description="what told payment: notification, query, charge")
    # Where the money sits (docs/providers.md): WeChat pays the seller's sub-merchant with the funds frozen for profit
    # sharing; Alipay collects in the platform's account with the trade frozen for royalty settlement.
    sub_mchid: str | None = Field(default=None, description="WeChat: the seller's sub-merchant holding the funds")
    frozen_for_settlement: bool = Field(default=False, description="profit sharing / royalty settles it later")


@register("payment.failed")
class PaymentFailed(Payload):
    """Internal (payment's own stream, not in the public catalog): the provider declined the payment (a
    `payment.closed` follows)."""

    payment_id: str
    order_id: str
    code: str
    message: str


@register("payment.closed")
class PaymentClosed(Payload):
    payment_id: str
    order_id: str
    reason: str = Field(description="e.g. order_closed, provider_closed, declined")


@register("payment.refunded")
class PaymentRefunded(Payload):
    payment_id: str
    order_id: str
    refund_id: str
    provider: Provider
    amount_fen: int = Field(gt=0)
    out_refund_no: str = Field(description="WeChat out_refund_no or Alipay out_request_no")
    provider_refund_id: str | None = None
    refunded_at: AwareDatetime
    reason: str | None = Field(
        default=None, description="why payment refunded without being asked: order_closed; None for approved refunds"
    )


@register("payment.refund_requested")
class PaymentRefundRequested(Payload):
    """Internal (payment's own stream, not in the public catalog): a refund to ask of the provider, under its
    out_refund_no minted here."""

    payment_id: str
    order_id: str
    refund_id: str
    amount_fen: int = Field(gt=0)
    out_refund_no: str = Field(description="WeChat out_refund_no or Alipay out_request_no")
    reason: str | None = Field(
        default=None, description="why payment refunds without being asked: order_closed; None for approved refunds"
    )


@register("payment.refund_processing")
class PaymentRefundProcessing(Payload):
    """Internal (payment's own stream, not in the public catalog): the provider accepted the refund."""

    payment_id: str
    order_id: str
    refund_id: str
    amount_fen: int = Field(gt=0)
    provider_refund_id: str | None = None


@register("payment.refund_abnormal")
class PaymentRefundAbnormal(Payload):
    """Internal (payment's own stream, not in the public catalog): the provider reports the refund abnormal (not
    terminal: it is asked again)."""

    payment_id: str
    order_id: str
    refund_id: str
    amount_fen: int = Field(gt=0)
    provider_refund_id: str | None = None


@register("payment.refund_failed")
class PaymentRefundFailed(Payload):
    payment_id: str
    order_id: str
    refund_id: str
    amount_fen: int = Field(gt=0)
    reason: str
    out_refund_no: str | None = Field(
        default=None, description="set when the refund was refused before it was recorded (exceeds_amount_paid)"
    )


@register("payment.order_closed")
class PaymentOrderClosed(Payload):
    """Internal (payment's own stream, not in the public catalog): the payment's order closed. Recorded even before
    the payment exists, so a later create is refused and money taken anyway is refunded in full."""

    payment_id: str
    order_id: str
    reason: str = Field(description="the order's close reason: buyer_cancelled, payment_expired, payment_closed")


@register("agreement.requested")
class AgreementRequested(Payload):
    """Internal (payment's own stream, not in the public catalog): a password-free agreement the buyer is to sign."""

    agreement_id: str
    buyer_id: str
    alipay_user_id: str
    sign_url: str


@register("agreement.signed")
class AgreementSigned(Payload):
    agreement_id: str
    buyer_id: str
    agreement_no: str
    alipay_user_id: str
    single_limit_fen: int | None = None
    daily_limit_fen: int | None = None


@register("agreement.unsigned")
class AgreementUnsigned(Payload):
    agreement_id: str
    buyer_id: str
    agreement_no: str


@register("agreement.charge_reserved")
class AgreementChargeReserved(Payload):
    """Internal (the agreement's own stream, not in the public catalog): a password-free debit counted against the
    daily limit before Alipay is asked."""

    agreement_id: str
    buyer_id: str
    payment_id: str
    amount_fen: int = Field(gt=0)
    day: str = Field(description="the Beijing calendar day of the debit, yyyy-mm-dd")


@register("agreement.charge_released")
class AgreementChargeReleased(Payload):
    """Internal (the agreement's own stream, not in the public catalog): a debit never made no longer counts."""

    agreement_id: str
    buyer_id: str
    payment_id: str
