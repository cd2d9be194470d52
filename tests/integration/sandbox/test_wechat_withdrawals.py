"""Sellers' withdrawals: debited from available at once, SUCCESS later (or FAIL, or a bank return), notified."""

from __future__ import annotations

import asyncio

from shared.mongo import Client
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.ecommerce_support import SP_MCHID, EcommerceClient, register_seller
from tests.integration.sandbox.wechat_support import fresh, notifications_to, notify_path, verified


async def _seller_with(wechat: EcommerceClient, mongo_client: Client, sandbox: Sandbox, available: int) -> str:
    seller = await register_seller(mongo_client, sandbox, last4="4321")
    await wechat.partner_paid(seller, available, profit_sharing=False)
    return seller


async def test_a_withdrawal_is_debited_at_once_then_succeeds_and_is_notified(
    sandbox: Sandbox, merchant: Merchant, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await _seller_with(wechat, mongo_client, sandbox, 1000)
    out_request_no, path = fresh("wd"), notify_path()

    accepted = (await wechat.withdraw(seller, out_request_no, 600, notify_url=merchant.url + path)).ok()

    assert (accepted["sub_mchid"], accepted["out_request_no"], accepted["account_type"]) == (
        seller,
        out_request_no,
        "BASIC",
    )
    assert await wechat.balances(seller) == (400, 0, 600)
    assert (await wechat.balance(seller)).ok()["available_amount"] == 400
    done = await wechat.withdraw_status(seller, out_request_no, "SUCCESS")
    assert (done["withdraw_id"], done["amount"], done["sp_mchid"]) == (accepted["withdraw_id"], 600, SP_MCHID)
    assert (done["account_number"], done["account_bank"], done["remark"]) == ("4321", "招商银行", "卖家提现")
    assert (await wechat.query_withdraw_id(seller, accepted["withdraw_id"])).ok() == done
    (received,) = await notifications_to(merchant, path)
    notification = verified(received)
    assert notification.event_type == "MCHWITHDRAW.CHANGE"
    assert notification.envelope["resource"]["original_type"] == "mch_withdraw"
    assert (notification.resource["status"], notification.resource["sub_mchid"]) == ("SUCCESS", seller)
    assert await wechat.balances(seller) == (400, 0, 600)


async def test_a_repeated_withdrawal_number_is_the_same_withdrawal_and_other_terms_are_refused(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await _seller_with(wechat, mongo_client, sandbox, 1000)
    out_request_no = fresh("wd")
    first = (await wechat.withdraw(seller, out_request_no, 300)).ok()

    assert (await wechat.withdraw(seller, out_request_no, 300)).ok() == first
    (await wechat.withdraw(seller, out_request_no, 301)).error(400, "INVALID_REQUEST")
    (await wechat.withdraw(seller, out_request_no, 300, remark="另一笔")).error(400, "INVALID_REQUEST")
    assert await wechat.balances(seller) == (700, 0, 300)
    (await wechat.withdraw(seller, fresh("wd"), 701)).error(403, "NOT_ENOUGH")
    assert await wechat.balances(seller) == (700, 0, 300)
    (await wechat.query_withdraw(seller, fresh("wd"))).error(404, "RESOURCE_NOT_EXISTS")


async def test_a_declined_withdrawal_fails_with_a_reason_and_the_money_is_available_again(
    sandbox: Sandbox, merchant: Merchant, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await _seller_with(wechat, mongo_client, sandbox, 500)
    out_request_no, path = fresh("wd"), notify_path()
    await sandbox.fault(
        target="wechat.withdraw", action="decline", match={"out_request_no": out_request_no}, message="银行账户冻结"
    )

    (await wechat.withdraw(seller, out_request_no, 500, notify_url=merchant.url + path)).ok()

    failed = await wechat.withdraw_status(seller, out_request_no, "FAIL")
    assert failed["reason"] == "银行账户冻结"
    assert await wechat.balances(seller) == (500, 0, 0)
    (received,) = await notifications_to(merchant, path)
    assert verified(received).resource["status"] == "FAIL"


async def test_a_bank_return_turns_a_success_into_refund_and_gives_the_money_back(
    sandbox: Sandbox, merchant: Merchant, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await _seller_with(wechat, mongo_client, sandbox, 800)
    out_request_no, path = fresh("wd"), notify_path()
    await sandbox.fault(target="wechat.withdraw", action="delay", delay_s=0, match={"out_request_no": out_request_no})
    (await wechat.withdraw(seller, out_request_no, 800, notify_url=merchant.url + path)).ok()
    assert (await wechat.query_withdraw(seller, out_request_no)).ok()["status"] == "CREATE_SUCCESS"
    status, conflict = await wechat.post(f"/sandbox/wechat/withdrawals/{out_request_no}/bank-return", {})
    assert (status, conflict["error"]["code"]) == (409, "invalid_withdrawal_state")

    status, settled = await wechat.post(f"/sandbox/wechat/withdrawals/{out_request_no}/settle", {"status": "SUCCESS"})
    assert (status, settled["status"]) == (200, "SUCCESS")
    assert await wechat.balances(seller) == (0, 0, 800)
    status, returned = await wechat.post(f"/sandbox/wechat/withdrawals/{out_request_no}/bank-return", {})

    assert (status, returned["status"]) == (200, "REFUND")
    shown = (await wechat.query_withdraw(seller, out_request_no)).ok()
    assert shown["status"] == "REFUND" and shown["reason"]
    assert await wechat.balances(seller) == (800, 0, 0)
    received = await notifications_to(merchant, path, count=2)
    assert [verified(r).resource["status"] for r in received] == ["SUCCESS", "REFUND"]


async def test_two_racing_withdrawals_that_together_exceed_the_balance_are_one_accepted(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await _seller_with(wechat, mongo_client, sandbox, 1000)

    answers = await asyncio.gather(wechat.withdraw(seller, fresh("wd"), 700), wechat.withdraw(seller, fresh("wd"), 600))

    assert sorted(a.status for a in answers) == [200, 403], [a.raw for a in answers]
    refused = next(a for a in answers if a.status == 403)
    refused.error(403, "NOT_ENOUGH")
    accepted = next(a for a in answers if a.status == 200).json()
    available, pending, withdrawn = await wechat.balances(seller)
    assert (available + withdrawn, pending) == (1000, 0) and withdrawn in (600, 700)
    assert (await wechat.query_withdraw(seller, accepted["out_request_no"])).ok()["amount"] == withdrawn


async def test_the_balance_api_matches_the_accounts_view(sandbox: Sandbox, mongo_client: Client) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    await wechat.partner_paid(seller, 700, profit_sharing=False)
    frozen = await wechat.partner_paid(seller, 300)
    (await wechat.withdraw(seller, fresh("wd"), 200)).ok()

    balance = (await wechat.balance(seller)).ok()
    view = await wechat.account(seller)

    assert (balance["available_amount"], balance["pending_amount"]) == (view["available_fen"], view["pending_fen"])
    assert (view["available_fen"], view["pending_fen"], view["withdrawn_fen"]) == (500, 300, 200)
    assert view["frozen"] == {frozen.transaction_id: 300}
    operation = (await wechat.balance(seller, "OPERATION")).ok()
    assert (operation["available_amount"], operation["pending_amount"]) == (0, 0)
    (await wechat.balance("1699999998")).error(400, "PARAM_ERROR")
