"""Payloads of the events the refund service produces: after-sale cases and return shipments."""

from __future__ import annotations

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


@register("refund.agreed")
class RefundAgreed(CaseEvent):
    by: Literal["seller", "auto"]


@register("refund.rejected")
class RefundRejected(CaseEvent):
    reason: str = ""


@register("refund.return_shipped")
class RefundReturnShipped(CaseEvent):
    carrier: str
    tracking_no: str


@register("refund.approved")
class RefundApproved(CaseEvent):
    payment_id: str
    amount_fen: int = Field(gt=0)


@register("refund.completed")
class RefundCompleted(CaseEvent):
    payment_id: str
    amount_fen: int = Field(gt=0)


@register("refund.closed")
class RefundClosed(CaseEvent):
    reason: str = Field(description="e.g. buyer_withdrew, rejected, return_not_shipped, refund_failed")
