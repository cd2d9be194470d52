"""Payloads of the events the wallet service produces: collection invitations, escrow and withdrawals."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.events._base import Payload
from shared.events.registry import register


@register("wallet.invited")
class WalletInvited(Payload):
    invitation_id: str
    batch_id: str
    seller_id: str
    shop_id: str
    level: int = Field(ge=1)


@register("wallet.collection_activated")
class CollectionActivated(Payload):
    seller_id: str
    shop_id: str
    account_id: str
    # The seller's WeChat Pay e-commerce sub-merchant (二级商户号), which mini-program buyers pay.
    sub_mchid: str | None = Field(default=None, min_length=1, max_length=32)


@register("wallet.escrow_held")
class EscrowHeld(Payload):
    transfer_id: str
    order_id: str
    seller_id: str
    amount_fen: int = Field(gt=0)


@register("wallet.escrow_released")
class EscrowReleased(Payload):
    transfer_id: str
    order_id: str
    seller_id: str
    amount_fen: int = Field(gt=0)
    fee_fen: int = Field(ge=0)


@register("wallet.withdrawal_succeeded")
class WithdrawalSucceeded(Payload):
    withdrawal_id: str
    seller_id: str
    amount_fen: int = Field(gt=0)
    fee_fen: int = Field(ge=0)


@register("wallet.withdrawal_failed")
class WithdrawalFailed(Payload):
    withdrawal_id: str
    seller_id: str
    amount_fen: int = Field(gt=0)
    reason: str


# --- the wallet's own books (internal: on its account and transfer streams, not in the public catalog) ------------

LedgerPhase = Literal["pending", "posted", "voided"]


@register("wallet.transfer_pending")
class TransferPending(Payload):
    """A transfer between two accounts, its id chosen by the caller (derived from what causes it): immutable terms."""

    transfer_id: str
    debit_account: str
    credit_account: str
    amount_fen: int = Field(gt=0)
    reason: str
    order_id: str | None = None
    withdrawal_id: str | None = None


@register("wallet.transfer_posted")
class TransferPosted(Payload):
    transfer_id: str


@register("wallet.transfer_voided")
class TransferVoided(Payload):
    transfer_id: str
    reason: str


@register("wallet.account_entry")
class AccountEntry(Payload):
    """One side of a transfer's phase on an account, with the account's balances after it (so an append decides)."""

    account_id: str
    transfer_id: str
    side: Literal["debit", "credit"]
    phase: LedgerPhase
    amount_fen: int = Field(gt=0)
    posted_fen: int
    pending_debit_fen: int = Field(ge=0)
    pending_credit_fen: int = Field(ge=0)
