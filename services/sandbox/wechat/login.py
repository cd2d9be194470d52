"""Mini-program login: jscode2session exchanges a wx.login code (single use, 5 minutes) for the buyer's openid."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.wechat import domain as d
from services.sandbox.wechat.runtime import WECHAT
from shared.http.app import json_response, parse_body

log = logging.getLogger("sandbox.wechat")


def _answer(body: dict[str, object]) -> web.Response:
    # api.weixin.qq.com labels this JSON text/plain: a client that insists on application/json fails against it.
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="text/plain", status=200)


def _error(wechat_error: d.LoginError, rid: str) -> web.Response:
    return _answer({"errcode": wechat_error.errcode, "errmsg": f"{wechat_error.errmsg}, rid: {rid}"})


async def jscode2session(request: web.Request) -> web.Response:
    """Errors come back with HTTP 200 and an errcode, as WeChat sends them."""
    wechat = request.app[WECHAT]
    params = {k: request.query.get(k, "") for k in ("appid", "secret", "js_code", "grant_type")}
    rid = wechat.ids.request_id()[:24].lower()
    fault = wechat.faults.take("wechat.login", {"js_code": params["js_code"]}, actions={"error_5xx", "timeout"})
    if fault is not None:
        log.info("fault %s on jscode2session", fault.action)
        if fault.action == "error_5xx":
            return _error(d.LoginError(-1, "system error"), rid)
    now = wechat.now()
    code = params["js_code"]
    issued = await wechat.store.login_code(code) if code else None
    error = d.check_login(
        params,
        appid=wechat.appid,
        secret=wechat.settings.wechat_app_secret.get_secret_value(),
        issued=issued,
        now=now,
        ttl_s=wechat.settings.wechat_login_code_ttl_s,
    )
    if error is None and not await wechat.store.use_login_code(code, now):
        error = d.CODE_BEEN_USED  # already exchanged: a code is good for one session only
    if fault is not None and fault.action == "timeout":
        await asyncio.sleep(fault.delay_s)
    if error is not None:
        return _error(error, rid)
    assert issued is not None
    return _answer({"session_key": wechat.ids.session_key(), "openid": issued.openid})


class LoginCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    openid: str | None = Field(default=None, min_length=1, max_length=128)


async def issue_login_code(request: web.Request) -> web.Response:
    """Test-only: what wx.login gives the mini-program of this buyer (a new buyer when no openid is given)."""
    wechat = request.app[WECHAT]
    body = await parse_body(request, LoginCodeRequest) if request.body_exists else LoginCodeRequest()
    issued = d.IssuedCode(
        code=wechat.ids.login_code(),
        appid=wechat.appid,
        openid=body.openid or wechat.ids.openid(),
        issued_at=wechat.now(),
    )
    await wechat.store.save_login_code(issued)
    return json_response({"code": issued.code, "openid": issued.openid})
