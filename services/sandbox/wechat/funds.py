"""Sellers' money (平台收付通): payments credited, the balance API, withdrawals, and the test-only account view."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.faults import ActiveFault
from services.sandbox.wechat import domain as d
from services.sandbox.wechat import notify, sellers, views
from services.sandbox.wechat.runtime import WECHAT, Wechat
from services.sandbox.wechat.store import Due, sub_mchid_of
from services.sandbox.wechat.v3 import Call, Reply
from shared.errors import Conflict, NotFound
from shared.http.app import json_response, parse_body


def due_id(sub_mchid: str, out_request_no: str) -> str:
    return f"withdraw:{sub_mchid}:{out_request_no}"


async def credit_payment(wechat: Wechat, state: d.Transaction) -> None:
    """A paid partner order's money reaches the seller: frozen for profit sharing, else available (once per
    transaction_id: the command id makes a repeat a no-op). Run after the payment, and again before a split or a
    refund of the order, so a credit lost to a crash right after the payment is made up before it is needed."""
    order = state.order
    if order is None or order.sub_mchid is None or state.transaction_id is None:
        return
    cmd = d.CreditPayment(
        state.transaction_id, order.out_trade_no, order.total_fen, bool(order.profit_sharing), wechat.now()
    )
    await wechat.store.run_account(order.sub_mchid, cmd, command_id=f"wechat.pay:{state.transaction_id}")


async def credit_transaction(wechat: Wechat, sp_mchid: str, transaction_id: str) -> None:
    """``credit_payment`` for a transaction_id of this platform's sellers (nothing for an unknown one)."""
    found = await wechat.store.order_of_transaction(transaction_id)
    if found is None or sub_mchid_of(found[0]) is None or not found[0].startswith(sp_mchid + "/"):
        return
    await credit_payment(wechat, await wechat.store.transaction(*found))


# --- balance ----------------------------------------------------------------------------------------------------------


async def balance(call: Call) -> Reply:
    sub_mchid = call.request.match_info["sub_mchid"]
    call.fault("wechat.query", {"kind": "balance", "sub_mchid": sub_mchid}, actions=set())
    account_type = call.request.query.get("account_type", "BASIC")
    if account_type not in ("BASIC", "OPERATION", "FEES", "DEPOSIT"):
        raise d.param_error(
            "account_type 取值错误 (BASIC, OPERATION, FEES or DEPOSIT)", {"location": "query", "field": "account_type"}
        )
    await sellers.sub_merchant(call.wechat, sub_mchid, trading=False)
    account = await call.wechat.store.account(sub_mchid)
    # Everything a seller earns lands in BASIC; the other accounts exist but stay empty in the sandbox.
    basic = account_type == "BASIC"
    return Reply(
        200,
        {
            "sub_mchid": sub_mchid,
            "account_type": account_type,
            "available_amount": account.available_fen if basic else 0,
            "pending_amount": account.pending_fen if basic else 0,
        },
    )


# --- withdrawals ------------------------------------------------------------------------------------------------------


async def withdraw(call: Call) -> Reply:
    """Accepted (CREATE_SUCCESS) with the amount taken from available at once; SUCCESS (or FAIL) later."""
    wechat = call.wechat
    req = call.body(d.WithdrawRequest)
    fault = call.fault(
        "wechat.withdraw",
        {"out_request_no": req.out_request_no, "sub_mchid": req.sub_mchid},
        actions={"decline", "delay"},
    )
    await sellers.sub_merchant(wechat, req.sub_mchid, trading=False)
    now = wechat.now()
    cmd = d.Withdraw(
        out_request_no=req.out_request_no,
        withdraw_id=wechat.ids.withdraw_id(now),
        amount_fen=req.amount,
        remark=req.remark,
        bank_memo=req.bank_memo,
        account_type=req.account_type,
        notify_url=req.notify_url,
        terms=req.terms(),
        now=now,
    )
    outcome = await wechat.store.run_account(req.sub_mchid, cmd)
    withdrawal = outcome.state.withdrawals[req.out_request_no]
    if outcome.entry is not None:
        await _plan(wechat, req.sub_mchid, req.out_request_no, fault, now)
    return Reply(
        200,
        {
            "sub_mchid": req.sub_mchid,
            "withdraw_id": withdrawal.withdraw_id,
            "out_request_no": withdrawal.out_request_no,
            "account_type": withdrawal.account_type,
        },
    )


async def _plan(wechat: Wechat, sub_mchid: str, out_request_no: str, fault: ActiveFault | None, now: datetime) -> None:
    """SUCCESS after WECHAT_WITHDRAW_SETTLE_S, FAIL on a decline fault (its message the reason); a delay fault sets
    the moment itself, and one of 0 s holds it in CREATE_SUCCESS until a test settles it."""
    declined = fault is not None and fault.action == "decline"
    due_at = wechat.finishes_at(wechat.settings.wechat_withdraw_settle_s, fault, now)
    if due_at is None:
        return
    await wechat.store.schedule(
        Due(
            id=due_id(sub_mchid, out_request_no),
            kind="withdraw",
            mchid=sub_mchid,
            key=out_request_no,
            out_refund_no=None,
            outcome=d.WITHDRAW_FAIL if declined else d.WITHDRAW_SUCCESS,
            fail_reason=(fault.message if fault is not None else None) if declined else None,
            due_at=due_at,
        )
    )
    wechat.wake.set()


async def _withdrawal_reply(call: Call, sub_mchid: str, out_request_no: str | None) -> Reply:
    wechat = call.wechat
    account = await wechat.store.account(sub_mchid)
    withdrawal = account.withdrawals.get(out_request_no) if out_request_no else None
    if withdrawal is None:
        raise d.resource_not_exists("提现单不存在 (no withdrawal of this sub_mchid has this number)")
    doc = await wechat.store.sub_merchant(sub_mchid) or {}
    return Reply(200, views.withdrawal(wechat.mchid, sub_mchid, withdrawal, doc))


async def query_by_out_request_no(call: Call) -> Reply:
    out_request_no = call.request.match_info["out_request_no"]
    call.fault("wechat.query", {"kind": "withdraw", "out_request_no": out_request_no}, actions=set())
    return await _withdrawal_reply(call, sellers.query_sub_mchid(call), out_request_no)


async def query_by_withdraw_id(call: Call) -> Reply:
    withdraw_id = call.request.match_info["withdraw_id"]
    call.fault("wechat.query", {"kind": "withdraw", "withdraw_id": withdraw_id}, actions=set())
    sub_mchid = sellers.query_sub_mchid(call)
    return await _withdrawal_reply(call, sub_mchid, await call.wechat.store.withdrawal_of_id(sub_mchid, withdraw_id))


async def change(
    wechat: Wechat, sub_mchid: str, cmd: d.SettleWithdrawal | d.ReturnWithdrawal, command_id: str | None
) -> bool:
    """Apply a withdrawal's new status and notify it (MCHWITHDRAW.CHANGE); False when nothing changed."""
    outcome = await wechat.store.run_account(sub_mchid, cmd, command_id=command_id)
    if outcome.entry is None:
        return False
    withdrawal = outcome.state.withdrawals[cmd.out_request_no]
    doc = await wechat.store.sub_merchant(sub_mchid) or {}
    await notify.withdrawal_changed(wechat, views.withdrawal(wechat.mchid, sub_mchid, withdrawal, doc), withdrawal)
    return True


# --- test-only --------------------------------------------------------------------------------------------------------


async def account_view(request: web.Request) -> web.Response:
    """Test-only: every balance of a merchant account (a seller's sub_mchid, or the platform's sp_mchid)."""
    wechat = request.app[WECHAT]
    mchid = request.match_info["mchid"]
    return json_response(views.account(mchid, await wechat.store.account(mchid)))


class SettleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["SUCCESS", "FAIL"] = "SUCCESS"
    reason: str | None = Field(default=None, min_length=1, max_length=128)


class BankReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default=d.WITHDRAW_RETURN_REASON, min_length=1, max_length=128)


async def _run(request: web.Request, cmd: d.SettleWithdrawal | d.ReturnWithdrawal) -> web.Response:
    wechat = request.app[WECHAT]
    out_request_no = cmd.out_request_no
    sub_mchid = await wechat.store.withdrawal_owner(out_request_no)
    if sub_mchid is None:
        raise NotFound(f"no withdrawal with out_request_no {out_request_no}")
    try:
        await change(wechat, sub_mchid, cmd, None)
    except d.StateError as exc:
        raise Conflict(str(exc), code="invalid_withdrawal_state") from None
    if isinstance(cmd, d.SettleWithdrawal):
        await wechat.store.done(due_id(sub_mchid, out_request_no))
    withdrawal = (await wechat.store.account(sub_mchid)).withdrawals[out_request_no]
    return json_response({"out_request_no": out_request_no, "status": withdrawal.status, "reason": withdrawal.reason})


async def settle_action(request: web.Request) -> web.Response:
    """Test-only: WeChat finishes a CREATE_SUCCESS withdrawal now (SUCCESS, or FAIL with a reason)."""
    body = await parse_body(request, SettleRequest)
    wechat = request.app[WECHAT]
    cmd = d.SettleWithdrawal(request.match_info["out_request_no"], body.status, body.reason, wechat.now())
    return await _run(request, cmd)


async def bank_return(request: web.Request) -> web.Response:
    """Test-only: 退票, the bank sends a SUCCESS withdrawal back; it becomes REFUND and the money is available again."""
    body = await parse_body(request, BankReturnRequest)
    wechat = request.app[WECHAT]
    return await _run(request, d.ReturnWithdrawal(request.match_info["out_request_no"], body.reason, wechat.now()))
