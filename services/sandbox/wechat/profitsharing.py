"""E-commerce profit sharing (分账): splits to the platform, finishing an order, returns, and what is left to split."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.faults import ActiveFault
from services.sandbox.wechat import domain as d
from services.sandbox.wechat import funds, sellers, views
from services.sandbox.wechat.runtime import WECHAT, Wechat
from services.sandbox.wechat.store import Due, sub_mchid_of
from services.sandbox.wechat.v3 import Call, Reply
from shared.errors import Conflict, NotFound
from shared.http.app import json_response, parse_body


def due_id(sub_mchid: str, out_order_no: str) -> str:
    return f"split:{sub_mchid}:{out_order_no}"


def _check_appid(wechat: Wechat, appid: str | None, mchid: str) -> None:
    if appid is not None:
        d.check_appid(appid, mchid=mchid, known_appid=wechat.appid)


async def split(call: Call) -> Reply:
    """Accepted as PROCESSING (the money leaves the order's frozen funds at once); FINISHED, with the platform
    credited, WECHAT_PROFITSHARING_SETTLE_S later (the docs: asynchronous, accept then query)."""
    wechat = call.wechat
    req = call.body(d.SplitRequest)
    attrs = {"out_order_no": req.out_order_no, "transaction_id": req.transaction_id, "sub_mchid": req.sub_mchid}
    fault = call.fault("wechat.profitsharing", attrs, actions={"delay"})
    _check_appid(wechat, req.appid, call.mchid)
    await sellers.sub_merchant(wechat, req.sub_mchid, trading=False)
    await funds.credit_transaction(wechat, call.mchid, req.transaction_id)
    now = wechat.now()
    cmd = d.RequestSplit(
        out_order_no=req.out_order_no,
        order_id=wechat.ids.profitsharing_order_id(now),
        transaction_id=req.transaction_id,
        receivers=tuple(r.model_dump(mode="json", exclude={"receiver_name"}) for r in req.receivers),
        finish=req.finish,
        terms=req.terms(),
        platform_mchid=call.mchid,
        now=now,
    )
    outcome = await wechat.store.run_account(req.sub_mchid, cmd)
    if outcome.entry is not None:
        await _plan(wechat, req.sub_mchid, req.out_order_no, fault, now)
    return Reply(200, views.split(req.sub_mchid, outcome.state.splits[req.out_order_no]))


async def _plan(wechat: Wechat, sub_mchid: str, out_order_no: str, fault: ActiveFault | None, now: datetime) -> None:
    """A delay fault sets the moment itself, and one of 0 s holds the split PROCESSING until a test finishes it."""
    due_at = wechat.finishes_at(wechat.settings.wechat_profitsharing_settle_s, fault, now)
    if due_at is None:
        return
    await wechat.store.schedule(
        Due(
            id=due_id(sub_mchid, out_order_no),
            kind="split",
            mchid=sub_mchid,
            key=out_order_no,
            out_refund_no=None,
            outcome=d.SPLIT_FINISHED,
            fail_reason=None,
            due_at=due_at,
        )
    )
    wechat.wake.set()


async def finish_split(wechat: Wechat, sub_mchid: str, out_order_no: str, command_id: str | None) -> None:
    """The split is carried out: the seller's pending money leaves, the receivers (the platform) are credited.
    Each step is keyed, so a retry after a crash completes what is missing and repeats nothing."""
    outcome = await wechat.store.run_account(
        sub_mchid, d.FinishSplit(out_order_no, wechat.now()), command_id=command_id
    )
    done = outcome.state.splits[out_order_no]
    for receiver in done.receivers:
        credit = d.Receive(f"split:{sub_mchid}:{out_order_no}", int(receiver["amount"]), wechat.now())
        account = str(receiver["receiver_account"])
        await wechat.store.run_account(account, credit, command_id=f"wechat.split:{sub_mchid}:{out_order_no}:{account}")


async def query_split(call: Call) -> Reply:
    query = call.request.query
    out_order_no = query.get("out_order_no", "")
    transaction_id = query.get("transaction_id", "")
    call.fault("wechat.query", {"kind": "profitsharing", "out_order_no": out_order_no}, actions=set())
    sub_mchid = sellers.query_sub_mchid(call)
    for name, value in (("transaction_id", transaction_id), ("out_order_no", out_order_no)):
        if not value:
            raise d.param_error(f"输入源“/query/{name}”必填 ({name} is required)", {"location": "query", "field": name})
    found = (await call.wechat.store.account(sub_mchid)).splits.get(out_order_no)
    if found is None or found.transaction_id != transaction_id:
        raise d.resource_not_exists("分账单不存在 (no split of this sub_mchid and transaction has this out_order_no)")
    return Reply(200, views.split(sub_mchid, found))


async def finish_order(call: Call) -> Reply:
    """finish-order: the rest of the order's frozen money goes to the seller's available at once (FINISHED, with
    finish_amount in the split query of this out_order_no)."""
    wechat = call.wechat
    req = call.body(d.FinishRequest)
    attrs = {"out_order_no": req.out_order_no, "transaction_id": req.transaction_id, "sub_mchid": req.sub_mchid}
    call.fault("wechat.profitsharing", {**attrs, "kind": "finish"}, actions=set())
    await sellers.sub_merchant(wechat, req.sub_mchid, trading=False)
    now = wechat.now()
    cmd = d.FinishOrder(
        req.out_order_no, wechat.ids.profitsharing_order_id(now), req.transaction_id, req.description, now
    )
    outcome = await wechat.store.run_account(req.sub_mchid, cmd)
    record = outcome.state.splits[req.out_order_no]
    return Reply(
        200,
        {
            "sub_mchid": req.sub_mchid,
            "transaction_id": record.transaction_id,
            "out_order_no": record.out_order_no,
            "order_id": record.order_id,
        },
    )


async def return_order(call: Call) -> Reply:
    """A return from the receiver (the platform) back to the seller's available: synchronous (the docs), so the
    answer says SUCCESS, or FAILED (BALANCE_NOT_ENOUGH) when the platform's available cannot pay it."""
    wechat = call.wechat
    req = call.body(d.ReturnRequest)
    attrs = {"out_return_no": req.out_return_no, "sub_mchid": req.sub_mchid, "out_order_no": req.out_order_no or ""}
    call.fault("wechat.profitsharing", {**attrs, "kind": "return"}, actions=set())
    if req.out_order_no is None and req.order_id is None:
        raise d.param_error("order_id 和 out_order_no 必须二选一 (give out_order_no or order_id)")
    await sellers.sub_merchant(wechat, req.sub_mchid, trading=False)
    now = wechat.now()
    cmd = d.RequestReturn(
        out_return_no=req.out_return_no,
        return_id=wechat.ids.return_id(now),
        out_order_no=req.out_order_no,
        order_id=req.order_id,
        return_mchid=req.return_mchid,
        amount_fen=req.amount,
        description=req.description,
        now=now,
    )
    outcome = await wechat.store.run_account(req.sub_mchid, cmd)
    ret = outcome.state.returns[req.out_return_no]
    if ret.result == d.SPLIT_PROCESSING:
        ret = await _carry_out(wechat, req.sub_mchid, ret)
    return Reply(200, views.profitsharing_return(req.sub_mchid, ret))


async def _carry_out(wechat: Wechat, sub_mchid: str, ret: d.Return) -> d.Return:
    """Take the money from the receiver, then record the result on the seller's account (keyed steps: a retried
    return finishes a crashed one)."""
    cause = f"return:{sub_mchid}:{ret.out_return_no}"
    try:
        payout = d.PayOut(cause, ret.amount_fen, wechat.now())
        await wechat.store.run_account(ret.return_mchid, payout, command_id=f"wechat.{cause}")
        complete = d.CompleteReturn(ret.out_return_no, True, None, wechat.now())
    except d.WechatError as refused:
        if refused.code != "NOT_ENOUGH":
            raise
        complete = d.CompleteReturn(ret.out_return_no, False, d.RETURN_NOT_ENOUGH, wechat.now())
    outcome = await wechat.store.run_account(sub_mchid, complete)
    return outcome.state.returns[ret.out_return_no]


async def query_return(call: Call) -> Reply:
    query = call.request.query
    out_return_no = query.get("out_return_no", "")
    call.fault("wechat.query", {"kind": "return", "out_return_no": out_return_no}, actions=set())
    sub_mchid = sellers.query_sub_mchid(call)
    if not out_return_no:
        raise d.param_error("输入源“/query/out_return_no”必填 (out_return_no is required)", {"location": "query"})
    found = (await call.wechat.store.account(sub_mchid)).returns.get(out_return_no)
    out_order_no, order_id = query.get("out_order_no"), query.get("order_id")
    if out_order_no is None and order_id is None:
        raise d.param_error(
            "order_id 和 out_order_no 必须二选一 (give out_order_no or order_id)", {"location": "query"}
        )
    if (
        found is None
        or (out_order_no is not None and out_order_no != found.out_order_no)
        or (order_id is not None and order_id != found.order_id)
    ):
        raise d.resource_not_exists("回退单不存在 (no return of this split has this out_return_no)")
    return Reply(200, views.profitsharing_return(sub_mchid, found))


async def amounts(call: Call) -> Reply:
    """What is left to split: the order's frozen remainder (0 once finished, or for an order not to be split)."""
    transaction_id = call.request.match_info["transaction_id"]
    call.fault("wechat.query", {"kind": "amounts", "transaction_id": transaction_id}, actions=set())
    found = await call.wechat.store.order_of_transaction(transaction_id)
    sub_mchid = sub_mchid_of(found[0]) if found else None
    if found is None or sub_mchid is None or not found[0].startswith(call.mchid + "/"):
        raise d.resource_not_exists("订单不存在 (no partner order of this platform has this transaction_id)")
    held = (await call.wechat.store.account(sub_mchid)).held.get(transaction_id)
    return Reply(200, {"transaction_id": transaction_id, "unsplit_amount": held.frozen_fen if held else 0})


# --- test-only --------------------------------------------------------------------------------------------------------


class FinishSplitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sub_mchid: str = Field(min_length=1, max_length=32)


async def settle_action(request: web.Request) -> web.Response:
    """Test-only: WeChat carries out a PROCESSING split now (FINISHED, the platform credited)."""
    wechat = request.app[WECHAT]
    body = await parse_body(request, FinishSplitRequest)
    out_order_no = request.match_info["out_order_no"]
    if out_order_no not in (await wechat.store.account(body.sub_mchid)).splits:
        raise NotFound(f"no split of {body.sub_mchid} with out_order_no {out_order_no}")
    try:
        await finish_split(wechat, body.sub_mchid, out_order_no, None)
    except d.StateError as exc:
        raise Conflict(str(exc), code="invalid_split_state") from None
    await wechat.store.done(due_id(body.sub_mchid, out_order_no))
    return json_response({"out_order_no": out_order_no, "status": d.SPLIT_FINISHED})
