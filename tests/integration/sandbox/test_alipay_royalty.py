"""商家分账 against a sandbox of its own (its books move only here): a trade frozen for royalty, receivers bound, the
seller's part settled with the platform fee kept, finish, queries, idempotency, refusals, and refunds before and after
a settlement with and without refund_royalty_parameters — balances checked at every step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.mongo import Client
from tests.integration.sandbox.alipay_support import (
    SELLER_ID,
    AlipayClient,
    app_pay,
    dedicated_sandbox,
    fresh,
    user_id,
)
from tests.integration.sandbox.conftest import Merchant, Sandbox

MAX_RATIO = 95  # the platform's contract lets it settle up to 95% of a trade to receivers
SETTLE = "alipay.trade.order.settle"


@pytest.fixture(scope="module")
async def books(mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    async with dedicated_sandbox(
        mongo_client, merchant, log_dir, alipay_royalty_max_ratio_pct=str(MAX_RATIO)
    ) as sandbox:
        yield sandbox


def y(text: str) -> Decimal:
    return Decimal(text)


async def frozen_trade(alipay: AlipayClient, amount: str) -> tuple[str, str]:
    """An app-pay trade frozen for royalty, paid by a fresh buyer: (trade_no, out_trade_no)."""
    out_trade_no = fresh("ord")
    order = alipay.order_string(app_pay(out_trade_no, amount, extend_params={"royalty_freeze": "true"}))
    status, paid = await alipay.pay(order, user_id())
    assert status == 200, paid
    return str(paid["trade_no"]), out_trade_no


async def bound_seller(alipay: AlipayClient, kind: str = "userId", account: str | None = None) -> str:
    account = account or user_id()
    response = await alipay.api(
        "alipay.trade.royalty.relation.bind",
        {"out_request_no": fresh("bind")[:32], "receiver_list": [{"type": kind, "account": account, "memo": "卖家"}]},
    )
    assert (response["code"], response["result_code"]) == ("10000", "SUCCESS"), response
    return account


def settle_biz(trade_no: str, seller: str, amount: str, *, kind: str = "userId", **more: Any) -> dict[str, Any]:
    return {
        "out_request_no": fresh("stl")[:32],
        "trade_no": trade_no,
        "royalty_parameters": [
            {
                "royalty_type": "transfer",
                "trans_in_type": kind,
                "trans_in": seller,
                "amount": amount,
                "desc": "卖家货款",
                "royalty_scene": "其他",
            }
        ],
        **more,
    }


def finish_biz(trade_no: str) -> dict[str, Any]:
    return {"out_request_no": fresh("fin")[:32], "trade_no": trade_no, "extend_params": {"royalty_finish": "true"}}


async def trade_view(alipay: AlipayClient, trade_no: str) -> dict[str, Any]:
    status, data = await alipay.get(f"/sandbox/alipay/trades/{trade_no}/royalty")
    assert status == 200, data
    return data


async def test_the_sellers_part_is_settled_the_fee_kept_and_finish_unfreezes_it(books: Sandbox) -> None:
    alipay = AlipayClient(books)
    seller = await bound_seller(alipay)
    before = await alipay.account(SELLER_ID)

    trade_no, out_trade_no = await frozen_trade(alipay, "100.00")
    paid = await alipay.account(SELLER_ID)
    assert y(paid["frozen"]) - y(before["frozen"]) == y("100.00")
    assert paid["available"] == before["available"]  # frozen money is not spendable
    onsettle = await alipay.api("alipay.trade.order.onsettle.query", {"trade_no": trade_no})
    assert onsettle["unsettled_amount"] == "100.00"

    biz = settle_biz(trade_no, seller, "95.00")
    settled = await alipay.api(SETTLE, biz)
    assert settled["code"] == "10000" and settled["trade_no"] == trade_no and len(settled["settle_no"]) == 32
    receiver = await alipay.account(seller)
    assert (receiver["available"], receiver["royalty_in"]) == ("95.00", "95.00")
    assert (await trade_view(alipay, trade_no))["frozen"] == "5.00"

    finished = await alipay.api(SETTLE, finish_biz(trade_no))
    assert finished["code"] == "10000"
    view = await trade_view(alipay, trade_no)
    assert (view["frozen"], view["settled"], view["unfrozen"], view["finished"]) == ("0.00", "95.00", "5.00", True)
    after = await alipay.account(SELLER_ID)
    assert y(after["available"]) - y(before["available"]) == y("5.00")  # the platform fee
    assert after["frozen"] == before["frozen"]
    again = await alipay.call(SETTLE, settle_biz(trade_no, seller, "1.00"))
    assert again.verified()["sub_code"] == "ACQ.TRADE_SETTLE_ERROR"  # nothing left to settle after finish

    by_no = await alipay.api("alipay.trade.order.settle.query", {"settle_no": settled["settle_no"]})
    by_request = await alipay.api(
        "alipay.trade.order.settle.query", {"out_request_no": biz["out_request_no"], "trade_no": trade_no}
    )
    assert by_no == by_request
    (detail,) = by_no["royalty_detail_list"]
    assert by_no["out_request_no"] == biz["out_request_no"]
    assert (detail["operation_type"], detail["state"], detail["amount"]) == ("transfer", "SUCCESS", "95.00")
    assert (detail["trans_out"], detail["trans_in"], detail["trans_in_type"]) == (SELLER_ID, seller, "userId")
    assert detail["detail_id"] and detail["execute_dt"]
    query = await alipay.api(
        "alipay.trade.query", {"out_trade_no": out_trade_no, "query_options": ["trade_settle_info"]}
    )
    assert query["trade_status"] == "TRADE_SUCCESS"
    (split,) = query["trade_settle_info"]["trade_settle_detail_list"]
    assert (split["operation_type"], split["trans_in"], split["amount"]) == ("transfer", seller, "95.00")
    assert split["operation_serial_no"] == detail["detail_id"]


async def test_a_repeated_settlement_is_the_same_one_and_another_body_is_discordant(books: Sandbox) -> None:
    alipay = AlipayClient(books)
    seller = await bound_seller(alipay)
    trade_no, _ = await frozen_trade(alipay, "50.00")
    biz = settle_biz(trade_no, seller, "40.00")

    first = await alipay.api(SETTLE, biz)
    second = await alipay.api(SETTLE, biz)
    assert first["settle_no"] == second["settle_no"]
    assert (await alipay.account(seller))["available"] == "40.00"  # settled once
    other = {**biz, "royalty_parameters": [{**biz["royalty_parameters"][0], "amount": "41.00"}]}
    discordant = (await alipay.call(SETTLE, other)).verified()
    assert (discordant["code"], discordant["sub_code"]) == ("40004", "ACQ.DISCORDANT_REPEAT_REQUEST")
    elsewhere, _ = await frozen_trade(alipay, "50.00")
    reused = (await alipay.call(SETTLE, {**biz, "trade_no": elsewhere})).verified()
    assert reused["sub_code"] == "ACQ.DISCORDANT_REPEAT_REQUEST"
    assert (await trade_view(alipay, trade_no))["frozen"] == "10.00"


async def test_unbound_receivers_and_shares_above_the_contract_ratio_are_refused(books: Sandbox) -> None:
    alipay = AlipayClient(books)
    trade_no, _ = await frozen_trade(alipay, "100.00")
    stranger = user_id()
    unbound = (await alipay.call(SETTLE, settle_biz(trade_no, stranger, "10.00"))).verified()
    assert (unbound["code"], unbound["sub_code"]) == ("40004", "ACQ.ROYALTY_RECEIVER_INVALID")

    seller = await bound_seller(alipay)
    rate = await alipay.api("alipay.trade.royalty.rate.query", {"out_request_no": fresh("rate")[:32]})
    assert (rate["user_id"], rate["max_ratio"]) == (SELLER_ID, MAX_RATIO)
    over = (await alipay.call(SETTLE, settle_biz(trade_no, seller, "95.01"))).verified()
    assert over["sub_code"] == "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR"
    assert (await alipay.api(SETTLE, settle_biz(trade_no, seller, "60.00")))["code"] == "10000"
    cumulative = (await alipay.call(SETTLE, settle_biz(trade_no, seller, "35.01"))).verified()
    assert cumulative["sub_code"] == "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR"  # the ratio caps the sum of all splits

    listed = await alipay.api("alipay.trade.royalty.relation.batchquery", {"out_request_no": fresh("q")[:32]})
    assert any(r["account"] == seller and r["type"] == "userId" for r in listed["receiver_list"])
    unbind = {"out_request_no": fresh("unb")[:32], "receiver_list": [{"type": "userId", "account": seller}]}
    assert (await alipay.api("alipay.trade.royalty.relation.unbind", unbind))["result_code"] == "SUCCESS"
    after_unbind = (await alipay.call(SETTLE, settle_biz(trade_no, seller, "1.00"))).verified()
    assert after_unbind["sub_code"] == "ACQ.ROYALTY_RECEIVER_INVALID"
    listed = await alipay.api("alipay.trade.royalty.relation.batchquery", {"out_request_no": fresh("q")[:32]})
    assert all(r["account"] != seller for r in listed["receiver_list"])

    plain = fresh("ord")
    status, paid = await alipay.pay(alipay.order_string(app_pay(plain, "10.00")), user_id())
    assert status == 200
    not_frozen = (
        await alipay.call(SETTLE, settle_biz(paid["trade_no"], await bound_seller(alipay), "1.00"))
    ).verified()
    assert not_frozen["sub_code"] == "ACQ.TRADE_SETTLE_ERROR"


async def test_a_refund_before_settlement_comes_out_of_the_frozen_amount(books: Sandbox) -> None:
    alipay = AlipayClient(books)
    seller = await bound_seller(alipay)
    trade_no, out_trade_no = await frozen_trade(alipay, "100.00")
    before = await alipay.account(SELLER_ID)

    refund = await alipay.api(
        "alipay.trade.refund", {"out_trade_no": out_trade_no, "refund_amount": "30.00", "out_request_no": "rf1"}
    )
    assert (refund["code"], refund["fund_change"]) == ("10000", "Y")
    after = await alipay.account(SELLER_ID)
    assert y(before["frozen"]) - y(after["frozen"]) == y("30.00")
    assert after["available"] == before["available"]
    assert (await trade_view(alipay, trade_no))["frozen"] == "70.00"
    too_much = (await alipay.call(SETTLE, settle_biz(trade_no, seller, "70.01"))).verified()
    assert too_much["sub_code"] == "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR"  # more than is still frozen
    assert (await alipay.api(SETTLE, settle_biz(trade_no, seller, "70.00")))["code"] == "10000"


async def test_after_settlement_refund_royalty_parameters_take_the_sellers_part_back(books: Sandbox) -> None:
    alipay = AlipayClient(books)
    seller = await bound_seller(alipay)
    trade_no, out_trade_no = await frozen_trade(alipay, "100.00")
    await alipay.api(SETTLE, settle_biz(trade_no, seller, "95.00"))
    await alipay.api(SETTLE, finish_biz(trade_no))
    platform = await alipay.account(SELLER_ID)

    excessive = {"trans_out": seller, "trans_out_type": "userId", "amount": "95.01"}
    refused = await alipay.call(
        "alipay.trade.refund",
        {"out_trade_no": out_trade_no, "refund_amount": "100.00", "refund_royalty_parameters": [excessive]},
    )
    assert refused.verified()["sub_code"] == "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR"  # more than was settled to it

    back = {"royalty_type": "transfer", "trans_out": seller, "trans_out_type": "userId", "amount": "95.00"}
    refund = await alipay.api(
        "alipay.trade.refund",
        {"out_trade_no": out_trade_no, "refund_amount": "100.00", "refund_royalty_parameters": [back]},
    )
    assert (refund["code"], refund["refund_fee"]) == ("10000", "100.00")
    receiver = await alipay.account(seller)
    assert (receiver["available"], receiver["royalty_in"], receiver["royalty_back"]) == ("0.00", "95.00", "95.00")
    after = await alipay.account(SELLER_ID)
    assert y(platform["available"]) - y(after["available"]) == y("5.00")  # only the fee came from the platform


async def test_after_settlement_a_plain_refund_comes_from_the_collecting_account_and_fails_if_short(
    books: Sandbox,
) -> None:
    alipay = AlipayClient(books)
    seller = await bound_seller(alipay)
    funding, _ = await frozen_trade(alipay, "50.00")
    await alipay.api(SETTLE, finish_biz(funding))  # 50.00 released to the platform's balance
    trade_no, out_trade_no = await frozen_trade(alipay, "100.00")
    await alipay.api(SETTLE, settle_biz(trade_no, seller, "90.00"))
    platform = await alipay.account(SELLER_ID)
    refund = await alipay.api(
        "alipay.trade.refund", {"out_trade_no": out_trade_no, "refund_amount": "20.00", "out_request_no": "rf1"}
    )
    assert refund["code"] == "10000"
    after = await alipay.account(SELLER_ID)
    # Not finished yet: the 10.00 still frozen on the trade goes first, the other 10.00 from the available balance.
    assert y(platform["frozen"]) - y(after["frozen"]) == y("10.00")
    assert y(platform["available"]) - y(after["available"]) == y("10.00")
    assert (await alipay.account(seller))["available"] == "90.00"  # the seller keeps its part

    # A trade bigger than everything the platform holds: once settled, a plain full refund cannot be paid.
    available = y((await alipay.account(SELLER_ID))["available"])
    total = (available * 20 + 1000).quantize(Decimal("0.01"))
    big_no, big_out = await frozen_trade(alipay, str(total))
    share = (total * MAX_RATIO / 100).quantize(Decimal("0.01"))
    await alipay.api(SETTLE, settle_biz(big_no, seller, str(share)))
    await alipay.api(SETTLE, finish_biz(big_no))
    before_refusal = await alipay.account(SELLER_ID)
    short = await alipay.call(
        "alipay.trade.refund", {"out_trade_no": big_out, "refund_amount": str(total), "out_request_no": "rf-big"}
    )
    assert short.verified()["sub_code"] == "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    unchanged = await alipay.account(SELLER_ID)
    assert (unchanged["available"], unchanged["frozen"]) == (before_refusal["available"], before_refusal["frozen"])
    back = [{"trans_out": seller, "trans_out_type": "userId", "amount": str(share)}]
    refund = await alipay.api(
        "alipay.trade.refund",
        {
            "out_trade_no": big_out,
            "refund_amount": str(total),
            "out_request_no": "rf-big2",
            "refund_royalty_parameters": back,
        },
    )
    assert refund["code"] == "10000"


async def test_receivers_may_be_bound_and_paid_by_open_id(books: Sandbox) -> None:
    alipay = AlipayClient(books)
    open_id = "074a" + fresh("x").replace("_", "")[:42].ljust(42, "Z")
    await bound_seller(alipay, "openId", open_id)
    trade_no, _ = await frozen_trade(alipay, "20.00")
    settled = await alipay.api(SETTLE, settle_biz(trade_no, open_id, "19.00", kind="openId"))
    query = await alipay.api("alipay.trade.order.settle.query", {"settle_no": settled["settle_no"]})
    (detail,) = query["royalty_detail_list"]
    assert (detail["trans_in"], detail["trans_in_type"]) == (open_id, "openId")
    receiver = await alipay.account(open_id)
    assert receiver["royalty_in"] == "19.00" and receiver["user_id"].startswith("2088")


async def test_a_settlement_fault_refuses_it_and_moves_no_money(books: Sandbox) -> None:
    alipay = AlipayClient(books)
    seller = await bound_seller(alipay)
    trade_no, _ = await frozen_trade(alipay, "10.00")
    await books.fault(target=SETTLE, action="refuse", code="ACQ.SYSTEM_ERROR", match={"trade_no": trade_no})
    refused = (await alipay.call(SETTLE, settle_biz(trade_no, seller, "5.00"))).verified()
    assert refused["sub_code"] == "ACQ.SYSTEM_ERROR"
    assert (await trade_view(alipay, trade_no))["frozen"] == "10.00"
    await books.fault(target=SETTLE, action="error_5xx")
    assert (await alipay.call(SETTLE, settle_biz(trade_no, seller, "5.00"))).status == 500
    assert (await alipay.account(seller))["available"] == "0.00"


async def test_concurrent_settlements_never_overdraw_a_trade_and_the_books_agree(books: Sandbox) -> None:
    alipay = AlipayClient(books)
    seller = await bound_seller(alipay)
    trade_no, out_trade_no = await frozen_trade(alipay, "10.00")
    platform = await alipay.account(SELLER_ID)
    # Eight splits of 3.00 race for the 9.50 the ratio allows: three fit, whatever the order.
    answers = await asyncio.gather(*(alipay.api(SETTLE, settle_biz(trade_no, seller, "3.00")) for _ in range(8)))
    done = [a for a in answers if a["code"] == "10000"]
    assert len(done) == 3, answers
    assert {a["sub_code"] for a in answers if a["code"] != "10000"} == {"ACQ.ALLOC_AMOUNT_VALIDATE_ERROR"}
    # The same request sent four times at once is one settlement.
    same = settle_biz(trade_no, seller, "0.50")
    replays = await asyncio.gather(*(alipay.api(SETTLE, same) for _ in range(4)))
    assert len({r["settle_no"] for r in replays}) == 1
    # A refund racing the finish: both are appends to the trade, so the frozen money is used once. The refund may be
    # refused (ACQ.SYSTEM_ERROR: the frozen amount changed under it, retry) or paid from the frozen rest or the balance.
    refund = {"out_trade_no": out_trade_no, "refund_amount": "0.50", "out_request_no": "race"}
    raced, finished = await asyncio.gather(
        alipay.call("alipay.trade.refund", refund), alipay.call(SETTLE, finish_biz(trade_no))
    )
    assert finished.verified()["code"] == "10000"
    refund_answer = raced.verified()
    assert refund_answer["code"] == "10000" or refund_answer["sub_code"] in (
        "ACQ.SYSTEM_ERROR",
        "ACQ.SELLER_BALANCE_NOT_ENOUGH",  # the balance is read before the unfrozen money is booked to it
    ), refund_answer
    refunded = y("0.50") if refund_answer["code"] == "10000" else y("0")

    view = await trade_view(alipay, trade_no)
    receiver = await alipay.account(seller)
    after = await alipay.account(SELLER_ID)
    assert (view["settled"], receiver["royalty_in"], view["frozen"]) == ("9.50", "9.50", "0.00")
    from_frozen = y(view["refunded_from_frozen"])
    # Every fen of the 10.00 is accounted for: settled, refunded from the frozen amount, or unfrozen.
    assert y(view["settled"]) + from_frozen + y(view["unfrozen"]) == y("10.00")
    assert y(platform["frozen"]) - y(after["frozen"]) == y("10.00")
    # The balance gained what was unfrozen, less the part of the refund the frozen amount did not cover.
    assert y(after["available"]) - y(platform["available"]) == y(view["unfrozen"]) - (refunded - from_frozen)
