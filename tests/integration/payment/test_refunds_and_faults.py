"""Provider outages on create and refund (retried with the same numbers: never a second charge or refund), refunds of
every kind, and closing a payment when its order closes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.payment.domain import payment_id_for
from shared.ids import new_id
from tests.integration.payment.conftest import PaymentClient
from tests.integration.payment.test_notifications import paid_wechat
from tests.support.infra import eventually


async def test_wechat_create_survives_5xx_and_time_outs_with_one_out_trade_no(payments: PaymentClient) -> None:
    openid = await payments.openid()
    order = payments.order("wechat_pay", openid=openid)
    pid = payment_id_for(order["order_id"])
    await payments.fault(target="wechat.jsapi", action="error_5xx", times=1, match={"out_trade_no": pid})
    await payments.fault(target="wechat.jsapi", action="timeout", delay_s=1.5, times=1, match={"out_trade_no": pid})
    payment = await payments.create(order)
    # Two failed attempts (the second did create the order, as a timeout does), then the same prepay again.
    assert payment["status"] == "requires_action" and payment["out_trade_no"] == pid
    assert (await payments.wechat_pay(payment, openid)).status == 200
    await eventually(lambda: payments.payment(pid), until=lambda p: p["status"] == "succeeded", what="paid")


async def test_a_create_that_never_gets_an_answer_is_finished_by_the_reconciler(payments: PaymentClient) -> None:
    openid = await payments.openid()
    order = payments.order("wechat_pay", openid=openid)
    pid = payment_id_for(order["order_id"])
    await payments.fault(target="wechat.jsapi", action="error_5xx", times=3, match={"out_trade_no": pid})
    payment = await payments.create(order)
    assert payment["status"] == "processing" and payment["wechat_request_payment"] is None
    ready = await eventually(
        lambda: payments.payment(pid), until=lambda p: p["status"] == "requires_action", what="prepay by the reconciler"
    )
    assert ready["wechat_request_payment"]["package"].startswith("prepay_id=")


async def test_password_free_charge_time_out_never_charges_twice(payments: PaymentClient) -> None:
    from tests.integration.payment.test_checkout import sign_agreement

    order = payments.order("alipay_password_free", amount_fen=8_800)
    agreement = await sign_agreement(payments, order["buyer_id"], "2088100000000077")
    pid = payment_id_for(order["order_id"])
    await payments.fault(target="alipay.trade.pay", action="timeout", delay_s=1.5, times=1, match={"out_trade_no": pid})
    payment = await payments.create({**order, "agreement_id": agreement["id"]})
    # The first call charged and timed out; the retry with the same out_trade_no is told "already paid", and a query
    # records the one charge.
    assert payment["status"] == "succeeded"
    assert (await payments.event_types(pid)).count("payment.succeeded") == 1


async def test_wechat_refunds_partial_then_rest_and_never_beyond(payments: PaymentClient, watch: Any) -> None:
    seen = await watch("payment.refunded.v1", "payment.refund_failed.v1")
    payment = await paid_wechat(payments)
    await eventually(lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="paid")
    first = await payments.approve_refund(payment, 10_000)
    await eventually(
        lambda: _events(seen, first), until=lambda e: [x.type for x in e] == ["payment.refunded"], what="first refund"
    )
    too_much = await payments.approve_refund(payment, 25_001)
    failed = await eventually(lambda: _events(seen, too_much), until=bool, what="refund refused")
    assert failed[0].type == "payment.refund_failed" and failed[0].payload["reason"] == "exceeds_amount_paid"
    rest = await payments.approve_refund(payment, 25_000)
    done = await eventually(lambda: _events(seen, rest), until=bool, what="second refund")
    assert done[0].type == "payment.refunded" and done[0].payload["out_refund_no"] == rest
    final = await payments.payment(payment["id"])
    assert final["refunded_fen"] == 35_000


async def test_a_refund_timing_out_is_retried_with_the_same_number_and_refunds_once(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch("payment.refunded.v1")
    payment = await paid_wechat(payments)
    await eventually(lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="paid")
    from shared.ids import new_id

    refund_id = new_id("rfd")
    await payments.fault(
        target="wechat.refund", action="timeout", delay_s=1.5, times=1, match={"out_refund_no": refund_id}
    )
    await payments.fault(target="wechat.refund", action="error_5xx", times=1, match={"out_refund_no": refund_id})
    await payments.approve_refund(payment, 35_000, refund_id)
    await eventually(lambda: _events(seen, refund_id), until=bool, what="refunded")
    # One refund at WeChat under this number (one REFUND.SUCCESS sent), one refund of ours, one event.
    await eventually(lambda: payments.sandbox_notifications(refund_id), until=bool, what="WeChat's notification")
    assert len(await payments.sandbox_notifications(refund_id)) == 1
    refunds = (await payments.payment(payment["id"]))["refunds"]
    assert [(r["out_refund_no"], r["status"]) for r in refunds] == [(refund_id, "succeeded")]
    assert len(await _events(seen, refund_id)) == 1
    assert (await payments.event_types(payment["id"])).count("payment.refunded") == 1


async def test_an_abnormal_wechat_refund_waits_and_a_closed_one_fails(payments: PaymentClient, watch: Any) -> None:
    seen = await watch("payment.refunded.v1", "payment.refund_failed.v1")
    payment = await paid_wechat(payments)
    await eventually(lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="paid")
    from shared.ids import new_id

    abnormal, closed = new_id("rfd"), new_id("rfd")
    for refund_id in (abnormal, closed):
        await payments.fault(target="wechat.refund", action="delay", delay_s=0, match={"out_refund_no": refund_id})
        await payments.approve_refund(payment, 1_000, refund_id)
    for refund_id, status in ((abnormal, "ABNORMAL"), (closed, "CLOSED")):
        await eventually(
            lambda r=refund_id: _refund(payments, payment["id"], r),
            until=lambda r: r is not None and r["status"] == "processing",
            what="accepted",
        )
        reply = await payments.sandbox_post(f"/sandbox/wechat/refunds/{refund_id}/settle", {"status": status})
        assert reply.status == 200, reply.body
    await eventually(
        lambda: _refund(payments, payment["id"], abnormal),
        until=lambda r: r["status"] == "abnormal",
        what="abnormal recorded",
    )
    failed = await eventually(lambda: _events(seen, closed), until=bool, what="closed refund failed")
    assert failed[0].type == "payment.refund_failed"
    assert await _events(seen, abnormal) == []


async def test_alipay_refund_is_synchronous_and_a_5xx_is_retried_once_refunded(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch("payment.refunded.v1")
    payment = await payments.create(payments.order("alipay", amount_fen=20_000))
    paid = await payments.sandbox_post(
        "/sandbox/alipay/pay", {"order_string": payment["alipay_order_string"], "user_id": "2088100000000011"}
    )
    assert paid.status == 200
    await eventually(lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="paid")
    from shared.ids import new_id

    refund_id = new_id("rfd")
    await payments.fault(
        target="alipay.trade.refund", action="timeout", delay_s=1.5, times=1, match={"out_request_no": refund_id}
    )
    await payments.approve_refund(payment, 5_000, refund_id)
    events = await eventually(lambda: _events(seen, refund_id), until=bool, what="refunded")
    assert events[0].payload["amount_fen"] == 5_000 and events[0].payload["provider"] == "alipay"
    assert (await payments.event_types(payment["id"])).count("payment.refunded") == 1
    query = await payments.payment(payment["id"])
    assert query["refunded_fen"] == 5_000


async def test_closing_the_order_closes_the_unpaid_payment_at_the_provider(payments: PaymentClient, watch: Any) -> None:
    seen = await watch("payment.closed.v1")
    openid = await payments.openid()
    payment = await payments.create(payments.order("wechat_pay", openid=openid))
    await payments.close_order(payment)
    closed = await eventually(
        lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "closed", what="closed"
    )
    assert closed["closed_reason"] == "order_closed"
    reasons = await eventually(
        lambda: _closed_reasons(seen, payment["id"]), until=bool, what="payment.closed on the bus"
    )
    assert reasons == ["order_closed"]
    late = await payments.wechat_pay(payment, openid)
    assert late.status == 409 and late.body["error"]["code"] == "order_closed"


async def _closed_reasons(seen: list[Any], payment_id: str) -> list[str]:
    return [e.payload["reason"] for e in seen if e.payload["payment_id"] == payment_id]


async def _events(seen: list[Any], refund_id: str) -> list[Any]:
    return [e for e in seen if e.payload.get("refund_id") == refund_id]


async def _refund(payments: PaymentClient, payment_id: str, refund_id: str) -> dict[str, Any] | None:
    payment = await payments.payment(payment_id)
    return next((r for r in payment["refunds"] if r["refund_id"] == refund_id), None)


# ----------------------------------------------------------------- temporary refusals (issue 10, item 6) and item 7


@pytest.mark.parametrize(("code", "status"), [("NOT_ENOUGH", 403), ("FREQUENCY_LIMITED", 429)])
async def test_a_wechat_refund_refused_for_now_is_retried_until_it_goes_through(
    payments: PaymentClient, watch: Any, code: str, status: int
) -> None:
    seen = await watch("payment.refunded.v1", "payment.refund_failed.v1")
    payment = await paid_wechat(payments)
    await eventually(lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="paid")
    refund_id = new_id("rfd")
    # More refusals than one request's attempts: the refund must outlive them and go through on a later pass.
    await payments.fault(
        target="wechat.refund", action="refuse", code=code, status=status, times=4, match={"out_refund_no": refund_id}
    )
    await payments.approve_refund(payment, 7_000, refund_id)
    events = await eventually(lambda: _events(seen, refund_id), until=bool, what="refunded", timeout_s=30)
    assert [e.type for e in events] == ["payment.refunded"]
    assert (await payments.event_types(payment["id"])).count("payment.refund_failed") == 0


@pytest.mark.parametrize("sub_code", ["ACQ.SELLER_BALANCE_NOT_ENOUGH", "ACQ.REASON_TRADE_BEEN_FREEZEN"])
async def test_an_alipay_refund_refused_for_now_is_retried_until_it_goes_through(
    payments: PaymentClient, watch: Any, sub_code: str
) -> None:
    seen = await watch("payment.refunded.v1", "payment.refund_failed.v1")
    payment = await payments.create(payments.order("alipay", amount_fen=20_000))
    assert (await payments.alipay_pay(payment)).status == 200
    await eventually(lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="paid")
    refund_id = new_id("rfd")
    await payments.fault(
        target="alipay.trade.refund", action="refuse", code=sub_code, times=4, match={"out_request_no": refund_id}
    )
    await payments.approve_refund(payment, 20_000, refund_id)
    events = await eventually(lambda: _events(seen, refund_id), until=bool, what="refunded", timeout_s=30)
    assert [e.type for e in events] == ["payment.refunded"]


async def test_a_wechat_prepay_refused_for_now_leaves_the_payment_open_for_the_reconciler(
    payments: PaymentClient,
) -> None:
    order = payments.order("wechat_pay", openid=await payments.openid())
    pid = payment_id_for(order["order_id"])
    await payments.fault(
        target="wechat.jsapi",
        action="refuse",
        code="FREQUENCY_LIMITED",
        status=429,
        times=3,
        match={"out_trade_no": pid},
    )
    payment = await payments.create(order)
    assert payment["status"] == "processing" and payment["failure_code"] is None
    ready = await eventually(
        lambda: payments.payment(pid), until=lambda p: p["status"] == "requires_action", what="prepay later"
    )
    assert ready["wechat_request_payment"]["package"].startswith("prepay_id=")


async def test_an_alipay_refund_its_query_does_not_show_yet_is_asked_again_later(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch("payment.refunded.v1")
    payment = await payments.create(payments.order("alipay", amount_fen=6_000))
    assert (await payments.alipay_pay(payment)).status == 200
    await eventually(lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="paid")
    refund_id = new_id("rfd")
    # The first refund call is done but answered too late, so the retry gets fund_change N; the query lags behind.
    await payments.fault(
        target="alipay.trade.refund", action="timeout", delay_s=1.5, times=1, match={"out_request_no": refund_id}
    )
    await payments.fault(
        target="alipay.trade.fastpay.refund.query", action="delay", times=None, match={"out_request_no": refund_id}
    )
    await payments.approve_refund(payment, 6_000, refund_id)
    await asyncio.sleep(4)  # let the lagging query be asked: a few times at most, not until RecursionError
    [lag] = [f for f in await payments.sandbox_faults() if f["target"] == "alipay.trade.fastpay.refund.query"]
    assert 1 <= lag["fired"] <= 6, lag
    refund = await _refund(payments, payment["id"], refund_id)
    assert refund is not None and refund["status"] == "requested"
    await payments.clear_faults()
    events = await eventually(lambda: _events(seen, refund_id), until=bool, what="refunded", timeout_s=30)
    assert [e.type for e in events] == ["payment.refunded"]
    assert (await payments.event_types(payment["id"])).count("payment.refunded") == 1
