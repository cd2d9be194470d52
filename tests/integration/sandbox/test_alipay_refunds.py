"""alipay.trade.refund and fastpay.refund.query: partial refunds, cumulative refund_fee, replays that move no money."""

from __future__ import annotations

import asyncio

from tests.integration.sandbox.alipay_support import (
    AlipayClient,
    app_pay,
    form,
    fresh,
    notifications_to,
    notify_path,
    user_id,
)
from tests.integration.sandbox.conftest import Merchant, Sandbox

REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"


async def test_partial_refunds_add_up_to_the_total_and_then_close_the_trade(
    sandbox: Sandbox, merchant: Merchant
) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no, path = fresh("ord"), notify_path()
    trade_no, buyer = await alipay.paid(out_trade_no, "100.00", notify_url=merchant.url + path)

    first = await alipay.api(REFUND, {"out_trade_no": out_trade_no, "refund_amount": "30.00", "out_request_no": "r1"})
    assert (first["code"], first["fund_change"], first["refund_fee"]) == ("10000", "Y", "30.00")
    assert (first["trade_no"], first["buyer_user_id"]) == (trade_no, buyer)
    second = await alipay.api(REFUND, {"trade_no": trade_no, "refund_amount": "50.00", "out_request_no": "r2"})
    assert (second["fund_change"], second["refund_fee"], second["send_back_fee"]) == ("Y", "80.00", "50.00")

    too_much = await alipay.api(
        REFUND, {"out_trade_no": out_trade_no, "refund_amount": "20.01", "out_request_no": "r3"}
    )
    assert (too_much["code"], too_much["sub_code"]) == ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    assert (await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no}))["trade_status"] == "TRADE_SUCCESS"

    last = await alipay.api(REFUND, {"out_trade_no": out_trade_no, "refund_amount": "20.00", "out_request_no": "r4"})
    assert (last["fund_change"], last["refund_fee"]) == ("Y", "100.00")
    assert (await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no}))["trade_status"] == "TRADE_CLOSED"

    all_fields = [form(r) for r in await notifications_to(merchant, path, count=4)]
    refunds = {f["out_biz_no"]: f for f in all_fields if "out_biz_no" in f}
    assert set(refunds) == {"r1", "r2", "r4"}
    assert (refunds["r1"]["trade_status"], refunds["r1"]["refund_fee"]) == ("TRADE_SUCCESS", "30.00")
    assert (refunds["r4"]["trade_status"], refunds["r4"]["refund_fee"]) == ("TRADE_CLOSED", "100.00")
    assert "gmt_close" in refunds["r4"] and len(refunds["r4"]["gmt_refund"]) == len("2026-01-01 08:00:00.000")


async def test_a_replayed_out_request_no_answers_fund_change_n_and_never_refunds_twice(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "10.00")
    biz = {"out_trade_no": out_trade_no, "refund_amount": "4.00", "out_request_no": "once"}

    first = await alipay.api(REFUND, biz)
    replay = await alipay.api(REFUND, biz)

    assert (first["fund_change"], replay["fund_change"]) == ("Y", "N")
    assert first["refund_fee"] == replay["refund_fee"] == "4.00"
    assert first["gmt_refund_pay"] == replay["gmt_refund_pay"]
    other_amount = await alipay.api(REFUND, {**biz, "refund_amount": "5.00"})
    assert other_amount["sub_code"] == "ACQ.DISCORDANT_REPEAT_REQUEST"
    queried = await alipay.api(REFUND_QUERY, {"out_trade_no": out_trade_no, "out_request_no": "once"})
    assert (queried["refund_status"], queried["refund_amount"], queried["total_amount"]) == (
        "REFUND_SUCCESS",
        "4.00",
        "10.00",
    )


async def test_concurrent_replays_of_one_refund_move_money_once(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "10.00")
    biz = {"out_trade_no": out_trade_no, "refund_amount": "6.00", "out_request_no": "same"}
    answers = await asyncio.gather(*(alipay.api(REFUND, biz) for _ in range(6)))
    assert sorted(a["fund_change"] for a in answers) == ["N"] * 5 + ["Y"]
    assert {a["refund_fee"] for a in answers} == {"6.00"}


async def test_concurrent_refunds_never_exceed_the_amount_paid(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "100.00")
    answers = await asyncio.gather(
        *(
            alipay.api(REFUND, {"out_trade_no": out_trade_no, "refund_amount": "20.00", "out_request_no": f"c{i}"})
            for i in range(9)
        )
    )
    accepted = [a for a in answers if a["code"] == "10000"]
    refused = [a for a in answers if a["code"] != "10000"]
    # Once fully refunded the trade is TRADE_CLOSED, so the losers are refused for the trade's state.
    assert len(accepted) == 5 and {a["sub_code"] for a in refused} == {"ACQ.TRADE_STATUS_ERROR"}
    assert sorted(a["refund_fee"] for a in accepted) == ["100.00", "20.00", "40.00", "60.00", "80.00"]


async def test_refunds_need_a_paid_trade(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    missing = await alipay.api(REFUND, {"out_trade_no": fresh("ord"), "refund_amount": "1.00", "out_request_no": "x"})
    assert missing["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    unpaid = fresh("ord")
    await sandbox.fault(target="alipay.pay", action="decline", match={"out_trade_no": unpaid})
    await alipay.pay(alipay.order_string(app_pay(unpaid, "2.00")), user_id())
    refused = await alipay.api(REFUND, {"out_trade_no": unpaid, "refund_amount": "1.00", "out_request_no": "x"})
    assert refused["sub_code"] == "ACQ.TRADE_STATUS_ERROR"

    paid = fresh("ord")
    await alipay.paid(paid, "2.00")
    partial_without_number = await alipay.api(REFUND, {"out_trade_no": paid, "refund_amount": "1.00"})
    assert partial_without_number["sub_code"] == "ACQ.INVALID_PARAMETER"
    full = await alipay.api(REFUND, {"out_trade_no": paid, "refund_amount": "2.00"})
    assert (full["fund_change"], full["refund_fee"]) == ("Y", "2.00")


async def test_a_refund_query_for_an_unknown_request_returns_no_refund_data(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "3.00")
    answer = await alipay.api(REFUND_QUERY, {"out_trade_no": out_trade_no, "out_request_no": "never"})
    assert answer == {"code": "10000", "msg": "Success"}
