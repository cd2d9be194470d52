"""Faults on the partner and e-commerce calls: a 5xx or a refusal changes nothing, a timeout does the work late."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from shared.mongo import Client
from tests.integration.sandbox.conftest import Sandbox
from tests.integration.sandbox.ecommerce_support import SP_APPID, EcommerceClient, partner_body, register_seller
from tests.integration.sandbox.wechat_support import Answer, fresh

TARGETS = {
    "partner_jsapi": "wechat.jsapi",
    "partner_close": "wechat.close",
    "refund": "wechat.refund",
    "split": "wechat.profitsharing",
    "finish": "wechat.profitsharing",
    "return": "wechat.profitsharing",
    "withdraw": "wechat.withdraw",
    "balance": "wechat.query",
    "amounts": "wechat.query",
}


async def _world(wechat: EcommerceClient, mongo_client: Client, sandbox: Sandbox) -> dict[str, Any]:
    """A seller with 500 available and a 1000 order frozen for profit sharing, 100 of it split to the platform."""
    seller = await register_seller(mongo_client, sandbox)
    await wechat.partner_paid(seller, 500, profit_sharing=False)
    order = await wechat.partner_paid(seller, 1000)
    split_no = fresh("ps")
    (await wechat.split(order, split_no, 100)).ok()
    await wechat.split_status(order, split_no, "FINISHED")
    unpaid = await wechat.partner_placed(seller, 100)
    return {"seller": seller, "order": order, "split_no": split_no, "unpaid": unpaid}


def _call(wechat: EcommerceClient, case: str, world: dict[str, Any]) -> Callable[[], Awaitable[Answer]]:
    seller, order = world["seller"], world["order"]
    refund = {
        "sub_mchid": seller,
        "sp_appid": SP_APPID,
        "out_trade_no": order.out_trade_no,
        "out_refund_no": world.setdefault("out_refund_no", fresh("rfd")),
        "amount": {"refund": 100, "total": 1000, "currency": "CNY"},
    }
    out_trade_no = world.setdefault("out_trade_no", fresh())
    calls: dict[str, Callable[[], Awaitable[Answer]]] = {
        "partner_jsapi": lambda: wechat.partner_jsapi(
            partner_body(seller, out_trade_no, 100, world["unpaid"].openid, "https://platform.example.com/notify")
        ),
        "partner_close": lambda: wechat.partner_close(seller, world["unpaid"].out_trade_no),
        "refund": lambda: wechat.ecommerce_refund(refund),
        "split": lambda: wechat.split(order, world.setdefault("new_split", fresh("ps")), 50),
        "finish": lambda: wechat.finish(order, world.setdefault("finish_no", fresh("fin"))),
        "return": lambda: wechat.return_order(order, world["split_no"], world.setdefault("ret", fresh("ret")), 10),
        "withdraw": lambda: wechat.withdraw(seller, world.setdefault("wd", fresh("wd")), 200),
        "balance": lambda: wechat.balance(seller),
        "amounts": lambda: wechat.amounts(order.transaction_id),
    }
    return calls[case]


async def _observed(wechat: EcommerceClient, world: dict[str, Any]) -> tuple[Any, ...]:
    seller = world["seller"]
    unpaid = (await wechat.partner_query(seller, world["unpaid"].out_trade_no)).ok()["trade_state"]
    placed = (await wechat.partner_query(seller, world["out_trade_no"])).status
    return (await wechat.account(seller), unpaid, placed)


@pytest.mark.parametrize("action", ["error_5xx", "refuse"])
@pytest.mark.parametrize("case", sorted(TARGETS))
async def test_a_5xx_or_a_refusal_on_an_ecommerce_call_changes_nothing(
    sandbox: Sandbox, mongo_client: Client, case: str, action: str
) -> None:
    wechat = EcommerceClient(sandbox)
    world = await _world(wechat, mongo_client, sandbox)
    call = _call(wechat, case, world)
    before = await _observed(wechat, world)
    rule: dict[str, Any] = {"target": TARGETS[case], "action": action, "match": {"sub_mchid": world["seller"]}}
    if case == "amounts":
        rule["match"] = {"transaction_id": world["order"].transaction_id}
    if action == "refuse":
        rule.update(code="FREQUENCY_LIMITED", status=429, message="频率超限")
    await sandbox.fault(**rule)

    answer = await call()

    if action == "error_5xx":
        answer.error(500, "SYSTEM_ERROR")
    else:
        assert answer.error(429, "FREQUENCY_LIMITED") == "频率超限"
    assert await _observed(wechat, world) == before
    assert (await call()).status in (200, 204)  # the same call, retried, is served


@pytest.mark.parametrize("case", ["split", "withdraw", "refund"])
async def test_a_timeout_on_an_ecommerce_call_does_the_work_and_answers_late(
    sandbox: Sandbox, mongo_client: Client, case: str
) -> None:
    wechat = EcommerceClient(sandbox)
    world = await _world(wechat, mongo_client, sandbox)
    call = _call(wechat, case, world)
    before = await wechat.account(world["seller"])
    await sandbox.fault(target=TARGETS[case], action="timeout", delay_s=1.0, match={"sub_mchid": world["seller"]})

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(call(), timeout=0.3)

    if case == "split":
        await wechat.split_status(world["order"], world["new_split"], "FINISHED")
    after = await wechat.account(world["seller"])
    assert after != before
    assert (await call()).status == 200  # the retry finds the work done, and does it no second time
    assert await wechat.account(world["seller"]) == after
