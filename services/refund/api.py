"""Refund's internal HTTP API for the gateway (`/internal/v1`, internal token). The acting user's id is in every
body or query and is checked against the case: anyone else gets 404. Two views: the full one (timeline, amounts,
carrier and tracking number, provider refund id, arbitration) that the app shows for cases of either channel, and
the status-only one the mini-program gets, with a pointer to the app."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from services.refund.domain import (
    AfterSale,
    Agree,
    Case,
    ConfirmReturn,
    Decide,
    Escalate,
    Open,
    Reject,
    ShipReturn,
    Withdraw,
)
from services.refund.keys import IDEMPOTENCY, REFUNDS
from shared.errors import ValidationFailed
from shared.fields import UserId
from shared.fields import iso as _iso
from shared.http.app import json_response, parse_body, parse_query
from shared.ids import new_id
from shared.pagination import decode_cursor, encode_cursor


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OpenBody(Body):
    buyer_id: str = UserId
    kind: Literal["refund_only", "return_and_refund"]
    amount_fen: int = Field(gt=0, le=10**10)
    reason: str = Field(default="", max_length=500)
    evidence: list[HttpUrl] = Field(default_factory=list, max_length=9)


class SellerBody(Body):
    seller_id: str = UserId


class RejectBody(SellerBody):
    reason: str = Field(min_length=1, max_length=500)


class BuyerBody(Body):
    buyer_id: str = UserId


class EscalateBody(BuyerBody):
    reason: str = Field(default="", max_length=500)


class DecideBody(Body):
    admin: str = Field(min_length=1, max_length=64)
    outcome: Literal["refund", "close"]
    amount_fen: int | None = Field(default=None, gt=0, le=10**10)
    reason: str = Field(min_length=1, max_length=500)


class ShipmentBody(BuyerBody):
    method: str = Field(min_length=1, max_length=32)
    carrier: str | None = Field(default=None, min_length=1, max_length=32)
    carrier_name: str | None = Field(default=None, min_length=1, max_length=32)
    tracking_no: str | None = Field(default=None, min_length=1, max_length=64)


class ReadQuery(BaseModel):
    user_id: str = UserId
    view: Literal["full", "status"] = "full"


USER_ID_PATTERN = r"^[A-Za-z0-9_-]+$"


class ListQuery(BaseModel):
    buyer_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=USER_ID_PATTERN)
    seller_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=USER_ID_PATTERN)
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


def case_view(case: Case, state: AfterSale) -> dict[str, Any]:
    order = state.order
    assert order is not None
    shipment = case.shipment
    return {
        "id": case.refund_id,
        "order_id": order.order_id,
        "buyer_id": order.buyer_id,
        "seller_id": order.seller_id,
        "channel": order.channel,
        "payment_method": order.payment_method,
        "kind": case.kind,
        "status": case.status,
        "amount_fen": case.amount_fen,
        "refunded_fen": case.refunded_fen,
        "reason": case.reason,
        "evidence": case.evidence,
        "deadline_at": _iso(case.deadline_at),
        "escalated": case.escalated,
        "rejection": case.rejection,
        "decision": case.decision,
        "return_shipment": None
        if shipment is None
        else {
            "method": shipment.method,
            "carrier": shipment.carrier,
            "carrier_name": shipment.carrier_name,
            "tracking_no": shipment.tracking_no,
            "shipped_at": _iso(shipment.shipped_at),
        },
        "refund_ids": case.refund_ids,
        "provider_refund_id": case.provider_refund_id,
        "failure": case.failure,
        "closed_reason": case.closed_reason,
        "opened_at": _iso(case.opened_at),
        "timeline": [{"at": _iso(e.at), "type": e.type, "actor": e.actor, "details": e.details} for e in case.timeline],
    }


def status_view(case: Case) -> dict[str, Any]:
    """What the mini-program shows: the status, and where the details are."""
    return {
        "id": case.refund_id,
        "status": case.status,
        "kind": case.kind,
        "amount_fen": case.amount_fen,
        "details_in": "app",
    }


async def open_case(request: web.Request) -> web.Response:
    order_id = request.match_info["order_id"]
    refunds = request.app[REFUNDS]

    async def compute() -> web.Response:
        body = await parse_body(request, OpenBody)
        command = Open(
            refund_id=new_id("rfd"),
            buyer_id=body.buyer_id,
            kind=body.kind,
            amount_fen=body.amount_fen,
            reason=body.reason,
            evidence=[str(u) for u in body.evidence],
            now=refunds.now(),
            durations=refunds.durations(),
        )
        state = await refunds.run(order_id, command)
        return json_response(case_view(state.case(command.refund_id), state), 201)

    return await request.app[IDEMPOTENCY].run(request, f"open:{order_id}", compute)


async def get_case(request: web.Request) -> web.Response:
    query = parse_query(request, ReadQuery)
    case, state = await request.app[REFUNDS].case(request.match_info["refund_id"], query.user_id)
    return json_response(status_view(case) if query.view == "status" else case_view(case, state))


async def list_cases(request: web.Request) -> web.Response:
    query = parse_query(request, ListQuery)
    if (query.buyer_id is None) == (query.seller_id is None):
        raise ValidationFailed("name the buyer or the seller", details={"query": "buyer_id or seller_id"})
    field, user = ("buyer_id", query.buyer_id) if query.buyer_id else ("seller_id", query.seller_id)
    before = decode_cursor(query.cursor, f"cases:{field}")[1] if query.cursor else None
    assert user is not None
    rows = await request.app[REFUNDS].store.cases_of(field, user, query.limit, before)
    items = [
        {k: r.get(k) for k in ("order_id", "kind", "status", "amount_fen", "refunded_fen")}
        | {"id": r["_id"], "opened_at": _iso(r["opened_at"]), "deadline_at": _iso(r.get("deadline_at"))}
        for r in rows[: query.limit]
    ]
    more = len(rows) > query.limit
    last = rows[query.limit - 1]["_id"] if more else None
    cursor = encode_cursor(f"cases:{field}", last, last) if last else None
    return json_response({"items": items, "next_cursor": cursor})


async def _run(request: web.Request, command: Any) -> web.Response:
    refunds = request.app[REFUNDS]
    case = await refunds.act(request.match_info["refund_id"], command)
    _, state = await refunds.case(case.refund_id, None)
    return json_response(case_view(case, state))


async def agree(request: web.Request) -> web.Response:
    b, f = await parse_body(request, SellerBody), request.app[REFUNDS]
    rid = request.match_info["refund_id"]
    return await _run(request, Agree(refund_id=rid, seller_id=b.seller_id, now=f.now(), durations=f.durations()))


async def reject(request: web.Request) -> web.Response:
    b, f = await parse_body(request, RejectBody), request.app[REFUNDS]
    command = Reject(
        refund_id=request.match_info["refund_id"],
        seller_id=b.seller_id,
        reason=b.reason,
        now=f.now(),
        durations=f.durations(),
    )
    return await _run(request, command)


async def escalate(request: web.Request) -> web.Response:
    b, f = await parse_body(request, EscalateBody), request.app[REFUNDS]
    rid = request.match_info["refund_id"]
    return await _run(request, Escalate(refund_id=rid, buyer_id=b.buyer_id, reason=b.reason, now=f.now()))


async def decide_case(request: web.Request) -> web.Response:
    b, f = await parse_body(request, DecideBody), request.app[REFUNDS]
    command = Decide(
        refund_id=request.match_info["refund_id"],
        outcome=b.outcome,
        amount_fen=b.amount_fen,
        reason=b.reason,
        admin=b.admin,
        now=f.now(),
    )
    return await _run(request, command)


async def withdraw(request: web.Request) -> web.Response:
    b, f = await parse_body(request, BuyerBody), request.app[REFUNDS]
    return await _run(request, Withdraw(refund_id=request.match_info["refund_id"], buyer_id=b.buyer_id, now=f.now()))


async def ship_return(request: web.Request) -> web.Response:
    b, f = await parse_body(request, ShipmentBody), request.app[REFUNDS]
    command = ShipReturn(
        refund_id=request.match_info["refund_id"],
        buyer_id=b.buyer_id,
        method=b.method,
        carrier=b.carrier,
        carrier_name=b.carrier_name,
        tracking_no=b.tracking_no,
        now=f.now(),
        durations=f.durations(),
    )
    return await _run(request, command)


async def confirm_return(request: web.Request) -> web.Response:
    b, f = await parse_body(request, SellerBody), request.app[REFUNDS]
    rid = request.match_info["refund_id"]
    return await _run(request, ConfirmReturn(refund_id=rid, seller_id=b.seller_id, now=f.now()))


def add_routes(app: web.Application) -> None:
    r = app.router
    p = "/internal/v1"
    r.add_post(f"{p}/orders/{{order_id}}/refunds", open_case)
    r.add_get(f"{p}/refunds", list_cases)
    r.add_get(f"{p}/refunds/{{refund_id}}", get_case)
    r.add_post(f"{p}/refunds/{{refund_id}}/agree", agree)
    r.add_post(f"{p}/refunds/{{refund_id}}/reject", reject)
    r.add_post(f"{p}/refunds/{{refund_id}}/escalate", escalate)
    r.add_post(f"{p}/refunds/{{refund_id}}/decide", decide_case)
    r.add_post(f"{p}/refunds/{{refund_id}}/withdraw", withdraw)
    r.add_post(f"{p}/refunds/{{refund_id}}/return-shipment", ship_return)
    r.add_post(f"{p}/refunds/{{refund_id}}/confirm-return", confirm_return)
