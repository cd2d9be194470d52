"""Refund cases (after-sale): the buyer opens a case on a paid or shipped order (Idempotency-Key), the seller agrees
or rejects it in the app, a rejected buyer may escalate once to the platform, whose operators decide it; a return is
shipped by the buyer with a method the ORDER's channel allows, and confirmed by the seller. The refund service keeps
the cases and checks who acts (another user's case is 404); this module maps its answers to API.md's views.

Which view of a case an audience reads is the policy column `refund_detail`: "full" (the app, for cases of orders
from either channel) or "status_only" (the mini-program: id, order, status and amount, `details_in_app`). That holds
for every answer that is a case, not only `GET /refunds/{id}`: the two views are two response models, so each such
route is registered once per audience with the model and renderer its policy's `refund_detail` selects (`VIEWS`,
`case_route`). The admin's decision answers the full case.

Statuses: the refund service's internal status → API.md's public one. The public status is the stage the case is
in now; where the service passes two stages in one step, the case answers the later one and the timeline keeps both.

    requested        → requested
    awaiting_return  → agreed           (a return_and_refund case the seller agreed to: the buyer ships it back)
    rejected         → rejected
    escalated        → escalated
    return_shipped   → return_shipped
    approved         → refunding        (the refund is at the payment provider; `refund_failure` says if an attempt
                                         failed and is retried)
    refund_failed    → refunding        (every attempt failed: operators act; `refund_failure.final` is true)
    refunded         → refunded
    closed           → closed           (`closed_reason`: buyer_withdrew, rejected, return_not_shipped,
                                         platform_decided)

So `agreed` is seen only for return_and_refund cases: agreeing to a refund_only case starts its refund at once
(`refunding`), and `return_received` is never a resting status: the seller's confirmation (or its timer) starts the
refund in the same step, so the case answers `refunding` with a `return_received` entry in its timeline. An
escalated case decided `refund` is `refunding`, decided `close` is `closed`; the decision is `decision` and joins the
timeline. Timeline entries are `{at, type, actor, details}`; their types are the service's events, with `approved`
named `refunding` like the status. A command refused in the case's state (409 `invalid_state`) names the public
status and the public statuses it is allowed from.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl, model_validator

from services.channel_gateway.clients import ServiceError
from services.channel_gateway.keys import CLIENTS
from services.channel_gateway.models import MAX_PRICE_FEN, In, PageQuery
from services.channel_gateway.routing import Ctx, Handler, NotAvailableInChannel, Registry, Route
from shared.channels import RefundDetail, ReturnMethod, check_return_method, policy
from shared.errors import NotFound, Unavailable
from shared.events import Channel

log = logging.getLogger("channel_gateway.refunds")
registry = Registry()

CaseType = Literal["refund_only", "return_and_refund"]
CaseStatus = Literal[
    "requested",
    "agreed",
    "rejected",
    "escalated",
    "return_shipped",
    "return_received",
    "refunding",
    "refunded",
    "closed",
]
Deadline = Literal["seller_response", "escalation", "return_shipment", "return_confirmation", "refund_retry"]

PUBLIC_STATUS: dict[str, CaseStatus] = {
    "requested": "requested",
    "awaiting_return": "agreed",
    "rejected": "rejected",
    "escalated": "escalated",
    "return_shipped": "return_shipped",
    "approved": "refunding",
    "refund_failed": "refunding",
    "refunded": "refunded",
    "closed": "closed",
}
# What happens at a case's `deadline_at`, by internal status: the seller's silence agrees, an unescalated rejection
# closes, an unshipped return closes, an unconfirmed return is taken as received, a failed refund is retried.
DEADLINE_FOR: dict[str, Deadline] = {
    "requested": "seller_response",
    "rejected": "escalation",
    "awaiting_return": "return_shipment",
    "return_shipped": "return_confirmation",
    "approved": "refund_retry",
}
TIMELINE_TYPE = {"approved": "refunding"}
# The platform's decisions are made with the one admin token; the service records who decided.
ADMIN_ACTOR = "admin"


# ------------------------------------------------------------------------------------------------------- models


class OpenCaseIn(In):
    type: CaseType
    amount_fen: int = Field(gt=0, le=MAX_PRICE_FEN, description="at most what was paid and not yet refunded")
    reason: str = Field(min_length=1, max_length=500)
    evidence: list[HttpUrl] = Field(default_factory=list, max_length=9, description="image URLs")


class ReasonIn(In):
    reason: str = Field(min_length=1, max_length=500)


class ReturnShipmentIn(In):
    method: ReturnMethod = Field(description="one the order's channel allows (the mini-program: self_ship)")
    carrier: str | None = Field(
        default=None, min_length=1, max_length=32, description="a carrier's code or name (required for self_ship)"
    )
    tracking_no: str | None = Field(default=None, min_length=1, max_length=64)
    carrier_name: str | None = Field(
        default=None, min_length=1, max_length=32, description="the carrier's name when `carrier` is OTHER"
    )


class DecisionIn(In):
    outcome: Literal["refund", "close"]
    amount_fen: int | None = Field(
        default=None, gt=0, le=MAX_PRICE_FEN, description="refund: at most the case's amount (default: all of it)"
    )
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _amount_only_to_refund(self) -> DecisionIn:
        if self.outcome == "close" and self.amount_fen is not None:
            raise ValueError("amount_fen is for an outcome of refund")
        return self


class CasesQuery(PageQuery):
    role: Literal["buyer", "seller"] = "buyer"


class ReturnShipmentOut(BaseModel):
    method: str
    carrier: str | None
    tracking_no: str | None
    shipped_at: str | None
    carrier_name: str | None = None


class TimelineEntry(BaseModel):
    at: str | None
    type: str
    actor: str | None
    details: dict[str, Any] = Field(default_factory=dict)


class DecisionOut(BaseModel):
    outcome: Literal["refund", "close"]
    amount_fen: int | None
    reason: str
    at: str | None


class RefundFailure(BaseModel):
    reason: str
    final: bool = Field(description="every attempt failed: operators take it over")


class CaseOut(BaseModel):
    """The full case (the app's view)."""

    id: str
    order_id: str
    channel: Channel
    type: CaseType
    status: CaseStatus
    amount_fen: int
    reason: str
    return_shipment: ReturnShipmentOut | None
    provider_refund_id: str | None
    timeline: list[TimelineEntry]
    buyer_id: str
    seller_id: str
    payment_method: str | None = None
    refunded_fen: int = 0
    evidence: list[str] = Field(default_factory=list)
    opened_at: str | None = None
    deadline_at: str | None = None
    deadline_for: Deadline | None = Field(default=None, description="what happens at deadline_at")
    escalated: bool = False
    rejection_reason: str | None = None
    decision: DecisionOut | None = None
    refund_failure: RefundFailure | None = None
    closed_reason: str | None = None


class CaseStatusOut(BaseModel):
    """The status-only view (the mini-program's): the details are in the app."""

    id: str
    order_id: str
    status: CaseStatus
    amount_fen: int
    details_in_app: Literal[True] = True


class CaseSummary(BaseModel):
    id: str
    order_id: str
    type: CaseType
    status: CaseStatus
    amount_fen: int
    refunded_fen: int = 0
    opened_at: str | None = None
    deadline_at: str | None = None


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None


# ---------------------------------------------------------------------------------------------- pure mapping


def public_status(internal: str) -> CaseStatus:
    """API.md's status of a case the refund service reports as `internal` (the table in the module docstring)."""
    status = PUBLIC_STATUS.get(internal)
    if status is None:
        log.error("refund answered an unknown case status %r", internal)
        raise Unavailable("refund answered a case status the gateway does not know", details={"service": "refund"})
    return status


def _shipment(raw: dict[str, Any] | None) -> ReturnShipmentOut | None:
    if raw is None:
        return None
    carrier, tracking = raw.get("carrier"), raw.get("tracking_no") or None
    if tracking is None and carrier == raw.get("method"):
        carrier = None  # a return without a waybill (a pickup, a service point): the service files its method there
    return ReturnShipmentOut(
        method=raw["method"],
        carrier=carrier,
        tracking_no=tracking,
        shipped_at=raw.get("shipped_at"),
        carrier_name=raw.get("carrier_name") if carrier is not None else None,
    )


def _timeline(raw: list[dict[str, Any]]) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            at=e.get("at"),
            type=TIMELINE_TYPE.get(e["type"], e["type"]),
            actor=e.get("actor"),
            details={k: v for k, v in (e.get("details") or {}).items() if v is not None},
        )
        for e in raw
    ]


def _decision(raw: list[dict[str, Any]]) -> DecisionOut | None:
    """The platform's latest decision on the case, from its timeline."""
    decided = [e for e in raw if e["type"] == "decided"]
    if not decided:
        return None
    last = decided[-1]
    details = last.get("details") or {}
    return DecisionOut(
        outcome=details["outcome"], amount_fen=details.get("amount_fen"), reason=details["reason"], at=last.get("at")
    )


def _failure(case: dict[str, Any]) -> RefundFailure | None:
    if case["status"] not in ("approved", "refund_failed") or not case.get("failure"):
        return None
    return RefundFailure(reason=case["failure"], final=case["status"] == "refund_failed")


def case_out(case: dict[str, Any]) -> CaseOut:
    """The refund service's full view of a case as API.md's Case."""
    timeline = case.get("timeline") or []
    deadline = case.get("deadline_at")
    return CaseOut(
        id=case["id"],
        order_id=case["order_id"],
        channel=case["channel"],
        type=case["kind"],
        status=public_status(case["status"]),
        amount_fen=case["amount_fen"],
        reason=case.get("reason") or "",
        return_shipment=_shipment(case.get("return_shipment")),
        provider_refund_id=case.get("provider_refund_id"),
        timeline=_timeline(timeline),
        buyer_id=case["buyer_id"],
        seller_id=case["seller_id"],
        payment_method=case.get("payment_method"),
        refunded_fen=case.get("refunded_fen") or 0,
        evidence=case.get("evidence") or [],
        opened_at=case.get("opened_at"),
        deadline_at=deadline,
        deadline_for=DEADLINE_FOR.get(case["status"]) if deadline else None,
        escalated=bool(case.get("escalated")),
        rejection_reason=case.get("rejection"),
        decision=_decision(timeline),
        refund_failure=_failure(case),
        closed_reason=case.get("closed_reason"),
    )


def status_out(case: dict[str, Any]) -> CaseStatusOut:
    """The status-only view of a case, from the service's full one (whose own status view has no order id)."""
    return CaseStatusOut(
        id=case["id"], order_id=case["order_id"], status=public_status(case["status"]), amount_fen=case["amount_fen"]
    )


def summary_out(row: dict[str, Any]) -> CaseSummary:
    return CaseSummary(
        id=row["id"],
        order_id=row["order_id"],
        type=row["kind"],
        status=public_status(row["status"]),
        amount_fen=row["amount_fen"],
        refunded_fen=row.get("refunded_fen") or 0,
        opened_at=row.get("opened_at"),
        deadline_at=row.get("deadline_at"),
    )


def public_error(exc: ServiceError) -> ServiceError:
    """refund's refusal of a command in a state that does not allow it (409 invalid_state), told in the public
    statuses: its message and details name internal ones ("the case is approved", allowed from awaiting_return)."""
    details = exc.details if isinstance(exc.details, dict) else {}
    internal = details.get("status")
    if exc.code != "invalid_state" or not isinstance(internal, str) or internal not in PUBLIC_STATUS:
        return exc
    status = PUBLIC_STATUS[internal]
    translated: dict[str, Any] = {**details, "status": status}
    allowed = details.get("allowed_from")
    if isinstance(allowed, list):
        translated["allowed_from"] = list(dict.fromkeys(PUBLIC_STATUS.get(str(a), str(a)) for a in allowed))
    return ServiceError(f"the case is {status}", code=exc.code, status=exc.status, details=translated)


@contextmanager
def public_errors() -> Iterator[None]:
    try:
        yield
    except ServiceError as exc:
        raise public_error(exc) from None


def refund_idempotency_key(audience: str, user_id: str, client_key: str) -> str:
    """The key the gateway opens a case at refund with: the same for a retry of the same client request (so it
    finds the same case), another for another user's or audience's same key."""
    digest = hashlib.sha256(f"{audience}\n{user_id}\n{client_key}".encode()).hexdigest()
    return f"gw:{digest}"


def check_buyer(case: dict[str, Any], user_id: str) -> None:
    """A buyer's action on a case of which `user_id` is not the buyer: 404, as if it did not exist."""
    if case.get("buyer_id") != user_id:
        raise NotFound("no such refund case")


# ------------------------------------------------------------------------------------------------------- routes

Act = Callable[[Ctx[Any, Any]], Awaitable[dict[str, Any]]]
Render = Callable[[dict[str, Any]], BaseModel]

# The policy's `refund_detail` → the response model of a case and how the service's full case is rendered as it.
VIEWS: dict[RefundDetail, tuple[type[BaseModel], Render]] = {
    "full": (CaseOut, case_out),
    "status_only": (CaseStatusOut, status_out),
}
CHANNELS: tuple[Channel, ...] = ("app", "mp")


def view_of(channel: Channel) -> tuple[type[BaseModel], Render]:
    """The view of cases this channel's policy gives its users."""
    return VIEWS[policy(channel).refund_detail]


def _answering(act: Act, render: Render) -> Handler:
    async def handler(ctx: Ctx[Any, Any]) -> BaseModel:
        with public_errors():
            case = await act(ctx)
        return render(case)

    return handler


def case_route(method: str, path: str, *, summary: str, **options: Any) -> Callable[[Act], Act]:
    """Registers `act` (which answers the refund service's full case) once per audience, each answering the view
    of cases its policy's `refund_detail` selects, with that view's model in the OpenAPI document."""

    def register(act: Act) -> Act:
        for channel in CHANNELS:
            model, render = view_of(channel)
            registry.add(
                Route(
                    method,
                    path,
                    _answering(act, render),
                    summary,
                    (channel,),
                    response=model,
                    tags=("refunds",),
                    **options,
                )
            )
        return act

    return register


@case_route(
    "POST",
    "/orders/{order_id}/refunds",
    summary="The buyer opens a refund case on a paid or shipped order",
    body=OpenCaseIn,
    status=201,
    idempotency_key=True,
    errors=(409,),
)
async def open_case(ctx: Ctx[OpenCaseIn, Any]) -> dict[str, Any]:
    body = ctx.body
    terms = {
        "buyer_id": ctx.user_id,
        "kind": body.type,
        "amount_fen": body.amount_fen,
        "reason": body.reason,
        "evidence": [str(u) for u in body.evidence],
    }
    key = refund_idempotency_key(ctx.audience, ctx.user_id, ctx.request.headers["Idempotency-Key"])
    return await _open_when_known(ctx, ctx.path("order_id"), terms, key)


# Refund learns of orders from listing's events: a case opened the moment an order is paid or shipped may find refund
# not knowing it yet. The gateway asks listing (the order is the caller's and in that state) and tries again for
# this long, each attempt under its own key (refund stores the answer of each, the lagging 404 or 422 included).
OPEN_LAG_S = 5.0
OPEN_RETRY_S = 0.2


# The listing states in which refund will hear of what it is waiting for.
HEARD_OF = {"paid": ("paid", "shipped"), "shipped": ("shipped",)}


def _lagging(exc: ServiceError) -> str | None:
    """The order state refund is waiting to hear of, if this refusal is one that hearing of it would change."""
    if exc.status == 404:
        return "paid"
    if exc.status == 422 and "nothing was shipped" in exc.message:
        return "shipped"
    return None


async def _open_when_known(ctx: Ctx[Any, Any], order_id: str, terms: dict[str, Any], key: str) -> dict[str, Any]:
    clients = ctx.app[CLIENTS]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OPEN_LAG_S
    checked = False
    for attempt in itertools.count():
        try:
            attempt_key = key if not attempt else f"{key}.{attempt}"
            case: dict[str, Any] = await clients.refund.open_case(order_id, terms, attempt_key)
            return case
        except ServiceError as exc:
            waiting_for = _lagging(exc)
            if waiting_for is None or loop.time() > deadline:
                raise
            if not checked:  # listing says whether it is the caller's order, and in a state refund will hear of
                order = await clients.listing.order(order_id, viewer_id=ctx.user_id)
                if order["buyer_id"] != ctx.user_id or order["status"] not in HEARD_OF[waiting_for]:
                    raise
                checked = True
            await asyncio.sleep(OPEN_RETRY_S)
    raise AssertionError("unreachable")


@case_route(
    "GET",
    "/refunds/{refund_id}",
    summary="One refund case of the caller's (buyer or seller), in this channel's view of cases",
)
async def get_case(ctx: Ctx[Any, Any]) -> dict[str, Any]:
    return await ctx.app[CLIENTS].refund.case(ctx.path("refund_id"), ctx.user_id)


@registry.route(
    "GET",
    "/refunds",
    summary="The caller's refund cases as buyer, or (app) as seller",
    query=CasesQuery,
    response=CasePage,
    errors=(403,),  # role=seller where the policy has no shop
    tags=("refunds",),
)
async def list_cases(ctx: Ctx[Any, CasesQuery]) -> CasePage:
    q = ctx.query
    if q.role == "seller" and not ctx.policy.manage_shop:
        raise NotAvailableInChannel("seller views are in the app", details={"channel": ctx.channel})
    params = q.model_dump(exclude={"role"}, exclude_none=True)
    page = await ctx.app[CLIENTS].refund.cases(q.role, ctx.user_id, params)
    return CasePage(items=[summary_out(r) for r in page["items"]], next_cursor=page.get("next_cursor"))


@case_route(
    "POST",
    "/refunds/{refund_id}/agree",
    summary="The seller agrees: a refund_only case is refunded, a return_and_refund case awaits the return",
    capability="manage_shop",
    errors=(409,),
)
async def agree(ctx: Ctx[Any, Any]) -> dict[str, Any]:
    body = {"seller_id": ctx.user_id}
    return await ctx.app[CLIENTS].refund.case_action(ctx.path("refund_id"), "agree", body)


@case_route(
    "POST",
    "/refunds/{refund_id}/reject",
    summary="The seller rejects a requested case with a reason (the buyer may escalate it once)",
    body=ReasonIn,
    capability="manage_shop",
    errors=(409,),
)
async def reject(ctx: Ctx[ReasonIn, Any]) -> dict[str, Any]:
    body = {"seller_id": ctx.user_id, "reason": ctx.body.reason}
    return await ctx.app[CLIENTS].refund.case_action(ctx.path("refund_id"), "reject", body)


@case_route(
    "POST",
    "/refunds/{refund_id}/confirm-return",
    summary="The seller confirms the returned goods arrived: the refund starts",
    capability="manage_shop",
    errors=(409,),
)
async def confirm_return(ctx: Ctx[Any, Any]) -> dict[str, Any]:
    body = {"seller_id": ctx.user_id}
    return await ctx.app[CLIENTS].refund.case_action(ctx.path("refund_id"), "confirm-return", body)


@case_route(
    "POST",
    "/refunds/{refund_id}/return-shipment",
    summary="The buyer ships the return, by a method the order's channel allows",
    body=ReturnShipmentIn,
    errors=(409,),
)
async def return_shipment(ctx: Ctx[ReturnShipmentIn, Any]) -> dict[str, Any]:
    refund = ctx.app[CLIENTS].refund
    refund_id = ctx.path("refund_id")
    case = await refund.case(refund_id, ctx.user_id)
    check_buyer(case, ctx.user_id)
    # The ORDER's channel decides, whichever audience asks; refund checks the same before it records anything.
    check_return_method(case["channel"], ctx.body.method)
    body = {"buyer_id": ctx.user_id} | ctx.body.model_dump(exclude_none=True)
    return await refund.case_action(refund_id, "return-shipment", body)


@case_route(
    "POST",
    "/refunds/{refund_id}/escalate",
    summary="The buyer escalates a rejected case to the platform (once)",
    body=ReasonIn,
    errors=(409,),
)
async def escalate(ctx: Ctx[ReasonIn, Any]) -> dict[str, Any]:
    body = {"buyer_id": ctx.user_id, "reason": ctx.body.reason}
    return await ctx.app[CLIENTS].refund.case_action(ctx.path("refund_id"), "escalate", body)


@case_route("POST", "/refunds/{refund_id}/withdraw", summary="The buyer withdraws the case: it closes", errors=(409,))
async def withdraw(ctx: Ctx[Any, Any]) -> dict[str, Any]:
    body = {"buyer_id": ctx.user_id}
    return await ctx.app[CLIENTS].refund.case_action(ctx.path("refund_id"), "withdraw", body)


@registry.route(
    "POST",
    "/refunds/{refund_id}/decision",
    summary="The platform decides an escalated case: refund (all or part) or close",
    audiences=("admin",),
    auth="admin",
    body=DecisionIn,
    response=CaseOut,
    errors=(409,),
    tags=("refunds",),
)
async def decide(ctx: Ctx[DecisionIn, Any]) -> CaseOut:
    body = {"admin": ADMIN_ACTOR} | ctx.body.model_dump(exclude_none=True)
    with public_errors():
        case = await ctx.app[CLIENTS].refund.case_action(ctx.path("refund_id"), "decide", body)
    return case_out(case)
