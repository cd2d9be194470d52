"""Listing's use cases on the in-memory database: orders, the items they move, the sweeper's timers, and the events
of other services (delivered through listing's own handler table), with time moved by hand."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from services.listing.consumers import handlers
from services.listing.domain import ITEM, ItemNotAvailable, NewItemFields, OwnItem, ReserveItem
from services.listing.orders import ORDER, CancelOrder, NotYet, Order
from services.listing.settings import ListingSettings
from services.listing.store import ListingStore
from services.listing.usecases import Listing
from shared.bus import Bus, Handler, PermanentFailure
from shared.channels import SellerNotAcceptingWechatPay
from shared.clock import ManualClock
from shared.events import Envelope
from shared.ids import new_id
from shared.mongo import Database
from shared.relay import Relay
from shared.streams import Cause, StreamStore, execute_projected
from tests.support.internal_api import publish_as
from tests.support.memory import MemoryBus, MemoryDatabase, as_database

DAY = 24 * 3600.0
NAME = "listing"
SETTINGS = ListingSettings(
    mongo_url="mongodb://memory/",
    amqp_url="amqp://memory/",
    internal_token="unit-test-internal-token",
    otel_enabled=False,
)
TIMEOUT_S = SETTINGS.order_payment_timeout_s
GRACE_S = SETTINGS.order_expiry_grace_s
BACKSTOP_S = SETTINGS.order_payment_backstop_s


@dataclass
class World:
    """Listing over one in-memory database and clock, with its consumer handler table and a relay to a memory bus."""

    clock: ManualClock
    db: Database
    streams: StreamStore
    store: ListingStore
    listing: Listing
    table: dict[str, Handler]
    bus: MemoryBus

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    async def seller(self) -> str:
        seller_id = new_id("usr")
        await self.listing.open_shop(seller_id, "小鱼的铺子")
        return seller_id

    async def item_on_sale(self, seller_id: str | None = None, price_fen: int = 35_000) -> str:
        fields = NewItemFields(
            title="Kindle Paperwhite", category="books", condition="good", price_fen=price_fen, city="杭州"
        )
        seller_id = seller_id or await self.seller()
        item = await self.listing.draft_item(seller_id, fields)
        await self.listing.publish_item(item.item_id, seller_id)
        return item.item_id

    async def order(self, item_id: str, buyer_id: str | None = None, request_id: str | None = None) -> Order:
        return await self.listing.place_order(item_id, buyer_id or new_id("usr"), "app", "alipay", request_id)

    async def deliver(
        self, event_type: str, payload: dict[str, Any], aggregate_id: str, producer: str = "payment", **kw: Any
    ) -> Envelope:
        """Another service's event, through listing's handler table (inbox included), as its consumer delivers it."""
        envelope = await publish_as(cast(Bus, self.bus), producer, event_type, payload, aggregate_id, **kw)
        await self.redeliver(envelope)
        return envelope

    async def redeliver(self, envelope: Envelope) -> None:
        assert await self.bus.deliver(self.table, [envelope]) == 1

    async def paid(self, order: Order, amount_fen: int | None = None, payment_id: str | None = None) -> Envelope:
        payment_id = payment_id or new_id("pay")
        payload = {
            "payment_id": payment_id,
            "order_id": order.order_id,
            "buyer_id": order.buyer_id,
            "seller_id": order.seller_id,
            "channel": order.channel,
            "method": order.payment_method,
            "provider": "alipay",
            "amount_fen": order.amount_fen if amount_fen is None else amount_fen,
            "out_trade_no": f"T{uuid.uuid4().hex[:20]}",
            "provider_trade_no": f"2026{uuid.uuid4().int % 10**20:020d}",
            "paid_at": self.clock.now().isoformat(),
        }
        return await self.deliver("payment.succeeded", payload, payment_id)

    async def payment_started(self, order: Order) -> str:
        payment_id = new_id("pay")
        payload = {
            "payment_id": payment_id,
            "order_id": order.order_id,
            "buyer_id": order.buyer_id,
            "seller_id": order.seller_id,
            "channel": order.channel,
            "method": order.payment_method,
            "amount_fen": order.amount_fen,
            "expires_at": (order.expires_at or self.clock.now()).isoformat(),
        }
        await self.deliver("payment.created", payload, payment_id)
        return payment_id

    def case(self, order: Order, refund_id: str) -> dict[str, Any]:
        return {
            "refund_id": refund_id,
            "order_id": order.order_id,
            "buyer_id": order.buyer_id,
            "seller_id": order.seller_id,
        }

    async def refund_requested(self, order: Order, refund_id: str) -> Envelope:
        payload = {
            **self.case(order, refund_id),
            "kind": "refund_only",
            "channel": "app",
            "amount_fen": order.amount_fen,
        }
        return await self.deliver("refund.requested", payload, refund_id, producer="refund")

    async def refund_closed(self, order: Order, refund_id: str) -> Envelope:
        payload = {**self.case(order, refund_id), "reason": "buyer_withdrew"}
        return await self.deliver("refund.closed", payload, refund_id, producer="refund")

    async def refund_completed(self, order: Order, refund_id: str, amount_fen: int) -> Envelope:
        payload = {**self.case(order, refund_id), "payment_id": order.payment_id or "pay_x", "amount_fen": amount_fen}
        return await self.deliver("refund.completed", payload, refund_id, producer="refund")

    async def ship(self, order: Order) -> Order:
        return await self.listing.ship(order.order_id, order.seller_id, "SF", "SF1234567890")

    async def item_status(self, item_id: str) -> str:
        """The status buyers see (the projection), checked against the stream's."""
        doc = await self.store.items.find_one({"_id": item_id})
        assert doc is not None
        assert doc["status"] == (await self.listing.item(item_id)).status
        return str(doc["status"])

    async def order_doc(self, order_id: str) -> dict[str, Any]:
        doc = await self.store.order(order_id)
        assert doc is not None
        assert doc["status"] == (await self.listing.order(order_id)).status
        return doc

    async def orders_of_item(self, item_id: str) -> list[str]:
        return [doc["_id"] async for doc in self.store.orders.find({"item_id": item_id})]

    async def reservations(self, item_id: str) -> list[str]:
        return [
            e.payload["order_id"]
            for entry in await self.streams.read(item_id)
            for e in entry.events
            if e.type == "item.updated" and e.payload["status"] == "reserved"
        ]


@pytest.fixture
async def world() -> World:
    clock = ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    db = as_database(MemoryDatabase())
    streams = StreamStore(db, clock=clock, contracts="strict")  # as listing's app does
    store = ListingStore(db)
    await streams.ensure_indexes()
    await store.ensure_indexes()
    listing = Listing(streams, store, SETTINGS, clock=clock)
    return World(clock, db, streams, store, listing, handlers(listing, db, NAME), MemoryBus())


def timeline(order: Order | dict[str, Any]) -> list[str]:
    entries = order.timeline if isinstance(order, Order) else order["timeline"]
    return [t.type if not isinstance(t, dict) else t["type"] for t in entries]


# --------------------------------------------------------------------------------------------------- placing orders


async def test_fifty_concurrent_buyers_get_exactly_one_order(world: World) -> None:
    item_id = await world.item_on_sale()
    results = await asyncio.gather(*(world.order(item_id) for _ in range(50)), return_exceptions=True)
    orders = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if not isinstance(r, Order)]
    assert len(orders) == 1
    assert len(refused) == 49 and all(isinstance(r, ItemNotAvailable) and r.status == 409 for r in refused)
    assert await world.reservations(item_id) == [orders[0].order_id]
    assert await world.orders_of_item(item_id) == [orders[0].order_id]
    assert await world.item_status(item_id) == "reserved"


async def test_a_retried_order_request_returns_the_first_order(world: World) -> None:
    item_id = await world.item_on_sale()
    buyer = new_id("usr")
    first = await world.order(item_id, buyer, request_id="req-1")
    again = await world.order(item_id, buyer, request_id="req-1")
    assert again.order_id == first.order_id
    assert await world.orders_of_item(item_id) == [first.order_id]
    assert await world.reservations(item_id) == [first.order_id]
    # Another buyer, or the same buyer without the request id, is another request: the item is taken.
    with pytest.raises(ItemNotAvailable):
        await world.order(item_id, buyer)


async def test_a_retried_request_after_the_orphan_sweeper_released_the_item_is_item_not_available(
    world: World,
) -> None:
    item_id = await world.item_on_sale()
    buyer_1, buyer_2 = new_id("usr"), new_id("usr")
    # What a request that crashed between its two appends left: the reservation, keyed as place_order keys it.
    orphan_order_id = new_id("ord")
    await execute_projected(
        world.streams,
        ITEM,
        item_id,
        ReserveItem(order_id=orphan_order_id, buyer_id=buyer_1),
        world.store.project_item,
        Cause(command_id=f"reserve:{item_id}:{buyer_1}:req-crashed"),
    )
    world.advance(SETTINGS.orphan_reservation_s - 1)
    assert (await world.listing.sweep())["repaired"] == 0
    assert await world.item_status(item_id) == "reserved"
    world.advance(2)
    assert (await world.listing.sweep())["repaired"] == 1
    assert await world.item_status(item_id) == "on_sale"
    # Retried while the item is back on sale: no order for a reservation that was given up.
    with pytest.raises(ItemNotAvailable) as caught:
        await world.order(item_id, buyer_1, request_id="req-crashed")
    assert caught.value.status == 409
    assert await world.orders_of_item(item_id) == []
    # Retried after another buyer took it: still refused, and the other buyer keeps the item.
    second = await world.order(item_id, buyer_2)
    with pytest.raises(ItemNotAvailable):
        await world.order(item_id, buyer_1, request_id="req-crashed")
    assert await world.orders_of_item(item_id) == [second.order_id]
    assert await world.reservations(item_id) == [orphan_order_id, second.order_id]
    assert (await world.listing.item(item_id)).order_id == second.order_id


async def test_the_same_request_id_on_another_item_is_another_order(world: World) -> None:
    seller = await world.seller()
    first_item, second_item = await world.item_on_sale(seller), await world.item_on_sale(seller)
    buyer = new_id("usr")
    first = await world.order(first_item, buyer, request_id="req-same")
    second = await world.order(second_item, buyer, request_id="req-same")
    assert first.order_id != second.order_id
    assert (first.item_id, second.item_id) == (first_item, second_item)
    assert [await world.item_status(i) for i in (first_item, second_item)] == ["reserved", "reserved"]


async def test_an_order_snapshots_the_item_and_expires_after_the_payment_timeout(world: World) -> None:
    seller = await world.seller()
    item_id = await world.item_on_sale(seller, price_fen=12_345)
    buyer = new_id("usr")
    order = await world.order(item_id, buyer)
    assert (order.status, order.amount_fen, order.item_price_fen, order.item_title) == (
        "pending_payment",
        12_345,
        12_345,
        "Kindle Paperwhite",
    )
    assert (order.buyer_id, order.seller_id, order.channel, order.payment_method) == (buyer, seller, "app", "alipay")
    assert order.expires_at == world.clock.now() + timedelta(seconds=TIMEOUT_S)
    doc = await world.order_doc(order.order_id)
    assert doc["expires_at"] == order.expires_at


async def test_sellers_cannot_buy_their_own_items_and_mp_buyers_need_wechat_collection(world: World) -> None:
    seller = await world.seller()
    item_id = await world.item_on_sale(seller)
    with pytest.raises(OwnItem):
        await world.order(item_id, seller)
    with pytest.raises(SellerNotAcceptingWechatPay):
        await world.listing.place_order(item_id, new_id("usr"), "mp", "wechat_pay", None)
    assert await world.item_status(item_id) == "on_sale"
    assert await world.orders_of_item(item_id) == []


# ---------------------------------------------------------------------------------------------------- settling items


async def test_a_paid_order_sells_its_item_once_however_often_the_payment_arrives(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    paid = await world.paid(order)
    doc = await world.order_doc(order.order_id)
    assert doc["status"] == "paid" and doc["payment_id"] == paid.payload["payment_id"]
    assert await world.item_status(item_id) == "sold"
    # The same event redelivered, and the same payment under another event id: nothing more happens.
    seq = len(await world.streams.read(order.order_id))
    await world.redeliver(paid)
    await world.deliver("payment.succeeded", dict(paid.payload), paid.aggregate_id)
    assert len(await world.streams.read(order.order_id)) == seq
    assert timeline(await world.order_doc(order.order_id)) == ["order.created", "order.paid"]
    assert await world.item_status(item_id) == "sold"


async def test_a_payment_of_the_wrong_amount_is_a_permanent_failure_and_changes_nothing(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    with pytest.raises(PermanentFailure, match="payment_mismatch"):
        await world.paid(order, amount_fen=order.amount_fen - 1)
    assert (await world.order_doc(order.order_id))["status"] == "pending_payment"
    assert await world.item_status(item_id) == "reserved"


async def test_a_closed_order_puts_its_item_back_on_sale(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    closed = await world.listing.cancel(order.order_id, order.buyer_id)
    assert (closed.status, closed.closed_reason) == ("closed", "buyer_cancelled")
    assert await world.item_status(item_id) == "on_sale"
    again = await world.order(item_id)  # somebody else buys it now
    assert again.order_id != order.order_id
    assert await world.item_status(item_id) == "reserved"


async def test_a_full_refund_takes_the_item_off_sale_and_the_seller_may_relist_it(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    await world.paid(order)
    refund_id = new_id("rfd")
    await world.refund_requested(order, refund_id)
    assert (await world.order_doc(order.order_id))["status"] == "refunding"
    assert await world.item_status(item_id) == "sold"
    await world.refund_completed(order, refund_id, order.amount_fen)
    refunded = await world.order_doc(order.order_id)
    assert (refunded["status"], refunded["refunded_fen"]) == ("refunded", order.amount_fen)
    assert await world.item_status(item_id) == "withdrawn"
    relisted = await world.listing.publish_item(item_id, order.seller_id)
    assert relisted.status == "on_sale"


async def test_a_partial_refund_leaves_the_item_sold_and_the_order_going_on(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    await world.paid(order)
    refund_id = new_id("rfd")
    await world.refund_requested(order, refund_id)
    await world.refund_completed(order, refund_id, order.amount_fen // 2)
    doc = await world.order_doc(order.order_id)
    # Back to paid (it can still ship and complete, so the rest is settled to the seller), half refunded.
    assert (doc["status"], doc["refunded_fen"]) == ("paid", order.amount_fen // 2)
    assert await world.item_status(item_id) == "sold"


async def test_an_order_closed_without_its_follow_up_is_healed_by_listings_own_event(world: World) -> None:
    """A crash after the order closed and before its item was released: the relay publishes `order.closed`, and
    listing's consumer of its own events releases the item."""
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    await execute_projected(
        world.streams, ORDER, order.order_id, CancelOrder(buyer_id=order.buyer_id), world.store.project_order
    )
    assert await world.item_status(item_id) == "reserved"
    relay = Relay(world.streams, cast(Bus, world.bus), producer=NAME)
    while await relay.run_once():
        pass
    assert [e.type for e in world.bus.published if e.aggregate_id == order.order_id] == [
        "order.created",
        "order.closed",
    ]
    await world.bus.deliver(world.table)
    assert await world.item_status(item_id) == "on_sale"
    await world.bus.deliver(world.table)  # every event again: the inbox skips them
    assert await world.item_status(item_id) == "on_sale"


# ----------------------------------------------------------------------------------------------------------- sweeper


async def test_an_unpaid_order_expires_after_the_grace_and_its_item_goes_back_on_sale(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    world.advance(TIMEOUT_S + GRACE_S - 1)
    assert (await world.listing.sweep())["expired"] == 0
    assert (await world.order_doc(order.order_id))["status"] == "pending_payment"
    world.advance(1)
    assert (await world.listing.sweep())["expired"] == 1
    closed = await world.order_doc(order.order_id)
    assert (closed["status"], closed["closed_reason"]) == ("closed", "payment_expired")
    assert closed["timeline"][-1]["actor"] == "system"
    assert await world.item_status(item_id) == "on_sale"
    assert await world.listing.sweep() == {"expired": 0, "auto_confirmed": 0, "repaired": 0}


async def test_an_order_with_a_started_payment_waits_for_payment_closed(world: World) -> None:
    item_id = await world.item_on_sale()
    waiting = await world.order(item_id)
    control = await world.order(await world.item_on_sale())
    payment_id = await world.payment_started(waiting)
    assert (await world.order_doc(waiting.order_id))["payment_id"] == payment_id
    world.advance(TIMEOUT_S + GRACE_S + 60)
    assert (await world.listing.sweep())["expired"] == 1
    assert (await world.order_doc(control.order_id))["status"] == "closed"
    assert (await world.order_doc(waiting.order_id))["status"] == "pending_payment"
    assert await world.item_status(item_id) == "reserved"
    await world.deliver(
        "payment.closed", {"payment_id": payment_id, "order_id": waiting.order_id, "reason": "expired"}, payment_id
    )
    closed = await world.order_doc(waiting.order_id)
    assert (closed["status"], closed["closed_reason"]) == ("closed", "payment_closed")
    assert await world.item_status(item_id) == "on_sale"


async def test_the_backstop_closes_an_order_whose_payment_never_closed(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    await world.payment_started(order)
    world.advance(TIMEOUT_S + BACKSTOP_S - 1)
    assert (await world.listing.sweep())["expired"] == 0
    world.advance(1)
    assert (await world.listing.sweep())["expired"] == 1
    closed = await world.order_doc(order.order_id)
    assert (closed["status"], closed["closed_reason"]) == ("closed", "payment_expired")
    assert await world.item_status(item_id) == "on_sale"


async def test_a_shipped_order_is_auto_confirmed_when_its_time_comes(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    await world.paid(order)
    shipped = await world.ship(order)
    assert shipped.auto_confirm_at == world.clock.now() + timedelta(seconds=SETTINGS.auto_confirm_after_s)
    world.advance(SETTINGS.auto_confirm_after_s - 1)
    assert (await world.listing.sweep())["auto_confirmed"] == 0
    world.advance(1)
    assert (await world.listing.sweep())["auto_confirmed"] == 1
    done = await world.order_doc(order.order_id)
    assert done["status"] == "completed" and done["completed_at"] == world.clock.now()
    assert done["timeline"][-1] == {"at": done["completed_at"], "type": "order.completed", "actor": "system"}
    assert await world.item_status(item_id) == "sold"
    assert (await world.listing.sweep())["auto_confirmed"] == 0


async def test_an_open_refund_case_pauses_auto_confirm_and_its_close_resumes_the_time_left(world: World) -> None:
    order = await world.order(await world.item_on_sale())
    await world.paid(order)
    await world.ship(order)
    world.advance(4 * DAY)
    refund_id = new_id("rfd")
    await world.refund_requested(order, refund_id)
    world.advance(20 * DAY)  # long past the first due time
    assert (await world.listing.sweep())["auto_confirmed"] == 0
    assert (await world.order_doc(order.order_id))["status"] == "refunding"
    await world.refund_closed(order, refund_id)
    resumed = await world.order_doc(order.order_id)
    assert resumed["status"] == "shipped"
    assert resumed["auto_confirm_at"] == world.clock.now() + timedelta(seconds=SETTINGS.auto_confirm_after_s - 4 * DAY)
    world.advance(SETTINGS.auto_confirm_after_s - 4 * DAY - 1)
    assert (await world.listing.sweep())["auto_confirmed"] == 0
    world.advance(1)
    assert (await world.listing.sweep())["auto_confirmed"] == 1
    assert timeline(await world.order_doc(order.order_id)) == [
        "order.created",
        "order.paid",
        "order.shipped",
        "order.refund_opened",
        "order.refund_closed",
        "order.completed",
    ]


async def test_the_sweeper_settles_an_item_left_reserved_by_an_order_that_moved_on(world: World) -> None:
    """The order closed but the process died before releasing its item (and the own event was lost): the sweeper's
    orphan scan finds the stale reservation and settles the item from the order."""
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    await execute_projected(
        world.streams, ORDER, order.order_id, CancelOrder(buyer_id=order.buyer_id), world.store.project_order
    )
    world.advance(SETTINGS.orphan_reservation_s + 1)
    assert await world.listing.sweep() == {"expired": 0, "auto_confirmed": 0, "repaired": 0}
    assert await world.item_status(item_id) == "on_sale"


async def test_the_sweeper_leaves_a_reservation_whose_order_awaits_payment(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    world.advance(SETTINGS.orphan_reservation_s + 1)
    assert (await world.listing.sweep())["repaired"] == 0
    assert await world.item_status(item_id) == "reserved"
    assert (await world.order_doc(order.order_id))["status"] == "pending_payment"


# -------------------------------------------------------------------------------------- events late and out of order


async def test_a_payment_after_the_order_closed_is_recorded_once_and_the_item_stays_on_sale(world: World) -> None:
    item_id = await world.item_on_sale()
    order = await world.order(item_id)
    await world.listing.cancel(order.order_id, order.buyer_id)
    late = await world.paid(order)
    doc = await world.order_doc(order.order_id)
    assert doc["status"] == "closed" and timeline(doc)[-1] == "order.late_payment"
    assert doc["late_payment_ids"] == [late.payload["payment_id"]]
    await world.deliver("payment.succeeded", dict(late.payload), late.aggregate_id)  # another path, same payment
    assert timeline(await world.order_doc(order.order_id)).count("order.late_payment") == 1
    assert await world.item_status(item_id) == "on_sale"


async def test_a_refund_case_closed_before_it_was_seen_opening_is_applied_once_it_opens(world: World) -> None:
    order = await world.order(await world.item_on_sale())
    await world.paid(order)
    refund_id = new_id("rfd")
    # refund.closed first: refused as not yet applicable (the consumer retries it), and nothing recorded.
    with pytest.raises(NotYet):
        await world.refund_closed(order, refund_id)
    closed = world.bus.published[-1]
    assert (await world.order_doc(order.order_id))["status"] == "paid"
    await world.refund_requested(order, refund_id)
    assert (await world.order_doc(order.order_id))["status"] == "refunding"
    await world.redeliver(closed)  # the retry of refund.closed
    done = await world.order_doc(order.order_id)
    assert done["status"] == "paid"
    assert timeline(done)[-2:] == ["order.refund_opened", "order.refund_closed"]
    await world.redeliver(closed)
    assert timeline(await world.order_doc(order.order_id)).count("order.refund_closed") == 1


async def test_a_shop_opened_under_the_legacy_id_is_still_the_sellers_shop(world: World) -> None:
    from services.listing.domain import legacy_shop_id_for, shop_id_for
    from shared.aggregate import NewEvent
    from shared.errors import NotFound
    from shared.ids import is_id

    seller_id = new_id("usr")
    legacy = legacy_shop_id_for(seller_id)
    # A shop as an earlier release wrote it: the stream and the payload under the old (RFC 4648 base32) id.
    opened = {"shop_id": legacy, "seller_id": seller_id, "name": "老店", "level": 3}
    await world.streams.append(legacy, 0, [NewEvent("shop.opened", opened)])
    assert is_id(shop_id_for(seller_id), "shp") and legacy != shop_id_for(seller_id)
    shop = await world.listing.shop_of(seller_id)
    assert (shop.shop_id, shop.level) == (legacy, 3)
    with pytest.raises(Exception) as refused:
        await world.listing.open_shop(seller_id, "新店")
    assert getattr(refused.value, "code", None) == "shop_exists"
    item = await world.item_on_sale(seller_id)
    assert (await world.listing.item(item)).shop_id == legacy
    # A new seller's shop gets the derived id.
    newcomer = await world.seller()
    assert (await world.listing.shop_of(newcomer)).shop_id == shop_id_for(newcomer)
    with pytest.raises(NotFound):
        await world.listing.shop_of(new_id("usr"))


def test_listing_binds_every_event_it_emits_and_each_has_a_contract() -> None:
    from services.listing.consumers import OWN_EVENTS
    from shared.events import PAYLOADS

    emitted = {t for (t, _), model in PAYLOADS.items() if model.__module__ == "shared.events.listing"}
    assert set(OWN_EVENTS) == emitted and len(OWN_EVENTS) == len(emitted)


async def test_a_projection_lost_to_a_crash_is_rewritten_from_the_stream(world: World) -> None:
    item_id = await world.item_on_sale()
    await world.db["items"].delete_one({"_id": item_id})  # as if the projection write after the append was lost
    # ... to a crash: the process that re-projects is a new one (the old one remembered projecting it).
    restarted = Listing(world.streams, world.store, SETTINGS, clock=world.clock)
    _, seq = await restarted.items.load(item_id)
    assert not await world.listing.items.reproject(item_id, seq)  # the writer knows it projected: no lookup
    await restarted.reproject(item_id, seq)
    assert (await world.db["items"].find_one({"_id": item_id}) or {}).get("status") == "on_sale"
    assert not await restarted.items.reproject(item_id, seq)  # up to date: nothing written
