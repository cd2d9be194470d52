"""The WeChat Pay v3 envelope: every request's Authorization verified, every answer signed, faults applied."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from services.sandbox.faults import ActiveFault
from services.sandbox.wechat import domain as d
from services.sandbox.wechat.runtime import WECHAT, Wechat
from shared.protocols import wechatpay as wp

log = logging.getLogger("sandbox.wechat")

M = TypeVar("M", bound=BaseModel)


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None = None


@dataclass
class Call:
    """One verified v3 request: who signed it, its raw body, and what faults decided about it."""

    wechat: Wechat
    request: web.Request
    auth: wp.Authorization
    raw_body: bytes
    attrs: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @property
    def mchid(self) -> str:
        return self.auth.mchid

    def json(self) -> Any:
        try:
            return json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError):
            raise d.param_error("请求体不是合法的 JSON (the body is not JSON)", {"location": "body"}) from None

    def body(self, model: type[M]) -> M:
        return d.parse_model(model, self.json())

    def query_mchid(self) -> str:
        """The ``mchid`` query parameter of a GET, which must name the signer."""
        mchid = self.request.query.get("mchid", "")
        if not mchid:
            raise d.param_error("输入源“/query/mchid”必填 (mchid is required)", {"location": "query", "field": "mchid"})
        d.check_mchid(mchid, auth_mchid=self.mchid)
        return mchid

    def fault(self, target: str, attrs: dict[str, str], actions: set[str]) -> ActiveFault | None:
        """Consult the fault registry: ``error_5xx`` answers 500 now (nothing done), ``refuse`` answers the fault's
        status and code now (nothing done), ``timeout`` delays the answer once the work is done; other actions are the
        caller's to apply."""
        self.attrs.update(attrs)
        fault = self.wechat.faults.take(target, attrs, actions=actions | {"error_5xx", "timeout", "refuse"})
        if fault is None:
            return None
        log.info("fault %s on %s %s", fault.action, target, attrs)
        if fault.action == "error_5xx":
            raise d.system_error()
        if fault.action == "refuse":
            code = fault.code or "SYSTEM_ERROR"
            raise d.WechatError(fault.status or 400, code, fault.message or f"{code} (sandbox fault)")
        if fault.action == "timeout":
            self.delay_s = fault.delay_s
        return fault


V3Handler = Callable[[Call], Awaitable[Reply]]


def _verify(wechat: Wechat, request: web.Request, body: bytes) -> wp.Authorization:
    header = request.headers.get("Authorization")
    if not header:
        raise d.sign_error("Authorization 头缺失 (the request carries no Authorization header)")
    try:
        auth = wp.parse_authorization(header)
    except wp.WechatPayMalformed as exc:
        raise d.sign_error(f"Authorization 格式错误: {exc}") from None
    if auth.mchid != wechat.mchid:
        raise d.sign_error(f"商户号 {auth.mchid} 不存在或未开通 APIv3 (unknown mchid in Authorization)")
    keys = {wechat.keys.merchant_serial: wechat.keys.merchant_public_key}
    now = int(wechat.now().timestamp())
    try:
        return wp.verify_request(
            header, method=request.method, url=request.raw_path, body=body, public_key=keys, now=now
        )
    except wp.WechatPayUnknownSerial:
        raise d.sign_error(
            f"serial_no {auth.serial_no} 不是商户 {auth.mchid} 的 API 证书序列号 (unknown merchant certificate serial)"
        ) from None
    except wp.WechatPayStaleTimestamp as exc:
        raise d.sign_error(f"请求时间戳超出 5 分钟有效期 (stale request timestamp: {exc})") from None
    except wp.WechatPayBadSignature:
        raise d.sign_error(
            "签名错误，验签失败 (the signature does not verify over METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n "
            "with the merchant certificate named by serial_no)"
        ) from None
    except wp.WechatPayMalformed as exc:
        raise d.sign_error(f"签名串格式错误: {exc}") from None


def signed_response(wechat: Wechat, request: web.Request, reply: Reply, attrs: dict[str, str]) -> web.Response:
    """The answer, signed over its exact bytes (an empty body for 204) with the key the mode signs with next."""
    raw = b"" if reply.body is None else json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode()
    now = wechat.now()
    nonce = wp.new_nonce()
    key = wechat.keys.signing_key()
    headers = wp.sign_response(
        raw,
        private_key=key.private_key,
        serial_no=key.serial,
        timestamp=int(now.timestamp()),
        nonce=nonce,
    )
    fault_attrs = {"method": request.method, "path": request.path, **attrs}
    fault = wechat.faults.take("wechat.response", fault_attrs, actions={"corrupt_signature"})
    if fault is not None:
        log.info("fault corrupt_signature on response %s %s", request.method, request.path)
        headers[wp.HEADER_SIGNATURE] = wechat.wrong_signature(
            wp.response_message(headers[wp.HEADER_TIMESTAMP], nonce, raw)
        )
    headers["Request-ID"] = wechat.ids.request_id()
    if reply.body is None:
        return web.Response(status=reply.status, headers=headers)
    return web.Response(
        status=reply.status, body=raw, headers=headers, content_type="application/json", charset="utf-8"
    )


def route(handler: V3Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a v3 handler: verify the signature (401 SIGN_ERROR), run it, delay on ``timeout``, sign the answer."""

    async def wrapped(request: web.Request) -> web.Response:
        wechat = request.app[WECHAT]
        raw_body = await request.read()
        call: Call | None = None
        try:
            auth = _verify(wechat, request, raw_body)
            call = Call(wechat, request, auth, raw_body)
            reply = await handler(call)
        except d.WechatError as err:
            reply = Reply(err.status, err.body())
        if call is not None and call.delay_s > 0:
            await asyncio.sleep(call.delay_s)
        return signed_response(wechat, request, reply, call.attrs if call is not None else {})

    return wrapped


async def not_found(request: web.Request) -> web.Response:
    """Any other /v3 path: WeChat answers unknown resources with 404 in its own error format."""
    wechat = request.app[WECHAT]
    reply = Reply(404, d.resource_not_exists(f"无此接口 (no API at {request.method} {request.path})").body())
    return signed_response(wechat, request, reply, {})
