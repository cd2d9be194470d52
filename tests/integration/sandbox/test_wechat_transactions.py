"""JSAPI orders: placing (validated, idempotent), the buyer's payment and its signed notification, query, close."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from services.sandbox.wechat.domain import BEIJING
from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.wechat_support import (
    APPID,
    MCHID,
    MERCHANT_PRIVATE,
    WechatClient,
    fresh,
    jsapi_body,
    notifications_to,
    notify_path,
    verified,
)
from tests.support.infra import eventually


async def test_paying_an_order_notifies_the_merchant_with_a_signed_encrypted_transaction(
    sandbox: Sandbox, merchant: Merchant
) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(1234, attach="k=v")

    status, paid = await wechat.pay(order.prepay_id, order.openid)

    assert (status, paid) == (200, {"result": "ok"})
    (received,) = await notifications_to(merchant, order.notify_path)
    assert received.headers["Wechatpay-Signature-Type"] == wp.SIGNATURE_TYPE
    notification = verified(received)
    assert (
        notification.event_type == "TRANSACTION.SUCCESS" and notification.envelope["resource_type"] == wp.RESOURCE_TYPE
    )
    assert notification.envelope["resource"]["original_type"] == "transaction"
    resource = notification.resource
    assert (resource["appid"], resource["mchid"], resource["out_trade_no"]) == (APPID, MCHID, order.out_trade_no)
    assert (resource["trade_state"], resource["trade_type"], resource["attach"]) == ("SUCCESS", "JSAPI", "k=v")
    assert resource["payer"] == {"openid": order.openid}
    assert resource["amount"] == {"total": 1234, "payer_total": 1234, "currency": "CNY", "payer_currency": "CNY"}
    assert len(resource["transaction_id"]) == 28

    queried = (await wechat.query(order.out_trade_no)).ok()
    assert queried["trade_state"] == "SUCCESS" and queried["transaction_id"] == resource["transaction_id"]
    assert datetime.fromisoformat(queried["success_time"]).utcoffset() == timedelta(hours=8)
    by_id = (await wechat.query_id(resource["transaction_id"])).ok()
    assert by_id == queried


async def test_placing_the_same_order_again_returns_the_same_prepay_id(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(500)
    again = await wechat.jsapi(jsapi_body(order.out_trade_no, 500, order.openid, order.notify_url))
    assert again.ok() == {"prepay_id": order.prepay_id}


async def test_placing_an_order_number_again_with_other_terms_is_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(500)
    changed = await wechat.jsapi(jsapi_body(order.out_trade_no, 501, order.openid, order.notify_url))
    assert "201 商户订单号重复" in changed.error(400, "INVALID_REQUEST")
    dropped = await wechat.jsapi(jsapi_body(order.out_trade_no, 500, order.openid, order.notify_url, attach="x"))
    dropped.error(400, "INVALID_REQUEST")
    assert (await wechat.query(order.out_trade_no)).ok()["amount"]["total"] == 500


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "x" * 128}, "description"),
        ({"out_trade_no": "abc12"}, "out_trade_no"),
        ({"out_trade_no": "order#0000001"}, "out_trade_no"),
        ({"amount": {"total": 0, "currency": "CNY"}}, "total"),
        ({"amount": {"total": 1.5, "currency": "CNY"}}, "total"),
        ({"amount": {"total": "100", "currency": "CNY"}}, "total"),
        ({"amount": {"total": 100, "currency": "USD"}}, "currency"),
        ({"time_expire": "2030-01-01 10:00:00"}, "time_expire"),
        ({"time_expire": "2030-01-01T10:00:00"}, "time_expire"),
        ({"notify_url": "http://merchant.example.com/notify"}, "notify_url"),
        ({"notify_url": "https://merchant.example.com/notify?order=1"}, "notify_url"),
        ({"payer": {}}, "openid"),
    ],
)
async def test_an_invalid_order_is_refused_with_param_error_naming_the_field(
    sandbox: Sandbox, change: dict[str, object], field: str
) -> None:
    wechat = WechatClient(sandbox)
    out_trade_no = fresh()
    body = {**jsapi_body(out_trade_no, 100, await wechat.buyer(), "https://merchant.example.com/notify"), **change}
    answer = await wechat.jsapi(body)
    assert field in answer.error(400, "PARAM_ERROR")
    (await wechat.query(out_trade_no)).error(404, "ORDER_NOT_EXIST")


async def test_an_order_for_another_app_or_an_unknown_buyer_is_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    openid, url = await wechat.buyer(), "https://merchant.example.com/notify"
    other_app = await wechat.jsapi({**jsapi_body(fresh(), 100, openid, url), "appid": "wx0000000000000000"})
    other_app.error(400, "APPID_MCHID_NOT_MATCH")
    other_mch = await wechat.jsapi({**jsapi_body(fresh(), 100, openid, url), "mchid": "1900000002"})
    assert "mchid" in other_mch.error(400, "PARAM_ERROR")
    stranger = await wechat.jsapi(jsapi_body(fresh(), 100, "o" + "x" * 27, url))
    stranger.error(400, "OPENID_MISMATCH")


async def test_the_payment_must_come_from_the_orders_payer_and_only_once(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(100)

    status, refused = await wechat.pay(order.prepay_id, await wechat.buyer())
    assert (status, refused["error"]["code"]) == (403, "openid_mismatch")
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == "NOTPAY"

    assert (await wechat.pay(order.prepay_id, order.openid))[0] == 200
    status, again = await wechat.pay(order.prepay_id, order.openid)
    assert (status, again["error"]["code"]) == (409, "order_paid")
    await notifications_to(merchant, order.notify_path)
    placed_again = await wechat.jsapi(jsapi_body(order.out_trade_no, 100, order.openid, order.notify_url))
    placed_again.error(400, "ORDERPAID")
    items = await sandbox.notifications(order.out_trade_no)
    assert [n["topic"] for n in items] == ["TRANSACTION.SUCCESS"]


async def test_the_wallet_checks_the_merchants_pay_sign(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(100)
    params = wp.request_payment_params(
        app_id=APPID,
        prepay_id=order.prepay_id,
        private_key=MERCHANT_PRIVATE,
        timestamp=int(time.time()),
        nonce_str=wp.new_nonce(),
    )
    forged = {**params, "nonceStr": wp.new_nonce()}
    status, refused = await wechat.post("/sandbox/wechat/pay", {"openid": order.openid, **forged})
    assert (status, refused["error"]["code"]) == (400, "bad_pay_sign")
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == "NOTPAY"

    status, paid = await wechat.post("/sandbox/wechat/pay", {"openid": order.openid, "appId": APPID, **params})
    assert (status, paid) == (200, {"result": "ok"})


async def test_closing_an_unpaid_order_stops_its_payment(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(100)
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == "NOTPAY"

    closed = await wechat.close(order.out_trade_no)
    assert (closed.status, closed.raw) == (204, b"") and closed.signature_valid
    queried = (await wechat.query(order.out_trade_no)).ok()
    assert (queried["trade_state"], queried["trade_state_desc"]) == ("CLOSED", "订单已关闭")
    assert "transaction_id" not in queried
    closed_again = await wechat.close(order.out_trade_no)  # WeChat answers a repeated close 204 as well
    assert (closed_again.status, closed_again.raw) == (204, b"") and closed_again.signature_valid
    status, refused = await wechat.pay(order.prepay_id, order.openid)
    assert (status, refused["error"]["code"]) == (409, "order_closed")
    again = await wechat.jsapi(jsapi_body(order.out_trade_no, 100, order.openid, order.notify_url))
    again.error(400, "ORDER_CLOSED")


async def test_a_paid_order_cannot_be_closed(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(100)
    (await wechat.close(order.out_trade_no)).error(400, "ORDERPAID")
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == "SUCCESS"


async def test_unknown_orders_are_not_found(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    (await wechat.query(fresh())).error(404, "ORDER_NOT_EXIST")
    (await wechat.query_id("4200000000202601010000000000")).error(404, "ORDER_NOT_EXIST")


async def test_closing_an_order_wechat_never_saw_answers_204_and_records_nothing(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    unknown = fresh()
    closed = await wechat.close(unknown)
    assert (closed.status, closed.raw) == (204, b"") and closed.signature_valid  # a 204 proves nothing
    (await wechat.query(unknown)).error(404, "ORDER_NOT_EXIST")
    # Nothing was recorded: the number can still be placed, and paid.
    order = await wechat.paid(100, out_trade_no=unknown)
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == "SUCCESS"
    (await wechat.close("no!")).error(400, "PARAM_ERROR")  # the number's format is checked


async def test_an_order_past_its_time_expire_cannot_be_paid_but_stays_notpay_until_closed(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    # WeChat moves a time_expire in the past to one minute after the order (60 ms at the tests' time scale).
    past = (datetime.now(UTC) - timedelta(hours=1)).astimezone(BEIJING).isoformat(timespec="seconds")
    order = await wechat.placed(100, time_expire=past)
    body = jsapi_body(order.out_trade_no, 100, order.openid, order.notify_url, time_expire=past)

    # Placing it again answers the same prepay_id while it can be paid, ORDER_CLOSED once it cannot.
    again = await eventually(
        lambda: wechat.jsapi(body), until=lambda got: got.status != 200, what="the pay window to end"
    )
    again.error(400, "ORDER_CLOSED")
    status, refused = await wechat.pay(order.prepay_id, order.openid)
    assert (status, refused["error"]["code"]) == (409, "order_expired")
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == "NOTPAY"
    assert (await wechat.close(order.out_trade_no)).status == 204


async def test_wechat_retries_a_notification_until_the_merchant_answers_2xx(
    sandbox: Sandbox, merchant: Merchant
) -> None:
    wechat = WechatClient(sandbox)
    path = notify_path()
    merchant.answer(path, (500, '{"code":"FAIL","message":"失败"}'), (404, "nope"))
    order = await wechat.paid(100, notify_url=f"{merchant.url}{path}")

    deliveries = await notifications_to(merchant, path, count=3)
    assert len({verified(r).id for r in deliveries}) == 1  # one notification, delivered again
    # Each attempt is signed when it is sent, so a retry hours later still passes the merchant's 5-minute window.
    nonces = {v for r in deliveries for k, v in r.headers.items() if k.lower() == "wechatpay-nonce"}
    assert len(nonces) == 3
    items = await eventually(
        lambda: sandbox.notifications(order.out_trade_no),
        until=lambda got: bool(got) and got[0]["state"] == "delivered",
        what="the notification marked delivered",
    )
    assert [a["status"] for a in items[0]["attempts"]] == [500, 404, 200]


async def test_racing_payments_pay_once_and_notify_once(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(100)

    results = await asyncio.gather(*(wechat.pay(order.prepay_id, order.openid) for _ in range(5)))

    assert sorted(status for status, _ in results) == [200, 409, 409, 409, 409]
    await notifications_to(merchant, order.notify_path)
    assert [n["topic"] for n in await sandbox.notifications(order.out_trade_no)] == ["TRANSACTION.SUCCESS"]
