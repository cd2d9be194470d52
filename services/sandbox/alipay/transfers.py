"""Payouts: alipay.fund.trans.uni.transfer to a bank card or Alipay account, its query, and bank-side test actions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.alipay import domain as d
from services.sandbox.alipay.gateway import Call, Handler
from services.sandbox.alipay.runtime import ALIPAY, Alipay, fault_action
from services.sandbox.faults import ActiveFault
from shared.errors import Conflict, NotFound
from shared.http.app import json_response, parse_body

INVALID = "INVALID_PARAMETER"
BANKCARD = "TRANS_BANKCARD_NO_PWD"


def transfer_response(state: d.TransferState, now: datetime) -> dict[str, Any]:
    order = state.order
    assert order is not None
    response: dict[str, Any] = {
        **d.SUCCESS,
        "out_biz_no": order.out_biz_no,
        "order_id": state.order_id,
        "pay_fund_order_id": state.pay_fund_order_id,
        "status": state.status(now),
    }
    paid_at = state.paid_at(now)
    if paid_at is not None:
        response["trans_date"] = d.wire_time(paid_at)
    return response


def query_response(state: d.TransferState, now: datetime) -> dict[str, Any]:
    order = state.order
    assert order is not None
    status = state.status(now)
    response: dict[str, Any] = {
        **d.SUCCESS,
        "order_id": state.order_id,
        "out_biz_no": order.out_biz_no,
        "status": status,
    }
    if status != "FAIL":
        response["pay_fund_order_id"] = state.pay_fund_order_id
    if status == "SUCCESS":
        response["trans_amount"] = d.yuan(order.amount_fen)
    paid_at = state.paid_at(now)
    if paid_at is not None:
        response["pay_date"] = d.wire_time(paid_at)
    if order.product_code == BANKCARD and status != "FAIL" and state.created_at is not None:
        response["arrival_time_end"] = d.wire_time(state.created_at + timedelta(days=1))
        response["order_fee"] = "0.00"
    if status in ("FAIL", "REFUND"):
        response["error_code"] = state.error_code
        response["fail_reason"] = state.fail_reason
    return response


async def uni_transfer(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    """One payout per out_biz_no. Production requires public-key-certificate mode (app_cert_sn, alipay_root_cert_sn)
    for this method; the sandbox accepts plain public-key RSA2 like every other method and ignores those fields."""
    biz = d.parse_biz(d.TransferBiz, call.biz, INVALID)
    now = alipay.clock.now()
    app_id = alipay.app_id
    payee = biz.payee_info
    order = d.TransferOrder(
        app_id=app_id,
        out_biz_no=biz.out_biz_no,
        amount_fen=biz.trans_amount,
        product_code=biz.product_code,
        biz_scene=biz.biz_scene,
        order_title=biz.order_title,
        payee_identity=payee.identity,
        payee_identity_type=payee.identity_type,
        payee_name=payee.name,
        remark=biz.remark,
    )
    existing = await alipay.store.transfer(app_id, biz.out_biz_no)
    if d.is_repeat(existing, order):
        return transfer_response(existing, now)  # the same request again: the same transfer, never a second one
    d.check_single_payout(biz.trans_amount, alipay.settings.alipay_transfer_single_limit_fen)
    outcome: Literal["SUCCESS", "FAIL", "DEALING"] = "SUCCESS"
    settle_at = None
    if fault_action(fault, "decline"):
        outcome = "FAIL"
    elif fault is not None and fault.action == "delay":
        # A bank still processing: DEALING until delay_s has passed (0: until a test settles it).
        outcome = "DEALING"
        settle_at = now + timedelta(seconds=fault.delay_s) if fault.delay_s > 0 else None
    if outcome != "FAIL":
        count = d.CountPayout(biz.out_biz_no, biz.trans_amount, alipay.settings.alipay_transfer_daily_limit_fen)
        await alipay.store.count_payout(app_id, d.beijing_day(now), count)
    cmd = d.CreateTransfer(
        order=order,
        order_id=alipay.ids.transfer_order_id(now),
        pay_fund_order_id=alipay.ids.transfer_order_id(now),
        outcome=outcome,
        settle_at=settle_at,
        now=now,
    )
    created = await alipay.store.run_transfer(app_id, biz.out_biz_no, cmd)
    return transfer_response(created.state, now)


async def common_query(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    biz = d.parse_biz(d.TransferQueryBiz, call.biz, INVALID)
    if fault_action(fault, "decline"):
        raise d.BizError("SYSTEM_ERROR", "系统繁忙")
    out_biz_no = biz.out_biz_no
    if biz.order_id or biz.pay_fund_order_id:
        out_biz_no = await alipay.store.out_biz_no_of(
            alipay.app_id, order_id=biz.order_id, pay_fund_order_id=biz.pay_fund_order_id
        )
    state = await alipay.store.transfer(alipay.app_id, out_biz_no) if out_biz_no else d.TransferState()
    if state.order is None or (biz.product_code and biz.product_code != state.order.product_code):
        raise d.BizError(*d.ORDER_NOT_EXIST)
    return query_response(state, alipay.clock.now())


# --- bank-side test actions -------------------------------------------------------------------------------------------


class SettleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["SUCCESS", "FAIL"] = "SUCCESS"
    fail_reason: str | None = Field(default=None, max_length=200)


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="收款账户状态异常，银行退票", min_length=1, max_length=200)


async def _run(request: web.Request, cmd: d.TransferCommand) -> web.Response:
    alipay = request.app[ALIPAY]
    out_biz_no = request.match_info["out_biz_no"]
    current = await alipay.store.transfer(alipay.app_id, out_biz_no)
    if current.order is None:
        raise NotFound(f"no transfer with out_biz_no {out_biz_no}")
    try:
        outcome = await alipay.store.run_transfer(alipay.app_id, out_biz_no, cmd)
    except d.TransferStateError as exc:
        raise Conflict(str(exc), code="invalid_transfer_state") from None
    return json_response({"out_biz_no": out_biz_no, "status": outcome.state.status(alipay.clock.now())})


async def settle(request: web.Request) -> web.Response:
    """Test-only: the bank finishes a DEALING payout (SUCCESS, or FAIL with a reason)."""
    body = await parse_body(request, SettleRequest)
    return await _run(request, d.SettleTransfer(body.status, body.fail_reason, request.app[ALIPAY].clock.now()))


async def bank_return(request: web.Request) -> web.Response:
    """Test-only: 退票, the bank sends a card payout back after it was reported SUCCESS."""
    body = await parse_body(request, ReturnRequest)
    return await _run(request, d.ReturnTransfer(body.reason, request.app[ALIPAY].clock.now()))


METHODS: dict[str, Handler] = {
    "alipay.fund.trans.uni.transfer": uni_transfer,
    "alipay.fund.trans.common.query": common_query,
}
