"""After-sale cases, pure: one stream per order (`aso_<order_id>`) holding what refund knows of the order (from
listing's and payment's events) and every case opened on it, so "one open case per order" and "never more than was
paid" are decided by one append, never by a projection.

A case (`rfd_…`, its id also the refund id payment uses as `out_refund_no` / `out_request_no`):

    requested ──agree (seller, or auto after SELLER_RESPONSE_S)──▶ refund_only: approved
        │                                                       return_and_refund: awaiting_return
        └──reject──▶ rejected ──escalate (buyer, once)──▶ escalated ──decide (admin)──▶ approved | closed
                        └── ESCALATE_WINDOW_S passes ──▶ closed
    awaiting_return ──ship (method allowed in the channel; carrier + tracking)──▶ return_shipped
        └── RETURN_SHIP_S passes ──▶ closed
    return_shipped ──confirm arrival (seller, or auto after RETURN_CONFIRM_S)──▶ approved
    approved ──payment.refunded──▶ refunded;  ──payment.refund_failed──▶ approved again under a new refund id
        (REFUND_RETRY_S later, at most REFUND_ATTEMPTS), then refund_failed (operators; an admin may decide again)
    requested | rejected | awaiting_return ──withdraw (buyer)──▶ closed

Time comes in through the commands (`now`), so `decide` stays pure; every timer is the case's `deadline_at`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.refund.carriers import validate_return_shipment
from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.channels import check_return_method, policy
from shared.errors import AppError, Conflict, InvalidState, NotFound, ValidationFailed
from shared.events import Channel, PaymentMethod
from shared.events.refund import (
    CaseKind,
    RefundAgreed,
    RefundApproved,
    RefundClosed,
    RefundCompleted,
    RefundDecided,
    RefundEscalated,
    RefundFailed,
    RefundOrderRecorded,
    RefundRejected,
    RefundRequested,
    RefundReturnReceived,
    RefundReturnShipped,
)
from shared.ids import derived_id

CaseStatus = Literal[
    "requested",
    "rejected",
    "escalated",
    "awaiting_return",
    "return_shipped",
    "approved",
    "refund_failed",
    "refunded",
    "closed",
]
OPEN: frozenset[str] = frozenset(
    {"requested", "rejected", "escalated", "awaiting_return", "return_shipped", "approved", "refund_failed"}
)
Actor = Literal["buyer", "seller", "admin", "system", "payment"]
OrderState = Literal["paid", "shipped", "completed", "closed", "refunded"]
ORDER_RANK = {"paid": 0, "shipped": 1, "completed": 2, "closed": 2, "refunded": 2}


class CaseOpen(AppError):
    status, code = 409, "case_already_open"


class NotRefundable(AppError):
    status, code = 409, "order_not_refundable"


class Durations(BaseModel):
    """The case timers, in seconds (settings; the defaults are the real ones)."""

    seller_response_s: float = 48 * 3600
    escalate_window_s: float = 7 * 86400
    return_ship_s: float = 7 * 86400
    return_confirm_s: float = 10 * 86400
    refund_retry_s: float = 600
    refund_attempts: int = 3


class Order(BaseModel):
    order_id: str
    buyer_id: str
    seller_id: str
    channel: Channel
    payment_method: PaymentMethod
    payment_id: str
    amount_fen: int
    state: OrderState = "paid"


class ReturnShipment(BaseModel):
    method: str
    carrier: str | None = None
    carrier_name: str | None = None
    tracking_no: str | None = None
    shipped_at: datetime


class TimelineEntry(BaseModel):
    at: datetime
    type: str
    actor: Actor
    details: dict[str, Any] = Field(default_factory=dict)


class Case(BaseModel):
    refund_id: str
    kind: CaseKind
    amount_fen: int
    reason: str = ""
    evidence: list[str] = Field(default_factory=list)
    status: CaseStatus = "requested"
    opened_at: datetime
    deadline_at: datetime | None = None
    escalated: bool = False
    rejection: str | None = None
    decision: str | None = None
    shipment: ReturnShipment | None = None
    refund_ids: list[str] = Field(default_factory=list)  # the attempts payment was asked to make, the latest last
    refunded_fen: int = 0
    provider_refund_id: str | None = None
    failure: str | None = None
    closed_reason: str | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN


class AfterSale(BaseModel):
    order: Order | None = None
    cases: dict[str, Case] = Field(default_factory=dict)
    open_case: str | None = None
    refunded_fen: int = 0  # refunds payment made for the order, whoever asked (a closed order's too)
    seen_refunds: list[str] = Field(default_factory=list)

    def case(self, refund_id: str) -> Case:
        found = self.cases.get(refund_id)
        if found is None:
            raise NotFound("no such refund case")
        return found

    @property
    def committed_fen(self) -> int:
        """Refunded, or asked for by a case still open: what a new case may not ask for again."""
        pending = sum(c.amount_fen - c.refunded_fen for c in self.cases.values() if c.is_open)
        return self.refunded_fen + pending


# --------------------------------------------------------------------------------------------------- commands


class RecordOrder(BaseModel):
    """listing's order.paid / order.shipped / order.completed / order.closed / order.refunded."""

    order_id: str
    buyer_id: str
    seller_id: str
    channel: Channel | None = None
    payment_method: PaymentMethod | None = None
    payment_id: str | None = None
    amount_fen: int | None = None
    state: OrderState


class Open(BaseModel):
    refund_id: str
    buyer_id: str
    kind: CaseKind
    amount_fen: int = Field(gt=0)
    reason: str = Field(default="", max_length=500)
    evidence: list[str] = Field(default_factory=list, max_length=9)
    now: datetime
    durations: Durations


class Agree(BaseModel):
    refund_id: str
    seller_id: str | None = None  # None: the timer
    now: datetime
    durations: Durations


class Reject(BaseModel):
    refund_id: str
    seller_id: str
    reason: str = Field(min_length=1, max_length=500)
    now: datetime
    durations: Durations


class Escalate(BaseModel):
    refund_id: str
    buyer_id: str
    reason: str = Field(default="", max_length=500)
    now: datetime


class Decide(BaseModel):
    """The platform's arbitration: refund `amount_fen` (≤ the case's), or close."""

    refund_id: str
    outcome: Literal["refund", "close"]
    amount_fen: int | None = Field(default=None, gt=0)
    reason: str = Field(min_length=1, max_length=500)
    admin: str
    now: datetime


class Withdraw(BaseModel):
    refund_id: str
    buyer_id: str
    now: datetime


class ShipReturn(BaseModel):
    refund_id: str
    buyer_id: str
    method: str
    carrier: str | None = None
    carrier_name: str | None = None
    tracking_no: str | None = None
    now: datetime
    durations: Durations


class ConfirmReturn(BaseModel):
    refund_id: str
    seller_id: str | None = None  # None: the timer
    now: datetime


class Expire(BaseModel):
    """The sweeper: whatever the case's timer says is due at `now`."""

    refund_id: str
    now: datetime
    durations: Durations


class RecordRefunded(BaseModel):
    refund_id: str
    amount_fen: int
    provider_refund_id: str | None = None
    now: datetime


class RecordRefundFailed(BaseModel):
    refund_id: str
    reason: str
    now: datetime
    durations: Durations


Command = (
    RecordOrder
    | Open
    | Agree
    | Reject
    | Escalate
    | Decide
    | Withdraw
    | ShipReturn
    | ConfirmReturn
    | Expire
    | RecordRefunded
    | RecordRefundFailed
)


# ----------------------------------------------------------------------------------------------------- decide


def _base(state: AfterSale, case: Case) -> dict[str, Any]:
    assert state.order is not None
    return {
        "refund_id": case.refund_id,
        "order_id": state.order.order_id,
        "buyer_id": state.order.buyer_id,
        "seller_id": state.order.seller_id,
    }


def _after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)


def _approve(state: AfterSale, case: Case, amount_fen: int, now: datetime, attempt: int = 1) -> NewEvent:
    assert state.order is not None
    refund_id = case.refund_id if attempt == 1 else derived_id("rfd", case.refund_id, str(attempt))
    return NewEvent.of(
        RefundApproved(
            **_base(state, case) | {"refund_id": refund_id},
            payment_id=state.order.payment_id,
            amount_fen=amount_fen,
            case_id=case.refund_id,
            at=now,
        )
    )


def _close(state: AfterSale, case: Case, reason: str, actor: Actor, now: datetime) -> NewEvent:
    return NewEvent.of(RefundClosed(**_base(state, case), reason=reason, actor=actor, at=now))


def _mine(state: AfterSale, refund_id: str, *, buyer: str | None = None, seller: str | None = None) -> Case:
    """The case, if the acting user is its buyer (or seller): anyone else gets 404, as if it did not exist."""
    case = state.case(refund_id)
    assert state.order is not None
    if buyer is not None and buyer != state.order.buyer_id:
        raise NotFound("no such refund case")
    if seller is not None and seller != state.order.seller_id:
        raise NotFound("no such refund case")
    return case


def _in(case: Case, *statuses: str) -> None:
    if case.status not in statuses:
        raise InvalidState(
            f"the case is {case.status}", details={"status": case.status, "allowed_from": list(statuses)}
        )


def decide(state: AfterSale, c: Command) -> list[NewEvent]:
    if isinstance(c, RecordOrder):
        return _decide_order(state, c)
    if state.order is None:
        if isinstance(c, RecordRefunded | RecordRefundFailed):
            raise InvalidState("the order is not known to refund yet")
        raise NotFound("no such order")
    if isinstance(c, Open):
        return _decide_open(state, c)
    if isinstance(c, RecordRefunded):
        return _decide_refunded(state, c)
    if isinstance(c, RecordRefundFailed):
        return _decide_refund_failed(state, c)
    case = state.case(c.refund_id)
    if isinstance(c, Agree):
        if c.seller_id is not None:
            _mine(state, c.refund_id, seller=c.seller_id)
        elif case.status == "requested" and (case.deadline_at is None or case.deadline_at > c.now):
            return []  # the timer is not due (another worker moved it on)
        if case.status != "requested":
            if case.status in ("approved", "awaiting_return") and c.seller_id is None:
                return []
            _in(case, "requested")
        by = "seller" if c.seller_id is not None else "auto"
        return_by = _after(c.now, c.durations.return_ship_s) if case.kind == "return_and_refund" else None
        events = [NewEvent.of(RefundAgreed(**_base(state, case), by=by, at=c.now, return_by=return_by))]
        if case.kind == "refund_only":
            events.append(_approve(state, case, case.amount_fen, c.now))
        return events
    if isinstance(c, Reject):
        _mine(state, c.refund_id, seller=c.seller_id)
        _in(case, "requested")
        escalate_by = _after(c.now, c.durations.escalate_window_s)
        return [NewEvent.of(RefundRejected(**_base(state, case), reason=c.reason, at=c.now, escalate_by=escalate_by))]
    if isinstance(c, Escalate):
        _mine(state, c.refund_id, buyer=c.buyer_id)
        if case.escalated:
            raise Conflict("a case can be escalated to the platform once", code="already_escalated")
        _in(case, "rejected")
        return [NewEvent.of(RefundEscalated(**_base(state, case), reason=c.reason, at=c.now))]
    if isinstance(c, Decide):
        _in(case, "escalated", "refund_failed")
        if c.outcome == "close":
            return [
                NewEvent.of(
                    RefundDecided(**_base(state, case), outcome="close", reason=c.reason, admin=c.admin, at=c.now)
                ),
                _close(state, case, "platform_decided", "admin", c.now),
            ]
        amount = c.amount_fen or case.amount_fen
        if amount > case.amount_fen:
            raise ValidationFailed(
                "the platform may refund at most what the case asks", details={"amount_fen": case.amount_fen}
            )
        decided = NewEvent.of(
            RefundDecided(
                **_base(state, case), outcome="refund", amount_fen=amount, reason=c.reason, admin=c.admin, at=c.now
            )
        )
        return [decided, _approve(state, case, amount, c.now, attempt=len(case.refund_ids) + 1)]
    if isinstance(c, Withdraw):
        _mine(state, c.refund_id, buyer=c.buyer_id)
        if case.status == "closed":
            return []
        _in(case, "requested", "rejected", "escalated", "awaiting_return")
        return [_close(state, case, "buyer_withdrew", "buyer", c.now)]
    if isinstance(c, ShipReturn):
        return _decide_ship(state, case, c)
    if isinstance(c, ConfirmReturn):
        if c.seller_id is not None:
            _mine(state, c.refund_id, seller=c.seller_id)
        elif case.status == "return_shipped" and case.deadline_at is not None and case.deadline_at > c.now:
            return []
        if case.status == "approved" and c.seller_id is None:
            return []
        _in(case, "return_shipped")
        received_by: Literal["seller", "auto"] = "seller" if c.seller_id is not None else "auto"
        return [
            NewEvent.of(RefundReturnReceived(**_base(state, case), by=received_by, at=c.now)),
            _approve(state, case, case.amount_fen, c.now),
        ]
    return _decide_expire(state, case, c)


def _decide_order(state: AfterSale, c: RecordOrder) -> list[NewEvent]:
    known = state.order
    if known is None and c.state == "closed":
        return []  # an order closed unpaid: no money, nothing to know
    if known is None:
        if c.payment_id is None or c.amount_fen is None or c.channel is None or c.payment_method is None:
            # A shipment or completion before the payment: applied once order.paid is in (retried by the consumer).
            raise InvalidState("the order's payment is not known to refund yet")
    elif known.state == c.state or ORDER_RANK[c.state] < ORDER_RANK[known.state]:
        return []  # known, or older than what is known (events of an order may arrive out of order)
    payload = c.model_dump()
    if known is not None:
        payload |= {k: getattr(known, k) for k in ("channel", "payment_method", "payment_id", "amount_fen")}
    return [NewEvent.of(RefundOrderRecorded(**payload))]


def _decide_open(state: AfterSale, c: Open) -> list[NewEvent]:
    order = state.order
    assert order is not None
    if c.buyer_id != order.buyer_id:
        raise NotFound("no such order")
    if c.refund_id in state.cases:
        return []  # the same request again (its id derived from the idempotency key)
    if order.state not in ("paid", "shipped"):
        raise NotRefundable(
            "an after-sale case is opened while the order's money is held", details={"order_state": order.state}
        )
    if state.open_case is not None:
        raise CaseOpen("this order has an open case", details={"refund_id": state.open_case})
    refundable = order.amount_fen - state.committed_fen
    if c.amount_fen > refundable:
        raise ValidationFailed(
            "more than was paid and not yet refunded",
            details={"amount_fen": f"at most {refundable}", "refundable_fen": refundable},
        )
    if c.kind == "return_and_refund" and order.state == "paid":
        raise ValidationFailed("nothing was shipped to return", details={"kind": "refund_only for an unshipped order"})
    return [
        NewEvent.of(
            RefundRequested(
                refund_id=c.refund_id,
                order_id=order.order_id,
                buyer_id=order.buyer_id,
                seller_id=order.seller_id,
                kind=c.kind,
                channel=order.channel,
                amount_fen=c.amount_fen,
                reason=c.reason,
                evidence=c.evidence,
                at=c.now,
                deadline_at=_after(c.now, c.durations.seller_response_s),
            )
        )
    ]


def _decide_ship(state: AfterSale, case: Case, c: ShipReturn) -> list[NewEvent]:
    order = state.order
    assert order is not None
    _mine(state, c.refund_id, buyer=c.buyer_id)
    method = check_return_method(order.channel, c.method)  # 422 return_method_not_available_in_channel
    _in(case, "awaiting_return")
    carrier = carrier_name = tracking = None
    if c.carrier is not None or c.tracking_no is not None or policy(order.channel).return_needs_tracking:
        if not c.carrier or not c.tracking_no:
            raise ValidationFailed(
                "a self-shipped return names its carrier and tracking number",
                details={"carrier": "required", "tracking_no": "required"},
            )
        carrier, carrier_name, tracking = validate_return_shipment(c.carrier, c.tracking_no, c.carrier_name)
    return [
        NewEvent.of(
            RefundReturnShipped(
                **_base(state, case),
                carrier=carrier or method,
                tracking_no=tracking or "",
                method=method,
                carrier_name=carrier_name,
                at=c.now,
                deadline_at=_after(c.now, c.durations.return_confirm_s),
            )
        )
    ]


def _decide_expire(state: AfterSale, case: Case, c: Expire) -> list[NewEvent]:
    if case.deadline_at is None or case.deadline_at > c.now:
        return []
    if case.status == "requested":
        return decide(state, Agree(refund_id=case.refund_id, now=c.now, durations=c.durations))
    if case.status == "rejected":
        return [_close(state, case, "rejected", "system", c.now)]
    if case.status == "awaiting_return":
        return [_close(state, case, "return_not_shipped", "system", c.now)]
    if case.status == "return_shipped":
        return decide(state, ConfirmReturn(refund_id=case.refund_id, now=c.now))
    if case.status == "approved" and case.failure is not None:
        # A refund payment refused, retried under a new refund id.
        return [_approve(state, case, case.amount_fen - case.refunded_fen, c.now, attempt=len(case.refund_ids) + 1)]
    return []


def _case_of_refund(state: AfterSale, refund_id: str) -> Case | None:
    return next((k for k in state.cases.values() if refund_id in k.refund_ids), None)


def _decide_refunded(state: AfterSale, c: RecordRefunded) -> list[NewEvent]:
    if c.refund_id in state.seen_refunds:
        return []  # payment.refunded delivered twice
    case = _case_of_refund(state, c.refund_id)
    order = state.order
    assert order is not None
    if case is None:
        # Payment refunded without a case (a closed order's money): counted against what a case may ask.
        return [
            NewEvent.of(RefundOrderRecorded(**order.model_dump(), refund_id=c.refund_id, refunded_fen=c.amount_fen))
        ]
    return [
        NewEvent.of(
            RefundCompleted(
                **_base(state, case),
                payment_id=order.payment_id,
                amount_fen=c.amount_fen,
                provider_refund_id=c.provider_refund_id,
                payment_refund_id=c.refund_id,
                at=c.now,
            )
        )
    ]


def _decide_refund_failed(state: AfterSale, c: RecordRefundFailed) -> list[NewEvent]:
    case = _case_of_refund(state, c.refund_id)
    if case is None or case.status != "approved" or case.refund_ids[-1] != c.refund_id:
        return []  # an older attempt, or a case already past it
    attempts = len(case.refund_ids)
    final = attempts >= c.durations.refund_attempts or c.reason == "exceeds_amount_paid"
    retry_at = None if final else _after(c.now, c.durations.refund_retry_s)
    return [
        NewEvent.of(
            RefundFailed(
                **_base(state, case), reason=c.reason[:500], attempt=attempts, final=final, retry_at=retry_at, at=c.now
            )
        )
    ]


# ----------------------------------------------------------------------------------------------------- evolve


def _at(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _entry(case: Case, p: dict[str, Any], type_: str, actor: Actor, **details: Any) -> list[TimelineEntry]:
    at = _at(p.get("at"))
    assert at is not None
    return [*case.timeline, TimelineEntry(at=at, type=type_, actor=actor, details=details)]


def evolve(state: AfterSale, event: RecordedEvent) -> AfterSale:
    p = event.payload
    t = event.type
    if t == "refund.order_recorded":
        fields = {k: p[k] for k in Order.model_fields if p.get(k) is not None}
        order = Order(**fields) if state.order is None else state.order.model_copy(update={"state": p["state"]})
        update: dict[str, Any] = {"order": order}
        if p.get("refund_id"):
            update |= {
                "refunded_fen": state.refunded_fen + p["refunded_fen"],
                "seen_refunds": [*state.seen_refunds, p["refund_id"]],
            }
        return state.model_copy(update=update)
    if t == "refund.requested":
        new = Case(
            refund_id=p["refund_id"],
            kind=p["kind"],
            amount_fen=p["amount_fen"],
            reason=p.get("reason", ""),
            evidence=p.get("evidence", []),
            opened_at=_at(p["at"]) or event.occurred_at,
            deadline_at=_at(p.get("deadline_at")),
        )
        new = new.model_copy(
            update={"timeline": _entry(new, p, "requested", "buyer", amount_fen=p["amount_fen"], kind=p["kind"])}
        )
        return state.model_copy(update={"cases": {**state.cases, new.refund_id: new}, "open_case": new.refund_id})
    found = state.cases.get(p.get("case_id") or p["refund_id"])
    if found is None:
        return state
    case = found
    changes: dict[str, Any]
    if t == "refund.agreed":
        status = "approved" if case.kind == "refund_only" else "awaiting_return"
        actor: Actor = "seller" if p["by"] == "seller" else "system"
        changes = {"status": status, "deadline_at": None, "timeline": _entry(case, p, "agreed", actor)}
        if case.kind == "return_and_refund":
            # The return's timer starts at the agreement (durations travel in the approval-less event's time).
            changes["deadline_at"] = _at(p.get("return_by"))
    elif t == "refund.rejected":
        changes = {
            "status": "rejected",
            "rejection": p.get("reason"),
            "deadline_at": _at(p.get("escalate_by")),
            "timeline": _entry(case, p, "rejected", "seller", reason=p.get("reason")),
        }
    elif t == "refund.escalated":
        changes = {
            "status": "escalated",
            "escalated": True,
            "deadline_at": None,
            "timeline": _entry(case, p, "escalated", "buyer", reason=p.get("reason")),
        }
    elif t == "refund.decided":
        changes = {
            "decision": p["reason"],
            "timeline": _entry(
                case, p, "decided", "admin", outcome=p["outcome"], amount_fen=p.get("amount_fen"), reason=p["reason"]
            ),
        }
    elif t == "refund.return_shipped":
        shipment = ReturnShipment(
            method=p.get("method") or "self_ship",
            carrier=p.get("carrier"),
            carrier_name=p.get("carrier_name"),
            tracking_no=p.get("tracking_no") or None,
            shipped_at=_at(p["at"]) or event.occurred_at,
        )
        changes = {
            "status": "return_shipped",
            "shipment": shipment,
            "deadline_at": _at(p.get("deadline_at")),
            "timeline": _entry(
                case,
                p,
                "return_shipped",
                "buyer",
                method=shipment.method,
                carrier=shipment.carrier,
                tracking_no=shipment.tracking_no,
            ),
        }
    elif t == "refund.return_received":
        actor = "seller" if p["by"] == "seller" else "system"
        changes = {"deadline_at": None, "timeline": _entry(case, p, "return_received", actor)}
    elif t == "refund.approved":
        changes = {
            "status": "approved",
            "amount_fen": p["amount_fen"],
            "deadline_at": None,
            "failure": None,
            "refund_ids": [*case.refund_ids, p["refund_id"]],
            "timeline": _entry(case, p, "approved", "system", amount_fen=p["amount_fen"], refund_id=p["refund_id"]),
        }
    elif t == "refund.failed":
        changes = {
            "status": "refund_failed" if p["final"] else "approved",
            "failure": p["reason"],
            "deadline_at": _at(p.get("retry_at")),
            "timeline": _entry(case, p, "refund_failed", "payment", reason=p["reason"], final=p["final"]),
        }
    elif t == "refund.completed":
        changes = {
            "status": "refunded",
            "refunded_fen": case.refunded_fen + p["amount_fen"],
            "provider_refund_id": p.get("provider_refund_id"),
            "failure": None,
            "deadline_at": None,
            "timeline": _entry(
                case,
                p,
                "refunded",
                "payment",
                amount_fen=p["amount_fen"],
                provider_refund_id=p.get("provider_refund_id"),
            ),
        }
    elif t == "refund.closed":
        changes = {
            "status": "closed",
            "closed_reason": p["reason"],
            "deadline_at": None,
            "timeline": _entry(case, p, "closed", p.get("actor") or "system", reason=p["reason"]),
        }
    else:
        return state
    case = case.model_copy(update=changes)
    top: dict[str, Any] = {"cases": {**state.cases, case.refund_id: case}}
    if t == "refund.completed":
        top |= {
            "refunded_fen": state.refunded_fen + p["amount_fen"],
            "seen_refunds": [*state.seen_refunds, p.get("payment_refund_id") or p["refund_id"]],
        }
    if not case.is_open and state.open_case == case.refund_id:
        top["open_case"] = None
    return state.model_copy(update=top)


AFTER_SALE: Aggregate[AfterSale, Command] = Aggregate(
    "after_sale",
    AfterSale,
    evolve,
    decide,
    state_model=AfterSale,
    snapshot_every=50,
    events=(
        "refund.order_recorded",
        "refund.requested",
        "refund.agreed",
        "refund.rejected",
        "refund.escalated",
        "refund.decided",
        "refund.return_shipped",
        "refund.return_received",
        "refund.approved",
        "refund.failed",
        "refund.completed",
        "refund.closed",
    ),
)


def after_sale_id(order_id: str) -> str:
    return f"aso_{order_id}"
