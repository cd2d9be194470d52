"""The stream store's contract tests on the in-memory database: no infrastructure, so they run with the unit tests."""

from __future__ import annotations

import pytest

from shared.mongo import Database
from tests.support.memory import MemoryDatabase, as_database
from tests.unit.shared.collection_contract import *  # noqa: F403
from tests.unit.shared.stream_contract import *  # noqa: F403


@pytest.fixture
def database() -> Database:
    return as_database(MemoryDatabase())
