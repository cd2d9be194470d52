"""Test session set-up: integration and e2e tests get the real infrastructure, started once and reused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import terminate_all

# Modules whose fixtures start the whole suite (listing, payment, the wallet, refund and the gateway), run last. Service
# fixtures are package-scoped: a package's processes stop once its last test ran (session-scoped, two dozen idle
# processes polling FerretDB kept the load of a 2-core machine near 20 and doubled the run), and a package that
# re-exports another's fixture gets processes of its own.
WHOLE_SUITE = ("/tests/integration/gateway/", "/tests/e2e/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if "/tests/integration/" in path or "/tests/e2e/" in path:
            item.add_marker(pytest.mark.infra)
    items.sort(key=lambda item: any(part in str(item.path) for part in WHOLE_SUITE))  # stable: the rest keep order


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the last test and its own fixtures, before the session's fixtures are torn down one by one: every
    service process still running is asked to stop at once, so their shutdowns overlap instead of queueing behind
    each other. (A finalizer of the session node added now runs before the session fixtures' own, added earlier.)"""
    if nextitem is None:
        item.session.addfinalizer(terminate_all)
    yield
