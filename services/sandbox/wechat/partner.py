"""Partner (service-provider) JSAPI: the platform sp_mchid places, queries and closes orders for its sellers."""

from __future__ import annotations

from services.sandbox.wechat import domain as d
from services.sandbox.wechat import sellers, transactions
from services.sandbox.wechat.store import partner_key
from services.sandbox.wechat.v3 import Call, Reply


def _query_merchants(call: Call) -> tuple[str, str]:
    """``sp_mchid`` (the signer) and ``sub_mchid`` query parameters of a partner query."""
    sp_mchid = call.request.query.get("sp_mchid", "")
    sub_mchid = call.request.query.get("sub_mchid", "")
    for name, value in (("sp_mchid", sp_mchid), ("sub_mchid", sub_mchid)):
        if not value:
            raise d.param_error(f"输入源“/query/{name}”必填 ({name} is required)", {"location": "query", "field": name})
    d.check_mchid(sp_mchid, auth_mchid=call.mchid)
    return sp_mchid, sub_mchid


async def jsapi(call: Call) -> Reply:
    wechat = call.wechat
    req = call.body(d.PartnerJsapiRequest)
    call.fault("wechat.jsapi", {"out_trade_no": req.out_trade_no, "sub_mchid": req.sub_mchid}, actions=set())
    d.check_merchant(req.sp_appid, req.sp_mchid, auth_mchid=call.mchid, known_appid=wechat.appid)
    if req.sub_appid is not None:
        raise d.WechatError(
            400, "APPID_MCHID_NOT_MATCH", f"sub_appid {req.sub_appid} 未与 sub_mchid 绑定 (the sandbox serves sp_appid)"
        )
    await sellers.sub_merchant(wechat, req.sub_mchid)
    min_window_s = wechat.scaled(d.MIN_PAY_WINDOW_S).total_seconds()
    order = d.partner_order_from_request(req, wechat.now(), min_window_s=min_window_s)
    return await transactions.place(call, partner_key(call.mchid, req.sub_mchid), order)


async def query_by_out_trade_no(call: Call) -> Reply:
    out_trade_no = call.request.match_info["out_trade_no"]
    call.fault("wechat.query", {"kind": "transaction", "out_trade_no": out_trade_no}, actions=set())
    sp_mchid, sub_mchid = _query_merchants(call)
    return await transactions.query_order(call, out_trade_no, partner_key(sp_mchid, sub_mchid))


async def query_by_transaction_id(call: Call) -> Reply:
    transaction_id = call.request.match_info["transaction_id"]
    call.fault("wechat.query", {"kind": "transaction", "transaction_id": transaction_id}, actions=set())
    sp_mchid, sub_mchid = _query_merchants(call)
    key = partner_key(sp_mchid, sub_mchid)
    return await transactions.query_order(call, await call.wechat.store.out_trade_no_of(key, transaction_id), key)


async def close(call: Call) -> Reply:
    out_trade_no = call.request.match_info["out_trade_no"]
    req = call.body(d.PartnerCloseRequest)
    call.fault("wechat.close", {"out_trade_no": out_trade_no, "sub_mchid": req.sub_mchid}, actions=set())
    d.check_mchid(req.sp_mchid, auth_mchid=call.mchid)
    wechat = call.wechat
    await wechat.store.run_transaction(
        partner_key(req.sp_mchid, req.sub_mchid), out_trade_no, d.CloseOrder(wechat.now())
    )
    return Reply(204)
