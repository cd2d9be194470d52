"""Operators' routes (admin token): WeChat collection invitation batches, shop levels, and the ledger check.

An invitation batch takes the client's optional Idempotency-Key (scoped to admins) and passes it on: the wallet
derives the batch from it, so a retry is the same batch. Without one every run is a new batch — which invites only
shops no batch has invited yet, so running one twice invites nobody twice."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, Field

from services.channel_gateway.keys import CLIENTS
from services.channel_gateway.models import In, Query
from services.channel_gateway.routes.shop import ShopOut, shop_with_collection
from services.channel_gateway.routing import Ctx, Registry
from shared.errors import ValidationFailed
from shared.http.idempotency import HEADER

registry = Registry()

# Invitations of a batch are looked up this many at a time (the wallet's batch names only its sellers).


class BatchIn(In):
    min_level: int | None = Field(default=None, ge=1, le=20, description="the wallet's default when left out")
    max_count: int = Field(ge=1, description="at most the wallet's invitation_batch_max (1,000 by default)")


class InvitedShop(BaseModel):
    shop_id: str
    level: int | None
    seller_id: str


class BatchOut(BaseModel):
    id: str
    count: int
    invited: list[InvitedShop]
    status: str
    min_level: int
    max_count: int
    started_at: str | None
    completed_at: str | None


class LevelIn(In):
    level: int = Field(ge=1, le=20)


class LedgerQuery(Query):
    providers: bool = Field(default=False, description="also compare every WeChat seller's books with WeChat Pay")
    full: bool = Field(default=False, description="replay every entry, not only those after the last checkpoint")


class LedgerTotals(BaseModel):
    posted_fen: int
    pending_debit_fen: int
    pending_credit_fen: int


class LedgerCheckOut(BaseModel):
    ok: bool
    accounts_checked: int
    sum_fen: int = Field(description="the posted balances of all accounts summed: 0 when every fen is somewhere")
    in_flight_transfers: int
    mismatches: list[dict[str, Any]]
    sum_zero: bool
    totals: LedgerTotals
    negative_accounts: list[str]
    overcommitted_accounts: list[str]
    in_flight: list[dict[str, Any]]
    escrow_problems: list[dict[str, Any]]
    providers: dict[str, Any] | None = None


def batch_out(batch: dict[str, Any]) -> BatchOut:
    """The wallet's batch with each invitation's shop and level (the wallet reads them in one query)."""
    invited = [
        InvitedShop(shop_id=inv.get("shop_id") or "", level=inv.get("level"), seller_id=inv["seller_id"])
        for inv in batch.get("invited", [])
    ]
    return BatchOut(
        id=batch["id"],
        count=batch["invited_count"],
        invited=invited,
        status=batch["status"],
        min_level=batch["min_level"],
        max_count=batch["max_count"],
        started_at=batch.get("started_at"),
        completed_at=batch.get("completed_at"),
    )


def ledger_out(check: dict[str, Any]) -> LedgerCheckOut:
    totals = LedgerTotals.model_validate(check["totals"])
    return LedgerCheckOut(
        ok=check["ok"],
        accounts_checked=check["accounts"],
        sum_fen=totals.posted_fen,
        in_flight_transfers=len(check["in_flight"]),
        mismatches=check["mismatches"],
        sum_zero=check["sum_zero"],
        totals=totals,
        negative_accounts=check.get("negative_accounts", []),
        overcommitted_accounts=check.get("overcommitted_accounts", []),
        in_flight=check["in_flight"],
        escrow_problems=(check.get("escrows") or {}).get("problems", []),
        providers=check.get("providers"),
    )


@registry.route(
    "POST",
    "/wechat-collection/invitation-batches",
    summary="Invite up to max_count shops of at least min_level to WeChat collection, highest level first",
    audiences=("admin",),
    auth="admin",
    body=BatchIn,
    response=BatchOut,
    status=201,
    tags=("admin",),
)
async def create_batch(ctx: Ctx[BatchIn, Any]) -> tuple[int, BatchOut]:
    key = ctx.request.headers.get(HEADER)
    if key is not None and not 1 <= len(key) <= 255:
        raise ValidationFailed("Idempotency-Key must be 1 to 255 characters", details={HEADER: "invalid"})
    scoped = hashlib.sha256(f"admin:{key}".encode("utf-8", "surrogateescape")).hexdigest() if key else None
    clients = ctx.app[CLIENTS]
    batch = await clients.wallet.invitation_batch(ctx.body.model_dump(exclude_none=True), scoped)
    return 201, batch_out(batch)


@registry.route(
    "PUT",
    "/shops/{shop_id}/level",
    summary="Set a shop's level (what invitation batches choose by)",
    audiences=("admin",),
    auth="admin",
    body=LevelIn,
    response=ShopOut,
    tags=("admin",),
)
async def set_level(ctx: Ctx[LevelIn, Any]) -> ShopOut:
    clients = ctx.app[CLIENTS]
    shop = await clients.listing.set_level(ctx.path("shop_id"), ctx.body.level)
    return await shop_with_collection(clients, shop)


@registry.route(
    "GET",
    "/ledger/check",
    summary="The wallet's ledger check: balances replayed, the sum over all accounts, transfers in flight",
    audiences=("admin",),
    auth="admin",
    query=LedgerQuery,
    response=LedgerCheckOut,
    tags=("admin",),
)
async def ledger_check(ctx: Ctx[Any, LedgerQuery]) -> LedgerCheckOut:
    return ledger_out(await ctx.app[CLIENTS].wallet.ledger_check(ctx.query.model_dump()))
