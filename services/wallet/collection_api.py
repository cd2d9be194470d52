"""Wallet's internal API for WeChat collection (`/internal/v1`, behind the internal token): invitation batches, a
seller's collection status and activation, the settlement card, and the seller's Alipay account. Answers show masked
fields only."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.wallet.collection import Collection
from services.wallet.collection_domain import (
    ALIPAY_USER,
    ActivationRequest,
    Bank,
    Batch,
    Invitation,
    Onboarding,
    Payee,
    mask_card,
)
from shared.errors import ValidationFailed
from shared.fields import iso
from shared.http.app import json_response, parse_body
from shared.http.idempotency import HEADER
from shared.ids import new_id

COLLECTION = web.AppKey("collection", Collection)
SELLER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    min_level: int | None = Field(default=None, ge=1, le=20)
    max_count: int = Field(ge=1)


class AlipayAccountBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    alipay_user_id: str = Field(min_length=16, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=64, repr=False)

    @field_validator("alipay_user_id")
    @classmethod
    def _an_account(cls, value: str) -> str:
        if not ALIPAY_USER.fullmatch(value) or (value.startswith("2088") and value.isdigit() and len(value) != 16):
            raise ValueError("alipay_user_id must be a 2088… user id (16 digits) or an OpenID")
        return value


class SettlementCardBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_bank: Bank
    bank_address_code: str = Field(pattern=r"^\d{6}$")
    account_number: str = Field(pattern=r"^\d{10,30}$", repr=False)
    # The holder's name as registered with WeChat (a personal card is in the seller's own name).
    account_name: str = Field(min_length=2, max_length=64, repr=False)


def seller_in_path(request: web.Request) -> str:
    seller_id = request.match_info["seller_id"]
    if not SELLER_ID.fullmatch(seller_id):
        raise ValidationFailed("invalid seller id", details={"path.seller_id": "not a user id"})
    return seller_id


def batch_view(batch: Batch, invitations: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """`invited`: each seller with the shop and level it was invited at (when the caller read them)."""
    found = invitations or {}
    return {
        "id": batch.batch_id,
        "status": batch.status,
        "min_level": batch.min_level,
        "max_count": batch.max_count,
        "invited_count": len(batch.seller_ids),
        "seller_ids": batch.seller_ids,
        "invited": [{"seller_id": s, **found.get(s, {"shop_id": None, "level": None})} for s in batch.seller_ids],
        "started_at": iso(batch.started_at),
        "completed_at": iso(batch.completed_at),
    }


def invitation_view(invitation: Invitation) -> dict[str, Any] | None:
    if not invitation.exists:
        return None
    return {
        "invitation_id": invitation.invitation_id,
        "batch_id": invitation.batch_id,
        "shop_id": invitation.shop_id,
        "level": invitation.level,
        "invited_at": iso(invitation.invited_at),
    }


def _status(invitation: Invitation, app: Onboarding) -> str:
    if app.activated:
        return "active"
    if app.status in ("requested", "applying"):
        return "applying"
    if app.status in ("rejected", "refused"):
        return "rejected"
    if app.status in ("frozen", "canceled"):
        return app.status
    return "invited" if invitation.exists else "not_invited"


def application_view(app: Onboarding) -> dict[str, Any] | None:
    if not app.exists:
        return None
    m = app.masked
    reasons = [d["reject_reason"] for d in app.audit_detail if d.get("reject_reason")]
    if app.status == "refused" and app.refusal is not None:
        reasons = [app.refusal["message"] or app.refusal["provider_code"]]
    return {
        "attempt": app.attempt,
        "out_request_no": app.out_request_no,
        "applyment_id": app.applyment_id,
        "status": app.status,
        # The provider's state (CHECKING, ACCOUNT_NEED_VERIFY, AUDITING, NEED_SIGN, FINISH, REJECTED, FROZEN…); null
        # until WeChat has answered the submission.
        "provider_state": app.provider_state,
        "provider_state_desc": app.provider_state_desc,
        "sign_url": app.sign_url,
        "sub_mchid": app.sub_mchid,
        "reject_reason": "; ".join(reasons) or None,
        "audit_detail": app.audit_detail if app.status in ("rejected", "frozen") else [],
        "provider_code": app.refusal["provider_code"] if app.status == "refused" and app.refusal else None,
        "applicant": {
            "real_name": m.get("real_name_masked"),
            "id_card_number": m.get("id_card_number_masked"),
            "mobile": m.get("mobile_masked"),
            "bank_card": {
                "account_bank": m.get("account_bank"),
                "bank_address_code": m.get("bank_address_code"),
                "account_number": m.get("account_number_masked"),
            },
        },
        "requested_at": iso(app.requested_at),
        "updated_at": iso(app.updated_at),
    }


def collection_view(seller_id: str, invitation: Invitation, app: Onboarding) -> dict[str, Any]:
    active = app.activated
    return {
        "seller_id": seller_id,
        "status": _status(invitation, app),
        "invitation": invitation_view(invitation),
        "application": application_view(app),
        "sub_mchid": app.sub_mchid if active else None,
        "account_id": f"acc_{seller_id}.wechat_available" if active else None,
    }


def payee_view(seller_id: str, payee: Payee) -> dict[str, Any]:
    return {
        "seller_id": seller_id,
        "status": payee.status,
        "alipay_user_id": payee.bound_user_id,  # what royalties go to (null until a bind succeeds)
        "requested_alipay_user_id": payee.alipay_user_id,
        "name": payee.name_masked,
        "out_request_no": payee.out_request_no,
        "provider_code": payee.refusal["provider_code"] if payee.refusal else None,
        "reject_reason": payee.refusal["message"] if payee.refusal else None,
        "updated_at": iso(payee.updated_at),
    }


def _batch_id(request: web.Request) -> str:
    """Derived from the Idempotency-Key when there is one: a batch run again under it is the same batch."""
    key = request.headers.get(HEADER)
    if key:
        return "bat_" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:26].upper()
    return "bat_" + new_id("cmd")[4:]


async def create_batch(request: web.Request) -> web.Response:
    collection = request.app[COLLECTION]

    async def compute() -> web.Response:
        body = await parse_body(request, BatchBody)
        limit = collection.settings.invitation_batch_max
        if body.max_count > limit:
            raise ValidationFailed("invalid request body", details={"max_count": f"at most {limit}"})
        min_level = body.min_level or collection.settings.invitation_min_level
        batch = await collection.run_batch(_batch_id(request), min_level, body.max_count)
        return json_response(batch_view(batch, await collection.store.invitations_of_batch(batch.batch_id)), 201)

    return await collection.idempotency.run(request, "invitation-batches", compute, required=False)


async def get_batch(request: web.Request) -> web.Response:
    collection = request.app[COLLECTION]
    batch = await collection.batch(request.match_info["batch_id"])
    return json_response(batch_view(batch, await collection.store.invitations_of_batch(batch.batch_id)))


async def _view(collection: Collection, seller_id: str, app: Onboarding | None = None) -> dict[str, Any]:
    invitation = await collection.invitation(seller_id)
    return collection_view(seller_id, invitation, app if app is not None else await collection.application(seller_id))


async def get_collection(request: web.Request) -> web.Response:
    seller_id = seller_in_path(request)
    return json_response(await _view(request.app[COLLECTION], seller_id))


async def activate(request: web.Request) -> web.Response:
    seller_id = seller_in_path(request)
    body = await parse_body(request, ActivationRequest)
    collection = request.app[COLLECTION]
    state = await collection.activate(seller_id, body)
    return json_response(await _view(collection, seller_id, state), 202)


async def refresh(request: web.Request) -> web.Response:
    seller_id = seller_in_path(request)
    collection = request.app[COLLECTION]
    state, _ = await collection.refresh(seller_id)
    return json_response(await _view(collection, seller_id, state))


async def put_alipay_account(request: web.Request) -> web.Response:
    seller_id = seller_in_path(request)
    body = await parse_body(request, AlipayAccountBody)
    payee = await request.app[COLLECTION].bind_alipay(seller_id, body.alipay_user_id, body.name)
    return json_response(payee_view(seller_id, payee))


async def get_alipay_account(request: web.Request) -> web.Response:
    seller_id = seller_in_path(request)
    payee = await request.app[COLLECTION].payee(seller_id)
    return json_response(payee_view(seller_id, payee))


async def post_settlement_card(request: web.Request) -> web.Response:
    seller_id = seller_in_path(request)
    body = await parse_body(request, SettlementCardBody)
    _, application_no = await request.app[COLLECTION].change_settlement_card(
        seller_id,
        account_bank=body.account_bank,
        bank_address_code=body.bank_address_code,
        account_number=body.account_number,
        account_name=body.account_name,
    )
    answer = {
        "seller_id": seller_id,
        "application_no": application_no,
        "account_bank": body.account_bank,
        "account_number": mask_card(body.account_number),
        "verify_result": "AUDITING",
    }
    return json_response(answer, 202)


def _masked_number(value: Any) -> str | None:
    """WeChat answers the number masked already; keep only its last four digits whatever its mask looks like."""
    if not isinstance(value, str) or not value:
        return None
    return mask_card(value) if len(value) >= 4 else "****"


async def get_settlement_card(request: web.Request) -> web.Response:
    seller_id = seller_in_path(request)
    found = await request.app[COLLECTION].settlement_card(seller_id)
    card, change = found["card"], found["change"]
    answer: dict[str, Any] = {
        "seller_id": seller_id,
        "account_type": card.get("account_type"),
        "account_bank": card.get("account_bank"),
        "bank_name": card.get("bank_name"),
        "account_number": _masked_number(card.get("account_number")),
        "verify_result": card.get("verify_result"),
        "verify_fail_reason": card.get("verify_fail_reason"),
        "pending_change": None,
    }
    if change is not None:
        answer["pending_change"] = {
            "application_no": found["application_no"],
            "account_bank": change.get("account_bank"),
            "account_number": _masked_number(change.get("account_number")),
            "verify_result": change.get("verify_result"),
            "verify_fail_reason": change.get("verify_fail_reason"),
            "verify_finish_time": change.get("verify_finish_time"),
        }
    return json_response(answer)


def add_collection_routes(app: web.Application) -> None:
    """The routes, reading `app[COLLECTION]` (set by the app before it starts)."""
    p = "/internal/v1"
    r = app.router
    r.add_post(f"{p}/invitation-batches", create_batch)
    r.add_get(f"{p}/invitation-batches/{{batch_id}}", get_batch)
    r.add_get(f"{p}/sellers/{{seller_id}}/collection", get_collection)
    r.add_post(f"{p}/sellers/{{seller_id}}/collection/activation", activate)
    r.add_post(f"{p}/sellers/{{seller_id}}/collection/refresh", refresh)
    r.add_put(f"{p}/sellers/{{seller_id}}/alipay-account", put_alipay_account)
    r.add_get(f"{p}/sellers/{{seller_id}}/alipay-account", get_alipay_account)
    r.add_post(f"{p}/sellers/{{seller_id}}/settlement-card", post_settlement_card)
    r.add_get(f"{p}/sellers/{{seller_id}}/settlement-card", get_settlement_card)
