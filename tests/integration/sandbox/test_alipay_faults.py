"""Alipay fault points: 5xx (nothing done), timeout (done, answered late), decline, bad signatures, notify faults."""

from __future__ import annotations

import aiohttp
import pytest

from shared.protocols import alipay as ap
from tests.integration.sandbox.alipay_support import (
    PLATFORM_PUBLIC,
    AlipayClient,
    fresh,
    notifications_to,
    notify_path,
    withholding_pay,
)
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.support.infra import eventually

REFUND = "alipay.trade.refund"
REFUND_QUERY = "alipay.trade.fastpay.refund.query"


async def test_a_5xx_refund_does_nothing_and_a_retry_refunds(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "10.00")
    await sandbox.fault(target=REFUND, action="error_5xx", match={"out_trade_no": out_trade_no})
    biz = {"out_trade_no": out_trade_no, "refund_amount": "10.00", "out_request_no": "r"}

    answer = await alipay.call(REFUND, biz)

    assert answer.status == 500
    nothing = await alipay.api(REFUND_QUERY, {"out_trade_no": out_trade_no, "out_request_no": "r"})
    assert "refund_status" not in nothing
    assert (await alipay.api(REFUND, biz))["fund_change"] == "Y"


async def test_a_timed_out_refund_was_done_and_its_retry_moves_no_money(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "10.00")
    await sandbox.fault(target=REFUND, action="timeout", delay_s=2.0, match={"out_trade_no": out_trade_no})
    biz = {"out_trade_no": out_trade_no, "refund_amount": "4.00", "out_request_no": "slow"}
    params = alipay.params(REFUND, biz)

    with pytest.raises(TimeoutError):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as http:
            async with http.post(alipay.gateway, data=params) as resp:
                await resp.text()

    done = await alipay.api(REFUND_QUERY, {"out_trade_no": out_trade_no, "out_request_no": "slow"})
    assert (done["refund_status"], done["refund_amount"]) == ("REFUND_SUCCESS", "4.00")
    retry = await alipay.api(REFUND, biz)
    assert (retry["fund_change"], retry["refund_fee"]) == ("N", "4.00")


async def test_a_declined_refund_fails_with_a_business_error_and_refunds_nothing(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "10.00")
    await sandbox.fault(target=REFUND, action="decline", match={"out_trade_no": out_trade_no})
    biz = {"out_trade_no": out_trade_no, "refund_amount": "1.00", "out_request_no": "d"}
    declined = await alipay.api(REFUND, biz)
    assert (declined["code"], declined["sub_code"]) == ("40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH")
    assert (await alipay.api(REFUND, biz))["fund_change"] == "Y"


async def test_a_corrupt_response_signature_fails_verification(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "1.00")
    await sandbox.fault(target="alipay.trade.query", action="corrupt_signature", match={"out_trade_no": out_trade_no})
    answer = await alipay.call("alipay.trade.query", {"out_trade_no": out_trade_no})
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_response(answer.text, "alipay.trade.query", PLATFORM_PUBLIC)
    assert (await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no}))["trade_status"] == "TRADE_SUCCESS"


async def test_a_declined_password_free_payment_charges_nothing(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    agreement_no = await alipay.signed_agreement()
    out_trade_no = fresh("ord")
    await sandbox.fault(target="alipay.trade.pay", action="decline", match={"out_trade_no": out_trade_no})
    declined = await alipay.api("alipay.trade.pay", withholding_pay(out_trade_no, "500.00", agreement_no))
    assert declined["sub_code"] == "ACQ.BUYER_BALANCE_NOT_ENOUGH"
    for _ in range(4):  # the whole daily limit is still there
        assert (await alipay.api("alipay.trade.pay", withholding_pay(fresh("ord"), "500.00", agreement_no)))[
            "code"
        ] == ("10000")


async def test_a_fault_on_one_trade_leaves_others_alone(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    await sandbox.fault(target="alipay.trade.query", action="error_5xx", times=None, match={"out_trade_no": "other"})
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "1.00")
    assert (await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no}))["code"] == "10000"


async def test_a_corrupt_notification_signature_fails_verification(sandbox: Sandbox, merchant: Merchant) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no, path = fresh("ord"), notify_path()
    await sandbox.fault(target="alipay.notify", action="corrupt_signature", match={"out_trade_no": out_trade_no})
    await alipay.paid(out_trade_no, "1.00", notify_url=merchant.url + path)
    (received,) = await notifications_to(merchant, path)
    params = ap.parse_form(received.body)
    assert params["out_trade_no"] == out_trade_no
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_notification(params, PLATFORM_PUBLIC)


async def test_notification_faults_drop_and_duplicate(sandbox: Sandbox, merchant: Merchant) -> None:
    alipay = AlipayClient(sandbox)
    dropped, doubled, path = fresh("ord"), fresh("ord"), notify_path()
    await sandbox.fault(target="alipay.notify", action="drop", match={"out_trade_no": dropped})
    await sandbox.fault(target="alipay.notify", action="duplicate", match={"out_trade_no": doubled})
    await alipay.paid(dropped, "1.00", notify_url=merchant.url + path)
    await alipay.paid(doubled, "1.00", notify_url=merchant.url + path)

    received = await notifications_to(merchant, path, count=2)
    assert {ap.parse_form(r.body)["out_trade_no"] for r in received} == {doubled}
    items = await eventually(lambda: sandbox.notifications(dropped), until=bool, what="the dropped notification")
    assert [i["state"] for i in items] == ["dropped"]


@pytest.mark.parametrize(
    ("sub_code", "code"), [("ACQ.SELLER_BALANCE_NOT_ENOUGH", "40004"), ("aop.ACQ.SYSTEM_ERROR", "20000")]
)
async def test_a_refuse_fault_answers_its_sub_code_signed_and_refunds_nothing(
    sandbox: Sandbox, sub_code: str, code: str
) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "10.00")
    await sandbox.fault(target=REFUND, action="refuse", code=sub_code, match={"out_trade_no": out_trade_no})
    biz = {"out_trade_no": out_trade_no, "refund_amount": "1.00", "out_request_no": "busy"}

    refused = await alipay.api(REFUND, biz)

    assert (refused["code"], refused["sub_code"]) == (code, sub_code)
    nothing = await alipay.api(REFUND_QUERY, {"out_trade_no": out_trade_no, "out_request_no": "busy"})
    assert "refund_status" not in nothing
    assert (await alipay.api(REFUND, biz))["fund_change"] == "Y"


async def test_a_delay_fault_on_the_refund_query_hides_a_refund_that_was_made(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    await alipay.paid(out_trade_no, "10.00")
    biz = {"out_trade_no": out_trade_no, "refund_amount": "1.00", "out_request_no": "lag"}
    assert (await alipay.api(REFUND, biz))["fund_change"] == "Y"
    await sandbox.fault(target=REFUND_QUERY, action="delay", match={"out_trade_no": out_trade_no})
    query = {"out_trade_no": out_trade_no, "out_request_no": "lag"}
    assert "refund_status" not in await alipay.api(REFUND_QUERY, query)
    assert (await alipay.api(REFUND_QUERY, query))["refund_status"] == "REFUND_SUCCESS"
