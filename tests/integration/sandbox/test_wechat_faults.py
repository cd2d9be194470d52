"""WeChat fault injection: 5xx without effect, late answers, declines, bad signatures, disturbed notifications."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.wechat_support import (
    WechatClient,
    fresh,
    jsapi_body,
    notifications_to,
    notify_path,
    refund_body,
    transfer_body,
    verified,
)
from tests.support.infra import eventually


async def test_a_5xx_on_jsapi_places_nothing_and_a_retry_does(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    out_trade_no, openid = fresh(), await wechat.buyer()
    await sandbox.fault(target="wechat.jsapi", action="error_5xx", match={"out_trade_no": out_trade_no})
    body = jsapi_body(out_trade_no, 100, openid, "https://merchant.example.com/notify")

    (await wechat.jsapi(body)).error(500, "SYSTEM_ERROR")

    (await wechat.query(out_trade_no)).error(404, "ORDER_NOT_EXIST")
    assert (await wechat.jsapi(body)).ok()["prepay_id"]


async def test_a_timeout_on_jsapi_places_the_order_and_answers_late(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    out_trade_no, openid = fresh(), await wechat.buyer()
    await sandbox.fault(target="wechat.jsapi", action="timeout", delay_s=1.0, match={"out_trade_no": out_trade_no})
    body = jsapi_body(out_trade_no, 100, openid, "https://merchant.example.com/notify")

    with pytest.raises(asyncio.TimeoutError):
        await wechat.jsapi(body, timeout_s=0.3)

    assert (await wechat.query(out_trade_no)).ok()["trade_state"] == "NOTPAY"
    started = time.monotonic()
    await sandbox.fault(target="wechat.query", action="timeout", delay_s=0.3, match={"out_trade_no": out_trade_no})
    assert (await wechat.query(out_trade_no)).ok()["trade_state"] == "NOTPAY"
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("target", ["wechat.query", "wechat.close", "wechat.refund"])
async def test_a_5xx_on_an_order_call_changes_nothing(sandbox: Sandbox, target: str) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(100) if target == "wechat.refund" else await wechat.placed(100)
    await sandbox.fault(target=target, action="error_5xx", match={"out_trade_no": order.out_trade_no})
    out_refund_no = fresh("rfd")
    call = {
        "wechat.query": lambda: wechat.query(order.out_trade_no),
        "wechat.close": lambda: wechat.close(order.out_trade_no),
        "wechat.refund": lambda: wechat.refund(refund_body(order.out_trade_no, out_refund_no, 100, 100)),
    }[target]

    (await call()).error(500, "SYSTEM_ERROR")

    expected = "SUCCESS" if target == "wechat.refund" else "NOTPAY"
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == expected
    if target == "wechat.refund":
        (await wechat.query_refund(out_refund_no)).error(404, "RESOURCE_NOT_EXISTS")


async def test_a_5xx_on_transfer_pays_nothing(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    out_bill_no = fresh("wdr")
    await sandbox.fault(target="wechat.transfer", action="error_5xx", match={"out_bill_no": out_bill_no})
    (await wechat.transfer(transfer_body(out_bill_no, await wechat.buyer(), 100))).error(500, "SYSTEM_ERROR")
    (await wechat.query_transfer(out_bill_no)).error(404, "NOT_FOUND")


async def test_a_declined_payment_leaves_the_order_unpaid_and_unnotified(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(100)
    await sandbox.fault(target="wechat.pay", action="decline", match={"out_trade_no": order.out_trade_no})

    status, refused = await wechat.pay(order.prepay_id, order.openid)

    assert (status, refused["error"]["code"]) == (402, "payment_declined")
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == "NOTPAY"
    assert await sandbox.notifications(order.out_trade_no) == []
    assert (await wechat.pay(order.prepay_id, order.openid))[0] == 200  # the buyer tries again


async def test_a_corrupted_response_signature_does_not_verify(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(100)
    await sandbox.fault(
        target="wechat.response", action="corrupt_signature", match={"out_trade_no": order.out_trade_no}
    )
    forged = await wechat.query(order.out_trade_no)
    assert forged.status == 200 and not forged.signature_valid
    assert (await wechat.query(order.out_trade_no)).signature_valid


async def test_a_corrupted_notification_signature_does_not_verify(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.placed(100)
    await sandbox.fault(target="wechat.notify", action="corrupt_signature", match={"out_trade_no": order.out_trade_no})
    await wechat.pay(order.prepay_id, order.openid)
    (received,) = await notifications_to(merchant, order.notify_path)
    with pytest.raises(wp.WechatPayBadSignature):
        verified(received)


async def test_dropped_delayed_and_duplicated_notifications(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    dropped, delayed, doubled = [await wechat.placed(100) for _ in range(3)]
    await sandbox.fault(target="wechat.notify", action="drop", match={"out_trade_no": dropped.out_trade_no})
    await sandbox.fault(
        target="wechat.notify", action="delay", delay_s=0.5, match={"out_trade_no": delayed.out_trade_no}
    )
    await sandbox.fault(target="wechat.notify", action="duplicate", match={"out_trade_no": doubled.out_trade_no})
    paid_at = time.monotonic()
    for order in (dropped, delayed, doubled):
        assert (await wechat.pay(order.prepay_id, order.openid))[0] == 200

    twice = await notifications_to(merchant, doubled.notify_path, count=2)
    assert {verified(r).resource["out_trade_no"] for r in twice} == {doubled.out_trade_no}
    await notifications_to(merchant, delayed.notify_path)
    assert time.monotonic() - paid_at >= 0.5
    items = await eventually(
        lambda: sandbox.notifications(dropped.out_trade_no), until=bool, what="the dropped notification recorded"
    )
    assert [n["state"] for n in items] == ["dropped"] and merchant.to(dropped.notify_path) == []
    # Dropped: the merchant must find out by querying.
    assert (await wechat.query(dropped.out_trade_no)).ok()["trade_state"] == "SUCCESS"


async def test_notification_faults_match_refund_numbers(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(100)
    out_refund_no, path = fresh("rfd"), notify_path()
    await sandbox.fault(target="wechat.notify", action="duplicate", match={"out_refund_no": out_refund_no})
    (await wechat.refund(refund_body(order.out_trade_no, out_refund_no, 100, 100, notify_url=merchant.url + path))).ok()
    both = await notifications_to(merchant, path, count=2)
    assert [verified(r).event_type for r in both] == ["REFUND.SUCCESS", "REFUND.SUCCESS"]


async def test_login_faults(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    code = (await wechat.login_code())["code"]
    await sandbox.fault(target="wechat.login", action="error_5xx", match={"js_code": code})
    _, busy = await wechat.code2session(code)
    assert busy["errcode"] == -1
    _, session = await wechat.code2session(code)
    assert "openid" in session


async def test_an_out_of_order_notification_arrives_after_the_next_one(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    first, second = await wechat.placed(100), await wechat.placed(200)
    await sandbox.fault(target="wechat.notify", action="out_of_order", match={"out_trade_no": first.out_trade_no})
    await wechat.pay(first.prepay_id, first.openid)
    await wechat.pay(second.prepay_id, second.openid)

    await notifications_to(merchant, first.notify_path)

    paths = [r.path for r in merchant.received if r.path in (first.notify_path, second.notify_path)]
    assert paths == [second.notify_path, first.notify_path]


@pytest.mark.parametrize(("code", "status"), [("FREQUENCY_LIMITED", 429), ("NOT_ENOUGH", 403), ("BANK_ERROR", 500)])
async def test_a_refuse_fault_answers_its_code_and_status_signed_and_refunds_nothing(
    sandbox: Sandbox, code: str, status: int
) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(100)
    out_refund_no = fresh("rfd")
    await sandbox.fault(
        target="wechat.refund", action="refuse", code=code, status=status, match={"out_refund_no": out_refund_no}
    )
    body = refund_body(order.out_trade_no, out_refund_no, 100, 100)

    refused = await wechat.refund(body)

    refused.error(status, code)
    (await wechat.query_refund(out_refund_no)).error(404, "RESOURCE_NOT_EXISTS")
    assert (await wechat.refund(body)).ok()["status"] == "PROCESSING"
