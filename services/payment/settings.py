"""Payment's settings: provider identities and keys (paths to PEM files), where providers reach us, and timers."""

from __future__ import annotations

from pydantic import Field

from shared.providers.settings import AlipaySettings, WechatPaySettings
from shared.settings import ServiceSettings


class PaymentSettings(ServiceSettings, WechatPaySettings, AlipaySettings):
    """Provider identities and keys come from the shared mixins (shared/providers/settings.py)."""

    service_name: str = "payment"
    mongo_db: str = "payment"
    http_port: int = Field(default=8082, ge=0, le=65535)
    # Where providers send notifications: <public_base_url>/notify/wechatpay and /notify/alipay.
    public_base_url: str = Field(min_length=1)

    # GENERAL_WITHHOLDING limits are contract configuration (Alipay documents none): what we let one debit reach.
    alipay_withholding_single_limit_fen: int = Field(default=50_000, gt=0)
    alipay_withholding_daily_limit_fen: int = Field(default=200_000, gt=0)

    provider_timeout_s: float = Field(default=10.0, gt=0)
    # Attempts of one provider call within a request before the payment is left for the reconciler.
    provider_attempts: int = Field(default=3, ge=1)
    provider_retry_delay_s: float = Field(default=0.2, ge=0)
    # The reconciler asks providers about payments and refunds still open this long after their last change.
    reconcile_after_s: float = Field(default=60.0, ge=0)
    reconcile_interval_s: float = Field(default=15.0, gt=0)
    reconcile_batch: int = Field(default=100, ge=1)
    # While a provider gives no answer or refuses for now, each look waits twice as long as the last, up to this.
    reconcile_backoff_max_s: float = Field(default=3600.0, gt=0)
    # An unpaid payment is closed at the provider this long after its order's payment deadline.
    close_grace_s: float = Field(default=60.0, ge=0)
