"""JSAPI payments: place, query and close orders (direct and partner); the platform certificates; wx.requestPayment."""

from __future__ import annotations

import re

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.wechat import domain as d
from services.sandbox.wechat import funds, notify, views
from services.sandbox.wechat.runtime import WECHAT
from services.sandbox.wechat.v3 import Call, Reply
from shared.errors import AppError, NotFound
from shared.http.app import json_response, parse_body
from shared.protocols import wechatpay as wp


async def jsapi(call: Call) -> Reply:
    wechat = call.wechat
    req = call.body(d.JsapiRequest)
    call.fault("wechat.jsapi", {"out_trade_no": req.out_trade_no}, actions=set())
    d.check_merchant(req.appid, req.mchid, auth_mchid=call.mchid, known_appid=wechat.appid)
    min_window_s = wechat.scaled(d.MIN_PAY_WINDOW_S).total_seconds()
    order = d.order_from_request(req, wechat.now(), min_window_s=min_window_s)
    return await place(call, call.mchid, order)


async def place(call: Call, key: str, order: d.Order) -> Reply:
    """Place (or repeat) an order under a merchant key, direct or partner: its payer must have logged in."""
    wechat = call.wechat
    if not await wechat.store.knows_openid(order.appid, order.openid):
        field = "payer.sp_openid" if order.partner else "payer.openid"
        raise d.WechatError(
            400,
            "OPENID_MISMATCH",
            f"openid和appid不匹配 ({field} {order.openid} was never issued for appid {order.appid}; "
            "a sandbox openid comes from jscode2session after POST /sandbox/wechat/login-codes)",
        )
    now = wechat.now()
    cmd = d.PlaceOrder(order, wechat.ids.prepay_id(now), now)
    outcome = await wechat.store.run_transaction(key, order.out_trade_no, cmd)
    return Reply(200, {"prepay_id": outcome.state.prepay_id})


async def query_order(call: Call, out_trade_no: str | None, key: str | None = None) -> Reply:
    if out_trade_no is None:
        raise d.order_not_exist()
    state = await call.wechat.store.transaction(key or call.mchid, out_trade_no)
    if state.order is None:
        raise d.order_not_exist()
    return Reply(200, views.transaction(state))


async def query_by_out_trade_no(call: Call) -> Reply:
    out_trade_no = call.request.match_info["out_trade_no"]
    call.fault("wechat.query", {"kind": "transaction", "out_trade_no": out_trade_no}, actions=set())
    call.query_mchid()
    return await query_order(call, out_trade_no)


async def query_by_transaction_id(call: Call) -> Reply:
    transaction_id = call.request.match_info["transaction_id"]
    call.fault("wechat.query", {"kind": "transaction", "transaction_id": transaction_id}, actions=set())
    call.query_mchid()
    # Unpaid orders have no transaction_id: they are found only by out_trade_no.
    return await query_order(call, await call.wechat.store.out_trade_no_of(call.mchid, transaction_id))


async def close(call: Call) -> Reply:
    out_trade_no = call.request.match_info["out_trade_no"]
    req = call.body(d.CloseRequest)
    call.fault("wechat.close", {"out_trade_no": out_trade_no}, actions=set())
    d.check_mchid(req.mchid, auth_mchid=call.mchid)
    # The number's format is all WeChat checks: an order it never saw, or one closed already, is 204 as well.
    if not re.fullmatch(d.OUT_TRADE_NO, out_trade_no):
        raise d.param_error(
            "输入源“/path/out_trade_no”校验失败 (out_trade_no: 6-32 letters, digits, _-|*)",
            {"location": "path", "field": "out_trade_no"},
        )
    wechat = call.wechat
    await wechat.store.run_transaction(call.mchid, out_trade_no, d.CloseOrder(wechat.now()))
    return Reply(204)


async def certificates(call: Call) -> Reply:
    """The platform certificate, AES-GCM-encrypted under the APIv3 key with associated_data "certificate"."""
    wechat = call.wechat
    if not wechat.keys.has_certificate:
        # What WeChat answers a merchant onboarded in public-key mode (wechatpay-java issues 303 and 306).
        raise d.resource_not_exists(
            "证书不存在 (this merchant uses the WeChat Pay public key, no platform certificate)"
        )
    cert = wechat.keys.platform_cert
    pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    sealed = wp.encrypt_resource(
        pem,
        apiv3_key=wechat.apiv3_key,
        nonce=wp.new_nonce(wp.AES_NONCE_BYTES),
        associated_data="certificate",
        original_type="certificate",
    )
    entry = {
        "serial_no": wp.certificate_serial_no(cert),
        "effective_time": d.wire_time(cert.not_valid_before_utc),
        "expire_time": d.wire_time(cert.not_valid_after_utc),
        "encrypt_certificate": {
            "algorithm": sealed["algorithm"],
            "nonce": sealed["nonce"],
            "associated_data": sealed["associated_data"],
            "ciphertext": sealed["ciphertext"],
        },
    }
    return Reply(200, {"data": [entry]})


# --- the buyer's side (test-only) -------------------------------------------------------------------------------------


class PayRequest(BaseModel):
    """What the mini-program does after wx.requestPayment: the buyer's openid and the prepay_id, or the full
    requestPayment parameters (then their paySign is verified with the merchant's key)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    openid: str = Field(min_length=1, max_length=128)
    prepay_id: str | None = Field(default=None, min_length=1, max_length=64)
    app_id: str | None = Field(default=None, alias="appId", max_length=32)
    time_stamp: str | None = Field(default=None, alias="timeStamp", max_length=16)
    nonce_str: str | None = Field(default=None, alias="nonceStr", max_length=64)
    package: str | None = Field(default=None, max_length=128)
    sign_type: str | None = Field(default=None, alias="signType", max_length=16)
    pay_sign: str | None = Field(default=None, alias="paySign", max_length=1024)

    def request_payment(self) -> dict[str, str] | None:
        fields = {
            "timeStamp": self.time_stamp,
            "nonceStr": self.nonce_str,
            "package": self.package,
            "signType": self.sign_type,
            "paySign": self.pay_sign,
        }
        if all(v is None for v in fields.values()):
            return None
        return {k: v for k, v in fields.items() if v is not None}


def _verified_prepay_id(body: PayRequest, appid: str, public_key: rsa.RSAPublicKey) -> str:
    params = body.request_payment()
    if params is None:
        if body.prepay_id is None:
            raise AppError("give prepay_id, or the wx.requestPayment parameters", code="missing_prepay_id", status=422)
        return body.prepay_id
    if body.app_id is not None and body.app_id != appid:
        raise AppError(f"appId {body.app_id} is not the mini-program's appid", code="appid_mismatch", status=400)
    try:
        prepay_id = wp.verify_request_payment(params, app_id=appid, public_key=public_key)
    except wp.WechatPayError as exc:
        raise AppError(f"支付验证签名失败: {exc}", code="bad_pay_sign", status=400) from None
    if body.prepay_id is not None and body.prepay_id != prepay_id:
        raise AppError("package names another prepay_id", code="prepay_id_mismatch", status=400)
    return prepay_id


async def buyer_pay(request: web.Request) -> web.Response:
    """The buyer confirms wx.requestPayment: the order is paid once and TRANSACTION.SUCCESS is queued."""
    wechat = request.app[WECHAT]
    body = await parse_body(request, PayRequest)
    prepay_id = _verified_prepay_id(body, wechat.appid, wechat.keys.merchant_public_key)
    found = await wechat.store.by_prepay_id(prepay_id)
    if found is None:
        raise NotFound(f"no order has prepay_id {prepay_id}", code="prepay_id_not_found")
    mchid, out_trade_no = found
    now = wechat.now()
    fault = wechat.faults.take(
        "wechat.pay", {"out_trade_no": out_trade_no, "openid": body.openid, "prepay_id": prepay_id}, actions={"decline"}
    )
    cmd = d.PayOrder(prepay_id, body.openid, wechat.ids.transaction_id(now), now, declined=fault is not None)
    try:
        outcome = await wechat.store.run_transaction(mchid, out_trade_no, cmd)
    except d.PayRefused as refused:
        raise AppError(refused.message, code=refused.code, status=refused.status) from None
    await funds.credit_payment(wechat, outcome.state)
    await notify.transaction_paid(wechat, outcome.state)
    return json_response({"result": "ok"})
