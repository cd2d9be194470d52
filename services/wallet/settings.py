"""Wallet's settings: the platform's provider identities (shared mixins), fees, limits, invitation defaults, timers."""

from __future__ import annotations

from pydantic import Field

from shared.providers.settings import AlipaySettings, WechatPaySettings
from shared.settings import ServiceSettings


class WalletSettings(ServiceSettings, WechatPaySettings, AlipaySettings):
    service_name: str = "wallet"
    mongo_db: str = "wallet"
    http_port: int = Field(default=8084, ge=0, le=65535)
    # Where WeChat Pay sends withdrawal notifications (MCHWITHDRAW.CHANGE): <base>/notify/wechatpay.
    wallet_public_base_url: str = Field(min_length=1)

    # The platform's commission on a completed order (profit-shared on WeChat, kept on Alipay): basis points, cap.
    platform_fee_bp: int = Field(default=60, ge=0, le=3_000)  # WeChat lets a split take at most 30 %
    platform_fee_cap_fen: int = Field(default=6_000, ge=0)
    # Withdrawals to the settlement card: fee (charged by the provider out of the amount) and limits.
    withdrawal_fee_bp: int = Field(default=10, ge=0, le=10_000)
    withdrawal_fee_min_fen: int = Field(default=10, ge=0)
    withdrawal_min_fen: int = Field(default=100, gt=0)
    withdrawal_max_fen: int = Field(default=5_000_000, gt=0)  # ¥50,000 per withdrawal
    withdrawal_daily_limit_fen: int = Field(default=20_000_000, gt=0)  # ¥200,000 a day per seller
    # Invitation batches (WeChat collection): the lowest shop level a default batch reaches.
    invitation_min_level: int = Field(default=5, ge=1)

    provider_timeout_s: float = Field(default=10.0, gt=0)
    # Attempts of one provider step inline before it is left to the worker, and the worker's schedule.
    provider_attempts: int = Field(default=3, ge=1)
    provider_retry_delay_s: float = Field(default=0.2, ge=0)
    worker_interval_s: float = Field(default=5.0, gt=0)
    worker_batch: int = Field(default=100, ge=1)
    # A provider step retried this many times without success is shown to operators (it keeps being retried).
    attention_after_attempts: int = Field(default=5, ge=1)
    retry_backoff_max_s: float = Field(default=3600.0, gt=0)
    # Onboarding applications and withdrawals are asked about this long after the last change while still open.
    poll_after_s: float = Field(default=30.0, ge=0)
    # A new withdrawal is its request's to submit this long (the provider's time-outs and retries fit in it); only
    # then does the worker take over one left behind (a crash mid-request). Two submitters at once could see the
    # other's payout as a short provider balance and fail a withdrawal the provider is paying.
    withdrawal_handover_s: float = Field(default=60.0, gt=0)
    # The leased job comparing every seller's books with the provider's balances.
    reconcile_interval_s: float = Field(default=300.0, gt=0)
    sweep_interval_s: float = Field(default=30.0, gt=0)
    # WeChat collection: the most shops one invitation batch may invite.
    invitation_batch_max: int = Field(default=1_000, ge=1)
