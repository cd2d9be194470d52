"""Payment's internal HTTP API for the gateway (`/internal/v1`, internal token): parse, call a use case, render."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.payment.domain import Agreement, Payment, PaymentTerms
from services.payment.keys import PAYMENTS, STORE
from shared.errors import AppError, NotFound, ValidationFailed
from shared.fields import UserId
from shared.fields import iso as _iso
from shared.http.app import json_response, parse_body, parse_query
from shared.pagination import Keyset, decode_cursor, next_cursor

AGREEMENTS = Keyset(field="created_at", descending=True)
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
MAX_EXPIRY = timedelta(days=15)  # Alipay's longest time_expire; WeChat's is shorter still
EXPIRED_GRACE = timedelta(days=1)


class CreateBody(PaymentTerms):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("expires_at")
    @classmethod
    def _within_window(cls, value: datetime) -> datetime:
        # A bound on what a caller may ask for, not a business rule (the domain decides expiry with its clock): it
        # keeps the time convertible to every provider's zone and addable to, which year 9999 is not.
        now = datetime.now(UTC)
        if not now - EXPIRED_GRACE <= value <= now + MAX_EXPIRY:
            raise ValueError("expires_at must be within 15 days from now (and not over a day past)")
        return value


class AgreementBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    buyer_id: str = UserId
    alipay_user_id: str = Field(min_length=1, max_length=64)


class BuyerQuery(BaseModel):
    buyer_id: str = UserId
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class OrderQuery(BaseModel):
    order_id: str = Field(min_length=1, max_length=64)


def payment_view(p: Payment) -> dict[str, Any]:
    return {
        "id": p.payment_id,
        "order_id": p.order_id,
        "buyer_id": p.buyer_id,
        "seller_id": p.seller_id,
        "channel": p.channel,
        "method": p.method,
        "provider": p.provider,
        "status": p.status,
        "amount_fen": p.amount_fen,
        "out_trade_no": p.out_trade_no,
        "provider_trade_no": p.provider_trade_no,
        "sub_mchid": p.sub_mchid,  # WeChat: the seller's sub-merchant the buyer pays (funds frozen for profit sharing)
        # Once the order closed nothing is handed to the buyer to pay with (an Alipay order string may still work).
        "wechat_request_payment": None if p.order_closed else p.request_payment,
        "alipay_order_string": None if p.order_closed else p.order_string,
        "failure_code": p.failure_code,
        "failure_message": p.failure_message,
        "closed_reason": p.closed_reason,
        "order_closed_at": _iso(p.order_closed_at),
        "order_closed_reason": p.order_closed_reason,
        "paid_at": _iso(p.paid_at),
        "created_at": _iso(p.created_at),
        "expires_at": _iso(p.expires_at),
        "refunded_fen": p.refunded_fen,
        "refunds": [
            {
                "refund_id": r.refund_id,
                "amount_fen": r.amount_fen,
                "status": r.status,
                "out_refund_no": r.out_refund_no,
                "provider_refund_id": r.provider_refund_id,
                "reason": r.reason,
                "cause": r.cause,
            }
            for r in p.refunds.values()
        ],
    }


def agreement_view(a: Agreement) -> dict[str, Any]:
    return {
        "id": a.agreement_id,
        "buyer_id": a.buyer_id,
        "status": a.status,
        "sign_url": a.sign_url,
        "agreement_no": a.agreement_no,
        "single_limit_fen": a.single_limit_fen,
        "daily_limit_fen": a.daily_limit_fen,
        "signed_at": _iso(a.signed_at),
        "created_at": _iso(a.created_at),
    }


async def create_payment(request: web.Request) -> web.Response:
    body = await parse_body(request, CreateBody)
    payment = await request.app[PAYMENTS].create(body)
    if payment.status == "failed" and payment.failure_code in ("limit_exceeded", "agreement_not_active"):
        # Refused by the provider, nothing charged: the caller sees the same codes as a refusal decided here.
        raise AppError(
            payment.failure_message or payment.failure_code,
            code=payment.failure_code,
            status=422,
            details={"payment": payment_view(payment)},
        )
    return json_response(payment_view(payment), 201)


async def get_payment(request: web.Request) -> web.Response:
    return json_response(payment_view(await request.app[PAYMENTS].payment(request.match_info["payment_id"])))


async def payment_of_order(request: web.Request) -> web.Response:
    query = parse_query(request, OrderQuery)
    return json_response(payment_view(await request.app[PAYMENTS].payment_of_order(query.order_id)))


async def reconcile_payment(request: web.Request) -> web.Response:
    """Ask the provider now (operators, and the gateway when a buyer says they paid)."""
    payment = await request.app[PAYMENTS].reconcile_payment(request.match_info["payment_id"])
    return json_response(payment_view(payment))


def idempotency_key(request: web.Request) -> str | None:
    """The optional Idempotency-Key header: up to 255 visible ASCII characters, as Stripe's."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 255 visible ASCII characters", details={"Idempotency-Key": "invalid"}
        )
    return key


async def create_agreement(request: web.Request) -> web.Response:
    """A retry with the same Idempotency-Key gets the same agreement (decided on the agreement's own stream)."""
    key = idempotency_key(request)
    body = await parse_body(request, AgreementBody)
    agreement = await request.app[PAYMENTS].request_agreement(body.buyer_id, body.alipay_user_id, key)
    return json_response(agreement_view(agreement), 201)


async def list_agreements(request: web.Request) -> web.Response:
    query = parse_query(request, BuyerQuery)
    after = decode_cursor(query.cursor, "agreements") if query.cursor else None
    rows = await request.app[STORE].agreements_of(query.buyer_id, query.limit, after)
    items = [agreement_view(Agreement.model_validate(row)) for row in rows[: query.limit]]
    return json_response({"items": items, "next_cursor": next_cursor("agreements", AGREEMENTS, rows, query.limit)})


async def unsign_agreement(request: web.Request) -> web.Response:
    query = parse_query(request, BuyerQuery)
    agreement = await request.app[PAYMENTS].unsign(request.match_info["agreement_id"], query.buyer_id)
    return json_response(agreement_view(agreement))


async def get_agreement(request: web.Request) -> web.Response:
    query = parse_query(request, BuyerQuery)
    agreement = await request.app[PAYMENTS].agreement(request.match_info["agreement_id"])
    if agreement.buyer_id != query.buyer_id:
        raise NotFound("no such agreement")
    return json_response(agreement_view(agreement))


def add_routes(app: web.Application) -> None:
    r = app.router
    p = "/internal/v1"
    r.add_post(f"{p}/payments", create_payment)
    r.add_get(f"{p}/payments", payment_of_order)
    r.add_get(f"{p}/payments/{{payment_id}}", get_payment)
    r.add_post(f"{p}/payments/{{payment_id}}/reconcile", reconcile_payment)
    r.add_post(f"{p}/agreements", create_agreement)
    r.add_get(f"{p}/agreements", list_agreements)
    r.add_get(f"{p}/agreements/{{agreement_id}}", get_agreement)
    r.add_delete(f"{p}/agreements/{{agreement_id}}", unsign_agreement)
