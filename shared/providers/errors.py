"""What a provider call can end in besides an answer: no definite answer, a refusal for now, a definite no, or our own
configuration refused. Raised by the clients with the provider's codes; each service's adapter gives them its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from shared.errors import AppError

RejectionCode = Literal[
    "already_paid",  # the payment was paid already: ask what the provider holds
    "not_found",  # the provider holds no such payment (nothing was ever handed out that could create one)
    "not_opened",  # no trade yet, but what the buyer holds (an order string) can still create one until it expires
    "invalid_state",  # the payment is in a state that refuses this (paid, or closed): ask what the provider holds
    "limit_exceeded",  # a charge over a password-free agreement's limits
    "agreement_not_active",  # a charge on an agreement that is not (or no longer) signed
    "payment_declined",  # the buyer's funds do not cover the charge
    "provider_rejected",  # any other definite no
]


class ProviderUnavailable(Exception):
    """No definite answer: retry with the same numbers."""

    code = "provider_unavailable"


class ProviderBusy(ProviderUnavailable):
    """The provider refused for now and did nothing: ask again later with the same numbers."""

    code = "provider_busy"

    def __init__(self, provider_code: str, message: str) -> None:
        super().__init__(f"{provider_code}: {message}")
        self.provider_code = provider_code


class ProviderRejected(Exception):
    """The provider's definite "no". `code` is ours (one of RejectionCode, the same whatever the provider);
    `provider_code` and `message` are the provider's own, kept for logs and failure messages (`str(exc)`)."""

    def __init__(
        self, provider_code: str, message: str, status: int = 400, code: RejectionCode = "provider_rejected"
    ) -> None:
        super().__init__(f"{provider_code}: {message}")
        self.code: RejectionCode = code
        self.provider_code = provider_code
        self.message = message
        self.status = status

    def as_(self, codes: Mapping[str, RejectionCode]) -> ProviderRejected:
        """This refusal with our code for its provider code (`provider_rejected` for one `codes` does not name)."""
        return ProviderRejected(
            self.provider_code, self.message, self.status, codes.get(self.provider_code, "provider_rejected")
        )


class ProviderMisconfigured(AppError):
    """The provider refused *our* credentials (WeChat 401 SIGN_ERROR, Alipay isv.invalid-signature, an app or
    certificate it does not know): keys, ids or certificates are misconfigured. Retrying cannot help, so it is never
    retried like an outage: the client logs it at CRITICAL, and a request answers 503 `provider_misconfigured`."""

    status, code = 503, "provider_misconfigured"
