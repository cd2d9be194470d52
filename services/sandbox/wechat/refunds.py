"""Domestic and e-commerce refunds: request (once per out_refund_no), query, and the test-only settle action."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from services.sandbox.faults import ActiveFault
from services.sandbox.wechat import domain as d
from services.sandbox.wechat import funds, notify, sellers, views
from services.sandbox.wechat.runtime import WECHAT, Wechat
from services.sandbox.wechat.store import Due, partner_key
from services.sandbox.wechat.v3 import Call, Reply
from shared.errors import Conflict, NotFound
from shared.http.app import json_response, parse_body


def due_id(mchid: str, out_refund_no: str) -> str:
    return f"refund:{mchid}:{out_refund_no}"


async def request_refund(call: Call) -> Reply:
    wechat = call.wechat
    req = call.body(d.RefundRequest)
    attrs = {"out_refund_no": req.out_refund_no}
    if req.out_trade_no:
        attrs["out_trade_no"] = req.out_trade_no
    if req.transaction_id:
        attrs["transaction_id"] = req.transaction_id
    fault = call.fault("wechat.refund", attrs, actions={"decline", "delay"})
    out_trade_no = await _resolve(wechat, call.mchid, req.out_trade_no, req.transaction_id)
    state = await wechat.store.transaction(call.mchid, out_trade_no)
    if state.order is None:
        raise d.resource_not_exists("订单不存在 (no order has this out_trade_no)")
    owner = await wechat.store.claim_refund_no(call.mchid, req.out_refund_no, out_trade_no)
    if owner != out_trade_no:
        raise d.invalid_request("商户退款单号已被其他订单使用 (out_refund_no belongs to another order)")
    now = wechat.now()
    cmd = d.RequestRefund(
        out_refund_no=req.out_refund_no,
        refund_id=wechat.ids.refund_id(now),
        amount_fen=req.amount.refund,
        total_fen=req.amount.total,
        reason=req.reason,
        notify_url=req.notify_url,
        funds_account=req.funds_account,
        now=now,
    )
    outcome = await wechat.store.run_transaction(call.mchid, out_trade_no, cmd)
    refund = outcome.state.refund(req.out_refund_no)
    assert refund is not None
    if outcome.entry is not None:
        await _plan(wechat, call.mchid, out_trade_no, req.out_refund_no, fault, now)
    return Reply(200, views.refund(outcome.state, refund))


async def _resolve(wechat: Wechat, key: str, out_trade_no: str | None, transaction_id: str | None) -> str:
    """The order a refund names: transaction_id wins when both are given, but they must name the same order."""
    if transaction_id:
        by_id = await wechat.store.out_trade_no_of(key, transaction_id)
        if by_id is None or (out_trade_no is not None and out_trade_no != by_id):
            raise d.resource_not_exists("订单不存在 (no paid order has this transaction_id)")
        return by_id
    if out_trade_no is None:
        raise d.param_error("transaction_id 和 out_trade_no 必须二选一 (give transaction_id or out_trade_no)")
    return out_trade_no


async def apply_ecommerce(call: Call) -> Reply:
    """POST /v3/ecommerce/refunds/apply: the seller refunds a partner order. The money is decided first, on the
    seller's account (frozen remainder, then available; NOT_ENOUGH, RULE_LIMIT), then the refund is recorded; the
    rest (settling, notifying, the settle action) is the domestic refunds' machinery."""
    wechat = call.wechat
    req = call.body(d.EcommerceRefundRequest)
    attrs = {"out_refund_no": req.out_refund_no, "sub_mchid": req.sub_mchid}
    if req.out_trade_no:
        attrs["out_trade_no"] = req.out_trade_no
    if req.transaction_id:
        attrs["transaction_id"] = req.transaction_id
    fault = call.fault("wechat.refund", attrs, actions={"decline", "delay"})
    d.check_appid(req.sp_appid, mchid=call.mchid, known_appid=wechat.appid)
    await sellers.sub_merchant(wechat, req.sub_mchid, trading=False)
    if req.refund_account == "REFUND_SOURCE_PARTNER_ADVANCE":
        raise d.WechatError(
            403,
            "NO_AUTH",
            "垫付退款权限未开通 (platform-advanced refunds need a permission the sandbox does not grant)",
        )
    key = partner_key(call.mchid, req.sub_mchid)
    out_trade_no = await _resolve(wechat, key, req.out_trade_no, req.transaction_id)
    state = await wechat.store.transaction(key, out_trade_no)
    if state.order is None:
        raise d.resource_not_exists("订单不存在 (no order of this sub_mchid has this out_trade_no)")
    owner = await wechat.store.claim_refund_no(key, req.out_refund_no, out_trade_no)
    if owner != out_trade_no:
        raise d.invalid_request("商户退款单号已被其他订单使用 (out_refund_no belongs to another order)")
    await wechat.store.remember_ecommerce_refund(req.out_refund_no, key)
    now = wechat.now()
    cmd = d.RequestRefund(
        out_refund_no=req.out_refund_no,
        refund_id=wechat.ids.refund_id(now),
        amount_fen=req.amount.refund,
        total_fen=req.amount.total,
        reason=req.reason,
        notify_url=req.notify_url,
        funds_account=req.funds_account,
        now=now,
        refund_account=req.refund_account,
    )
    held = False
    # The order's own rules first (a repeat answers, a refusal moves no money), then the money.
    if d.decide_transaction(state, cmd):
        assert state.transaction_id is not None
        await funds.credit_payment(wechat, state)
        hold = d.HoldRefund(req.out_refund_no, state.transaction_id, req.amount.refund, now)
        outcome_hold = await wechat.store.run_account(
            req.sub_mchid, hold, command_id=f"wechat.refund-hold:{key}:{req.out_refund_no}"
        )
        held = outcome_hold.entry is not None and not outcome_hold.already_applied
    try:
        outcome = await wechat.store.run_transaction(key, out_trade_no, cmd)
    except d.WechatError:
        if held:  # the order refused after all (a racing refund took the 50th place): the money goes back
            release = d.ReleaseRefund(req.out_refund_no, now)
            await wechat.store.run_account(
                req.sub_mchid, release, command_id=f"wechat.refund-undo:{key}:{req.out_refund_no}"
            )
        raise
    refund = outcome.state.refund(req.out_refund_no)
    assert refund is not None
    if outcome.entry is not None:
        await _plan(wechat, key, out_trade_no, req.out_refund_no, fault, now)
    return Reply(200, views.ecommerce_refund_created(refund))


async def _ecommerce_reply(call: Call, key: str, out_refund_no: str | None) -> Reply:
    state, refund = await _find(call.wechat, key, out_refund_no) if out_refund_no else (d.Transaction(), None)
    if refund is None:
        raise d.resource_not_exists("退款单不存在 (no refund of this sub_mchid has this number)")
    return Reply(200, views.ecommerce_refund(state, refund))


async def query_ecommerce(call: Call) -> Reply:
    out_refund_no = call.request.match_info["out_refund_no"]
    call.fault("wechat.query", {"kind": "refund", "out_refund_no": out_refund_no}, actions=set())
    key = partner_key(call.mchid, sellers.query_sub_mchid(call))
    return await _ecommerce_reply(call, key, out_refund_no)


async def query_ecommerce_by_id(call: Call) -> Reply:
    refund_id = call.request.match_info["refund_id"]
    call.fault("wechat.query", {"kind": "refund", "refund_id": refund_id}, actions=set())
    key = partner_key(call.mchid, sellers.query_sub_mchid(call))
    return await _ecommerce_reply(call, key, await call.wechat.store.refund_of_id(key, refund_id))


async def _plan(
    wechat: Wechat, mchid: str, out_trade_no: str, out_refund_no: str, fault: ActiveFault | None, now: datetime
) -> None:
    """When and how WeChat finishes a new refund: SUCCESS shortly after, ABNORMAL on a decline fault; a delay
    fault sets the moment itself, and one of 0 s holds the refund in PROCESSING until a test settles it."""
    outcome = "ABNORMAL" if fault is not None and fault.action == "decline" else "SUCCESS"
    due_at = wechat.finishes_at(wechat.settings.wechat_refund_settle_s, fault, now)
    if due_at is None:
        return
    await wechat.store.schedule(
        Due(
            id=due_id(mchid, out_refund_no),
            kind="refund",
            mchid=mchid,
            key=out_trade_no,
            out_refund_no=out_refund_no,
            outcome=outcome,
            fail_reason=None,
            due_at=due_at,
        )
    )
    wechat.wake.set()


async def query_refund(call: Call) -> Reply:
    out_refund_no = call.request.match_info["out_refund_no"]
    call.fault("wechat.query", {"kind": "refund", "out_refund_no": out_refund_no}, actions=set())
    state, refund = await _find(call.wechat, call.mchid, out_refund_no)
    if refund is None:
        raise d.resource_not_exists("退款单不存在 (no refund has this out_refund_no)")
    return Reply(200, views.refund(state, refund))


async def _find(wechat: Wechat, mchid: str, out_refund_no: str) -> tuple[d.Transaction, d.Refund | None]:
    out_trade_no = await wechat.store.refund_owner(mchid, out_refund_no)
    if out_trade_no is None:
        return d.Transaction(), None
    state = await wechat.store.transaction(mchid, out_trade_no)
    return state, state.refund(out_refund_no)


async def settle(wechat: Wechat, mchid: str, out_trade_no: str, cmd: d.SettleRefund, command_id: str | None) -> bool:
    """Apply a refund's outcome and notify it; False when it already had this outcome (nothing sent again)."""
    outcome = await wechat.store.run_transaction(mchid, out_trade_no, cmd, command_id=command_id)
    if outcome.entry is None:
        return False
    refund = outcome.state.refund(cmd.out_refund_no)
    order = outcome.state.order
    assert refund is not None and order is not None
    if order.sub_mchid is not None and refund.status == d.CLOSED:
        # A closed e-commerce refund gives its money back to the seller's account.
        release = d.ReleaseRefund(refund.out_refund_no, wechat.now())
        await wechat.store.run_account(
            order.sub_mchid, release, command_id=f"wechat.refund-closed:{mchid}:{refund.out_refund_no}"
        )
    await notify.refund_settled(wechat, outcome.state, refund)
    return True


# --- test-only --------------------------------------------------------------------------------------------------------


class SettleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["SUCCESS", "ABNORMAL", "CLOSED"] = "SUCCESS"


async def settle_action(request: web.Request) -> web.Response:
    """Test-only: WeChat finishes a refund now (SUCCESS), the card bounces it (ABNORMAL) or it is CLOSED."""
    wechat = request.app[WECHAT]
    body = await parse_body(request, SettleRequest)
    out_refund_no = request.match_info["out_refund_no"]
    key = wechat.mchid
    state, refund = await _find(wechat, key, out_refund_no)
    if refund is None:
        # An e-commerce refund lives under its seller: the number leads there.
        key = await wechat.store.ecommerce_refund_key(out_refund_no) or key
        state, refund = await _find(wechat, key, out_refund_no)
    if refund is None or state.order is None:
        raise NotFound(f"no refund with out_refund_no {out_refund_no}")
    try:
        await settle(
            wechat, key, state.order.out_trade_no, d.SettleRefund(out_refund_no, body.status, wechat.now()), None
        )
    except d.StateError as exc:
        raise Conflict(str(exc), code="invalid_refund_state") from None
    await wechat.store.done(due_id(key, out_refund_no))
    return json_response({"out_refund_no": out_refund_no, "status": body.status})
