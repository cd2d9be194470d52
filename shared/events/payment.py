"""Payloads of the events the payment service produces: payments, provider refunds and password-free agreements."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.events._base import Channel, Payload, PaymentMethod
from shared.events.registry import register

Provider = Literal["alipay", "wechatpay"]


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
        default=None, description="why payment refunded without being asked: order_closed; absent for approved refunds"
    )


@register("payment.refund_failed")
class PaymentRefundFailed(Payload):
    payment_id: str
    order_id: str
    refund_id: str
    amount_fen: int = Field(gt=0)
    reason: str


@register("payment.order_closed")
class PaymentOrderClosed(Payload):
    """Internal (payment's own stream, not in the public catalog): the payment's order closed. Recorded even before
    the payment exists, so a later create is refused and money taken anyway is refunded in full."""

    payment_id: str
    order_id: str
    reason: str = Field(description="the order's close reason: buyer_cancelled, payment_expired, payment_closed")


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
