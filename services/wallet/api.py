"""Wallet's internal HTTP API for the gateway (`/internal/v1`, internal token): a seller's wallet summary,
statements, withdrawals; escrows and the attention list for operators; the ledger check.

Every seller-scoped route names the seller in its path; a resource of another seller is 404."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.wallet import flows
from services.wallet.check import check_books, check_providers
from services.wallet.collection_api import seller_in_path
from services.wallet.escrow import Escrow, escrow_id
from services.wallet.keys import IDEMPOTENCY, STORE, WALLET
from services.wallet.withdrawals import Withdrawal
from shared.errors import NotFound, ValidationFailed
from shared.fields import iso as _iso
from shared.http.app import json_response, parse_body, parse_query
from shared.pagination import decode_cursor, encode_cursor
from shared.streams import Entry

StatementAccount = Literal["wechat_frozen", "wechat_available", "alipay_frozen", "alipay_settled"]


class WithdrawBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    amount_fen: int = Field(gt=0, le=10**12)


class StatementQuery(BaseModel):
    account: StatementAccount = "wechat_available"
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class ListQuery(BaseModel):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class CheckQuery(BaseModel):
    providers: bool = False
    # Replay every entry of every account, not only those after the last verified checkpoint.
    full: bool = False


def withdrawal_view(w: Withdrawal) -> dict[str, Any]:
    return {
        "id": w.withdrawal_id,
        "seller_id": w.seller_id,
        "status": w.status,
        "amount_fen": w.amount_fen,
        "fee_fen": w.fee_fen,
        "arrives_fen": w.amount_fen - w.fee_fen,  # the provider's fee comes out of the amount
        "out_request_no": w.out_request_no,
        "withdraw_id": w.withdraw_id,
        "reason": w.reason,
        "attempts": w.attempts,
        "attention": w.attention,
        "created_at": _iso(w.created_at),
        "updated_at": _iso(w.updated_at),
    }


def escrow_view(e: Escrow) -> dict[str, Any]:
    s = e.settlement
    return {
        "payment_id": e.payment_id,
        "order_id": e.order_id,
        "seller_id": e.seller_id,
        "provider": e.provider,
        "status": e.status,
        "amount_fen": e.amount_fen,
        "refunded_fen": e.refunded_fen,
        "held_fen": e.held_fen,
        "refunds": e.refunds,
        "settlement": None
        if s is None
        else {
            "out_request_no": s.out_request_no,
            "fee_fen": s.fee_fen,
            "seller_fen": s.seller_fen,
            "attempts": s.attempts,
            "last_error": s.last_error,
            "retry_at": _iso(s.retry_at),
            "attention": s.attention,
            "provider_status": s.provider_status,
        },
    }


def _statement_seq(cursor: str, account_id: str) -> int:
    """The seq a statement cursor continues below (the shared cursor format, checked like every client input)."""
    seq, for_account = decode_cursor(cursor, "statement")
    if not isinstance(seq, int) or seq < 0 or for_account != account_id:
        raise ValidationFailed("invalid cursor", details={"query.cursor": "not a cursor of this list"})
    return seq


def _line(entry: Entry) -> dict[str, Any] | None:
    if not entry.events:
        return None  # a seq a relay claimed for an append that never came
    p = entry.events[0].payload
    signed = p["amount_fen"] if p["side"] == "credit" else -p["amount_fen"]
    return {
        "seq": entry.seq,
        "at": _iso(entry.recorded_at),
        "transfer_id": p["transfer_id"],
        "side": p["side"],
        "phase": p["phase"],
        "amount_fen": signed,
        "reason": p.get("reason"),
        "order_id": p.get("order_id"),
        "withdrawal_id": p.get("withdrawal_id"),
        "balance_fen": p["posted_fen"],
        "available_fen": p["posted_fen"] - p["pending_debit_fen"],
    }


async def summary(request: web.Request) -> web.Response:
    return json_response(await request.app[WALLET].summary(seller_in_path(request)))


async def statement(request: web.Request) -> web.Response:
    """Entries of one of the seller's accounts, newest first: each page is `limit` point reads of the account's
    stream by seq, counting down from the head (or the cursor), so a page costs the same at any depth."""
    seller_id = seller_in_path(request)
    query = parse_query(request, StatementQuery)
    kind = query.account
    provider: flows.Provider = "wechatpay" if kind.startswith("wechat") else "alipay"
    account_id = flows.frozen(seller_id, provider) if kind.endswith("frozen") else flows.released(seller_id, provider)
    books = request.app[WALLET].books
    _, head = await books.accounts.load(account_id)
    top = min(head, _statement_seq(query.cursor, account_id)) if query.cursor else head
    entries = books.accounts.store.entries
    lines: list[dict[str, Any]] = []
    seq = top
    while seq > 0 and len(lines) < query.limit:
        seqs = list(range(seq, max(0, seq - (query.limit - len(lines))), -1))
        docs = await asyncio.gather(*(entries.find_one({"_id": f"{account_id}#{n}"}) for n in seqs))
        for doc in docs:
            if doc is not None and (line := _line(Entry.model_validate(doc))) is not None:
                lines.append(line)
        seq = seqs[-1] - 1
    return json_response(
        {
            "account_id": account_id,
            "items": lines,
            "next_cursor": encode_cursor("statement", seq, account_id) if seq > 0 else None,
        }
    )


async def create_withdrawal(request: web.Request) -> web.Response:
    seller_id = seller_in_path(request)

    async def compute() -> web.Response:
        body = await parse_body(request, WithdrawBody)
        withdrawal = await request.app[WALLET].withdraw(seller_id, body.amount_fen)
        return json_response(withdrawal_view(withdrawal), 201)

    return await request.app[IDEMPOTENCY].run(request, f"withdraw:{seller_id}", compute)


async def get_withdrawal(request: web.Request) -> web.Response:
    w = await request.app[WALLET].withdrawal_of(seller_in_path(request), request.match_info["withdrawal_id"])
    return json_response(withdrawal_view(w))


async def refresh_withdrawal(request: web.Request) -> web.Response:
    """Ask the provider now (the app's refresh, operators)."""
    wallet = request.app[WALLET]
    w = await wallet.withdrawal_of(seller_in_path(request), request.match_info["withdrawal_id"])
    return json_response(withdrawal_view(await wallet.follow(w.withdrawal_id)))


async def list_withdrawals(request: web.Request) -> web.Response:
    seller_id = seller_in_path(request)
    query = parse_query(request, ListQuery)
    before = decode_cursor(query.cursor, "withdrawals")[1] if query.cursor else None
    rows = await request.app[STORE].withdrawals_of(seller_id, query.limit, before)
    items = [withdrawal_view(Withdrawal.model_validate(row)) for row in rows[: query.limit]]
    more = len(rows) > query.limit
    last = rows[query.limit - 1]["_id"] if more else None
    return json_response({"items": items, "next_cursor": encode_cursor("withdrawals", last, last) if last else None})


async def get_escrow(request: web.Request) -> web.Response:
    payment_id = request.match_info["payment_id"]
    escrow, _ = await request.app[WALLET].escrows.load(escrow_id(payment_id))
    if not escrow.exists:
        raise NotFound("no escrow for this payment")
    return json_response(escrow_view(escrow))


async def retry_escrow(request: web.Request) -> web.Response:
    """Operators: try a settlement at the provider now."""
    payment_id = request.match_info["payment_id"]
    wallet = request.app[WALLET]
    escrow, _ = await wallet.escrows.load(escrow_id(payment_id))
    if not escrow.exists:
        raise NotFound("no escrow for this payment")
    return json_response(escrow_view(await wallet.settle(payment_id)))


async def attention(request: web.Request) -> web.Response:
    found = await request.app[STORE].attention()
    return json_response(
        {
            "settlements": [escrow_view(Escrow.model_validate(d)) for d in found["settlements"]],
            "withdrawals": [withdrawal_view(Withdrawal.model_validate(d)) for d in found["withdrawals"]],
        }
    )


async def ledger_check(request: web.Request) -> web.Response:
    query = parse_query(request, CheckQuery)
    wallet = request.app[WALLET]
    result = await check_books(wallet.books, wallet.store, full=query.full)
    if query.providers:
        result["providers"] = await check_providers(wallet.books, wallet.store, wallet.wechat)
        result["ok"] = result["ok"] and result["providers"]["ok"]
    return json_response(result)


def add_routes(app: web.Application) -> None:
    r = app.router
    p = "/internal/v1"
    r.add_get(f"{p}/sellers/{{seller_id}}/wallet", summary)
    r.add_get(f"{p}/sellers/{{seller_id}}/statements", statement)
    r.add_post(f"{p}/sellers/{{seller_id}}/withdrawals", create_withdrawal)
    r.add_get(f"{p}/sellers/{{seller_id}}/withdrawals", list_withdrawals)
    r.add_get(f"{p}/sellers/{{seller_id}}/withdrawals/{{withdrawal_id}}", get_withdrawal)
    r.add_post(f"{p}/sellers/{{seller_id}}/withdrawals/{{withdrawal_id}}/refresh", refresh_withdrawal)
    r.add_get(f"{p}/escrows/{{payment_id}}", get_escrow)
    r.add_post(f"{p}/escrows/{{payment_id}}/settle", retry_escrow)
    r.add_get(f"{p}/attention", attention)
    r.add_get(f"{p}/ledger/check", ledger_check)
