"""Alipay password-free (withholding) agreements (app): the buyer asks for one and signs it at Alipay with the
`sign_url`; payment records it `active` when Alipay says it is signed, and `unsigned` when the buyer ends it.

Creating one takes an optional Idempotency-Key (API.md does not require it): a retry under the same key gets the same
agreement (payment decides it on the agreement's own stream), the key scoped to the buyer before it is passed on."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel

from services.channel_gateway.keys import CLIENTS, USERS
from services.channel_gateway.models import PageQuery
from services.channel_gateway.routing import Ctx, Registry
from shared.errors import AppError, Unauthenticated, ValidationFailed
from shared.http.idempotency import HEADER

registry = Registry()

AgreementStatus = Literal["pending", "active", "unsigned"]


class AgreementCreated(BaseModel):
    id: str
    status: AgreementStatus
    sign_url: str | None


class AgreementOut(BaseModel):
    id: str
    status: AgreementStatus
    single_limit_fen: int | None
    daily_limit_fen: int | None
    signed_at: str | None
    created_at: str | None = None


class AgreementPage(BaseModel):
    items: list[AgreementOut]
    next_cursor: str | None


class AgreementEnded(BaseModel):
    id: str
    status: AgreementStatus


def agreement_out(a: dict[str, Any]) -> AgreementOut:
    return AgreementOut.model_validate({k: v for k, v in a.items() if k in AgreementOut.model_fields})


def scoped_key(ctx: Ctx[Any, Any]) -> str | None:
    """The optional Idempotency-Key (1–255 characters), scoped to this buyer."""
    key = ctx.request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255:
        raise ValidationFailed("Idempotency-Key must be 1 to 255 characters", details={HEADER: "invalid"})
    return hashlib.sha256(f"{ctx.audience}:{ctx.user_id}:{key}".encode("utf-8", "surrogateescape")).hexdigest()


@registry.route(
    "POST",
    "/payment-agreements",
    summary="Ask for a password-free agreement: the buyer signs it at Alipay with sign_url",
    response=AgreementCreated,
    status=201,
    capability="password_free_agreements",
    errors=(409,),
    tags=("agreements",),
)
async def create_agreement(ctx: Ctx[Any, Any]) -> tuple[int, AgreementCreated]:
    user = await ctx.app[USERS].get(ctx.user_id)
    if user is None:
        raise Unauthenticated("no such user")
    if not user.alipay_user_id:
        raise AppError("this account has no Alipay user to sign with", code="invalid_state", status=409)
    agreement = await ctx.app[CLIENTS].payment.create_agreement(user.user_id, user.alipay_user_id, scoped_key(ctx))
    out = AgreementCreated(id=agreement["id"], status=agreement["status"], sign_url=agreement.get("sign_url"))
    return 201, out


@registry.route(
    "GET",
    "/payment-agreements",
    summary="The buyer's password-free agreements, newest first",
    query=PageQuery,
    response=AgreementPage,
    capability="password_free_agreements",
    tags=("agreements",),
)
async def list_agreements(ctx: Ctx[Any, PageQuery]) -> AgreementPage:
    page = await ctx.app[CLIENTS].payment.agreements(ctx.user_id, ctx.query.model_dump(exclude_none=True))
    return AgreementPage(items=[agreement_out(a) for a in page["items"]], next_cursor=page.get("next_cursor"))


@registry.route(
    "GET",
    "/payment-agreements/{agreement_id}",
    summary="One of the buyer's password-free agreements",
    response=AgreementOut,
    capability="password_free_agreements",
    tags=("agreements",),
)
async def get_agreement(ctx: Ctx[Any, Any]) -> AgreementOut:
    return agreement_out(await ctx.app[CLIENTS].payment.agreement(ctx.path("agreement_id"), ctx.user_id))


@registry.route(
    "DELETE",
    "/payment-agreements/{agreement_id}",
    summary="End a password-free agreement (unsigned at Alipay)",
    response=AgreementEnded,
    capability="password_free_agreements",
    errors=(409,),
    tags=("agreements",),
)
async def unsign_agreement(ctx: Ctx[Any, Any]) -> AgreementEnded:
    agreement = await ctx.app[CLIENTS].payment.unsign(ctx.path("agreement_id"), ctx.user_id)
    return AgreementEnded(id=agreement["id"], status=agreement["status"])
