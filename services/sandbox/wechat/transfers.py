"""Payouts to a user's WeChat balance (商家转账 transfer bills): create, query, cancel, and bank-side test actions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.faults import ActiveFault
from services.sandbox.wechat import domain as d
from services.sandbox.wechat import notify, sensitive, views
from services.sandbox.wechat.runtime import WECHAT, Wechat
from services.sandbox.wechat.store import Due
from services.sandbox.wechat.v3 import Call, Reply
from shared.errors import AppError, Conflict, NotFound
from shared.http.app import json_response, parse_body
from shared.protocols import wechatpay as wp


def due_id(mchid: str, out_bill_no: str, step: str = "finish") -> str:
    return f"transfer:{mchid}:{out_bill_no}:{step}"


def _check_user_name(call: Call, ciphertext: str) -> None:
    """Sensitive fields are RSA-OAEP (SHA-1) ciphertext for the key named by the Wechatpay-Serial header."""
    key = sensitive.key_named(call.wechat.keys, call.request.headers.get(wp.HEADER_SERIAL), "user_name")
    sensitive.decrypt(key, ciphertext, "user_name")


async def create(call: Call) -> Reply:
    wechat = call.wechat
    req = call.body(d.TransferRequest)
    fault = call.fault(
        "wechat.transfer", {"out_bill_no": req.out_bill_no, "openid": req.openid}, actions={"decline", "delay"}
    )
    d.check_appid(req.appid, mchid=call.mchid, known_appid=wechat.appid)
    if not await wechat.store.knows_openid(req.appid, req.openid):
        raise d.param_error(f"openid 与 appid 不匹配 (openid {req.openid} was never issued for appid {req.appid})")
    d.check_transfer_user_name(req)
    if req.user_name is not None:
        _check_user_name(call, req.user_name)
    now = wechat.now()
    bill = d.bill_from_request(req, call.mchid)
    package_info = wechat.ids.package_info() if wechat.settings.wechat_transfer_user_confirm else None
    cmd = d.CreateTransfer(bill, wechat.ids.transfer_bill_no(now), _plan(wechat, fault), now, package_info)
    outcome = await wechat.store.run_transfer(call.mchid, req.out_bill_no, cmd)
    if outcome.entry is not None and outcome.state.state == d.ACCEPTED:
        await _start(wechat, call.mchid, outcome.state, now)
    return Reply(200, views.transfer_created(outcome.state))


def _plan(wechat: Wechat, fault: ActiveFault | None) -> d.TransferPlan:
    """SUCCESS shortly after, FAIL on a decline fault; a delay fault sets the moment itself, and one of 0 s holds
    the bill until a test settles it."""
    if fault is not None and fault.action == "delay":
        return d.TransferPlan("SUCCESS", fault.delay_s or None)
    settle_s = wechat.scaled(wechat.settings.wechat_transfer_settle_s).total_seconds()
    declined = fault is not None and fault.action == "decline"
    return d.TransferPlan("FAIL" if declined else "SUCCESS", settle_s)


async def _start(wechat: Wechat, mchid: str, transfer: d.Transfer, now: datetime) -> None:
    """The bill may now be paid: schedule its planned outcome."""
    assert transfer.bill is not None
    plan = transfer.plan
    if plan.after_s is None:
        return
    due_at = now + timedelta(seconds=plan.after_s)
    await _schedule(wechat, mchid, transfer.bill.out_bill_no, plan.outcome, d.DECLINE_REASON, due_at)


async def _schedule(
    wechat: Wechat, mchid: str, out_bill_no: str, outcome: str, fail_reason: str | None, due_at: datetime
) -> None:
    await wechat.store.schedule(
        Due(
            id=due_id(mchid, out_bill_no, "cancel" if outcome == d.CANCELLED else "finish"),
            kind="transfer",
            mchid=mchid,
            key=out_bill_no,
            out_refund_no=None,
            outcome=outcome,
            fail_reason=fail_reason if outcome == d.FAIL else None,
            due_at=due_at,
        )
    )
    wechat.wake.set()


async def _found(wechat: Wechat, mchid: str, out_bill_no: str | None) -> d.Transfer:
    transfer = await wechat.store.transfer(mchid, out_bill_no) if out_bill_no else d.Transfer()
    if transfer.bill is None:
        raise d.transfer_not_found()
    return transfer


async def query_by_out_bill_no(call: Call) -> Reply:
    out_bill_no = call.request.match_info["out_bill_no"]
    call.fault("wechat.query", {"kind": "transfer", "out_bill_no": out_bill_no}, actions=set())
    return Reply(200, views.transfer(await _found(call.wechat, call.mchid, out_bill_no)))


async def query_by_transfer_bill_no(call: Call) -> Reply:
    transfer_bill_no = call.request.match_info["transfer_bill_no"]
    call.fault("wechat.query", {"kind": "transfer", "transfer_bill_no": transfer_bill_no}, actions=set())
    out_bill_no = await call.wechat.store.out_bill_no_of(call.mchid, transfer_bill_no)
    return Reply(200, views.transfer(await _found(call.wechat, call.mchid, out_bill_no)))


async def cancel(call: Call) -> Reply:
    """Accepted only: the answer says CANCELING, and the bill becomes CANCELLED shortly after."""
    wechat = call.wechat
    out_bill_no = call.request.match_info["out_bill_no"]
    call.fault("wechat.transfer", {"out_bill_no": out_bill_no, "kind": "cancel"}, actions=set())
    await _found(wechat, call.mchid, out_bill_no)
    now = wechat.now()
    outcome = await wechat.store.run_transfer(call.mchid, out_bill_no, d.CancelTransfer(now))
    if outcome.entry is not None:
        await wechat.store.done(due_id(call.mchid, out_bill_no))
        due_at = now + wechat.scaled(wechat.settings.wechat_transfer_settle_s)
        await _schedule(wechat, call.mchid, out_bill_no, d.CANCELLED, None, due_at)
    transfer = outcome.state
    assert transfer.updated_at is not None
    return Reply(
        200,
        {
            "out_bill_no": out_bill_no,
            "transfer_bill_no": transfer.transfer_bill_no,
            "state": transfer.state,
            "update_time": d.wire_time(transfer.updated_at),
        },
    )


async def settle(
    wechat: Wechat, mchid: str, out_bill_no: str, cmd: d.SettleTransfer | d.ReturnTransfer, command_id: str | None
) -> bool:
    """Apply a bill's outcome; a final state (SUCCESS, FAIL, CANCELLED) is notified. False when nothing changed."""
    outcome = await wechat.store.run_transfer(mchid, out_bill_no, cmd, command_id=command_id)
    if outcome.entry is None:
        return False
    if outcome.state.state in d.FINAL_TRANSFER_STATES:
        await notify.transfer_finished(wechat, outcome.state)
    return True


# --- the payee's phone and the bank (test-only) -----------------------------------------------------------------------


class ConfirmRequest(BaseModel):
    """What wx.requestMerchantTransfer carries, plus who is confirming."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    openid: str = Field(min_length=1, max_length=128)
    package: str = Field(min_length=1, max_length=1024)
    app_id: str | None = Field(default=None, alias="appId", max_length=32)
    mch_id: str | None = Field(default=None, alias="mchId", max_length=32)


async def confirm(request: web.Request) -> web.Response:
    """Test-only: the payee confirms receipt in the mini-program; the bill is then paid as planned."""
    wechat = request.app[WECHAT]
    body = await parse_body(request, ConfirmRequest)
    if body.app_id not in (None, wechat.appid) or body.mch_id not in (None, wechat.mchid):
        raise AppError("appId or mchId is not this merchant's", code="merchant_mismatch", status=400)
    out_bill_no = request.match_info["out_bill_no"]
    if (await wechat.store.transfer(wechat.mchid, out_bill_no)).bill is None:
        raise NotFound(f"no transfer bill with out_bill_no {out_bill_no}")
    now = wechat.now()
    try:
        outcome = await wechat.store.run_transfer(
            wechat.mchid, out_bill_no, d.ConfirmTransfer(body.openid, body.package, now)
        )
    except d.PayRefused as refused:
        raise AppError(refused.message, code=refused.code, status=refused.status) from None
    if outcome.entry is not None:
        await _start(wechat, wechat.mchid, outcome.state, now)
    return json_response({"result": "ok", "state": outcome.state.state})


class SettleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["SUCCESS", "FAIL"] = "SUCCESS"
    fail_reason: str | None = Field(default=None, min_length=1, max_length=64)


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default=d.BANK_RETURN_REASON, min_length=1, max_length=64)


async def _run(request: web.Request, cmd: d.SettleTransfer | d.ReturnTransfer) -> web.Response:
    wechat = request.app[WECHAT]
    out_bill_no = request.match_info["out_bill_no"]
    if (await wechat.store.transfer(wechat.mchid, out_bill_no)).bill is None:
        raise NotFound(f"no transfer bill with out_bill_no {out_bill_no}")
    try:
        await settle(wechat, wechat.mchid, out_bill_no, cmd, None)
    except d.StateError as exc:
        raise Conflict(str(exc), code="invalid_transfer_state") from None
    if isinstance(cmd, d.SettleTransfer):
        await wechat.store.done(due_id(wechat.mchid, out_bill_no))
    transfer = await wechat.store.transfer(wechat.mchid, out_bill_no)
    return json_response({"out_bill_no": out_bill_no, "state": transfer.state, "fail_reason": transfer.fail_reason})


async def settle_action(request: web.Request) -> web.Response:
    """Test-only: WeChat finishes an accepted transfer now (SUCCESS, or FAIL with a reason)."""
    body = await parse_body(request, SettleRequest)
    return await _run(request, d.SettleTransfer(body.state, body.fail_reason, request.app[WECHAT].now()))


async def bank_return(request: web.Request) -> web.Response:
    """Test-only: 退票, the money comes back after the transfer was reported SUCCESS; the query shows REFUND."""
    body = await parse_body(request, ReturnRequest)
    return await _run(request, d.ReturnTransfer(body.reason, request.app[WECHAT].now()))
