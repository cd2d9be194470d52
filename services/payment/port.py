"""The payment-provider port: what the use cases ask of WeChat Pay or Alipay, and the normalised answers and errors.

An adapter (services/payment/adapters.py) turns each provider's wire answers into these models and its refusal codes
into ours, so the use cases never read a raw answer nor choose a provider by hand: they ask the registry for the
adapter of a payment's provider. docs/kernel.md describes the port and how to add a provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, model_validator

from services.payment.domain import Payment, Refund
from shared.events.payment import Provider
from shared.protocols.alipay import AlipayMalformed, parse_timestamp

# The port's errors are the shared clients' (re-exported).
from shared.providers.errors import ProviderBusy as ProviderBusy
from shared.providers.errors import ProviderMisconfigured as ProviderMisconfigured
from shared.providers.errors import ProviderRejected as ProviderRejected
from shared.providers.errors import ProviderUnavailable as ProviderUnavailable
from shared.providers.errors import RejectionCode as RejectionCode

# ------------------------------------------------------------------------------------------------------------ errors


class NotificationUnverified(Exception):
    """A notification that does not verify (signature, time window, decryption): anyone could have sent it."""


class NotificationRefused(Exception):
    """A verified notification that does not match what we hold: logged and refused, never applied."""


# ----------------------------------------------------------------------------------------------- normalised results


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProviderPayment(_Result):
    """What the provider holds of a payment. `paid` carries the provider's trade number, amount and (when it says)
    the time it was paid; `missing` means it holds nothing under our number."""

    state: Literal["paid", "open", "closed", "missing"]
    trade_no: str | None = None
    amount_fen: int | None = None
    paid_at: datetime | None = None

    @model_validator(mode="after")
    def _paid_says_what(self) -> ProviderPayment:
        if self.state == "paid" and (self.trade_no is None or self.amount_fen is None):
            raise ValueError("a paid payment has a trade number and an amount")
        return self


class PaymentStart(_Result):
    """What starting a payment gave: what the buyer acts on (WeChat's prepay and its `wx.requestPayment` parameters,
    or an Alipay app-pay order string), or, for a charge that needs no buyer (password-free), the money taken."""

    prepay_id: str | None = None
    request_payment: dict[str, str] | None = None
    order_string: str | None = None
    charged: ProviderPayment | None = None


class ProviderRefund(_Result):
    """What the provider says of a refund. `unknown`: it does not say (yet) — ask with `query_refund`, later."""

    state: Literal["succeeded", "processing", "abnormal", "failed", "unknown"]
    provider_refund_id: str | None = None
    refunded_at: datetime | None = None
    reason: str | None = None  # why it failed


# ----------------------------------------------------------------------------------------- notifications (facts)


class VerifiedNotification(_Result):
    """A notification whose origin is proven: its id, the key it is audited under, and the provider's payload."""

    id: str | None
    key: str | None
    payload: dict[str, Any]


class PaymentPaid(_Result):
    """Paid: `amount_fen` is what the provider took (the payment's own rule checks it)."""

    out_trade_no: str
    trade_no: str
    amount_fen: int
    paid_at: datetime | None = None
    payee: str | None = None  # WeChat: the sub-merchant paid (checked against the payment's)
    payer: str | None = None  # Alipay: the buyer's user id or OpenID, when the notification names one


class PaymentClosed(_Result):
    out_trade_no: str
    trade_amount_fen: int | None = None  # the trade's amount, when the notification states it


class RefundChanged(_Result):
    """A refund of a payment changed; `refund` is what the notification says of it, None when only a query tells."""

    out_trade_no: str
    out_refund_no: str
    outcome: str  # what the audit records once it is applied
    trade_amount_fen: int | None = None  # the trade's amount, when the notification states it
    refund_amount_fen: int | None = None  # the refund's amount, when the notification states it
    refund: ProviderRefund | None = None


class AgreementSigned(_Result):
    agreement_id: str
    agreement_no: str
    alipay_user_id: str


class AgreementUnsigned(_Result):
    agreement_id: str


class Ignored(_Result):
    """Verified, and nothing to apply. With `out_trade_no`, the payment must still be ours."""

    outcome: str
    out_trade_no: str | None = None
    trade_amount_fen: int | None = None  # the trade's amount, when the notification states it


Notice = PaymentPaid | PaymentClosed | RefundChanged | AgreementSigned | AgreementUnsigned | Ignored
PaymentNotice = PaymentPaid | PaymentClosed | RefundChanged | Ignored


# ------------------------------------------------------------------------------------------------------- the port


class PaymentProvider(Protocol):
    """One payment provider. Every call that sends a provider number retries (with the same number) while the
    provider gives no definite answer, then raises ProviderUnavailable; a definite no is ProviderRejected with our
    code."""

    name: Provider

    async def start(self, payment: Payment) -> PaymentStart:
        """Create the payment at the provider (or sign what the buyer needs to pay it)."""
        ...

    async def query(self, payment: Payment) -> ProviderPayment:
        """What the provider holds of the payment (one call, no retries: the caller asks again later)."""
        ...

    async def close(self, payment: Payment) -> None:
        """Close the payment so it can no longer be paid. Refusals: `not_found`, `not_opened`, `already_paid`,
        `invalid_state`."""
        ...

    async def refund(self, payment: Payment, refund: Refund) -> ProviderRefund:
        """Ask for the refund (again: the same out_refund_no never refunds twice)."""
        ...

    async def query_refund(self, payment: Payment, refund: Refund) -> ProviderRefund:
        """What the provider says of the refund (one call, no retries)."""
        ...

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> VerifiedNotification:
        """Prove the notification came from the provider; NotificationUnverified if not."""
        ...

    def read_notification(self, note: VerifiedNotification) -> Notice:
        """The fact a verified notification reports; NotificationRefused if it is not for us or is malformed."""
        ...


class AgreementProvider(Protocol):
    """A provider of password-free agreements (Alipay's 商家扣款)."""

    def sign_url(self, agreement_id: str) -> str:
        """Where the buyer signs the agreement."""
        ...

    async def unsign(self, agreement_no: str) -> None:
        """End the agreement at the provider (an agreement it no longer holds is ended too)."""
        ...


class Providers:
    """The adapter of each provider, chosen once per payment by the payment's provider."""

    def __init__(self, *providers: PaymentProvider) -> None:
        self._by_name: dict[str, PaymentProvider] = {p.name: p for p in providers}

    def __getitem__(self, name: str) -> PaymentProvider:
        return self._by_name[name]

    def of(self, payment: Payment) -> PaymentProvider:
        return self._by_name[payment.provider]


def provider_time(text: str | None) -> datetime | None:
    """Alipay's "yyyy-MM-dd HH:mm:ss" (Beijing time) or WeChat's RFC 3339, as an aware datetime; None when absent or
    unreadable (the caller uses its own clock)."""
    if not text:
        return None
    try:
        return parse_timestamp(text[:19])
    except AlipayMalformed:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
