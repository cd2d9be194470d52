"""The seller's wallet (app): balances, the statement of an account, the settlement card withdrawals go to, and
withdrawals (Idempotency-Key) — all the wallet's books, in API.md's words.

Two accounts face the seller: `wechat_balance` (the balance in the seller's WeChat Pay sub-merchant, withdrawable to
the settlement card) and `alipay_settlement` (what was settled to the seller's own Alipay account; not withdrawn
through us). `pending_fen` is money on its way in: paid by buyers, held until their orders complete.

The settlement card is the WeChat sub-merchant's one card (set at onboarding; a new one replaces it there after
WeChat's review). Its id is derived from the seller, the bank and the last four digits, so the card the app saw is
the one a withdrawal names: a `bank_card_id` that is not the current card is 422 `validation_error`."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.channel_gateway.clients import ServiceError, WalletClient
from services.channel_gateway.keys import CLIENTS
from services.channel_gateway.models import In, PageQuery
from services.channel_gateway.routes.shop import BANK_CODES, BANK_NAMES, UNSET_ADDRESS_CODE, BankCode, last4
from services.channel_gateway.routing import Ctx, Registry
from shared.errors import ValidationFailed

registry = Registry()

AccountKind = Literal["wechat_balance", "alipay_settlement"]
# API.md's account → the wallet's statement account (services/wallet/api.py).
STATEMENT_ACCOUNT: dict[str, str] = {"wechat_balance": "wechat_available", "alipay_settlement": "alipay_settled"}
WithdrawalStatus = Literal["processing", "succeeded", "failed", "returned"]
WITHDRAWAL_STATUS: dict[str, WithdrawalStatus] = {
    "requested": "processing",
    "submitted": "processing",
    "succeeded": "succeeded",
    "failed": "failed",
    "returned": "returned",
}
CardStatus = Literal["active", "reviewing", "rejected"]
# WeChat's verify_result of the card (VERIFY_*) and of a change to it (AUDIT*) → the card's status here
# (docs/providers.md, settlement cards).
CARD_STATUS: dict[str, CardStatus] = {
    "VERIFY_SUCCESS": "active",
    "VERIFYING": "reviewing",
    "VERIFY_FAIL": "rejected",
    "AUDIT_SUCCESS": "active",
    "AUDITING": "reviewing",
    "AUDIT_FAIL": "rejected",
}


# ------------------------------------------------------------------------------------------------------- models


class WalletAccount(BaseModel):
    kind: AccountKind
    posted_fen: int = Field(description="what the account holds")
    pending_fen: int = Field(description="paid by buyers, held until their orders complete")
    available_fen: int = Field(description="what the seller can use now (the balance less withdrawals in flight)")
    withdrawing_fen: int = Field(default=0, description="reserved by withdrawals the provider is paying out")
    withdrawable: bool = Field(description="whether withdrawals draw on this account (the WeChat balance only)")


class WalletOut(BaseModel):
    accounts: list[WalletAccount]


class EntriesQuery(PageQuery):
    account: AccountKind = "wechat_balance"


class WalletEntry(BaseModel):
    id: str
    at: str | None
    amount_fen: int = Field(description="the change of the balance: positive in, negative out")
    balance_after_fen: int
    kind: str = Field(description="why: proceeds_released, withdrawal, withdrawal_returned, payment_refunded, …")
    order_id: str | None
    withdrawal_id: str | None = None
    available_after_fen: int | None = None


class WalletEntryPage(BaseModel):
    items: list[WalletEntry] = Field(description="at most `limit`, possibly fewer while more follow: use next_cursor")
    next_cursor: str | None


class BankCardIn(In):
    card_number: str = Field(pattern=r"^\d{10,30}$", repr=False)
    holder_name: str = Field(min_length=2, max_length=64, repr=False, description="the seller's legal name")
    bank_code: BankCode
    bank_address_code: str | None = Field(
        default=None, pattern=r"^\d{6}$", description="省市编码 of the bank; the onboarding card's when left out"
    )


class BankCardOut(BaseModel):
    id: str
    bank_code: str
    last4: str | None
    holder_name_masked: str | None
    status: CardStatus = Field(description="active: withdrawals go to it; reviewing: WeChat Pay is checking it")


class BankCardList(BaseModel):
    items: list[BankCardOut]
    next_cursor: str | None = None


class WithdrawalIn(In):
    amount_fen: int = Field(gt=0, le=10**12)
    bank_card_id: str = Field(min_length=1, max_length=64)


class WithdrawalOut(BaseModel):
    id: str
    amount_fen: int
    fee_fen: int
    net_fen: int = Field(description="what arrives on the card: the amount less the provider's fee")
    status: WithdrawalStatus
    created_at: str | None
    updated_at: str | None = None
    failure_reason: str | None = None


class WithdrawalPage(BaseModel):
    items: list[WithdrawalOut]
    next_cursor: str | None


# ------------------------------------------------------------------------------------------------------ mapping


def wallet_out(summary: dict[str, Any]) -> WalletOut:
    """The wallet's summary as API.md's two accounts."""
    wechat, alipay = summary["wechat"], summary["alipay"]
    return WalletOut(
        accounts=[
            WalletAccount(
                kind="wechat_balance",
                posted_fen=wechat["balance_fen"],
                pending_fen=wechat["frozen_fen"],
                available_fen=wechat["available_fen"],
                withdrawing_fen=wechat["withdrawing_fen"],
                withdrawable=True,
            ),
            WalletAccount(
                kind="alipay_settlement",
                posted_fen=alipay["settled_fen"],
                pending_fen=alipay["frozen_fen"],
                available_fen=alipay["settled_fen"],  # already in the seller's own Alipay account
                withdrawable=False,
            ),
        ]
    )


def entries_out(statement: dict[str, Any]) -> list[WalletEntry]:
    """The statement's posted entries: each a movement of the balance. A transfer's reservation (pending) and its
    cancellation (voided) move nothing; what is reserved shows in the summary and in `available_after_fen`."""
    account_id = statement["account_id"]
    return [
        WalletEntry(
            id=f"{account_id}.{line['seq']}",
            at=line.get("at"),
            amount_fen=line["amount_fen"],
            balance_after_fen=line["balance_fen"],
            kind=line.get("reason") or "transfer",
            order_id=line.get("order_id"),
            withdrawal_id=line.get("withdrawal_id"),
            available_after_fen=line.get("available_fen"),
        )
        for line in statement["items"]
        if line.get("phase") == "posted"
    ]


def card_id(seller_id: str, bank_code: str, digits: str | None) -> str:
    raw = f"{seller_id}:{bank_code}:{digits or ''}".encode()
    return "bnk_" + hashlib.sha256(raw).hexdigest()[:24]


def mask_name(name: str) -> str:
    """张三 → 张*: the first character only (as the wallet masks the applicant's name)."""
    return name[:1] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def card_status(verify_result: Any, default: CardStatus) -> CardStatus:
    return CARD_STATUS.get(str(verify_result or ""), default)


def bank_code_of(account_bank: str | None) -> str:
    return BANK_CODES.get(account_bank or "", "OTHER")


def cards_out(seller_id: str, found: dict[str, Any], holder_masked: str | None) -> list[BankCardOut]:
    """The wallet's settlement card (and a change WeChat is reviewing) as the seller's cards, the current first."""
    cards: list[BankCardOut] = []
    current = found.get("account_number") and found
    change = found.get("pending_change")
    pairs: tuple[tuple[Any, CardStatus], ...] = ((current, "active"), (change, "reviewing"))
    for source, default in pairs:
        if not source:
            continue
        code = bank_code_of(source.get("account_bank"))
        digits = last4(source.get("account_number"))
        card = BankCardOut(
            id=card_id(seller_id, code, digits),
            bank_code=code,
            last4=digits,
            holder_name_masked=holder_masked,
            status=card_status(source.get("verify_result"), default),
        )
        if all(c.id != card.id for c in cards):
            cards.append(card)
    return cards


def current_card_id(seller_id: str, found: dict[str, Any]) -> str | None:
    if not found.get("account_number"):
        return None
    return card_id(seller_id, bank_code_of(found.get("account_bank")), last4(found.get("account_number")))


def withdrawal_out(w: dict[str, Any]) -> WithdrawalOut:
    status = WITHDRAWAL_STATUS.get(str(w["status"]), "processing")
    return WithdrawalOut(
        id=w["id"],
        amount_fen=w["amount_fen"],
        fee_fen=w["fee_fen"],
        net_fen=w["arrives_fen"],
        status=status,
        created_at=w.get("created_at"),
        updated_at=w.get("updated_at"),
        failure_reason=w.get("reason") if status in ("failed", "returned") else None,
    )


def derived_key(ctx: Ctx[Any, Any], key: str) -> str:
    """The client's Idempotency-Key, scoped to this caller, as the service behind is given it."""
    return hashlib.sha256(f"{ctx.audience}:{ctx.user_id}:{key}".encode("utf-8", "surrogateescape")).hexdigest()


def applicant_of(collection: dict[str, Any]) -> dict[str, Any]:
    return ((collection.get("application") or {}).get("applicant")) or {}


async def settlement_card_of(wallet: WalletClient, seller_id: str) -> dict[str, Any] | None:
    """The wallet's settlement card; None before the seller's WeChat collection is active (the card is set at
    onboarding: until then there is none, and the wallet answers 409 `not_active`)."""
    try:
        return await wallet.settlement_card(seller_id)
    except ServiceError as exc:
        if exc.code == "not_active":
            return None
        raise


# ------------------------------------------------------------------------------------------------------- routes


@registry.route(
    "GET",
    "/wallet",
    summary="The seller's accounts: WeChat balance and Alipay settlements",
    response=WalletOut,
    capability="wallet",
    tags=("wallet",),
)
async def get_wallet(ctx: Ctx[Any, Any]) -> WalletOut:
    return wallet_out(await ctx.app[CLIENTS].wallet.summary(ctx.user_id))


@registry.route(
    "GET",
    "/wallet/entries",
    summary="The movements of one of the seller's accounts, newest first",
    query=EntriesQuery,
    response=WalletEntryPage,
    capability="wallet",
    tags=("wallet",),
)
async def list_entries(ctx: Ctx[Any, EntriesQuery]) -> WalletEntryPage:
    q = ctx.query
    params = {"account": STATEMENT_ACCOUNT[q.account], "limit": q.limit, "cursor": q.cursor}
    statement = await ctx.app[CLIENTS].wallet.statement(ctx.user_id, params)
    return WalletEntryPage(items=entries_out(statement), next_cursor=statement.get("next_cursor"))


@registry.route(
    "POST",
    "/wallet/bank-cards",
    summary="Set the settlement card withdrawals go to (replaces the card at WeChat Pay after its review)",
    body=BankCardIn,
    response=BankCardOut,
    status=201,
    capability="wallet",
    errors=(409,),
    tags=("wallet",),
)
async def add_bank_card(ctx: Ctx[BankCardIn, Any]) -> tuple[int, BankCardOut]:
    body = ctx.body
    wallet = ctx.app[CLIENTS].wallet
    address = body.bank_address_code
    if address is None:
        onboarded = (applicant_of(await wallet.collection(ctx.user_id)).get("bank_card")) or {}
        address = onboarded.get("bank_address_code") or UNSET_ADDRESS_CODE
    change = {
        "account_bank": BANK_NAMES[body.bank_code],
        "bank_address_code": address,
        "account_number": body.card_number,
        "account_name": body.holder_name.strip(),
    }
    answer = await wallet.change_settlement_card(ctx.user_id, change)
    digits = body.card_number[-4:]
    out = BankCardOut(
        id=card_id(ctx.user_id, body.bank_code, digits),
        bank_code=body.bank_code,
        last4=digits,
        holder_name_masked=mask_name(body.holder_name.strip()),
        status=card_status(answer.get("verify_result"), "reviewing"),
    )
    return 201, out


@registry.route(
    "GET",
    "/wallet/bank-cards",
    summary="The seller's settlement card (and a new one under review); none before WeChat collection is active",
    response=BankCardList,
    capability="wallet",
    tags=("wallet",),
)
async def list_bank_cards(ctx: Ctx[Any, Any]) -> BankCardList:
    wallet = ctx.app[CLIENTS].wallet
    found, collection = await asyncio.gather(settlement_card_of(wallet, ctx.user_id), wallet.collection(ctx.user_id))
    if found is None:
        return BankCardList(items=[])
    return BankCardList(items=cards_out(ctx.user_id, found, applicant_of(collection).get("real_name")))


@registry.route(
    "POST",
    "/wallet/withdrawals",
    summary="Withdraw from the WeChat balance to the settlement card",
    body=WithdrawalIn,
    response=WithdrawalOut,
    status=201,
    capability="wallet",
    idempotency_key=True,
    rate_limit="withdrawal",
    errors=(409,),
    tags=("wallet",),
)
async def withdraw(ctx: Ctx[WithdrawalIn, Any]) -> tuple[int, WithdrawalOut]:
    wallet = ctx.app[CLIENTS].wallet
    current = current_card_id(ctx.user_id, await wallet.settlement_card(ctx.user_id))
    if ctx.body.bank_card_id != current:
        raise ValidationFailed(
            "withdrawals go to the seller's current settlement card",
            details={"bank_card_id": "not the seller's current settlement card (GET /app/v1/wallet/bank-cards)"},
        )
    key = derived_key(ctx, ctx.request.headers["Idempotency-Key"])
    return 201, withdrawal_out(await wallet.withdraw(ctx.user_id, ctx.body.amount_fen, key))


@registry.route(
    "GET",
    "/wallet/withdrawals",
    summary="The seller's withdrawals, newest first",
    query=PageQuery,
    response=WithdrawalPage,
    capability="wallet",
    tags=("wallet",),
)
async def list_withdrawals(ctx: Ctx[Any, PageQuery]) -> WithdrawalPage:
    page = await ctx.app[CLIENTS].wallet.withdrawals(ctx.user_id, ctx.query.model_dump(exclude_none=True))
    return WithdrawalPage(items=[withdrawal_out(w) for w in page["items"]], next_cursor=page.get("next_cursor"))


@registry.route(
    "GET",
    "/wallet/withdrawals/{withdrawal_id}",
    summary="One of the seller's withdrawals",
    response=WithdrawalOut,
    capability="wallet",
    tags=("wallet",),
)
async def get_withdrawal(ctx: Ctx[Any, Any]) -> WithdrawalOut:
    return withdrawal_out(await ctx.app[CLIENTS].wallet.withdrawal(ctx.user_id, ctx.path("withdrawal_id")))
