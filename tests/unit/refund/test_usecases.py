"""Refund's use cases over the in-memory database: cases opened and acted on through their order's stream, the case
projections (by buyer, by seller, for the sweeper), the timers fired by the leased sweep at the right moment, and
listing's and payment's events applied once however often they come."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.refund.domain import Agree, Open, RecordOrder, RecordRefunded, Reject
from services.refund.settings import RefundSettings
from services.refund.store import RefundStore
from services.refund.usecases import Refunds
from shared.aggregate import Cause
from shared.clock import ManualClock
from shared.errors import NotFound
from shared.streams import StreamStore
from tests.support.aggregates import T0
from tests.support.memory import MemoryDatabase, as_database

BUYER, SELLER = "usr_b", "usr_s"


async def world() -> tuple[Refunds, ManualClock]:
    db = as_database(MemoryDatabase())
    streams, store = StreamStore(db, contracts="strict"), RefundStore(db)
    await streams.ensure_indexes()
    await store.ensure_indexes()
    settings = RefundSettings(mongo_url="mongodb://x/", amqp_url="amqp://x/", internal_token="t" * 16, sweep_batch=10)
    clock = ManualClock(T0)
    refunds = Refunds(streams, store, settings, clock)
    paid = RecordOrder(
        order_id="ord_1",
        buyer_id=BUYER,
        seller_id=SELLER,
        channel="mp",
        payment_method="wechat_pay",
        payment_id="pay_1",
        amount_fen=26_800,
        state="paid",
    )
    await refunds.record_order(paid, Cause("evt:paid"))
    await refunds.record_order(paid, Cause("evt:paid"))  # delivered twice
    return refunds, clock


def open_case(refunds: Refunds, refund_id: str = "rfd_1", amount: int = 10_000) -> Open:
    return Open(
        refund_id=refund_id,
        buyer_id=BUYER,
        kind="refund_only",
        amount_fen=amount,
        now=refunds.now(),
        durations=refunds.durations(),
    )


async def test_a_case_is_projected_for_its_buyer_seller_and_the_sweeper_and_read_only_by_them() -> None:
    refunds, _ = await world()
    await refunds.run("ord_1", open_case(refunds))
    for field, user in (("buyer_id", BUYER), ("seller_id", SELLER)):
        rows = await refunds.store.cases_of(field, user, 10, None)
        assert [(r["_id"], r["status"], r["timer"]) for r in rows] == [("rfd_1", "requested", True)]
    case, state = await refunds.case("rfd_1", BUYER)
    assert case.status == "requested" and state.order is not None and state.order.payment_id == "pay_1"
    with pytest.raises(NotFound):
        await refunds.case("rfd_1", "usr_other")
    with pytest.raises(NotFound):
        await refunds.case("rfd_unknown", BUYER)


async def test_the_sweep_agrees_for_a_silent_seller_only_once_the_48_hours_are_up() -> None:
    refunds, clock = await world()
    await refunds.run("ord_1", open_case(refunds))
    clock.advance(timedelta(hours=47).total_seconds())
    assert await refunds.sweep() == {"timers_fired": 0}
    clock.advance(timedelta(hours=1).total_seconds())
    assert await refunds.sweep() == {"timers_fired": 1}
    case, _ = await refunds.case("rfd_1", SELLER)
    assert case.status == "approved" and case.refund_ids == ["rfd_1"]
    assert (await refunds.store.case_doc("rfd_1"))["timer"] is False  # type: ignore[index]
    assert await refunds.sweep() == {"timers_fired": 0}


async def test_a_rejected_case_closes_by_itself_and_a_refund_answer_counts_once() -> None:
    refunds, clock = await world()
    await refunds.run("ord_1", open_case(refunds, "rfd_1", 26_800))
    await refunds.act("rfd_1", Reject(refund_id="rfd_1", seller_id=SELLER, reason="no", now=clock.now(),
                                      durations=refunds.durations()))  # fmt: skip
    clock.advance(timedelta(days=7).total_seconds())
    assert await refunds.sweep() == {"timers_fired": 1}
    assert (await refunds.case("rfd_1", BUYER))[0].closed_reason == "rejected"

    await refunds.run("ord_1", open_case(refunds, "rfd_2", 26_800))
    await refunds.act(
        "rfd_2", Agree(refund_id="rfd_2", seller_id=SELLER, now=clock.now(), durations=refunds.durations())
    )
    answer = RecordRefunded(refund_id="rfd_2", amount_fen=26_800, provider_refund_id="50300", now=clock.now())
    await refunds.refunded("ord_1", answer, Cause("evt:refunded"))
    await refunds.refunded("ord_1", answer, Cause("evt:refunded-again"))  # the same fact under another event id
    case, state = await refunds.case("rfd_2", BUYER)
    assert (case.status, case.refunded_fen, state.refunded_fen) == ("refunded", 26_800, 26_800)
