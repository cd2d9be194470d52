"""Payouts with alipay.fund.trans.uni.transfer: idempotent per out_biz_no, DEALING, FAIL and the bank's 退票."""

from __future__ import annotations

from typing import Any

from tests.integration.sandbox.alipay_support import AlipayClient, fresh, user_id
from tests.integration.sandbox.conftest import Sandbox
from tests.support.infra import eventually

TRANSFER = "alipay.fund.trans.uni.transfer"
QUERY = "alipay.fund.trans.common.query"


def to_card(out_biz_no: str, amount: str, **more: Any) -> dict[str, Any]:
    return {
        "out_biz_no": out_biz_no,
        "trans_amount": amount,
        "product_code": "TRANS_BANKCARD_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "鱼桥提现",
        "payee_info": {
            "identity": "6214830000000000",
            "identity_type": "BANKCARD_ACCOUNT",
            "name": "张三",
            "bankcard_ext_info": {"account_type": "2", "inst_name": "招商银行"},
        },
        "business_params": {"withdraw_timeliness": "T1"},
        **more,
    }


def query(out_biz_no: str, product_code: str = "TRANS_BANKCARD_NO_PWD") -> dict[str, str]:
    return {"out_biz_no": out_biz_no, "product_code": product_code, "biz_scene": "DIRECT_TRANSFER"}


async def test_a_card_payout_succeeds_once_per_out_biz_no(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_biz_no = fresh("wdr")
    first = await alipay.api(TRANSFER, to_card(out_biz_no, "99.90"))
    assert (first["code"], first["status"], first["out_biz_no"]) == ("10000", "SUCCESS", out_biz_no)
    assert first["order_id"] and first["pay_fund_order_id"] and first["trans_date"]

    again = await alipay.api(TRANSFER, to_card(out_biz_no, "99.90"))
    assert (again["order_id"], again["status"]) == (first["order_id"], "SUCCESS")
    changed = await alipay.api(TRANSFER, to_card(out_biz_no, "99.91"))
    assert (changed["code"], changed["sub_code"]) == ("40004", "PAYMENT_INFO_INCONSISTENCY")

    found = await alipay.api(QUERY, query(out_biz_no))
    assert (found["status"], found["trans_amount"], found["order_id"]) == ("SUCCESS", "99.90", first["order_id"])
    assert found["pay_date"] and found["order_fee"] == "0.00"
    by_order_id = await alipay.api(QUERY, {"order_id": first["order_id"]})
    assert by_order_id["out_biz_no"] == out_biz_no


async def test_a_payout_to_an_alipay_account_succeeds(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    biz = {
        "out_biz_no": fresh("wdr"),
        "trans_amount": "0.10",
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "鱼桥提现",
        "payee_info": {"identity": user_id(), "identity_type": "ALIPAY_USER_ID"},
    }
    assert (await alipay.api(TRANSFER, biz))["status"] == "SUCCESS"
    found = await alipay.api(QUERY, query(biz["out_biz_no"], "TRANS_ACCOUNT_NO_PWD"))
    assert found["status"] == "SUCCESS" and "arrival_time_end" not in found


async def test_invalid_or_oversized_payouts_are_refused(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    nameless = to_card(fresh("wdr"), "1.00")
    del nameless["payee_info"]["name"]
    assert (await alipay.api(TRANSFER, nameless))["sub_code"] == "INVALID_PARAMETER"
    assert (await alipay.api(TRANSFER, to_card(fresh("wdr"), "0.09")))["sub_code"] == "INVALID_PARAMETER"
    too_big = await alipay.api(TRANSFER, to_card(fresh("wdr"), "50000.01"))
    assert too_big["sub_code"] == "EXCEED_LIMIT_SM_AMOUNT"
    assert (await alipay.api(QUERY, query(fresh("wdr"))))["sub_code"] == "ORDER_NOT_EXIST"


async def test_a_declined_payout_fails_with_a_reason(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_biz_no = fresh("wdr")
    await sandbox.fault(target=TRANSFER, action="decline", match={"out_biz_no": out_biz_no})
    assert (await alipay.api(TRANSFER, to_card(out_biz_no, "5.00")))["status"] == "FAIL"
    found = await alipay.api(QUERY, query(out_biz_no))
    assert (found["status"], found["error_code"]) == ("FAIL", "PAYEE_CARD_INFO_ERROR")
    assert found["fail_reason"] and "pay_date" not in found and "trans_amount" not in found
    assert (await alipay.api(TRANSFER, to_card(out_biz_no, "5.00")))["status"] == "FAIL"


async def test_a_dealing_payout_stays_dealing_until_the_bank_settles_it(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_biz_no = fresh("wdr")
    await sandbox.fault(target=TRANSFER, action="delay", delay_s=0, match={"out_biz_no": out_biz_no})
    created = await alipay.api(TRANSFER, to_card(out_biz_no, "20.00"))
    assert created["status"] == "DEALING" and "trans_date" not in created
    assert (await alipay.api(QUERY, query(out_biz_no)))["status"] == "DEALING"
    refused_return = await alipay.post(f"/sandbox/alipay/transfers/{out_biz_no}/bank-return", {})
    assert refused_return[0] == 409

    status, settled = await alipay.post(f"/sandbox/alipay/transfers/{out_biz_no}/settle", {"status": "SUCCESS"})
    assert (status, settled["status"]) == (200, "SUCCESS")
    assert (await alipay.api(QUERY, query(out_biz_no)))["status"] == "SUCCESS"
    status, _ = await alipay.post(f"/sandbox/alipay/transfers/{out_biz_no}/settle", {"status": "FAIL"})
    assert status == 409


async def test_a_dealing_payout_succeeds_once_its_delay_has_passed(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_biz_no = fresh("wdr")
    await sandbox.fault(target=TRANSFER, action="delay", delay_s=0.3, match={"out_biz_no": out_biz_no})
    assert (await alipay.api(TRANSFER, to_card(out_biz_no, "20.00")))["status"] == "DEALING"
    done = await eventually(
        lambda: alipay.api(QUERY, query(out_biz_no)), until=lambda r: r["status"] == "SUCCESS", what="SUCCESS"
    )
    assert done["trans_amount"] == "20.00"


async def test_the_bank_can_return_a_successful_card_payout(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    out_biz_no = fresh("wdr")
    await alipay.api(TRANSFER, to_card(out_biz_no, "30.00"))
    status, returned = await alipay.post(
        f"/sandbox/alipay/transfers/{out_biz_no}/bank-return", {"reason": "账户已销户"}
    )
    assert (status, returned["status"]) == (200, "REFUND")
    found = await alipay.api(QUERY, query(out_biz_no))
    assert (found["status"], found["fail_reason"], found["error_code"]) == ("REFUND", "账户已销户", "REFUND")
    again = await alipay.api(TRANSFER, to_card(out_biz_no, "30.00"))
    assert again["status"] == "REFUND"
    missing = await alipay.post(f"/sandbox/alipay/transfers/{fresh('wdr')}/bank-return", {})
    assert missing[0] == 404
