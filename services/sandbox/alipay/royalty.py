"""商家分账: relation bind/unbind/batchquery, rate query, order.settle (split and finish), settle and onsettle queries,
the account books behind them (payments, settlements, refunds), and the test-only balance views."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from services.sandbox.alipay import domain as d
from services.sandbox.alipay import identity
from services.sandbox.alipay.gateway import Call, Handler
from services.sandbox.alipay.runtime import ALIPAY, Alipay, fault_action
from services.sandbox.faults import ActiveFault
from shared.errors import AppError, NotFound
from shared.http.app import json_response
from shared.streams import Outcome

SYSTEM_ERROR = ("ACQ.SYSTEM_ERROR", "系统异常")
RESULT_SUCCESS = {"result_code": "SUCCESS"}
RECEIVER_INVALID = ("ACQ.ROYALTY_RECEIVER_INVALID", "收入方不在分账关系内")


def _seller(alipay: Alipay) -> str:
    return alipay.settings.alipay_seller_id


# --- relations ------------------------------------------------------------------------------------------------------


async def relation_bind(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    biz = d.parse_biz(d.RelationBindBiz, call.biz)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    now = alipay.clock.now()
    for entity in biz.receiver_list:
        user_id = await identity.resolve(alipay, entity.type, entity.account)
        if user_id == _seller(alipay):
            raise d.BizError("ACQ.INVALID_PARAMETER", "参数无效: 分账收入方不能是收款方自己")
        cmd = d.BindRelation(entity.type, entity.account, entity.name, entity.memo, now)
        await alipay.store.run_relation(alipay.app_id, user_id, cmd)
    return {**d.SUCCESS, **RESULT_SUCCESS}


async def relation_unbind(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    biz = d.parse_biz(d.RelationBindBiz, call.biz)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    now = alipay.clock.now()
    for entity in biz.receiver_list:
        user_id = await identity.resolve(alipay, entity.type, entity.account)
        await alipay.store.run_relation(alipay.app_id, user_id, d.UnbindRelation(now))
    return {**d.SUCCESS, **RESULT_SUCCESS}


async def relation_batchquery(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    biz = d.parse_biz(d.RelationBatchQueryBiz, call.biz)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    bound: list[dict[str, Any]] = []
    for user_id in await alipay.store.relation_user_ids(alipay.app_id):
        state = await alipay.store.relation(alipay.app_id, user_id)
        if not state.bound:
            continue
        entry: dict[str, Any] = {"type": state.type, "account": state.account}
        if state.name:
            entry["name"] = state.name
        if state.memo:
            entry["memo"] = state.memo
        if state.type == "loginName":
            entry["login_name"] = entry["bind_login_name"] = state.account
        if identity.open_id_mode(alipay):
            entry["account_open_id"] = await identity.open_id_of(alipay, user_id)
        bound.append(entry)
    start = (biz.page_num - 1) * biz.page_size
    return {
        **d.SUCCESS,
        **RESULT_SUCCESS,
        "receiver_list": bound[start : start + biz.page_size],
        "total_page_num": max(1, -(-len(bound) // biz.page_size)),
        "total_record_num": len(bound),
        "current_page_num": biz.page_num,
        "current_page_size": biz.page_size,
    }


async def rate_query(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    return {**d.SUCCESS, "user_id": _seller(alipay), "max_ratio": alipay.settings.alipay_royalty_max_ratio_pct}


# --- settlement -----------------------------------------------------------------------------------------------------


def _fingerprint(biz: d.SettleBiz) -> str:
    """What a repeated out_request_no must match: the trade, the details and whether it finishes."""
    body = {
        "trade_no": biz.trade_no,
        "finish": biz.finish,
        "details": [p.model_dump(mode="json", exclude_none=True) for p in biz.royalty_parameters],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


async def _trade_by_no(alipay: Alipay, trade_no: str) -> tuple[str, d.TradeState]:
    out_trade_no = await alipay.store.out_trade_no_of(alipay.app_id, trade_no)
    state = await alipay.store.trade(alipay.app_id, out_trade_no) if out_trade_no else d.TradeState()
    if out_trade_no is None or state.order is None:
        raise d.BizError(*d.TRADE_NOT_EXIST)
    return out_trade_no, state


async def book_settlement(alipay: Alipay, state: d.TradeState, settlement: d.Settlement) -> None:
    """The settlement's money on the books (idempotent: re-running it after a crash or for a replay books once)."""
    seller, now, ref = _seller(alipay), settlement.at, f"settle:{settlement.settle_no}"
    if settlement.amount_fen:
        await alipay.store.book(seller, d.Book("settle_out", ref, 0, -settlement.amount_fen, now))
    for detail in settlement.details:
        cmd = d.Book("settle_in", f"{ref}:{detail.detail_id}", detail.amount_fen, 0, now)
        await alipay.store.book(detail.user_id, cmd)
    if settlement.unfrozen_fen:
        cmd = d.Book("unfreeze", f"{ref}:unfreeze", settlement.unfrozen_fen, -settlement.unfrozen_fen, now)
        await alipay.store.book(seller, cmd)


async def order_settle(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    biz = d.parse_biz(d.SettleBiz, call.biz)
    if biz.royalty_mode == "async":
        raise d.BizError("ACQ.INVALID_PARAMETER", "参数无效: 沙箱只支持同步分账 (royalty_mode=sync)")
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    now = alipay.clock.now()
    out_trade_no, _ = await _trade_by_no(alipay, biz.trade_no)
    owner = await alipay.store.claim_settle_request(alipay.app_id, biz.out_request_no, biz.trade_no)
    if owner != biz.trade_no:
        raise d.BizError("ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致: 该分账请求号已用于另一笔交易")
    details = []
    for param in biz.royalty_parameters:
        user_id = await identity.resolve(alipay, param.trans_in_type, param.trans_in)
        if not (await alipay.store.relation(alipay.app_id, user_id)).bound:
            raise d.BizError(*RECEIVER_INVALID)
        detail_id = alipay.ids.detail_id(now)
        details.append(
            d.SettleDetail(
                user_id, param.trans_in, param.trans_in_type, param.amount, detail_id, param.desc, param.royalty_scene
            )
        )
    cmd = d.SettleTrade(
        out_request_no=biz.out_request_no,
        settle_no=alipay.ids.settle_no(now),
        details=tuple(details),
        finish=biz.finish,
        max_ratio_pct=alipay.settings.alipay_royalty_max_ratio_pct,
        fingerprint=_fingerprint(biz),
        now=now,
    )
    outcome = await alipay.store.run_trade(alipay.app_id, out_trade_no, cmd)
    settlement = outcome.state.settlement(biz.out_request_no)
    assert settlement is not None
    await alipay.store.save_settle_no(settlement.settle_no, alipay.app_id, out_trade_no, biz.out_request_no)
    await book_settlement(alipay, outcome.state, settlement)
    return {**d.SUCCESS, "trade_no": biz.trade_no, "settle_no": settlement.settle_no}


async def settle_query(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    biz = d.parse_biz(d.SettleQueryBiz, call.biz)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    if biz.settle_no:
        doc = await alipay.store.settle_of(biz.settle_no)
        if doc is None or doc["app_id"] != alipay.app_id:
            raise d.BizError("ACQ.TRADE_NOT_EXIST", "分账单不存在")
        state = await alipay.store.trade(alipay.app_id, str(doc["out_trade_no"]))
        out_request_no = str(doc["out_request_no"])
    else:
        assert biz.trade_no is not None and biz.out_request_no is not None
        _, state = await _trade_by_no(alipay, biz.trade_no)
        out_request_no = biz.out_request_no
    settlement = state.settlement(out_request_no)
    if settlement is None:
        raise d.BizError("ACQ.TRADE_NOT_EXIST", "分账单不存在")
    seller = _seller(alipay)
    return {
        **d.SUCCESS,
        "out_request_no": settlement.out_request_no,
        "operation_dt": d.wire_time(settlement.at),
        "royalty_detail_list": [
            {
                "operation_type": "transfer",
                "execute_dt": d.wire_time(settlement.at),
                "trans_out": seller,
                "trans_out_type": "userId",
                "trans_in": detail.trans_in,
                "trans_in_type": detail.trans_in_type,
                "amount": d.yuan(detail.amount_fen),
                "state": "SUCCESS",
                "detail_id": detail.detail_id,
            }
            for detail in settlement.details
        ],
    }


async def onsettle_query(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    """alipay.trade.order.onsettle.query: how much of the trade can still be settled (its frozen remainder)."""
    biz = d.parse_biz(d.OnsettleQueryBiz, call.biz)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    _, state = await _trade_by_no(alipay, biz.trade_no)
    return {**d.SUCCESS, "unsettled_amount": d.yuan(state.frozen_fen)}


# --- books for payments and refunds ---------------------------------------------------------------------------------


async def book_payment(alipay: Alipay, state: d.TradeState) -> None:
    """A paid royalty trade's money reaches the collecting account, frozen."""
    assert state.order is not None and state.paid_at is not None
    if not state.frozen:
        # Only royalty trades are on the books: an ordinary payment would make the collecting account's stream
        # (read whole by every booking) grow with every sale, and nothing here reads it.
        return
    amount = state.order.total_fen
    await alipay.store.book(state.order.seller_id, d.Book("pay", f"pay:{state.trade_no}", 0, amount, state.paid_at))


async def refund_money(
    alipay: Alipay, out_trade_no: str, state: d.TradeState, cmd: d.RefundTrade
) -> Outcome[d.TradeState]:
    """Take a refund's money from where plan_refund says, then record the refund on the trade (which decides);
    if the trade refuses it, the money taken is put back. Bookings are named after the request (and its amount),
    so a retried request never takes the money twice."""
    assert state.order is not None
    if not state.frozen:
        return await alipay.store.run_trade(alipay.app_id, out_trade_no, cmd)  # not on the books (book_payment)
    seller, now = state.order.seller_id, cmd.now
    ref = f"refund:{state.trade_no}:{cmd.out_request_no}:{cmd.amount_fen}"
    taken: list[tuple[str, d.Book]] = []
    try:
        for back in cmd.royalty_back:
            book = d.Book(
                "royalty_back",
                f"{ref}:{back.user_id}",
                -back.amount_fen,
                0,
                now,
                message=f"退分账出资方 {back.trans_out} 余额不足",
            )
            await alipay.store.book(back.user_id, book)
            taken.append((back.user_id, book))
        available = cmd.from_available_fen or 0
        if available:
            book = d.Book(
                "refund", f"{ref}:available", -available, 0, now, message="卖家余额不足: 收款账户可用余额不足以退款"
            )
            await alipay.store.book(seller, book)
            taken.append((seller, book))
        outcome = await alipay.store.run_trade(alipay.app_id, out_trade_no, cmd)
    except d.BizError:
        for user_id, book in taken:
            kind = "royalty_back_void" if book.kind == "royalty_back" else "void"
            await alipay.store.book(user_id, d.Book(kind, book.ref + ":void", -book.available_delta, 0, now))
        raise
    if outcome.entry is not None and cmd.from_frozen_fen:
        await alipay.store.book(seller, d.Book("refund", f"{ref}:frozen", 0, -cmd.from_frozen_fen, now))
    return outcome


async def plan_refund_command(
    alipay: Alipay, state: d.TradeState, biz: d.RefundBiz, request_no: str, now: Any
) -> d.RefundTrade:
    backs = []
    for param in biz.refund_royalty_parameters:
        user_id = await identity.resolve(alipay, param.trans_out_type, param.trans_out)
        backs.append(d.RoyaltyBack(user_id, param.trans_out, param.amount))
    royalty_back = tuple(backs)
    if state.refund(request_no) is not None:
        # A replay: the recorded refund answers it, and nothing is taken again.
        return d.RefundTrade(request_no, biz.refund_amount, biz.refund_reason, now, 0, 0, ())
    from_frozen, from_available = d.plan_refund(state, biz.refund_amount, royalty_back)
    cmd = d.RefundTrade(
        request_no, biz.refund_amount, biz.refund_reason, now, from_frozen, from_available, royalty_back
    )
    d.decide_trade(state, cmd)  # a dry run: a refund the trade refuses is refused before any money moves
    return cmd


# --- test-only views ------------------------------------------------------------------------------------------------


async def account_view(request: web.Request) -> web.Response:
    """GET /sandbox/alipay/accounts/{account}: an account's balances, by user id or open id."""
    alipay = request.app[ALIPAY]
    account = request.match_info["account"]
    if d.USER_ID_RE.fullmatch(account):
        user_id = account
    else:
        found = await alipay.store.user_of("openId", account) or await alipay.store.user_of("loginName", account)
        if found is None:
            raise NotFound("no such Alipay account in the sandbox", details={"account": account})
        user_id = found
    state = await alipay.store.account(user_id)
    return json_response(
        {
            "user_id": user_id,
            "open_id": await identity.open_id_of(alipay, user_id) if identity.open_id_mode(alipay) else None,
            "available": d.yuan(state.available_fen),
            "frozen": d.yuan(state.frozen_fen),
            "royalty_in": d.yuan(state.royalty_in_fen),
            "royalty_back": d.yuan(state.royalty_back_fen),
            "bookings": state.bookings,
        }
    )


async def trade_royalty_view(request: web.Request) -> web.Response:
    """GET /sandbox/alipay/trades/{trade_no}/royalty: a trade's frozen remainder and what was settled from it."""
    alipay = request.app[ALIPAY]
    trade_no = request.match_info["trade_no"]
    out_trade_no = await alipay.store.out_trade_no_of(alipay.app_id, trade_no)
    state = await alipay.store.trade(alipay.app_id, out_trade_no) if out_trade_no else d.TradeState()
    if state.order is None:
        raise NotFound("no such trade", details={"trade_no": trade_no})
    if not state.frozen:
        raise AppError("this trade was not frozen for royalty", code="not_frozen", status=409)
    return json_response(
        {
            "trade_no": trade_no,
            "royalty_freeze": True,
            "frozen": d.yuan(state.frozen_fen),
            "settled": d.yuan(state.settled_fen),
            "unfrozen": d.yuan(sum(s.unfrozen_fen for s in state.settlements)),
            "finished": state.royalty_finished,
            "refunded_from_frozen": d.yuan(sum(r.from_frozen_fen for r in state.refunds)),
        }
    )


METHODS: dict[str, Handler] = {
    "alipay.trade.royalty.relation.bind": relation_bind,
    "alipay.trade.royalty.relation.unbind": relation_unbind,
    "alipay.trade.royalty.relation.batchquery": relation_batchquery,
    "alipay.trade.royalty.rate.query": rate_query,
    "alipay.trade.order.settle": order_settle,
    "alipay.trade.order.settle.query": settle_query,
    "alipay.trade.order.onsettle.query": onsettle_query,
}
