"""Domestic refunds: accepted as PROCESSING, finished later with a signed notification, never more than was paid."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.wechat_support import (
    MCHID,
    WechatClient,
    fresh,
    notifications_to,
    notify_path,
    refund_body,
    verified,
)
from tests.support.infra import eventually


async def _refund_status(wechat: WechatClient, out_refund_no: str, status: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        data: dict[str, Any] = (await wechat.query_refund(out_refund_no)).ok()
        return data

    return await eventually(probe, until=lambda got: got["status"] == status, what=f"refund {status}")


async def test_a_partial_refund_is_processed_then_succeeds_and_is_notified(
    sandbox: Sandbox, merchant: Merchant
) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(1000)
    path, out_refund_no = notify_path(), fresh("rfd")

    accepted = (
        await wechat.refund(refund_body(order.out_trade_no, out_refund_no, 300, 1000, notify_url=merchant.url + path))
    ).ok()

    assert (accepted["status"], accepted["out_refund_no"], accepted["out_trade_no"]) == (
        "PROCESSING",
        out_refund_no,
        order.out_trade_no,
    )
    assert accepted["amount"]["refund"] == 300 and accepted["amount"]["total"] == 1000
    assert "success_time" not in accepted
    done = await _refund_status(wechat, out_refund_no, "SUCCESS")
    assert done["refund_id"] == accepted["refund_id"] and done["success_time"].endswith("+08:00")
    (received,) = await notifications_to(merchant, path)
    notification = verified(received)
    assert notification.event_type == "REFUND.SUCCESS"
    assert notification.envelope["resource"]["original_type"] == "refund"
    resource = notification.resource
    assert (resource["mchid"], resource["out_refund_no"], resource["refund_status"]) == (
        MCHID,
        out_refund_no,
        "SUCCESS",
    )
    assert resource["amount"] == {"total": 1000, "refund": 300, "payer_total": 1000, "payer_refund": 300}
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == "REFUND"


async def test_refunds_of_an_order_never_add_up_to_more_than_was_paid(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(100)
    (await wechat.refund(refund_body(order.out_trade_no, fresh("rfd"), 60, 100))).ok()

    too_much = await wechat.refund(refund_body(order.out_trade_no, fresh("rfd"), 41, 100))
    assert "超过订单可退金额" in too_much.error(400, "INVALID_REQUEST")

    transaction_id = (await wechat.query(order.out_trade_no)).ok()["transaction_id"]
    by_id = {"transaction_id": transaction_id, "out_refund_no": fresh("rfd")}
    rest = await wechat.refund({**by_id, "amount": {"refund": 40, "total": 100, "currency": "CNY"}})
    assert rest.ok()["amount"]["refund"] == 40
    (await wechat.refund(refund_body(order.out_trade_no, fresh("rfd"), 1, 100))).error(400, "INVALID_REQUEST")


async def test_a_replayed_refund_number_refunds_once(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(100)
    out_refund_no, path = fresh("rfd"), notify_path()
    body = refund_body(order.out_trade_no, out_refund_no, 70, 100, notify_url=merchant.url + path)
    first = (await wechat.refund(body)).ok()
    await _refund_status(wechat, out_refund_no, "SUCCESS")

    replay = (await wechat.refund(body)).ok()

    assert replay["refund_id"] == first["refund_id"] and replay["status"] == "SUCCESS"
    other_amount = await wechat.refund({**body, "amount": {"refund": 30, "total": 100, "currency": "CNY"}})
    other_amount.error(400, "INVALID_REQUEST")
    (await wechat.refund(refund_body(order.out_trade_no, fresh("rfd"), 31, 100))).error(400, "INVALID_REQUEST")
    assert [n["topic"] for n in await sandbox.notifications(out_refund_no)] == ["REFUND.SUCCESS"]
    other_order = await wechat.paid(100)
    reused = await wechat.refund(refund_body(other_order.out_trade_no, out_refund_no, 70, 100))
    reused.error(400, "INVALID_REQUEST")


async def test_a_declined_refund_becomes_abnormal_and_can_still_succeed(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(100)
    out_refund_no, path = fresh("rfd"), notify_path()
    await sandbox.fault(target="wechat.refund", action="decline", match={"out_refund_no": out_refund_no})

    body = refund_body(order.out_trade_no, out_refund_no, 100, 100, notify_url=merchant.url + path)
    assert (await wechat.refund(body)).ok()["status"] == "PROCESSING"

    await _refund_status(wechat, out_refund_no, "ABNORMAL")
    (abnormal,) = await notifications_to(merchant, path)
    assert verified(abnormal).event_type == "REFUND.ABNORMAL"
    assert verified(abnormal).resource["refund_status"] == "ABNORMAL"
    # ABNORMAL still holds the money: nothing more can be refunded.
    (await wechat.refund(refund_body(order.out_trade_no, fresh("rfd"), 1, 100))).error(400, "INVALID_REQUEST")

    status, _ = await wechat.post(f"/sandbox/wechat/refunds/{out_refund_no}/settle", {"status": "SUCCESS"})
    assert status == 200
    _, succeeded = await notifications_to(merchant, path, count=2)
    assert verified(succeeded).event_type == "REFUND.SUCCESS"


async def test_a_closed_refund_frees_its_amount_for_a_new_refund_number(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(100)
    out_refund_no, path = fresh("rfd"), notify_path()
    await sandbox.fault(target="wechat.refund", action="delay", delay_s=0, match={"out_refund_no": out_refund_no})
    body = refund_body(order.out_trade_no, out_refund_no, 100, 100, notify_url=merchant.url + path)
    (await wechat.refund(body)).ok()
    assert (await wechat.query_refund(out_refund_no)).ok()["status"] == "PROCESSING"

    status, _ = await wechat.post(f"/sandbox/wechat/refunds/{out_refund_no}/settle", {"status": "CLOSED"})

    assert status == 200
    (closed,) = await notifications_to(merchant, path)
    assert verified(closed).event_type == "REFUND.CLOSED"
    assert (await wechat.query(order.out_trade_no)).ok()["trade_state"] == "SUCCESS"
    (await wechat.refund(body)).error(400, "INVALID_REQUEST")  # a closed number stays closed
    (await wechat.refund(refund_body(order.out_trade_no, fresh("rfd"), 100, 100))).ok()
    status, conflict = await wechat.post(f"/sandbox/wechat/refunds/{out_refund_no}/settle", {"status": "SUCCESS"})
    assert (status, conflict["error"]["code"]) == (409, "invalid_refund_state")


async def test_refunds_of_unpaid_unknown_or_mismatched_orders_are_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    unpaid = await wechat.placed(100)
    (await wechat.refund(refund_body(unpaid.out_trade_no, fresh("rfd"), 100, 100))).error(400, "INVALID_REQUEST")
    (await wechat.refund(refund_body(fresh(), fresh("rfd"), 100, 100))).error(404, "RESOURCE_NOT_EXISTS")
    paid = await wechat.paid(100)
    (await wechat.refund(refund_body(paid.out_trade_no, fresh("rfd"), 50, 200))).error(400, "INVALID_REQUEST")
    (await wechat.refund(refund_body(paid.out_trade_no, fresh("rfd"), 0, 100))).error(400, "PARAM_ERROR")
    neither = {"out_refund_no": fresh("rfd"), "amount": {"refund": 1, "total": 100, "currency": "CNY"}}
    (await wechat.refund(neither)).error(400, "PARAM_ERROR")
    (await wechat.query_refund(fresh("rfd"))).error(404, "RESOURCE_NOT_EXISTS")
    assert (await wechat.query(paid.out_trade_no)).ok()["trade_state"] == "SUCCESS"


async def test_racing_refunds_never_refund_more_than_was_paid(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    order = await wechat.paid(100)
    numbers = [fresh("rfd") for _ in range(4)]

    answers = await asyncio.gather(
        *(wechat.refund(refund_body(order.out_trade_no, no, 60, 100)) for no in numbers),
        *(wechat.refund(refund_body(order.out_trade_no, numbers[0], 60, 100)) for _ in range(3)),
    )

    accepted = {a.json()["out_refund_no"] for a in answers if a.status == 200}
    assert len(accepted) == 1, [a.raw for a in answers]
    assert all(a.error(400, "INVALID_REQUEST") for a in answers if a.status != 200)
    refund_ids = {a.json()["refund_id"] for a in answers if a.status == 200}
    assert len(refund_ids) == 1  # replays of the winning number answer with the same refund
