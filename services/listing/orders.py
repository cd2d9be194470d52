"""Orders of single-unit trades: a pure state machine from reservation to completion, closure or refund.

pending_payment → paid → shipped → completed; pending_payment → closed; paid/shipped → refunding → refunded, or back
to paid/shipped when the case closes without a refund. Time comes in through the commands, so `decide` stays pure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.errors import AppError, InvalidState, NotFound
from shared.events import Channel, PaymentMethod
from shared.events.listing import (
    OrderClosed,
    OrderCompleted,
    OrderCreated,
    OrderLatePayment,
    OrderPaid,
    OrderPaymentStarted,
    OrderRefundClosed,
    OrderRefunded,
    OrderRefundOpened,
    OrderShipped,
)

OrderStatus = Literal["pending_payment", "paid", "shipped", "completed", "closed", "refunding", "refunded"]
Actor = Literal["buyer", "seller", "system"]


class PaymentMismatch(AppError):
    """A payment that does not fit the order (amount, order): never applied, parked for a person to look at."""

    status, code = 409, "payment_mismatch"


class NotYet(AppError):
    """An event that depends on one not applied yet (a case closing before it opened): retried, never dropped."""

    status, code = 409, "out_of_order"


class Shipment(BaseModel):
    carrier: str
    tracking_no: str
    shipped_at: datetime


class TimelineEntry(BaseModel):
    at: datetime
    type: str
    actor: Actor


class Order(BaseModel):
    order_id: str = ""
    item_id: str = ""
    item_title: str = ""
    item_price_fen: int = 0
    shop_id: str = ""
    seller_id: str = ""
    buyer_id: str = ""
    channel: Channel = "app"
    payment_method: PaymentMethod = "alipay"
    amount_fen: int = 0
    status: OrderStatus = "pending_payment"
    created_at: datetime | None = None
    expires_at: datetime | None = None
    payment_id: str | None = None
    paid_at: datetime | None = None
    shipment: Shipment | None = None
    auto_confirm_at: datetime | None = None
    refund_id: str | None = None
    refund_paused_remaining_s: float | None = None
    completed_at: datetime | None = None
    closed_reason: str | None = None
    refunded_fen: int = 0
    share_code: str | None = None
    sharer_id: str | None = None
    closed_refund_ids: list[str] = Field(default_factory=list)
    late_payment_ids: list[str] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)

    @property
    def exists(self) -> bool:
        return bool(self.order_id)


class CreateOrder(BaseModel):
    order_id: str
    item_id: str
    item_title: str
    item_price_fen: int = Field(gt=0)
    shop_id: str
    seller_id: str
    buyer_id: str
    channel: Channel
    payment_method: PaymentMethod
    expires_at: datetime
    share_code: str | None = None
    sharer_id: str | None = None


class CancelOrder(BaseModel):
    buyer_id: str


class ExpireOrder(BaseModel):
    """The payment deadline passed. With no payment started the order closes after `grace_s`; a started payment is
    closed by the payment service at the provider first (its `payment.closed` closes the order), and listing closes
    the order itself only after `backstop_s`, in case that never comes."""

    now: datetime
    grace_s: float = Field(ge=0)
    backstop_s: float = Field(ge=0)


class RecordPaymentStarted(BaseModel):
    payment_id: str


class RecordPayment(BaseModel):
    payment_id: str
    amount_fen: int
    method: PaymentMethod


class RecordPaymentClosed(BaseModel):
    payment_id: str
    reason: str


class ShipOrder(BaseModel):
    seller_id: str
    carrier: str = Field(min_length=1, max_length=40)
    tracking_no: str = Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
    now: datetime
    auto_confirm_after_s: float = Field(gt=0)


class ConfirmReceipt(BaseModel):
    buyer_id: str


class AutoConfirm(BaseModel):
    now: datetime


class OpenRefund(BaseModel):
    refund_id: str
    now: datetime


class CloseRefund(BaseModel):
    refund_id: str
    now: datetime


class CompleteRefund(BaseModel):
    refund_id: str
    amount_fen: int = Field(gt=0)
    now: datetime


OrderCommand = (
    CreateOrder
    | CancelOrder
    | ExpireOrder
    | RecordPaymentStarted
    | RecordPayment
    | RecordPaymentClosed
    | ShipOrder
    | ConfirmReceipt
    | AutoConfirm
    | OpenRefund
    | CloseRefund
    | CompleteRefund
)


def _not_in(state: Order, *allowed: OrderStatus) -> None:
    if state.status not in allowed:
        raise InvalidState(f"the order is {state.status}", details={"status": state.status, "allowed": list(allowed)})


def _parties(state: Order) -> dict[str, Any]:
    return {"order_id": state.order_id, "seller_id": state.seller_id, "buyer_id": state.buyer_id}


def _closed(state: Order, reason: str) -> NewEvent:
    return NewEvent.of(OrderClosed(**_parties(state), item_id=state.item_id, reason=reason))


def _late_payment(state: Order, command: RecordPayment) -> NewEvent:
    return NewEvent.of(
        OrderLatePayment(**_parties(state), payment_id=command.payment_id, amount_fen=command.amount_fen)
    )


def _completed(state: Order, by: Literal["buyer", "auto"]) -> NewEvent:
    return NewEvent.of(
        OrderCompleted(
            **_parties(state),
            item_id=state.item_id,
            channel=state.channel,
            payment_method=state.payment_method,
            payment_id=state.payment_id,
            amount_fen=state.amount_fen,
            completed_by=by,
        )
    )


def decide_order(state: Order, command: OrderCommand) -> list[NewEvent]:
    if isinstance(command, CreateOrder):
        if state.exists:
            return []
        return [
            NewEvent.of(
                OrderCreated(
                    order_id=command.order_id,
                    item_id=command.item_id,
                    shop_id=command.shop_id,
                    seller_id=command.seller_id,
                    buyer_id=command.buyer_id,
                    channel=command.channel,
                    payment_method=command.payment_method,
                    amount_fen=command.item_price_fen,
                    expires_at=command.expires_at.isoformat(),
                    item_title=command.item_title,
                    share_code=command.share_code,
                    sharer_id=command.sharer_id,
                )
            )
        ]
    if not state.exists:
        raise NotFound("no such order")
    if isinstance(command, CancelOrder):
        if command.buyer_id != state.buyer_id:
            raise NotFound("no such order")
        if state.status == "closed":
            return []
        _not_in(state, "pending_payment")
        return [_closed(state, "buyer_cancelled")]
    if isinstance(command, ExpireOrder):
        if state.status != "pending_payment" or state.expires_at is None:
            return []
        wait_s = command.backstop_s if state.payment_id else command.grace_s
        if command.now < state.expires_at + timedelta(seconds=wait_s):
            return []
        return [_closed(state, "payment_expired")]
    if isinstance(command, RecordPaymentStarted):
        if state.status != "pending_payment" or state.payment_id is not None:
            return []  # paid or closed already, or told before: nothing changes
        return [NewEvent.of(OrderPaymentStarted(**_parties(state), payment_id=command.payment_id))]
    if isinstance(command, RecordPayment):
        if state.status == "closed":
            # Paid after the order closed (a cashier finished late): the payment service refunds it in full by itself
            # (it knows the order closed); the order only records that the money came and goes back.
            if command.payment_id in state.late_payment_ids:
                return []
            return [_late_payment(state, command)]
        if state.payment_id == command.payment_id and state.status != "pending_payment":
            return []  # the same payment again (redelivery through another path)
        if command.amount_fen != state.amount_fen:
            raise PaymentMismatch(
                "paid amount differs from the order amount",
                details={"order_fen": state.amount_fen, "paid_fen": command.amount_fen},
            )
        if state.status != "pending_payment":
            raise PaymentMismatch(
                f"a payment arrived for an order that is {state.status}",
                details={"status": state.status, "payment_id": command.payment_id, "paid_by": state.payment_id},
            )
        return [
            NewEvent.of(
                OrderPaid(
                    **_parties(state),
                    item_id=state.item_id,
                    channel=state.channel,
                    payment_method=command.method,
                    payment_id=command.payment_id,
                    amount_fen=state.amount_fen,
                    share_code=state.share_code,
                    sharer_id=state.sharer_id,
                )
            )
        ]
    if isinstance(command, RecordPaymentClosed):
        if state.status != "pending_payment":
            return []  # the order moved on (paid by another attempt, or closed first): nothing to do
        return [_closed(state, "payment_closed")]
    if isinstance(command, ShipOrder):
        if command.seller_id != state.seller_id:
            raise NotFound("no such order")
        _not_in(state, "paid")
        auto_at = command.now + timedelta(seconds=command.auto_confirm_after_s)
        return [
            NewEvent.of(
                OrderShipped(
                    **_parties(state),
                    carrier=command.carrier,
                    tracking_no=command.tracking_no,
                    auto_confirm_at=auto_at.isoformat(),
                )
            )
        ]
    if isinstance(command, ConfirmReceipt):
        if command.buyer_id != state.buyer_id:
            raise NotFound("no such order")
        if state.status == "completed":
            return []
        _not_in(state, "shipped")
        return [_completed(state, "buyer")]
    if isinstance(command, AutoConfirm):
        if state.status != "shipped" or state.auto_confirm_at is None or command.now < state.auto_confirm_at:
            return []
        return [_completed(state, "auto")]
    if isinstance(command, OpenRefund):
        if state.refund_id == command.refund_id:
            return []
        _not_in(state, "paid", "shipped")
        remaining = None
        if state.status == "shipped" and state.auto_confirm_at is not None:
            remaining = max(0.0, (state.auto_confirm_at - command.now).total_seconds())
        return [
            NewEvent.of(
                OrderRefundOpened(
                    **_parties(state),
                    refund_id=command.refund_id,
                    previous_status=state.status,
                    auto_confirm_remaining_s=remaining,
                )
            )
        ]
    if isinstance(command, CloseRefund):
        if command.refund_id in state.closed_refund_ids:
            return []  # closed before
        if state.status != "refunding" or state.refund_id != command.refund_id:
            if state.status == "refunded" and state.refund_id == command.refund_id:
                return []  # the case completed with a refund: its close changes nothing
            # The case closes before listing saw it open (events on different queues): wait for the opening.
            raise NotYet(
                "the refund case is not open on this order (yet)",
                details={"status": state.status, "refund_id": state.refund_id, "closing": command.refund_id},
            )
        back = "shipped" if state.shipment is not None else "paid"
        resume = None
        if back == "shipped":
            # Auto-confirm resumes with the time that was left when the case opened.
            resume = (command.now + timedelta(seconds=state.refund_paused_remaining_s or 0.0)).isoformat()
        return [
            NewEvent.of(
                OrderRefundClosed(**_parties(state), refund_id=command.refund_id, status=back, auto_confirm_at=resume)
            )
        ]
    # CompleteRefund
    if (state.status == "refunded" and state.refund_id == command.refund_id) or (
        command.refund_id in state.closed_refund_ids
    ):
        return []
    if state.status != "refunding" or state.refund_id != command.refund_id:
        raise InvalidState(
            "no open refund case with this id", details={"status": state.status, "refund_id": state.refund_id}
        )
    if state.refunded_fen + command.amount_fen > state.amount_fen:
        raise PaymentMismatch("refund exceeds the order amount", details={"order_fen": state.amount_fen})
    if state.refunded_fen + command.amount_fen < state.amount_fen:
        # Refunded in part: the trade goes on (back where it was, auto-confirm resumes), so the rest of the money is
        # settled to the seller when the order completes.
        back = "shipped" if state.shipment is not None else "paid"
        resume = None
        if back == "shipped":
            resume = (command.now + timedelta(seconds=state.refund_paused_remaining_s or 0.0)).isoformat()
        closed = OrderRefundClosed(
            **_parties(state),
            refund_id=command.refund_id,
            status=back,
            auto_confirm_at=resume,
            refunded_fen=state.refunded_fen + command.amount_fen,
        )
        return [NewEvent.of(closed)]
    return [
        NewEvent.of(
            OrderRefunded(
                **_parties(state), item_id=state.item_id, refund_id=command.refund_id, amount_fen=command.amount_fen
            )
        )
    ]


_ACTORS: dict[str, Actor] = {
    "order.created": "buyer",
    "order.payment_started": "buyer",
    "order.paid": "buyer",
    "order.late_payment": "buyer",
    "order.shipped": "seller",
    "order.refund_opened": "buyer",
}


def _actor(event: RecordedEvent) -> Actor:
    if event.type == "order.completed":
        return "buyer" if event.payload.get("completed_by") == "buyer" else "system"
    if event.type == "order.closed":
        return "buyer" if event.payload.get("reason") == "buyer_cancelled" else "system"
    return _ACTORS.get(event.type, "system")


def evolve_order(state: Order, event: RecordedEvent) -> Order:
    p = event.payload
    at = event.occurred_at
    timeline = [*state.timeline, TimelineEntry(at=at, type=event.type, actor=_actor(event))]
    if event.type == "order.created":
        return Order(
            order_id=p["order_id"],
            item_id=p["item_id"],
            item_title=p.get("item_title", ""),
            item_price_fen=p["amount_fen"],
            shop_id=p["shop_id"],
            seller_id=p["seller_id"],
            buyer_id=p["buyer_id"],
            channel=p["channel"],
            payment_method=p["payment_method"],
            amount_fen=p["amount_fen"],
            status="pending_payment",
            created_at=at,
            expires_at=datetime.fromisoformat(p["expires_at"]),
            share_code=p.get("share_code"),
            sharer_id=p.get("sharer_id"),
            timeline=timeline,
        )
    update: dict[str, Any] = {"timeline": timeline}
    if event.type == "order.payment_started":
        update |= {"payment_id": p["payment_id"]}
    elif event.type == "order.late_payment":
        update |= {"late_payment_ids": [*state.late_payment_ids, p["payment_id"]]}
    elif event.type == "order.paid":
        update |= {
            "status": "paid",
            "payment_id": p["payment_id"],
            "payment_method": p["payment_method"],
            "paid_at": at,
        }
    elif event.type == "order.closed":
        update |= {"status": "closed", "closed_reason": p["reason"]}
    elif event.type == "order.shipped":
        update |= {
            "status": "shipped",
            "shipment": Shipment(carrier=p["carrier"], tracking_no=p["tracking_no"], shipped_at=at),
            "auto_confirm_at": datetime.fromisoformat(p["auto_confirm_at"]) if p.get("auto_confirm_at") else None,
        }
    elif event.type == "order.completed":
        update |= {"status": "completed", "completed_at": at, "auto_confirm_at": None}
    elif event.type == "order.refund_opened":
        update |= {
            "status": "refunding",
            "refund_id": p["refund_id"],
            "auto_confirm_at": None,
            "refund_paused_remaining_s": p.get("auto_confirm_remaining_s"),
        }
    elif event.type == "order.refund_closed":
        resume = p.get("auto_confirm_at")
        if p.get("refunded_fen") is not None:
            update["refunded_fen"] = p["refunded_fen"]
        update |= {
            "status": p["status"],
            "refund_id": None,
            "closed_refund_ids": [*state.closed_refund_ids, p["refund_id"]],
            "refund_paused_remaining_s": None,
            "auto_confirm_at": datetime.fromisoformat(resume) if resume else None,
        }
    elif event.type == "order.refunded":
        update |= {"status": "refunded", "refunded_fen": p["amount_fen"]}
    return state.model_copy(update=update)


ORDER: Aggregate[Order, OrderCommand] = Aggregate(
    "order",
    Order,
    evolve_order,
    decide_order,
    state_model=Order,
    snapshot_every=0,
    events=(
        "order.created",
        "order.payment_started",
        "order.paid",
        "order.late_payment",
        "order.shipped",
        "order.completed",
        "order.closed",
        "order.refund_opened",
        "order.refund_closed",
        "order.refunded",
    ),
)
