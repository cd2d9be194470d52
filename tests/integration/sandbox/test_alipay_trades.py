"""App pay through the buyer action, the signed trade_status_sync notification and its retries, query and close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from shared.protocols import alipay as ap
from tests.integration.sandbox.alipay_support import (
    APP_ID,
    SELLER_ID,
    AlipayClient,
    app_pay,
    form,
    fresh,
    notifications_to,
    notify_path,
    user_id,
)
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.support.infra import eventually


async def test_paying_an_order_string_notifies_the_merchant_with_a_signed_trade_success(
    sandbox: Sandbox, merchant: Merchant
) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no, path, buyer = fresh("ord"), notify_path(), user_id()
    order = alipay.order_string(app_pay(out_trade_no, "12.34", passback_params="k=v"), notify_url=merchant.url + path)

    status, paid = await alipay.pay(order, buyer)

    assert status == 200 and paid["result"] == "ok" and len(paid["trade_no"]) == 28
    (received,) = await notifications_to(merchant, path)
    fields = form(received)
    assert received.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert fields["notify_type"] == "trade_status_sync" and fields["trade_status"] == "TRADE_SUCCESS"
    assert (fields["app_id"], fields["seller_id"], fields["buyer_id"]) == (APP_ID, SELLER_ID, buyer)
    assert (fields["out_trade_no"], fields["trade_no"]) == (out_trade_no, paid["trade_no"])
    assert fields["total_amount"] == fields["receipt_amount"] == fields["buyer_pay_amount"] == "12.34"
    assert fields["passback_params"] == "k=v" and fields["sign_type"] == "RSA2"
    ap.parse_timestamp(fields["gmt_payment"])

    query = await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no})
    assert (query["code"], query["trade_status"], query["total_amount"]) == ("10000", "TRADE_SUCCESS", "12.34")
    assert query["buyer_user_id"] == buyer and query["trade_no"] == paid["trade_no"]
    by_trade_no = await alipay.api("alipay.trade.query", {"trade_no": paid["trade_no"]})
    assert by_trade_no["out_trade_no"] == out_trade_no


async def test_alipay_retries_until_the_answer_is_exactly_success(sandbox: Sandbox, merchant: Merchant) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no, path = fresh("ord"), notify_path()
    merchant.answer(path, (200, "fail"), (200, "success\n"), (500, "success"))
    await alipay.paid(out_trade_no, "1.00", notify_url=merchant.url + path)

    deliveries = await notifications_to(merchant, path, count=4, timeout_s=15)
    assert len({form(r)["notify_id"] for r in deliveries}) == 1  # one notification, delivered again
    items = await eventually(
        lambda: sandbox.notifications(out_trade_no),
        until=lambda items: bool(items) and items[0]["state"] == "delivered",
        what="the notification marked delivered",
    )
    attempts = items[0]["attempts"]
    assert [(a["status"], a["body"]) for a in attempts] == [
        (200, "fail"),
        (200, "success\n"),
        (500, "success"),
        (200, "success"),
    ]


async def test_an_order_is_paid_once_and_its_terms_cannot_change(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    trade_no, _ = await alipay.paid(out_trade_no, "5.00")

    status, again = await alipay.pay(alipay.order_string(app_pay(out_trade_no, "5.00")), user_id())
    assert (status, again["error"]["code"]) == (409, "trade_has_success")
    assert again["error"]["details"]["sub_code"] == "ACQ.TRADE_HAS_SUCCESS"
    status, changed = await alipay.pay(alipay.order_string(app_pay(out_trade_no, "0.01")), user_id())
    assert (status, changed["error"]["details"]["sub_code"]) == (409, "ACQ.CONTEXT_INCONSISTENT")
    query = await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no})
    assert (query["trade_no"], query["total_amount"]) == (trade_no, "5.00")


async def test_a_tampered_order_string_is_refused_and_creates_no_trade(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    order = alipay.order_string(app_pay(out_trade_no, "100.00"))
    status, body = await alipay.pay(order.replace("100.00", "0.01"), user_id())
    assert (status, body["error"]["code"]) == (400, "invalid_signature")
    query = await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no})
    assert (query["code"], query["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")


async def test_invalid_orders_are_refused_with_the_field_named(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    for biz in (
        app_pay(fresh("ord"), "0.00"),
        app_pay(fresh("ord"), "1.234"),
        app_pay(fresh("ord"), "1.00", product_code="FAST_INSTANT_TRADE_PAY"),
        app_pay("with-dash", "1.00"),
        app_pay(fresh("ord"), "1.00", timeout_express="16d"),
    ):
        status, body = await alipay.pay(alipay.order_string(biz), user_id())
        assert (status, body["error"]["details"]["sub_code"]) == (422, "ACQ.INVALID_PARAMETER"), biz
    status, body = await alipay.pay(alipay.order_string(app_pay(fresh("ord"), "1.00")), SELLER_ID)
    assert (status, body["error"]["details"]["sub_code"]) == (409, "ACQ.BUYER_SELLER_EQUAL")


async def test_an_order_past_its_time_expire_can_no_longer_be_paid(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    expired = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(ap.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    order = alipay.order_string(app_pay(fresh("ord"), "3.00", time_expire=expired))
    status, body = await alipay.pay(order, user_id())
    assert (status, body["error"]["details"]["sub_code"]) == (409, "ACQ.TRADE_HAS_CLOSE")


async def test_an_unpaid_trade_closes_and_a_paid_one_does_not(sandbox: Sandbox, merchant: Merchant) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no, path = fresh("ord"), notify_path()
    await sandbox.fault(target="alipay.pay", action="decline", match={"out_trade_no": out_trade_no})
    order = alipay.order_string(app_pay(out_trade_no, "8.00"), notify_url=merchant.url + path)
    status, body = await alipay.pay(order, user_id())
    assert (status, body["error"]["code"]) == (402, "payment_declined")
    waiting = await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no})
    assert (waiting["trade_status"], waiting["buyer_pay_amount"]) == ("WAIT_BUYER_PAY", "0.00")
    assert "send_pay_date" not in waiting

    closed = await alipay.api("alipay.trade.close", {"out_trade_no": out_trade_no})
    assert (closed["code"], closed["out_trade_no"], closed["trade_no"]) == ("10000", out_trade_no, waiting["trade_no"])
    assert (await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no}))["trade_status"] == "TRADE_CLOSED"
    (received,) = await notifications_to(merchant, path)
    assert form(received)["trade_status"] == "TRADE_CLOSED" and "gmt_close" in form(received)
    status, body = await alipay.pay(order, user_id())
    assert (status, body["error"]["details"]["sub_code"]) == (409, "ACQ.TRADE_HAS_CLOSE")
    again = await alipay.api("alipay.trade.close", {"out_trade_no": out_trade_no})
    assert again["sub_code"] == "ACQ.TRADE_STATUS_ERROR"

    paid_no = fresh("ord")
    await alipay.paid(paid_no, "1.00")
    refused = await alipay.api("alipay.trade.close", {"out_trade_no": paid_no})
    assert (refused["code"], refused["sub_code"]) == ("40004", "ACQ.TRADE_STATUS_ERROR")
    missing = await alipay.api("alipay.trade.close", {"out_trade_no": fresh("ord")})
    assert missing["sub_code"] == "ACQ.TRADE_NOT_EXIST"


async def test_two_buyers_paying_one_order_at_once_pay_it_once(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    order = alipay.order_string(app_pay(out_trade_no, "9.99"))
    results = await asyncio.gather(*(alipay.pay(order, user_id()) for _ in range(6)))
    assert sorted(status for status, _ in results) == [200, 409, 409, 409, 409, 409]
    query = await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no})
    winner = next(body for status, body in results if status == 200)
    assert query["trade_no"] == winner["trade_no"]
    items = await sandbox.notifications(out_trade_no)
    assert len(items) == 1
