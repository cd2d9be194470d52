"""GET|POST /gateway.do: the OpenAPI envelope (app_id, RSA2 signature, timestamp), dispatch by method, fault points."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from services.sandbox.alipay import domain as d
from services.sandbox.alipay.runtime import ALIPAY, Alipay, CertMode, fault_action, str_attrs
from services.sandbox.faults import ActiveFault
from shared.errors import AppError
from shared.protocols.alipay import (
    CHARSET,
    FORMAT,
    SIGN_TYPE,
    AlipayBadSignature,
    AlipayMalformed,
    build_signed_response,
    parse_form,
    parse_timestamp,
    response_key,
    sign_content,
    verify_request,
)

ERROR_RESPONSE = "error_response"
MESSAGES = {
    "20000": "Service Currently Unavailable",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
}
# Alipay answers JSON labelled as HTML (observed on the production gateway); clients must not rely on the label.
CONTENT_TYPE = "text/html"


@dataclass(frozen=True)
class Call:
    """A verified gateway request: its common parameters and its parsed biz_content."""

    method: str
    params: Mapping[str, str]
    biz: dict[str, Any]

    @property
    def notify_url(self) -> str | None:
        return self.params.get("notify_url") or None


Handler = Callable[[Alipay, Call, ActiveFault | None], Awaitable[dict[str, Any]]]
PageHandler = Callable[[Alipay, Call], Awaitable[web.StreamResponse]]


class GatewayError(Exception):
    """A request refused before any business logic: ``isv.*`` sub-codes under code 40001/40002."""

    def __init__(self, code: str, sub_code: str, sub_msg: str, *, signed: bool = True) -> None:
        super().__init__(f"{sub_code}: {sub_msg}")
        self.code = code
        self.sub_code = sub_code
        self.sub_msg = sub_msg
        # Without a known app the gateway has no basis to sign on; Alipay answers those unsigned.
        self.signed = signed

    def response(self) -> dict[str, Any]:
        return {"code": self.code, "msg": MESSAGES[self.code], "sub_code": self.sub_code, "sub_msg": self.sub_msg}


def check_timestamp(value: str | None, now: datetime, tolerance_s: float) -> None:
    if not value:
        raise GatewayError("40001", "isv.missing-timestamp", "缺少时间戳参数")
    try:
        stamp = parse_timestamp(value)
    except AlipayMalformed:
        raise GatewayError(
            "40002", "isv.invalid-timestamp", "非法的时间戳参数: 格式必须为 yyyy-MM-dd HH:mm:ss"
        ) from None
    if abs((now - stamp).total_seconds()) > tolerance_s:
        raise GatewayError(
            "40002",
            "isv.invalid-timestamp",
            f"非法的时间戳参数: 与北京时间相差超过 {int(tolerance_s)} 秒 (timestamp is Beijing time, UTC+8)",
        )


def check_cert_sns(params: Mapping[str, str], certs: CertMode) -> None:
    """公钥证书模式: the app certificate's SN and the root bundle's SN must be the ones the app uploaded / uses."""
    app_cert_sn = params.get("app_cert_sn", "")
    if not app_cert_sn:
        raise GatewayError("40002", "isv.missing-app-cert-sn", "缺少应用公钥证书序列号")
    if app_cert_sn != certs.app_cert_sn:
        raise GatewayError(
            "40002", "isv.app-cert-not-exist", "应用公钥证书不存在: app_cert_sn 与上传的应用公钥证书不匹配"
        )
    root_sn = params.get("alipay_root_cert_sn", "")
    if not root_sn:
        raise GatewayError("40002", "isv.missing-alipay-root-cert-sn", "缺少支付宝根证书序列号")
    if root_sn != certs.alipay_root_cert_sn:
        raise GatewayError("40002", "isv.invalid-alipay-root-cert-sn", "无效的支付宝根证书序列号")


def check_envelope(
    params: Mapping[str, str],
    *,
    app_id: str,
    known: Callable[[str], bool],
    public_key: rsa.RSAPublicKey,
    now: datetime,
    tolerance_s: float,
    certs: CertMode | None = None,
) -> Call:
    """Check the common parameters in the order Alipay does (app first, then signature) and parse biz_content."""
    method = params.get("method", "")
    if not method:
        raise GatewayError("40001", "isv.missing-method", "缺少方法名参数", signed=False)
    given_app = params.get("app_id", "")
    if not given_app:
        raise GatewayError("40001", "isv.missing-app-id", "缺少AppID参数", signed=False)
    if given_app != app_id:
        raise GatewayError("40002", "isv.invalid-app-id", "无效的AppID参数", signed=False)
    if not known(method):
        raise GatewayError("40002", "isv.invalid-method", f"不存在的方法名: {method}")
    signature = params.get("sign", "")
    if not signature:
        raise GatewayError("40001", "isv.missing-signature", "缺少签名参数")
    sign_type = params.get("sign_type", "")
    if not sign_type:
        raise GatewayError("40001", "isv.missing-signature-type", "缺少签名类型参数")
    if sign_type != SIGN_TYPE:
        raise GatewayError("40002", "isv.invalid-signature-type", f"无效的签名类型: 只支持 {SIGN_TYPE}")
    if certs is not None:
        check_cert_sns(params, certs)
    charset = params.get("charset")
    if charset is not None and charset.lower() != CHARSET:
        raise GatewayError("40002", "isv.invalid-charset", "字符集错误: 沙箱只支持 utf-8")
    if params.get("format", FORMAT).upper() != FORMAT:
        raise GatewayError("40002", "isv.invalid-format", "无效的数据格式")
    check_timestamp(params.get("timestamp"), now, tolerance_s)
    if not params.get("version"):
        raise GatewayError("40001", "isv.missing-version", "缺少版本参数")
    try:
        verify_request(params, public_key)
    except (AlipayBadSignature, AlipayMalformed):
        # Alipay echoes the string it verified (with & escaped), which is what merchants debug signatures with.
        content = sign_content(params).replace("&", "&amp;")
        raise GatewayError(
            "40002",
            "isv.invalid-signature",
            f"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}",
        ) from None
    raw = params.get("biz_content")
    biz: Any = {}
    if raw:
        try:
            biz = json.loads(raw, parse_float=Decimal)
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            raise GatewayError("40002", "isv.invalid-parameter", "参数无效: biz_content 不是 JSON 对象")
    return Call(method=method, params=dict(params), biz=biz)


async def read_params(request: web.Request) -> dict[str, str]:
    """Parameters from the query string (as SDKs send them with GET) and, for a form POST, the body too."""
    raw_query = request.rel_url.raw_query_string
    params = parse_form(raw_query) if raw_query else {}
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        body = await request.read()
        for key, value in (parse_form(body) if body else {}).items():
            if key in params:
                raise AlipayMalformed(f"parameter {key!r} is both in the query string and the body")
            params[key] = value
    return params


def member_for(method: str) -> str:
    try:
        return response_key(method)
    except ValueError:
        return ERROR_RESPONSE


def render(member: str, body: dict[str, Any], alipay: Alipay, *, signed: bool = True, corrupt: bool = False) -> str:
    if not signed:
        return json.dumps({member: body}, ensure_ascii=False, separators=(",", ":"))
    # The member name is given, so the method argument only has to be well-formed.
    text = build_signed_response("alipay.gateway", body, alipay.platform_key, key=member)
    if corrupt:
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        signature = json.loads(text)["sign"]
        text = text.replace(signature, alipay.wrong_signature(raw))
    certs = alipay.cert_mode
    if certs is not None:
        # In cert mode the answer names the Alipay certificate that signed it, between the response and the sign.
        head, sep, tail = text.rpartition(',"sign":')
        text = head + ',"alipay_cert_sn":' + json.dumps(certs.alipay_cert_sn) + sep + tail
    return text


def respond(text: str) -> web.Response:
    return web.Response(text=text, content_type=CONTENT_TYPE, charset="utf-8")


def build_handler(
    methods: Mapping[str, Handler], pages: Mapping[str, PageHandler]
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    known = set(methods) | set(pages)

    async def gateway(request: web.Request) -> web.StreamResponse:
        alipay = request.app[ALIPAY]
        now = alipay.clock.now()
        params: dict[str, str] = {}
        try:
            try:
                params = await read_params(request)
            except AlipayMalformed as exc:
                raise GatewayError("40002", "isv.invalid-parameter", f"参数无效: {exc}", signed=False) from None
            call = check_envelope(
                params,
                app_id=alipay.app_id,
                known=known.__contains__,
                public_key=alipay.app_public_key,
                now=now,
                tolerance_s=alipay.settings.alipay_timestamp_tolerance_s,
                certs=alipay.cert_mode,
            )
        except GatewayError as err:
            return respond(render(member_for(params.get("method", "")), err.response(), alipay, signed=err.signed))
        page = pages.get(call.method)
        if page is not None:
            return await page(alipay, call)
        # A method's fault point is named after it: alipay.trade.refund, alipay.fund.trans.uni.transfer, ...
        fault = alipay.faults.take(call.method, {"method": call.method, **str_attrs(call.biz)})
        if fault_action(fault, "error_5xx"):
            return web.Response(status=500, text="<html><body>500 Internal Server Error</body></html>")
        member = response_key(call.method)
        if fault is not None and fault.action == "refuse":
            sub_code = fault.code or "ACQ.SYSTEM_ERROR"
            code = "20000" if sub_code.startswith(("aop.", "isp.")) else "40004"
            refused = {"code": code, "msg": MESSAGES[code], "sub_code": sub_code, "sub_msg": fault.message or sub_code}
            return respond(render(member, refused, alipay))
        try:
            body = await methods[call.method](alipay, call, fault)
        except d.BizError as err:
            body = err.response()
            member = err.member or member
        text = render(member, body, alipay, corrupt=fault_action(fault, "corrupt_signature"))
        if fault is not None and fault.action == "timeout":
            await asyncio.sleep(fault.delay_s)
        return respond(text)

    return gateway


def verify_buyer_params(alipay: Alipay, params: Mapping[str, str], method: str) -> Call:
    """What the Alipay app checks before showing a cashier or sign page: the same envelope as the gateway's."""
    try:
        return check_envelope(
            params,
            app_id=alipay.app_id,
            known=method.__eq__,
            public_key=alipay.app_public_key,
            now=alipay.clock.now(),
            tolerance_s=alipay.settings.alipay_timestamp_tolerance_s,
            certs=alipay.cert_mode,
        )
    except GatewayError as err:
        raise AppError(
            err.sub_msg,
            code=err.sub_code.removeprefix("isv.").replace("-", "_"),
            status=400,
            details={"sub_code": err.sub_code},
        ) from None
