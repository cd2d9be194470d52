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


async def test_an_event_that_breaks_its_registered_contract_is_never_written() -> None:
    from shared.aggregate import NewEvent
    from shared.events.listing import OrderClosed
    from shared.streams import ContractViolation, StreamStore
    from tests.support.memory import MemoryDatabase, as_database

    store = StreamStore(as_database(MemoryDatabase()), contracts="registered")
    typo = NewEvent("order.closed", {"order_id": "ord_1", "item_id": "itm_1", "seller_id": "s", "buyer_id": "b"})
    with pytest.raises(ContractViolation, match=r"order\.closed v1 breaks its contract"):
        await store.append("ord_1", 0, [typo])  # no reason: a consumer would have parked it
    assert await store.read("ord_1") == []
    made = NewEvent.of(
        OrderClosed(order_id="ord_1", item_id="itm_1", seller_id="s", buyer_id="b", reason="buyer_cancelled")
    )
    assert (made.type, made.version) == ("order.closed", 1)
    assert (await store.append("ord_1", 0, [made])).seq == 1


async def test_a_strict_store_refuses_an_event_with_no_contract() -> None:
    from shared.aggregate import NewEvent
    from shared.streams import ContractViolation, StreamStore
    from tests.support.memory import MemoryDatabase, as_database

    loose = StreamStore(as_database(MemoryDatabase()), contracts="registered")
    assert (await loose.append("x", 0, [NewEvent("counter.incremented", {"by": 1})])).seq == 1
    # The sandbox's providers name their own events (a WeChat "order.closed" is not listing's): no contracts there.
    off = StreamStore(as_database(MemoryDatabase()))
    assert (await off.append("x", 0, [NewEvent("order.closed", {"at": "whenever"})])).seq == 1
    strict = StreamStore(as_database(MemoryDatabase()), contracts="strict")
    with pytest.raises(ContractViolation, match="no registered payload contract"):
        await strict.append("x", 0, [NewEvent("order.clossed", {})])
