"""E-commerce money: a paid order is frozen for the seller, split to the platform, finished, refunded, returned."""

from __future__ import annotations

import asyncio

from shared.mongo import Client
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.ecommerce_support import (
    SP_APPID,
    SP_MCHID,
    EcommerceClient,
    PartnerOrder,
    register_seller,
)
from tests.integration.sandbox.wechat_support import fresh, notifications_to, notify_path, verified
from tests.support.infra import eventually


def refund_body(order: PartnerOrder, out_refund_no: str, refund: int, **more: object) -> dict[str, object]:
    return {
        "sub_mchid": order.sub_mchid,
        "sp_appid": SP_APPID,
        "out_trade_no": order.out_trade_no,
        "out_refund_no": out_refund_no,
        "reason": "买家退货",
        "amount": {"refund": refund, "total": order.total, "currency": "CNY"},
        "refund_account": "REFUND_SOURCE_SUB_MERCHANT",
        **more,
    }


async def test_a_paid_order_is_frozen_then_split_to_the_platform_and_finished_to_the_seller(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    platform_before = (await wechat.account(SP_MCHID))["available_fen"]

    order = await wechat.partner_paid(seller, 1000)

    view = await wechat.account(seller)
    assert (view["available_fen"], view["pending_fen"], view["frozen"]) == (0, 1000, {order.transaction_id: 1000})
    assert (await wechat.amounts(order.transaction_id)).ok() == {
        "transaction_id": order.transaction_id,
        "unsplit_amount": 1000,
    }

    out_order_no = fresh("ps")
    accepted = (await wechat.split(order, out_order_no, 100)).ok()
    assert (accepted["status"], accepted["sub_mchid"], accepted["out_order_no"]) == ("PROCESSING", seller, out_order_no)
    assert accepted["receivers"][0]["receiver_account"] == SP_MCHID and accepted["receivers"][0]["amount"] == 100
    done = await wechat.split_status(order, out_order_no, "FINISHED")
    assert done["order_id"] == accepted["order_id"] and done["receivers"][0]["result"] == "SUCCESS"
    # The receiver's credit is the settler's next step after FINISHED: it follows within moments.
    await eventually(
        lambda: wechat.account(SP_MCHID),
        until=lambda a: a["available_fen"] == platform_before + 100,
        what="the platform credited",
    )
    assert (await wechat.amounts(order.transaction_id)).ok()["unsplit_amount"] == 900
    assert await wechat.balances(seller) == (0, 900, 0)
    # The same out_order_no again is the same split, never a second one.
    assert (await wechat.split(order, out_order_no, 100)).ok()["order_id"] == accepted["order_id"]
    assert (await wechat.split(order, out_order_no, 200)).error(400, "INVALID_REQUEST")

    finish_no = fresh("fin")
    finished = (await wechat.finish(order, finish_no)).ok()
    assert (finished["sub_mchid"], finished["out_order_no"]) == (seller, finish_no)
    shown = (await wechat.query_split(order, finish_no)).ok()
    assert (shown["status"], shown["finish_amount"]) == ("FINISHED", 900)
    assert await wechat.balances(seller) == (900, 0, 0)
    assert (await wechat.account(SP_MCHID))["available_fen"] == platform_before + 100
    assert (await wechat.amounts(order.transaction_id)).ok()["unsplit_amount"] == 0
    balance = (await wechat.balance(seller)).ok()
    assert balance == {"sub_mchid": seller, "account_type": "BASIC", "available_amount": 900, "pending_amount": 0}
    (await wechat.split(order, fresh("ps"), 10)).error(400, "INVALID_REQUEST")  # finished: nothing more to split


async def test_splits_beyond_30_percent_or_of_orders_not_to_split_are_refused(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 1000)

    capped = await wechat.split(order, fresh("ps"), 301)
    assert "30%" in capped.error(400, "INVALID_REQUEST")
    (await wechat.split(order, fresh("ps"), 200)).ok()
    assert "30%" in (await wechat.split(order, fresh("ps"), 101)).error(400, "INVALID_REQUEST")
    (await wechat.split(order, fresh("ps"), 100)).ok()
    assert (await wechat.amounts(order.transaction_id)).ok()["unsplit_amount"] == 700

    not_flagged = await wechat.partner_paid(seller, 1000, profit_sharing=False)
    view = await wechat.account(seller)
    assert view["available_fen"] == 1000  # available at once: nothing to split
    assert view["transactions"][not_flagged.transaction_id]["frozen_fen"] == 0
    (await wechat.split(not_flagged, fresh("ps"), 10)).error(400, "INVALID_REQUEST")
    unpaid = await wechat.partner_placed(seller, 1000)
    unpaid.transaction_id = "4200000000000000000000000000"
    (await wechat.split(unpaid, fresh("ps"), 10)).error(404, "RESOURCE_NOT_EXISTS")
    stranger = {"type": "MERCHANT_ID", "receiver_account": "1900009999", "amount": 10, "description": "x"}
    body = {
        "sub_mchid": seller,
        "transaction_id": order.transaction_id,
        "out_order_no": fresh("ps"),
        "receivers": [stranger],
        "finish": False,
    }
    (await wechat.request("POST", "/v3/ecommerce/profitsharing/orders", body)).error(400, "INVALID_REQUEST")


async def test_a_refund_before_any_split_comes_from_the_frozen_funds(
    sandbox: Sandbox, merchant: Merchant, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 1000)
    out_refund_no, path = fresh("rfd"), notify_path()

    accepted = (
        await wechat.ecommerce_refund(refund_body(order, out_refund_no, 400, notify_url=merchant.url + path))
    ).ok()

    assert accepted["out_refund_no"] == out_refund_no and accepted["amount"]["refund"] == 400
    assert accepted["refund_account"] == "REFUND_SOURCE_SUB_MERCHANT"
    assert await wechat.balances(seller) == (0, 600, 0)
    assert (await wechat.amounts(order.transaction_id)).ok()["unsplit_amount"] == 600
    done = await wechat.refund_status(seller, out_refund_no, "SUCCESS")
    assert done["refund_id"] == accepted["refund_id"] and done["transaction_id"] == order.transaction_id
    assert (await wechat.query_ecommerce_refund_id(seller, accepted["refund_id"])).ok() == done
    (received,) = await notifications_to(merchant, path)
    notification = verified(received)
    assert notification.event_type == "REFUND.SUCCESS"
    resource = notification.resource
    assert (resource["sp_mchid"], resource["sub_mchid"], resource["refund_status"]) == (SP_MCHID, seller, "SUCCESS")
    assert (await wechat.partner_query(seller, order.out_trade_no)).ok()["trade_state"] == "REFUND"

    # The same number is the same refund: no second debit.
    assert (await wechat.ecommerce_refund(refund_body(order, out_refund_no, 400))).ok()["refund_id"] == done[
        "refund_id"
    ]
    assert await wechat.balances(seller) == (0, 600, 0)
    (await wechat.ecommerce_refund(refund_body(order, out_refund_no, 300))).error(400, "INVALID_REQUEST")
    (await wechat.query_ecommerce_refund(seller, fresh("rfd"))).error(404, "RESOURCE_NOT_EXISTS")


async def test_a_refund_after_split_and_finish_comes_from_available_and_needs_enough_of_it(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 1000)
    (await wechat.split(order, split_no := fresh("ps"), 100)).ok()
    await wechat.split_status(order, split_no, "FINISHED")
    (await wechat.finish(order, fresh("fin"))).ok()
    assert await wechat.balances(seller) == (900, 0, 0)

    # The platform keeps its 100: a full refund needs 1000 of the seller's 900.
    short = await wechat.ecommerce_refund(refund_body(order, fresh("rfd"), 1000))
    short.error(403, "NOT_ENOUGH")
    assert await wechat.balances(seller) == (900, 0, 0)
    (await wechat.ecommerce_refund(refund_body(order, no := fresh("rfd"), 900))).ok()
    assert await wechat.balances(seller) == (0, 0, 0)
    await wechat.refund_status(seller, no, "SUCCESS")


async def test_a_return_gives_the_platforms_share_back_so_the_order_can_be_refunded_in_full(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 1000)
    split_no = fresh("ps")
    (await wechat.split(order, split_no, 150)).ok()
    await wechat.split_status(order, split_no, "FINISHED")
    (await wechat.finish(order, fresh("fin"))).ok()
    platform_before = (await wechat.account(SP_MCHID))["available_fen"]

    return_no = fresh("ret")
    returned = (await wechat.return_order(order, split_no, return_no, 100)).ok()

    assert (returned["result"], returned["amount"], returned["return_mchid"]) == ("SUCCESS", 100, SP_MCHID)
    assert (await wechat.query_return(seller, split_no, return_no)).ok() == returned
    assert (await wechat.account(SP_MCHID))["available_fen"] == platform_before - 100
    assert await wechat.balances(seller) == (950, 0, 0)
    # The same number again is the same return; more than the split gave is refused.
    assert (await wechat.return_order(order, split_no, return_no, 100)).ok()["return_no"] == returned["return_no"]
    (await wechat.return_order(order, split_no, fresh("ret"), 51)).error(400, "INVALID_REQUEST")
    (await wechat.return_order(order, split_no, fresh("ret"), 50)).ok()
    assert (await wechat.account(SP_MCHID))["available_fen"] == platform_before - 150
    (await wechat.ecommerce_refund(refund_body(order, no := fresh("rfd"), 1000))).ok()
    assert await wechat.balances(seller) == (0, 0, 0)
    await wechat.refund_status(seller, no, "SUCCESS")


async def test_a_refund_that_needs_more_than_the_frozen_rest_waits_while_a_split_is_processing(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    (await wechat.partner_paid(seller, 500, profit_sharing=False))  # 500 available from another order
    order = await wechat.partner_paid(seller, 1000)
    split_no = fresh("ps")
    await sandbox.fault(target="wechat.profitsharing", action="delay", delay_s=0, match={"out_order_no": split_no})
    (await wechat.split(order, split_no, 300)).ok()

    limited = await wechat.ecommerce_refund(refund_body(order, fresh("rfd"), 800))

    assert "分账" in limited.error(403, "RULE_LIMIT")
    assert await wechat.balances(seller) == (500, 1000, 0)
    (await wechat.ecommerce_refund(refund_body(order, fresh("rfd"), 700))).ok()  # within the frozen rest
    status, _ = await wechat.post(f"/sandbox/wechat/profitsharing/{split_no}/settle", {"sub_mchid": seller})
    assert status == 200
    assert (await wechat.query_split(order, split_no)).ok()["status"] == "FINISHED"
    assert await wechat.balances(seller) == (500, 0, 0)


async def test_a_closed_refund_gives_its_money_back_to_the_seller(sandbox: Sandbox, mongo_client: Client) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 1000)
    out_refund_no = fresh("rfd")
    await sandbox.fault(target="wechat.refund", action="delay", delay_s=0, match={"out_refund_no": out_refund_no})
    (await wechat.ecommerce_refund(refund_body(order, out_refund_no, 1000))).ok()
    assert await wechat.balances(seller) == (0, 0, 0)

    status, _ = await wechat.post(f"/sandbox/wechat/refunds/{out_refund_no}/settle", {"status": "CLOSED"})

    assert status == 200
    assert (await wechat.query_ecommerce_refund(seller, out_refund_no)).ok()["status"] == "CLOSED"
    assert await wechat.balances(seller) == (0, 1000, 0)
    assert (await wechat.amounts(order.transaction_id)).ok()["unsplit_amount"] == 1000


async def test_racing_refunds_of_one_order_never_take_more_than_the_seller_has(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 1000)

    answers = await asyncio.gather(*(wechat.ecommerce_refund(refund_body(order, fresh("rfd"), 600)) for _ in range(4)))

    assert sorted(a.status for a in answers) == [200, 400, 400, 400], [a.raw for a in answers]
    assert await wechat.balances(seller) == (0, 400, 0)


async def test_platform_advanced_refunds_are_not_granted(sandbox: Sandbox, mongo_client: Client) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 100)
    body = refund_body(order, fresh("rfd"), 100, refund_account="REFUND_SOURCE_PARTNER_ADVANCE")
    (await wechat.ecommerce_refund(body)).error(403, "NO_AUTH")
    assert await wechat.balances(seller) == (0, 100, 0)


async def test_a_payment_credit_lost_to_a_crash_is_made_up_before_the_order_is_split(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 1000)
    # What a crash between recording the payment and crediting the seller leaves behind: no account entry.
    entries = mongo_client[sandbox.process.env["MONGO_DB"]]["stream_entries"]
    await entries.delete_many({"stream_id": f"wechat.account:{seller}"})
    assert await wechat.balances(seller) == (0, 0, 0)

    (await wechat.split(order, split_no := fresh("ps"), 100)).ok()

    await wechat.split_status(order, split_no, "FINISHED")
    assert await wechat.balances(seller) == (0, 900, 0)


async def test_racing_splits_never_give_receivers_more_than_30_percent(sandbox: Sandbox, mongo_client: Client) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 1000)

    answers = await asyncio.gather(*(wechat.split(order, fresh("ps"), 200) for _ in range(3)))

    assert sorted(a.status for a in answers) == [200, 400, 400], [a.raw for a in answers]
    assert (await wechat.amounts(order.transaction_id)).ok()["unsplit_amount"] == 800


async def test_a_refund_and_a_withdrawal_racing_for_the_same_money_are_one_accepted(
    sandbox: Sandbox, mongo_client: Client
) -> None:
    wechat = EcommerceClient(sandbox)
    seller = await register_seller(mongo_client, sandbox)
    order = await wechat.partner_paid(seller, 1000, profit_sharing=False)

    refund, withdrawal = await asyncio.gather(
        wechat.ecommerce_refund(refund_body(order, fresh("rfd"), 700)), wechat.withdraw(seller, fresh("wd"), 700)
    )

    assert sorted((refund.status, withdrawal.status)) == [200, 403], (refund.raw, withdrawal.raw)
    available, pending, withdrawn = await wechat.balances(seller)
    assert (available, pending) == (300, 0) and withdrawn in (0, 700)
