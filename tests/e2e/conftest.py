"""The end-to-end tests' fixtures: the whole suite as real processes — the session fixtures of tests/integration,
re-exported here so tests/e2e can use them (pytest sees a conftest's fixtures only below its directory).

`infra` alone is not a plain re-export: tests/integration's fixture of that name creates the session's RabbitMQ
vhost and deletes it at the end, and when one session runs both directories each directory has its own instance
of a fixture. Created twice is harmless; deleted twice fails the second teardown. So this one deletes the vhost
only when no tests/integration test is in the session (then the integration fixture, set up first and torn down
last, deletes it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import log_dir as log_dir
from tests.integration.conftest import mongo_client as mongo_client
from tests.integration.gateway.conftest import gateway as gateway
from tests.integration.listing.conftest import listing as listing
from tests.integration.payment.conftest import payment_sandbox as payment_sandbox
from tests.integration.payment.conftest import payments as payments
from tests.integration.refund.conftest import refunds as refunds
from tests.integration.wallet.conftest import wallet as wallet
from tests.support.infra import create_test_vhost, delete_test_vhost, start_infra


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Iterator[None]:
    start_infra()
    create_test_vhost()
    yield
    if not any("/tests/integration/" in str(item.path) for item in request.session.items):
        delete_test_vhost()
