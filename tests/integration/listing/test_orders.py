"""Orders on the real infrastructure: one winner per item, payments applied once, timers that fire and pause."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.ids import new_id
from tests.integration.listing.conftest import ListingClient
from tests.support.infra import eventually, postgres_log


async def test_fifty_concurrent_buyers_get_exactly_one_order(listing: ListingClient) -> None:
    seller = await listing.seller()
    database_log = postgres_log()
    for _ in range(3):  # repeated: one lucky round proves little
        item = await listing.item(seller)
        body = {"item_id": item["id"], "channel": "app", "payment_method": "alipay"}
        replies = await asyncio.gather(
            *(listing.call("POST", "/orders", {**body, "buyer_id": new_id("usr")}) for _ in range(50))
        )
        statuses = sorted(r.status for r in replies)
        assert statuses == [201] + [409] * 49, statuses
        assert {r.body["error"]["code"] for r in replies if r.status == 409} == {"item_not_available"}
        winner = next(r.body for r in replies if r.status == 201)
        # One reservation in the item's stream, one order in the database, and the item says who holds it.
        reservations = [
            e
            for entry in await listing.entries(item["id"])
            for e in entry["events"]
            if e["type"] == "item.updated" and e["payload"]["status"] == "reserved"
        ]
        assert [r["payload"]["order_id"] for r in reservations] == [winner["id"]]
        assert await listing.db["orders"].count_documents({"item_id": item["id"]}) == 1
        shown = await listing.ok("GET", f"/items/{item['id']}")
        assert shown["status"] == "reserved"
    # The races were decided by unique keys alone: PostgreSQL under FerretDB aborted nothing on the way.
    assert database_log.new_lines(matching=("could not serialize", "deadlock detected")) == []


async def test_an_order_snapshots_price_buyer_seller_channel_and_method(listing: ListingClient) -> None:
    seller = await listing.seller()
    item = await listing.item(seller, price_fen=12_345)
    buyer = new_id("usr")
    order = await listing.order(item["id"], buyer, method="alipay_password_free")
    await listing.ok("PATCH", f"/items/{item['id']}", {"seller_id": seller, "title": "x"}, expect=409)
    assert order["status"] == "pending_payment" and order["amount_fen"] == 12_345
    assert order["item"] == {"id": item["id"], "title": item["title"], "price_fen": 12_345}
    assert (order["buyer_id"], order["seller_id"], order["channel"], order["payment_method"]) == (
        buyer,
        seller,
        "app",
        "alipay_password_free",
    )


async def test_a_retried_order_request_returns_the_first_order(listing: ListingClient) -> None:
    item = await listing.item(await listing.seller())
    body = {
        "item_id": item["id"],
        "buyer_id": new_id("usr"),
        "channel": "app",
        "payment_method": "alipay",
        "request_id": "req-1",
    }
    first = await listing.ok("POST", "/orders", body, 201)
    again = await listing.ok("POST", "/orders", body, 201)
    assert again["id"] == first["id"]
    assert await listing.db["orders"].count_documents({"item_id": item["id"]}) == 1


async def test_sellers_cannot_buy_their_own_items(listing: ListingClient) -> None:
    seller = await listing.seller()
    item = await listing.item(seller)
    reply = await listing.call(
        "POST", "/orders", {"item_id": item["id"], "buyer_id": seller, "channel": "app", "payment_method": "alipay"}
    )
    assert reply.status == 409 and reply.body["error"]["code"] == "cannot_buy_own_item"


async def test_mp_buyers_cannot_order_from_sellers_without_wechat_collection(listing: ListingClient) -> None:
    seller = await listing.seller(level=5)
    item = await listing.item(seller)
    reply = await listing.call(
        "POST",
        "/orders",
        {"item_id": item["id"], "buyer_id": new_id("usr"), "channel": "mp", "payment_method": "wechat_pay"},
    )
    assert reply.status == 422 and reply.body["error"]["code"] == "seller_not_accepting_wechat_pay"
    assert (await listing.ok("GET", f"/items/{item['id']}"))["status"] == "on_sale"  # nothing reserved
    shop = await listing.ok("GET", f"/sellers/{seller}/shop")
    await listing.publish(
        "wallet.collection_activated",
        {"seller_id": seller, "shop_id": shop["id"], "account_id": new_id("acc")},
        aggregate_id=new_id("acc"),
        producer="wallet",
    )
    await eventually(
        lambda: listing.ok("GET", f"/shops/{shop['id']}"),
        until=lambda s: s["wechat_collection"] == "active",
        what="collection active",
    )
    order = await listing.order(item["id"], channel="mp", method="wechat_pay")
    assert order["channel"] == "mp" and order["payment_method"] == "wechat_pay"


async def test_duplicate_payment_succeeded_gives_one_order_paid(listing: ListingClient, watch: Any) -> None:
    seen = await watch("order.paid.v1")
    item = await listing.item(await listing.seller())
    order = await listing.order(item["id"])
    event = await listing.paid(order)
    # The same event redelivered, twice, while the first may still be in flight.
    await listing.bus.publish(event)
    await listing.bus.publish(event)
    paid = await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"), until=lambda o: o["status"] == "paid", what="order paid"
    )
    assert paid["payment_id"] == event.payload["payment_id"]
    await eventually(
        lambda: listing.ok("GET", f"/items/{item['id']}"), until=lambda i: i["status"] == "sold", what="item sold"
    )
    await eventually(
        lambda: asyncio.sleep(0, [e for e in seen if e.aggregate_id == order["id"]]),
        until=lambda got: len(got) >= 1,
        what="order.paid on the bus",
    )
    # A later event proves the consumer is past the duplicates; still exactly one order.paid anywhere.
    await listing.ok(
        "POST",
        f"/orders/{order['id']}/ship",
        {"seller_id": order["seller_id"], "carrier": "SF", "tracking_no": "SF100200300"},
    )
    await eventually(lambda: listing.event_types(order["id"]), until=lambda t: "order.shipped" in t, what="shipped")
    assert (await listing.event_types(order["id"])).count("order.paid") == 1
    assert len([e for e in seen if e.aggregate_id == order["id"]]) == 1


async def test_a_payment_of_the_wrong_amount_is_parked_not_applied(listing: ListingClient) -> None:
    item = await listing.item(await listing.seller())
    order = await listing.order(item["id"])
    event = await listing.paid({**order, "amount_fen": order["amount_fen"] - 1})
    dlq = f"{listing.name}.events.dlq"

    async def parked() -> list[str]:
        import aio_pika

        from tests.support.infra import AMQP_URL

        connection = await aio_pika.connect_robust(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(dlq, passive=True)
            found: list[str] = []
            while (message := await queue.get(fail=False)) is not None:
                await message.nack(requeue=True) if message.message_id != event.event_id else await message.ack()
                if message.message_id == event.event_id:
                    found.append(str(message.headers.get("x-fishbridge-error")))
                    break
            return found

    reason = await eventually(parked, until=bool, what="payment parked in the DLQ")
    assert "payment_mismatch" in reason[0]
    assert (await listing.ok("GET", f"/orders/{order['id']}"))["status"] == "pending_payment"


async def test_buyer_cancel_closes_the_order_and_puts_the_item_back_on_sale(listing: ListingClient) -> None:
    item = await listing.item(await listing.seller())
    order = await listing.order(item["id"])
    other = await listing.call("POST", f"/orders/{order['id']}/cancel", {"buyer_id": order["seller_id"]})
    assert other.status == 404
    closed = await listing.ok("POST", f"/orders/{order['id']}/cancel", {"buyer_id": order["buyer_id"]})
    assert closed["status"] == "closed" and closed["closed_reason"] == "buyer_cancelled"
    assert (await listing.ok("GET", f"/items/{item['id']}"))["status"] == "on_sale"
    again = await listing.order(item["id"])  # somebody else buys it now
    assert again["id"] != order["id"]


async def test_unpaid_order_expires_and_the_item_goes_back_on_sale(fast_listing: ListingClient) -> None:
    item = await fast_listing.item(await fast_listing.seller(), title="过期测试 unpaid expiry")
    order = await fast_listing.order(item["id"])
    closed = await eventually(
        lambda: fast_listing.ok("GET", f"/orders/{order['id']}"),
        until=lambda o: o["status"] == "closed",
        what="order expired",
    )
    assert closed["closed_reason"] == "payment_expired" and closed["timeline"][-1]["actor"] == "system"
    back = await eventually(
        lambda: fast_listing.ok("GET", "/catalog", q="过期测试"),
        until=lambda page: [i["id"] for i in page["items"]] == [item["id"]],
        what="item back in the catalog",
    )
    assert back["items"][0]["status"] == "on_sale"


async def test_auto_confirm_fires_and_an_open_refund_case_pauses_it(fast_listing: ListingClient) -> None:
    listing = fast_listing
    seller = await listing.seller()
    orders = []
    for _ in range(2):
        order = await listing.order((await listing.item(seller))["id"])
        await listing.paid(order)
        await eventually(
            lambda o=order: listing.ok("GET", f"/orders/{o['id']}"), until=lambda o: o["status"] == "paid", what="paid"
        )
        orders.append(order)
    plain, disputed = orders
    refund_id = new_id("rfd")
    case = {"refund_id": refund_id, "order_id": disputed["id"], "buyer_id": disputed["buyer_id"], "seller_id": seller}
    await listing.ok(
        "POST", f"/orders/{disputed['id']}/ship", {"seller_id": seller, "carrier": "SF", "tracking_no": "SF000111222"}
    )
    await listing.publish(
        "refund.requested",
        {**case, "kind": "return_and_refund", "channel": "app", "amount_fen": disputed["amount_fen"]},
        refund_id,
        producer="refund",
    )
    await eventually(
        lambda: listing.ok("GET", f"/orders/{disputed['id']}"),
        until=lambda o: o["status"] == "refunding",
        what="refund case open",
    )
    await listing.ok(
        "POST", f"/orders/{plain['id']}/ship", {"seller_id": seller, "carrier": "SF", "tracking_no": "SF000111333"}
    )
    # The undisputed order, shipped after the disputed one, completes on its own ...
    done = await eventually(
        lambda: listing.ok("GET", f"/orders/{plain['id']}"),
        until=lambda o: o["status"] == "completed",
        what="auto-confirmed",
    )
    assert done["timeline"][-1] == {"at": done["completed_at"], "type": "order.completed", "actor": "system"}
    # ... so the sweeper has passed the disputed order's due time, and left it alone.
    assert (await listing.ok("GET", f"/orders/{disputed['id']}"))["status"] == "refunding"
    await listing.publish("refund.closed", {**case, "reason": "buyer_withdrew"}, refund_id, producer="refund")
    resumed = await eventually(
        lambda: listing.ok("GET", f"/orders/{disputed['id']}"),
        until=lambda o: o["status"] == "completed",
        what="auto-confirm resumed",
    )
    assert [t["type"] for t in resumed["timeline"]] == [
        "order.created",
        "order.paid",
        "order.shipped",
        "order.refund_opened",
        "order.refund_closed",
        "order.completed",
    ]


async def test_a_completed_refund_makes_the_order_refunded_and_the_item_relistable(listing: ListingClient) -> None:
    seller = await listing.seller()
    item = await listing.item(seller)
    order = await listing.order(item["id"])
    await listing.paid(order)
    await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"), until=lambda o: o["status"] == "paid", what="paid"
    )
    refund_id = new_id("rfd")
    case = {"refund_id": refund_id, "order_id": order["id"], "buyer_id": order["buyer_id"], "seller_id": seller}
    await listing.publish(
        "refund.requested",
        {**case, "kind": "refund_only", "channel": "app", "amount_fen": order["amount_fen"]},
        refund_id,
        producer="refund",
    )
    await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"),
        until=lambda o: o["status"] == "refunding",
        what="refunding",
    )
    await listing.publish(
        "refund.completed",
        {**case, "payment_id": "pay_x", "amount_fen": order["amount_fen"]},
        refund_id,
        producer="refund",
    )
    refunded = await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"), until=lambda o: o["status"] == "refunded", what="refunded"
    )
    assert refunded["refunded_fen"] == order["amount_fen"]
    withdrawn = await eventually(
        lambda: listing.ok("GET", f"/items/{item['id']}"),
        until=lambda i: i["status"] == "withdrawn",
        what="item off sale",
    )
    assert withdrawn["status"] == "withdrawn"
    relisted = await listing.ok("POST", f"/items/{item['id']}/publish", {"seller_id": seller})
    assert relisted["status"] == "on_sale"


async def test_order_lists_and_detail_are_per_party(listing: ListingClient) -> None:
    seller = await listing.seller()
    buyer = new_id("usr")
    ids = [(await listing.order((await listing.item(seller))["id"], buyer))["id"] for _ in range(3)]
    page1 = await listing.ok("GET", "/orders", role="buyer", user_id=buyer, limit=2)
    page2 = await listing.ok("GET", "/orders", role="buyer", user_id=buyer, limit=2, cursor=page1["next_cursor"])
    assert [o["id"] for o in page1["items"] + page2["items"]] == list(reversed(ids))
    assert page2["next_cursor"] is None
    sold = await listing.ok("GET", "/orders", role="seller", user_id=seller, status="pending_payment")
    assert len(sold["items"]) == 3
    assert (await listing.call("GET", f"/orders/{ids[0]}", viewer_id=new_id("usr"))).status == 404
    detail = await listing.ok("GET", f"/orders/{ids[0]}", viewer_id=seller)
    assert detail["timeline"][0]["type"] == "order.created"


async def test_a_payment_method_outside_the_channel_is_refused_before_anything_is_reserved(
    listing: ListingClient,
) -> None:
    item = await listing.item(await listing.seller())
    for channel, method in (("mp", "alipay"), ("app", "wechat_pay"), ("mp", "alipay_password_free")):
        reply = await listing.call(
            "POST",
            "/orders",
            {"item_id": item["id"], "buyer_id": new_id("usr"), "channel": channel, "payment_method": method},
        )
        assert reply.status == 422 and reply.body["error"]["code"] == "payment_method_not_available_in_channel"
    assert (await listing.ok("GET", f"/items/{item['id']}"))["status"] == "on_sale"
    assert await listing.db["orders"].count_documents({"item_id": item["id"]}) == 0


async def test_retried_order_after_release_does_not_sell_twice(fast_listing: ListingClient) -> None:
    """Buyer 1's reservation is written, the process dies before the order is, the orphan sweeper releases the item,
    buyer 2 buys it; buyer 1's retry with the same request id must not open a second order for the sold item."""
    from services.listing.domain import ITEM, ReserveItem
    from services.listing.store import ListingStore
    from shared.streams import Cause, StreamStore, execute_projected

    listing = fast_listing
    item = await listing.item(await listing.seller())
    buyer_1, buyer_2 = new_id("usr"), new_id("usr")
    # What the crashed request had written: the reservation, keyed as place_order keys it, and no order.
    await execute_projected(
        StreamStore(listing.db),
        ITEM,
        item["id"],
        ReserveItem(order_id=new_id("ord"), buyer_id=buyer_1),
        ListingStore(listing.db).project_item,
        Cause(command_id=f"reserve:{item['id']}:{buyer_1}:req-crashed"),
    )
    await eventually(
        lambda: listing.ok("GET", f"/items/{item['id']}"),
        until=lambda i: i["status"] == "on_sale",
        timeout_s=30,
        what="the orphaned reservation released",
    )
    second = await listing.order(item["id"], buyer_2)
    retry = await listing.call(
        "POST",
        "/orders",
        {
            "item_id": item["id"],
            "buyer_id": buyer_1,
            "channel": "app",
            "payment_method": "alipay",
            "request_id": "req-crashed",
        },
    )
    assert retry.status == 409 and retry.body["error"]["code"] == "item_not_available", retry.body
    orders = [doc["_id"] async for doc in listing.db["orders"].find({"item_id": item["id"]})]
    assert orders == [second["id"]]
    assert (await listing.ok("GET", f"/items/{item['id']}"))["status"] == "reserved"


async def test_the_same_request_id_on_another_item_is_another_order(listing: ListingClient) -> None:
    seller = await listing.seller()
    first_item, second_item = await listing.item(seller), await listing.item(seller)
    body = {"buyer_id": new_id("usr"), "channel": "app", "payment_method": "alipay", "request_id": "req-same"}
    first = await listing.ok("POST", "/orders", {**body, "item_id": first_item["id"]}, 201)
    second = await listing.ok("POST", "/orders", {**body, "item_id": second_item["id"]}, 201)
    assert first["id"] != second["id"]
    assert (first["item"]["id"], second["item"]["id"]) == (first_item["id"], second_item["id"])
    for item in (first_item, second_item):
        shown = await listing.ok("GET", f"/items/{item['id']}")
        assert shown["status"] == "reserved"


async def test_a_payment_after_the_order_closed_is_recorded_not_parked(listing: ListingClient) -> None:
    item = await listing.item(await listing.seller())
    order = await listing.order(item["id"])
    await listing.ok("POST", f"/orders/{order['id']}/cancel", {"buyer_id": order["buyer_id"]})
    await listing.paid(order)
    late = await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"),
        until=lambda o: o["timeline"][-1]["type"] == "order.late_payment",
        what="the late payment on the order's timeline",
    )
    # The order stays closed and its item on sale; the payment service refunds the money by itself.
    assert late["status"] == "closed"
    assert (await listing.ok("GET", f"/items/{item['id']}"))["status"] == "on_sale"


async def test_an_order_with_a_started_payment_waits_for_payment_closed(fast_listing: ListingClient) -> None:
    listing = fast_listing
    seller = await listing.seller()
    waiting = await listing.order((await listing.item(seller))["id"])
    control = await listing.order((await listing.item(seller))["id"])
    payment_id = new_id("pay")
    await listing.publish(
        "payment.created",
        {
            "payment_id": payment_id,
            "order_id": waiting["id"],
            "buyer_id": waiting["buyer_id"],
            "seller_id": seller,
            "channel": "app",
            "method": "alipay",
            "amount_fen": waiting["amount_fen"],
            "expires_at": waiting["expires_at"],
        },
        payment_id,
    )
    await eventually(
        lambda: listing.ok("GET", f"/orders/{waiting['id']}"),
        until=lambda o: o["timeline"][-1]["type"] == "order.payment_started",
        what="the payment start recorded",
    )
    # The control order, with no payment started, expires on listing's own timer ...
    await eventually(
        lambda: listing.ok("GET", f"/orders/{control['id']}"),
        until=lambda o: o["status"] == "closed",
        what="the control order expired",
    )
    # ... so the sweeper has passed the other one's deadline, and left it to the payment service.
    assert (await listing.ok("GET", f"/orders/{waiting['id']}"))["status"] == "pending_payment"
    await listing.publish(
        "payment.closed", {"payment_id": payment_id, "order_id": waiting["id"], "reason": "expired"}, payment_id
    )
    closed = await eventually(
        lambda: listing.ok("GET", f"/orders/{waiting['id']}"),
        until=lambda o: o["status"] == "closed",
        what="the order closed by payment.closed",
    )
    assert closed["closed_reason"] == "payment_closed"


async def test_a_case_closed_before_it_was_seen_opening_is_applied_once_it_opens(listing: ListingClient) -> None:
    seller = await listing.seller()
    order = await listing.order((await listing.item(seller))["id"])
    await listing.paid(order)
    await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"), until=lambda o: o["status"] == "paid", what="paid"
    )
    refund_id = new_id("rfd")
    case = {"refund_id": refund_id, "order_id": order["id"], "buyer_id": order["buyer_id"], "seller_id": seller}
    # refund.closed is handled first (it is retried, not acked as done) ...
    await listing.publish("refund.closed", {**case, "reason": "buyer_withdrew"}, refund_id, producer="refund")
    await asyncio.sleep(0.3)
    await listing.publish(
        "refund.requested",
        {**case, "kind": "refund_only", "channel": "app", "amount_fen": order["amount_fen"]},
        refund_id,
        producer="refund",
    )
    # ... so the order ends back where it was, not refunding for ever.
    done = await eventually(
        lambda: listing.ok("GET", f"/orders/{order['id']}"),
        until=lambda o: [t["type"] for t in o["timeline"]][-2:] == ["order.refund_opened", "order.refund_closed"],
        what="the case opened and then closed",
    )
    assert done["status"] == "paid"
