"""Flows across services reuse each service's process fixtures."""

from tests.integration.listing.conftest import listing  # noqa: F401
from tests.integration.payment.conftest import payment_sandbox, payments  # noqa: F401
