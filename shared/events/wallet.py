"""Payloads of the events the wallet service produces: collection invitations, escrow and withdrawals."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

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
    # Where the money is held (added within v1, optional): the payment, its provider and the provider's trade.
    payment_id: str | None = None
    provider: Literal["wechatpay", "alipay"] | None = None
    sub_mchid: str | None = None
    provider_trade_no: str | None = None


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
    # A fact the provider has already made (a refund): it may draw on money reserved for pending transfers.
    draw_reserved: bool = False


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
    # What the transfer was for, so a statement line names its order or withdrawal without another lookup.
    reason: str | None = None
    order_id: str | None = None
    withdrawal_id: str | None = None


# --- escrow per payment and settlement (internal: on the wallet's `esc_…` streams) --------------------------------

Provider = Literal["wechatpay", "alipay"]


@register("wallet.escrow_refunded")
class EscrowRefunded(Payload):
    """Part of a held payment went back to the buyer (`payment.refunded`): out of the hold, or after settlement out
    of what the seller received."""

    payment_id: str
    order_id: str
    seller_id: str
    refund_id: str
    transfer_id: str
    amount_fen: int = Field(gt=0)
    after_settlement: bool


@register("wallet.settlement_started")
class SettlementStarted(Payload):
    """`order.completed`: what is left of the hold is to be settled — the platform's fee and the seller's part —
    under a provider number minted here, before the first call (WeChat out_order_no, Alipay out_request_no)."""

    payment_id: str
    order_id: str
    seller_id: str
    provider: Provider
    out_request_no: str
    held_fen: int = Field(ge=0)
    fee_fen: int = Field(ge=0)
    seller_fen: int = Field(ge=0)


@register("wallet.settlement_attempted")
class SettlementAttempted(Payload):
    """A provider step of the settlement did not succeed yet: when it is tried again, and whether operators should
    look (after `attention_after_attempts`)."""

    payment_id: str
    attempt: int = Field(ge=1)
    reason: str
    retry_at: AwareDatetime
    attention: bool


@register("wallet.settlement_abandoned")
class SettlementAbandoned(Payload):
    """The provider refused the settlement for lack of frozen funds: a refund it made is not booked yet. The escrow
    is held again; once the refund is booked it is settled anew, under a new number, on what is left."""

    payment_id: str
    out_request_no: str
    reason: str
    retry_at: AwareDatetime


@register("wallet.settlement_completed")
class SettlementCompleted(Payload):
    payment_id: str
    order_id: str
    seller_id: str
    provider_status: str


# --- withdrawals (on the wallet's `wdr_…` streams; `wdq_…` streams hold each seller's daily total) ---------------


@register("wallet.withdrawal_requested")
class WithdrawalRequested(Payload):
    withdrawal_id: str
    seller_id: str
    sub_mchid: str
    amount_fen: int = Field(gt=0)
    fee_fen: int = Field(ge=0)
    out_request_no: str
    day: str
    # Until then the request submits it; after, the worker (one left behind by a crash). Absent in older entries.
    retry_at: AwareDatetime | None = None


@register("wallet.withdrawal_submitted")
class WithdrawalSubmitted(Payload):
    withdrawal_id: str
    withdraw_id: str | None = None


@register("wallet.withdrawal_attempted")
class WithdrawalAttempted(Payload):
    withdrawal_id: str
    attempt: int = Field(ge=1)
    reason: str
    retry_at: AwareDatetime
    attention: bool


@register("wallet.withdrawal_returned")
class WithdrawalReturned(Payload):
    """退票: the bank sent a paid-out withdrawal back; the amount is the seller's available balance again."""

    withdrawal_id: str
    seller_id: str
    amount_fen: int = Field(gt=0)
    reason: str


@register("wallet.withdrawal_quota_reserved")
class WithdrawalQuotaReserved(Payload):
    seller_id: str
    day: str
    withdrawal_id: str
    amount_fen: int = Field(gt=0)
    used_fen: int = Field(ge=0)


@register("wallet.withdrawal_quota_released")
class WithdrawalQuotaReleased(Payload):
    seller_id: str
    day: str
    withdrawal_id: str
    used_fen: int = Field(ge=0)


# --- WeChat collection (internal: on the wallet's `shp_…`, `bat_…`, `inv_…`, `onb_…` and `pye_…` streams) ---------


@register("wallet.shop_recorded")
class ShopRecorded(Payload):
    """The wallet's copy of a shop listing opened (`shop.opened`); `source_seq` is the listing stream's position."""

    shop_id: str
    seller_id: str
    name: str
    level: int = Field(ge=1)
    opened_at: AwareDatetime
    source_seq: int = Field(ge=1)


@register("wallet.shop_level_recorded")
class ShopLevelRecorded(Payload):
    """A level listing set (`shop.level_changed`), recorded even before the shop's opening arrives."""

    shop_id: str
    seller_id: str
    level: int = Field(ge=1)
    source_seq: int = Field(ge=1)


@register("wallet.invitation_batch_started")
class InvitationBatchStarted(Payload):
    batch_id: str
    min_level: int = Field(ge=1)
    max_count: int = Field(ge=1)


@register("wallet.invitation_batch_completed")
class InvitationBatchCompleted(Payload):
    batch_id: str
    invited_count: int = Field(ge=0)
    # The invitations this batch won (at most its max_count), by seller.
    seller_ids: list[str] = Field(default_factory=list)


@register("wallet.onboarding_requested")
class OnboardingRequested(Payload):
    """An application for WeChat collection under an `out_request_no` minted before the first call; only masked
    forms of the seller's sensitive fields (the ciphertext sent is kept beside the stream, for identical retries)."""

    seller_id: str
    shop_id: str
    attempt: int = Field(ge=1)
    out_request_no: str
    organization_type: str
    merchant_shortname: str
    real_name_masked: str
    id_card_number_masked: str
    mobile_masked: str
    account_bank: str
    bank_address_code: str
    account_number_masked: str


@register("wallet.onboarding_submitted")
class OnboardingSubmitted(Payload):
    seller_id: str
    out_request_no: str
    applyment_id: str


@register("wallet.onboarding_refused")
class OnboardingRefused(Payload):
    """WeChat refused the submission itself (a definite no, such as PARAM_ERROR): the seller may apply again."""

    seller_id: str
    out_request_no: str
    provider_code: str
    message: str


@register("wallet.onboarding_state_changed")
class OnboardingStateChanged(Payload):
    """What the application query answered, when it changed: `applyment_state` and what comes with it."""

    seller_id: str
    out_request_no: str
    provider_state: str
    provider_state_desc: str | None = None
    sub_mchid: str | None = None
    sign_url: str | None = None
    # REJECTED and FROZEN: the provider's `audit_detail`, as [{"param_name", "reject_reason"}].
    audit_detail: list[dict[str, str]] = Field(default_factory=list)


@register("wallet.settlement_card_change_requested")
class SettlementCardChangeRequested(Payload):
    seller_id: str
    sub_mchid: str
    application_no: str
    account_bank: str
    account_number_masked: str


@register("wallet.alipay_payee_requested")
class AlipayPayeeRequested(Payload):
    """The seller's Alipay account to bind as a royalty receiver, under an `out_request_no` minted before the call."""

    seller_id: str
    alipay_user_id: str
    out_request_no: str
    name_masked: str | None = None


@register("wallet.alipay_payee_bound")
class AlipayPayeeBound(Payload):
    seller_id: str
    alipay_user_id: str
    out_request_no: str


@register("wallet.alipay_payee_refused")
class AlipayPayeeRefused(Payload):
    seller_id: str
    alipay_user_id: str
    out_request_no: str
    provider_code: str
    message: str
