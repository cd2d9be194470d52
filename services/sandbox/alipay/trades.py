"""Trades: app pay (the buyer's side), password-free alipay.trade.pay, query, close, refund and refund query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.alipay import domain as d
from services.sandbox.alipay import identity, notify, royalty
from services.sandbox.alipay.gateway import Call, Handler, verify_buyer_params
from services.sandbox.alipay.runtime import ALIPAY, Alipay, buyer_error, fault_action
from services.sandbox.faults import ActiveFault
from shared.errors import AppError
from shared.http.app import json_response, parse_body
from shared.protocols.alipay import APP_PAY_METHOD, AlipayMalformed, parse_order_string

SYSTEM_ERROR = ("ACQ.SYSTEM_ERROR", "系统异常")


def buyer_fields(state: d.TradeState, user_key: str = "buyer_user_id") -> dict[str, str]:
    """The buyer as Alipay names it: ``buyer_user_id`` (``buyer_id`` in notifications), or ``buyer_open_id`` for a
    trade paid under the OpenID regime, which carries no user id."""
    assert state.buyer_id is not None
    who = {"buyer_open_id": state.buyer_open_id} if state.buyer_open_id else {user_key: state.buyer_id}
    return {"buyer_logon_id": d.masked_logon_id(state.buyer_id), **who}


def _paid_fields(state: d.TradeState) -> dict[str, Any]:
    order = state.order
    assert order is not None and state.buyer_id is not None and state.paid_at is not None
    amount = d.yuan(order.total_fen)
    return {
        **buyer_fields(state),
        "total_amount": amount,
        "receipt_amount": amount,
        "buyer_pay_amount": amount,
        "invoice_amount": amount,
        "point_amount": "0.00",
        "fund_bill_list": [{"fund_channel": "ALIPAYACCOUNT", "amount": amount}],
    }


def trade_settle_info(state: d.TradeState, seller_id: str) -> dict[str, Any]:
    """What ``query_options: ["trade_settle_info"]`` adds: the trade's splits (``trade_unsettled_amount`` is
    documented for 直付通 / 直连账期 only, so 商家分账 leaves it out; onsettle.query gives the frozen remainder)."""
    return {
        "trade_settle_detail_list": [
            {
                "operation_type": "transfer",
                "operation_serial_no": detail.detail_id,
                "operation_dt": d.wire_time(settlement.at),
                "trans_out": seller_id,
                "trans_in": detail.user_id,
                "ori_trans_out": seller_id,
                "ori_trans_in": detail.trans_in,
                "amount": d.yuan(detail.amount_fen),
            }
            for settlement in state.settlements
            for detail in settlement.details
        ]
    }


def query_response(state: d.TradeState, now: datetime, options: tuple[str, ...] = ()) -> dict[str, Any]:
    order = state.order
    assert order is not None
    response: dict[str, Any] = {
        **d.SUCCESS,
        "trade_no": state.trade_no,
        "out_trade_no": order.out_trade_no,
        "trade_status": state.status(now),
        "total_amount": d.yuan(order.total_fen),
        "buyer_pay_amount": "0.00",
    }
    if state.paid_at is not None:
        response.update(_paid_fields(state))
        response["send_pay_date"] = d.wire_time(state.paid_at)
    if "trade_settle_info" in options and state.frozen:
        response["trade_settle_info"] = trade_settle_info(state, order.seller_id)
    return response


async def _find(alipay: Alipay, ref: d.TradeRefBiz) -> tuple[str, d.TradeState]:
    """The trade a request names; trade_no wins over out_trade_no when both are given."""
    out_trade_no = ref.out_trade_no
    if ref.trade_no:
        out_trade_no = await alipay.store.out_trade_no_of(alipay.app_id, ref.trade_no)
    state = await alipay.store.trade(alipay.app_id, out_trade_no) if out_trade_no else d.TradeState()
    if out_trade_no is None or state.order is None:
        raise d.BizError(*d.TRADE_NOT_EXIST)
    return out_trade_no, state


async def trade_query(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    ref = d.parse_biz(d.TradeQueryBiz, call.biz)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    _, state = await _find(alipay, ref)
    return query_response(state, alipay.clock.now(), tuple(ref.query_options))


async def trade_close(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    ref = d.parse_biz(d.CloseBiz, call.biz)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    out_trade_no, _ = await _find(alipay, ref)
    outcome = await alipay.store.run_trade(alipay.app_id, out_trade_no, d.CloseTrade(alipay.clock.now()))
    await notify.trade_closed(alipay, outcome.state)
    return {**d.SUCCESS, "trade_no": outcome.state.trade_no, "out_trade_no": out_trade_no}


async def trade_refund(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    biz = d.parse_biz(d.RefundBiz, call.biz)
    if fault_action(fault, "decline"):
        raise d.BizError("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
    out_trade_no, state = await _find(alipay, biz)
    assert state.order is not None
    request_no = biz.out_request_no
    if not request_no:
        if biz.refund_amount != state.order.total_fen:
            raise d.BizError("ACQ.INVALID_PARAMETER", "参数无效: 部分退款时 out_request_no 必传")
        request_no = out_trade_no  # a full refund without a request number is keyed by the order itself
    cmd = await royalty.plan_refund_command(alipay, state, biz, request_no, alipay.clock.now())
    outcome = await royalty.refund_money(alipay, out_trade_no, state, cmd)
    state = outcome.state
    refund = state.refund(request_no)
    assert refund is not None and state.buyer_id is not None
    if outcome.entry is not None:
        await notify.trade_refunded(alipay, state, refund)
    return {
        **d.SUCCESS,
        "trade_no": state.trade_no,
        "out_trade_no": out_trade_no,
        **buyer_fields(state),
        # Y only for the request that moved money; a replayed out_request_no answers N and refunds nothing.
        "fund_change": "Y" if outcome.entry is not None else "N",
        "refund_fee": d.yuan(state.refunded_fen),
        "send_back_fee": d.yuan(refund.amount_fen),
        "gmt_refund_pay": d.wire_time(refund.at),
    }


async def refund_query(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    biz = d.parse_biz(d.RefundQueryBiz, call.biz)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    out_trade_no, state = await _find(alipay, biz)
    assert state.order is not None
    refund = state.refund(biz.out_request_no)
    if refund is None or fault_action(fault, "delay"):
        # A `delay` fault: the refund is not visible to the query yet (Alipay's query can lag its refund).
        # "No data" is how Alipay says the refund did not happen: success code, no refund fields.
        return dict(d.SUCCESS)
    response: dict[str, Any] = {
        **d.SUCCESS,
        "trade_no": state.trade_no,
        "out_trade_no": out_trade_no,
        "out_request_no": refund.out_request_no,
        "total_amount": d.yuan(state.order.total_fen),
        "refund_amount": d.yuan(refund.amount_fen),
        "refund_status": "REFUND_SUCCESS",
    }
    if refund.reason:
        response["refund_reason"] = refund.reason
    if "gmt_refund_pay" in biz.query_options:
        response["gmt_refund_pay"] = d.wire_time(refund.at)
    return response


async def withholding_pay(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    """alipay.trade.pay with an agreement: charged synchronously within the agreement's limits."""
    if call.biz.get("product_code") not in ("GENERAL_WITHHOLDING", "CYCLE_PAY_AUTH"):
        raise d.BizError(
            "ACQ.ACCESS_FORBIDDEN", "无权限使用接口: 沙箱只支持商家扣款 (GENERAL_WITHHOLDING / CYCLE_PAY_AUTH)"
        )
    biz = d.parse_biz(d.WithholdPayBiz, call.biz)
    now = alipay.clock.now()
    app_id = alipay.app_id
    agreement_no = biz.agreement_params.agreement_no
    existing = await alipay.store.trade(app_id, biz.out_trade_no)
    agreement = await alipay.store.agreement(agreement_no)
    if agreement.terms is None:
        raise d.BizError(*d.AGREEMENT_NOT_EXIST)
    order = d.TradeOrder(
        app_id=app_id,
        out_trade_no=biz.out_trade_no,
        total_fen=biz.total_amount,
        subject=biz.subject,
        product_code=biz.product_code,
        seller_id=alipay.settings.alipay_seller_id,
        body=biz.body,
        notify_url=call.notify_url,  # only with a notify_url does a password-free payment notify
        agreement_no=agreement_no,
        royalty_freeze=d.freezes(biz.extend_params),
    )
    buyer = agreement.terms.user_id
    open_id = await identity.open_id_of(alipay, buyer) if identity.open_id_mode(alipay) else None
    pay = d.PayTrade(order, alipay.ids.trade_no(now), buyer, now, buyer_open_id=open_id)
    if existing.order is not None:
        d.decide_trade(existing, pay)  # raises: already paid, closed or different terms; nothing is charged
    if fault_action(fault, "decline"):
        raise d.BizError("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
    charge = d.ChargeAgreement(biz.out_trade_no, biz.total_amount, biz.product_code, app_id, now)
    charged = await alipay.store.run_agreement(agreement_no, charge)
    try:
        outcome = await alipay.store.run_trade(app_id, biz.out_trade_no, pay)
    except d.BizError as err:
        if charged.entry is not None and err.sub_code != "ACQ.TRADE_HAS_SUCCESS":
            # The out_trade_no went to another payment between our check and our charge: give the money back.
            await alipay.store.run_agreement(agreement_no, d.VoidCharge(biz.out_trade_no, alipay.clock.now()))
        raise
    state = outcome.state
    assert state.paid_at is not None
    if outcome.entry is not None:
        await royalty.book_payment(alipay, state)
    await notify.trade_paid(alipay, state)
    return {
        **d.SUCCESS,
        "trade_no": state.trade_no,
        "out_trade_no": biz.out_trade_no,
        **_paid_fields(state),
        "gmt_payment": d.wire_time(state.paid_at),
    }


# --- buyer actions (test-only) ----------------------------------------------------------------------------------------


class PayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_string: str = Field(min_length=1, max_length=16_384)
    user_id: str | None = Field(default=None, pattern=r"^2088[0-9]{12}$")
    open_id: str | None = Field(default=None, pattern=r"^0[0-9A-Za-z]{43,63}$")


async def buyer_pay(request: web.Request) -> web.Response:
    """The buyer confirms the app-pay cashier: verifies the order string, pays the trade once, notifies."""
    body = await parse_body(request, PayRequest)
    alipay = request.app[ALIPAY]
    try:
        params = parse_order_string(body.order_string)
    except AlipayMalformed as exc:
        raise AppError(str(exc), code="invalid_order_string", status=400) from None
    call = verify_buyer_params(alipay, params, APP_PAY_METHOD)
    now = alipay.clock.now()
    try:
        biz = d.parse_biz(d.AppPayBiz, call.biz)
        expires_at = d.trade_expiry(now, biz.timeout_express, biz.time_expire)
    except d.BizError as err:
        raise buyer_error(err) from None
    except ValueError as exc:
        raise buyer_error(d.BizError("ACQ.INVALID_PARAMETER", f"参数无效: {exc}")) from None
    order = d.TradeOrder(
        app_id=alipay.app_id,
        out_trade_no=biz.out_trade_no,
        total_fen=biz.total_amount,
        subject=biz.subject,
        product_code=biz.product_code,
        seller_id=alipay.settings.alipay_seller_id,
        body=biz.body,
        passback_params=biz.passback_params,
        notify_url=call.notify_url or alipay.settings.default_notify_url or None,
        expires_at=expires_at,
        royalty_freeze=d.freezes(biz.extend_params),
    )
    trade_no = alipay.ids.trade_no(now)
    if not body.user_id and not body.open_id:
        raise AppError("the buyer is named by user_id or open_id", code="invalid_request", status=422)
    buyer, open_id = await identity.buyer(alipay, body.user_id, body.open_id)
    fault = alipay.faults.take("alipay.pay", {"out_trade_no": biz.out_trade_no, "user_id": buyer})
    try:
        if fault_action(fault, "decline"):
            # The buyer reached the cashier, so the trade exists (WAIT_BUYER_PAY); the payment itself failed.
            await alipay.store.run_trade(alipay.app_id, biz.out_trade_no, d.OpenTrade(order, trade_no, now))
            raise AppError("支付失败: the buyer's payment was declined", code="payment_declined", status=402)
        outcome = await alipay.store.run_trade(
            alipay.app_id, biz.out_trade_no, d.PayTrade(order, trade_no, buyer, now, buyer_open_id=open_id)
        )
    except d.BizError as err:
        raise buyer_error(err) from None
    await royalty.book_payment(alipay, outcome.state)
    await notify.trade_paid(alipay, outcome.state)
    return json_response({"result": "ok", "trade_no": outcome.state.trade_no})


METHODS: dict[str, Handler] = {
    "alipay.trade.query": trade_query,
    "alipay.trade.close": trade_close,
    "alipay.trade.refund": trade_refund,
    "alipay.trade.fastpay.refund.query": refund_query,
    "alipay.trade.pay": withholding_pay,
}
