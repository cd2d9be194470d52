"""Password-free payments: signing through page.sign, dut_user_sign/unsign notifications, limits, unsigning."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.integration.sandbox.alipay_support import (
    APP_ID,
    AlipayClient,
    form,
    fresh,
    notifications_to,
    notify_path,
    user_id,
    withholding_pay,
    withholding_sign,
)
from tests.integration.sandbox.conftest import Merchant, Sandbox

PAY = "alipay.trade.pay"
QUERY = "alipay.user.agreement.query"
UNSIGN = "alipay.user.agreement.unsign"


async def test_signing_notifies_dut_user_sign_and_the_agreement_is_normal(sandbox: Sandbox, merchant: Merchant) -> None:
    alipay = AlipayClient(sandbox)
    path, buyer = notify_path(), user_id()
    biz = withholding_sign()
    sign_url = alipay.sign_url(biz, notify_url=merchant.url + path)
    async with aiohttp.ClientSession() as http, http.get(sign_url) as page:
        assert page.status == 200 and "GENERAL_WITHHOLDING_P" in await page.text()

    status, signed = await alipay.sign(sign_url, buyer)

    assert status == 200 and len(signed["agreement_no"]) == 20
    (received,) = await notifications_to(merchant, path)
    fields = form(received)
    assert (fields["notify_type"], fields["status"], fields["app_id"]) == ("dut_user_sign", "NORMAL", APP_ID)
    assert (fields["agreement_no"], fields["alipay_user_id"]) == (signed["agreement_no"], buyer)
    assert fields["external_agreement_no"] == biz["external_agreement_no"]
    assert fields["personal_product_code"] == "GENERAL_WITHHOLDING_P" and fields["sign_scene"] == biz["sign_scene"]
    assert {"sign_time", "valid_time", "invalid_time"} <= set(fields)

    query = await alipay.api(QUERY, {"agreement_no": signed["agreement_no"]})
    assert (query["code"], query["status"], query["principal_id"]) == ("10000", "NORMAL", buyer)
    assert query["single_quota"] == "500.00"


async def test_a_tampered_sign_url_is_refused(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    sign_url = alipay.sign_url(withholding_sign())
    status, body = await alipay.sign(sign_url.replace("GENERAL_WITHHOLDING_P", "CYCLE_PAY_AUTH_P"), user_id())
    assert (status, body["error"]["details"]["sub_code"]) == (400, "isv.invalid-signature")
    status, body = await alipay.sign(alipay.sign_url(withholding_sign(access_params={"channel": "SMS"})), user_id())
    assert (status, body["error"]["details"]["sub_code"]) == (422, "INVALID_PARAMETER")


async def test_a_password_free_payment_within_the_limits_is_paid_at_once(sandbox: Sandbox, merchant: Merchant) -> None:
    alipay = AlipayClient(sandbox)
    agreement_no = await alipay.signed_agreement()
    out_trade_no, path = fresh("ord"), notify_path()

    paid = await alipay.api(PAY, withholding_pay(out_trade_no, "500.00", agreement_no), notify_url=merchant.url + path)

    assert (paid["code"], paid["total_amount"], paid["out_trade_no"]) == ("10000", "500.00", out_trade_no)
    assert paid["buyer_pay_amount"] == "500.00" and paid["gmt_payment"]
    query = await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no})
    assert (query["trade_status"], query["trade_no"]) == ("TRADE_SUCCESS", paid["trade_no"])
    (received,) = await notifications_to(merchant, path)
    assert form(received)["trade_status"] == "TRADE_SUCCESS"

    repeat = await alipay.api(PAY, withholding_pay(out_trade_no, "500.00", agreement_no))
    assert (repeat["code"], repeat["sub_code"]) == ("40004", "ACQ.TRADE_HAS_SUCCESS")
    changed = await alipay.api(PAY, withholding_pay(out_trade_no, "1.00", agreement_no))
    assert changed["sub_code"] == "ACQ.CONTEXT_INCONSISTENT"


async def test_a_payment_without_notify_url_is_not_notified(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    agreement_no = await alipay.signed_agreement()
    out_trade_no = fresh("ord")
    assert (await alipay.api(PAY, withholding_pay(out_trade_no, "1.00", agreement_no)))["code"] == "10000"
    assert await sandbox.notifications(out_trade_no) == []


async def test_over_the_single_limit_is_refused_and_nothing_is_charged(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    agreement_no = await alipay.signed_agreement()
    out_trade_no = fresh("ord")
    refused = await alipay.api(PAY, withholding_pay(out_trade_no, "500.01", agreement_no))
    assert (refused["code"], refused["sub_code"]) == ("40004", "ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED")
    query = await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no})
    assert query["sub_code"] == "ACQ.TRADE_NOT_EXIST"


async def test_over_the_daily_limit_is_refused(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    agreement_no = await alipay.signed_agreement()
    for _ in range(4):
        assert (await alipay.api(PAY, withholding_pay(fresh("ord"), "500.00", agreement_no)))["code"] == "10000"
    refused = await alipay.api(PAY, withholding_pay(fresh("ord"), "0.01", agreement_no))
    assert refused["sub_code"] == "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR"


async def test_concurrent_payments_stay_within_the_daily_limit(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    agreement_no = await alipay.signed_agreement()
    answers = await asyncio.gather(
        *(alipay.api(PAY, withholding_pay(fresh("ord"), "300.00", agreement_no)) for _ in range(8))
    )
    assert sorted(a["code"] for a in answers) == ["10000"] * 6 + ["40004"] * 2
    assert {a["sub_code"] for a in answers if a["code"] != "10000"} == {"ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR"}


async def test_a_periodic_debit_is_capped_by_its_signed_single_amount(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    rule = {"period_type": "MONTH", "period": 1, "execute_time": "2026-12-01", "single_amount": "50.00"}
    biz = withholding_sign(
        personal_product_code="CYCLE_PAY_AUTH_P", product_code="CYCLE_PAY_AUTH", period_rule_params=rule
    )
    agreement_no = await alipay.signed_agreement(biz)
    cycle = {"product_code": "CYCLE_PAY_AUTH"}
    refused = await alipay.api(PAY, withholding_pay(fresh("ord"), "50.01", agreement_no, **cycle))
    assert refused["sub_code"] == "ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED"
    assert (await alipay.api(PAY, withholding_pay(fresh("ord"), "50.00", agreement_no, **cycle)))["code"] == "10000"
    wrong_product = await alipay.api(PAY, withholding_pay(fresh("ord"), "1.00", agreement_no))
    assert wrong_product["sub_code"] == "ACQ.AGREEMENT_ERROR"


async def test_an_unknown_or_unsigned_agreement_cannot_pay(sandbox: Sandbox, merchant: Merchant) -> None:
    alipay = AlipayClient(sandbox)
    unknown = await alipay.api(PAY, withholding_pay(fresh("ord"), "1.00", "20269999999999999999"))
    assert (unknown["code"], unknown["sub_code"]) == ("40004", "ACQ.AGREEMENT_NOT_EXIST")

    agreement_no = await alipay.signed_agreement()
    path = notify_path()
    assert (await alipay.api(UNSIGN, {"agreement_no": agreement_no}, notify_url=merchant.url + path))["code"] == "10000"
    (received,) = await notifications_to(merchant, path)
    fields = form(received)
    assert (fields["notify_type"], fields["status"], fields["agreement_no"]) == (
        "dut_user_unsign",
        "UNSIGN",
        agreement_no,
    )

    unsigned = await alipay.api(PAY, withholding_pay(fresh("ord"), "1.00", agreement_no))
    assert unsigned["sub_code"] == "ACQ.AGREEMENT_NOT_EXIST"
    assert (await alipay.api(QUERY, {"agreement_no": agreement_no}))["sub_code"] == "USER_AGREEMENT_NOT_EXIST"
    assert (await alipay.api(UNSIGN, {"agreement_no": agreement_no}))["sub_code"] == "USER_AGREEMENT_NOT_EXIST"


async def test_an_agreement_is_found_by_user_and_external_number(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    biz, buyer = withholding_sign(), user_id()
    status, signed = await alipay.sign(alipay.sign_url(biz), buyer)
    assert status == 200
    ref = {
        "alipay_user_id": buyer,
        "personal_product_code": "GENERAL_WITHHOLDING_P",
        "sign_scene": biz["sign_scene"],
        "external_agreement_no": biz["external_agreement_no"],
    }
    assert (await alipay.api(QUERY, ref))["agreement_no"] == signed["agreement_no"]
    assert (await alipay.api(UNSIGN, ref))["code"] == "10000"
    assert (await alipay.api(QUERY, ref))["sub_code"] == "USER_AGREEMENT_NOT_EXIST"
