"""Refund's settings: the case timers (seconds; the defaults are the real ones) and the sweeper's pace."""

from __future__ import annotations

from pydantic import Field

from services.refund.domain import Durations
from shared.settings import ServiceSettings


class RefundSettings(ServiceSettings):
    service_name: str = "refund"
    mongo_db: str = "refund"
    http_port: int = Field(default=8083, ge=0, le=65535)
    # The seller answers a case within this long, or it is agreed by itself.
    seller_response_s: float = Field(default=48 * 3600, gt=0)
    # A rejected case may be escalated to the platform for this long, then it closes.
    escalate_window_s: float = Field(default=7 * 86400, gt=0)
    # An agreed return is shipped within this long, or the case closes.
    return_ship_s: float = Field(default=7 * 86400, gt=0)
    # The seller confirms a shipped return within this long, or it is refunded by itself.
    return_confirm_s: float = Field(default=10 * 86400, gt=0)
    # A refund payment could not make is asked again under a new refund id this long after, at most this many times.
    refund_retry_s: float = Field(default=600, gt=0)
    refund_attempts: int = Field(default=3, ge=1)
    sweep_interval_s: float = Field(default=5.0, gt=0)
    sweep_batch: int = Field(default=200, ge=1)

    def durations(self) -> Durations:
        return Durations(
            seller_response_s=self.seller_response_s,
            escalate_window_s=self.escalate_window_s,
            return_ship_s=self.return_ship_s,
            return_confirm_s=self.return_confirm_s,
            refund_retry_s=self.refund_retry_s,
            refund_attempts=self.refund_attempts,
        )
