"""Payloads of the events the refund service produces: after-sale cases and return shipments."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.events._base import Channel, Payload
from shared.events.registry import register

CaseKind = Literal["refund_only", "return_and_refund"]


class CaseEvent(Payload):
    refund_id: str
    order_id: str
    buyer_id: str
    seller_id: str


@register("refund.requested")
class RefundRequested(CaseEvent):
    kind: CaseKind
    channel: Channel
    amount_fen: int = Field(gt=0)
    reason: str = ""
    # Added within v1 (optional): the evidence images, when, and when the seller must answer by.
    evidence: list[str] = Field(default_factory=list)
    at: datetime | None = None
    deadline_at: datetime | None = None


@register("refund.agreed")
class RefundAgreed(CaseEvent):
    by: Literal["seller", "auto"]
    at: datetime | None = None
    return_by: datetime | None = Field(default=None, description="return_and_refund: ship the item back by then")


@register("refund.rejected")
class RefundRejected(CaseEvent):
    reason: str = ""
    at: datetime | None = None
    escalate_by: datetime | None = Field(default=None, description="the buyer may escalate to the platform until then")


@register("refund.return_shipped")
class RefundReturnShipped(CaseEvent):
    carrier: str
    tracking_no: str
    method: str | None = None
    carrier_name: str | None = None
    at: datetime | None = None
    deadline_at: datetime | None = Field(default=None, description="the seller confirms arrival by then")


@register("refund.approved")
class RefundApproved(CaseEvent):
    """`refund_id` is what payment refunds under (its out_refund_no / out_request_no): the case's id, or for a retry
    after payment refused, an id derived from it; `case_id` names the case."""

    payment_id: str
    amount_fen: int = Field(gt=0)
    case_id: str | None = None
    at: datetime | None = None


@register("refund.completed")
class RefundCompleted(CaseEvent):
    payment_id: str
    amount_fen: int = Field(gt=0)
    provider_refund_id: str | None = None
    payment_refund_id: str | None = None
    at: datetime | None = None


@register("refund.closed")
class RefundClosed(CaseEvent):
    reason: str = Field(description="e.g. buyer_withdrew, rejected, return_not_shipped, platform_decided")
    actor: str | None = None
    at: datetime | None = None


# --- internal (on refund's own `aso_…` streams) -------------------------------------------------------------------


@register("refund.order_recorded")
class RefundOrderRecorded(Payload):
    """What refund knows of an order, from listing's events (and a refund payment made without a case)."""

    order_id: str
    buyer_id: str
    seller_id: str
    channel: Channel
    payment_method: Literal["alipay", "alipay_password_free", "wechat_pay"]
    payment_id: str
    amount_fen: int = Field(gt=0)
    state: Literal["paid", "shipped", "completed", "closed", "refunded"]
    refund_id: str | None = None
    refunded_fen: int | None = None


@register("refund.escalated")
class RefundEscalated(CaseEvent):
    reason: str = ""
    at: datetime


@register("refund.decided")
class RefundDecided(CaseEvent):
    outcome: Literal["refund", "close"]
    amount_fen: int | None = None
    reason: str
    admin: str
    at: datetime


@register("refund.return_received")
class RefundReturnReceived(CaseEvent):
    by: Literal["seller", "auto"]
    at: datetime


@register("refund.failed")
class RefundFailed(CaseEvent):
    """Payment could not refund this attempt: retried under a new refund id at `retry_at`, or `final` (operators)."""

    reason: str
    attempt: int = Field(ge=1)
    final: bool
    retry_at: datetime | None = None
    at: datetime
