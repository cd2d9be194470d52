"""The mini-program's server APIs for sharing, on WeChat's wire format: `GET /cgi-bin/token`,
`POST /cgi-bin/stable_token` (the access token) and `POST /wxa/getwxacodeunlimit` (the unlimited mini-program code,
a PNG holding the page and the scene). Errors are HTTP 200 with `{"errcode", "errmsg"}`, as WeChat sends them.
Test-only: `POST /sandbox/wechat/access-tokens/{token}/expire` ages a token out (a long wait, made short)."""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime
from typing import Any

import segno
from aiohttp import web

from services.sandbox.wechat.domain import wxacode as wx
from services.sandbox.wechat.runtime import WECHAT, Wechat
from shared.clock import utc

log = logging.getLogger("sandbox.wechat")


def _json(body: dict[str, Any]) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type="application/json", status=200)


def _error(wechat: Wechat, error: wx.WxError) -> web.Response:
    return _json(error.body(wechat.ids.request_id()[:24].lower()))


def _token(doc: dict[str, Any] | None) -> wx.AccessToken | None:
    if doc is None:
        return None
    superseded = doc.get("superseded_at")
    return wx.AccessToken(
        token=doc["_id"],
        appid=doc["appid"],
        issued_at=utc(doc["issued_at"]),
        expires_at=utc(doc["expires_at"]),
        superseded_at=utc(superseded) if superseded else None,
    )


async def _latest(wechat: Wechat) -> wx.AccessToken | None:
    doc = await wechat.store.access_tokens.find_one({"_id": f"latest:{wechat.appid}"})
    return _token(await wechat.store.access_tokens.find_one({"_id": doc["token"]})) if doc else None


async def _issue(wechat: Wechat, now: datetime) -> wx.AccessToken:
    """A new token; the one it replaces works 5 minutes more."""
    previous = await _latest(wechat)
    token = wx.new_token(wechat.appid, now, wechat.settings.wechat_access_token_ttl_s)
    tokens = wechat.store.access_tokens
    await tokens.insert_one(
        {"_id": token.token, "appid": token.appid, "issued_at": token.issued_at, "expires_at": token.expires_at}
    )
    await tokens.update_one({"_id": f"latest:{wechat.appid}"}, {"$set": {"token": token.token}}, upsert=True)
    if previous is not None:
        await tokens.update_one({"_id": previous.token}, {"$set": {"superseded_at": now}})
    return token


def _answer(token: wx.AccessToken, now: datetime) -> web.Response:
    return _json({"access_token": token.token, "expires_in": token.expires_in(now)})


async def cgi_token(request: web.Request) -> web.Response:
    wechat = request.app[WECHAT]
    params = {k: request.query.get(k, "") for k in ("grant_type", "appid", "secret")}
    error = wx.check_credentials(
        params, appid=wechat.appid, secret=wechat.settings.wechat_app_secret.get_secret_value()
    )
    if error is not None:
        return _error(wechat, error)
    now = wechat.now()
    return _answer(await _issue(wechat, now), now)


async def stable_token(request: web.Request) -> web.Response:
    wechat = request.app[WECHAT]
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _error(wechat, wx.DATA_FORMAT)
    error = wx.check_credentials(body, appid=wechat.appid, secret=wechat.settings.wechat_app_secret.get_secret_value())
    if error is not None:
        return _error(wechat, error)
    now = wechat.now()
    current = await _latest(wechat)
    if body.get("force_refresh") is not True and current is not None and current.usable_at(now):
        return _answer(current, now)  # stable: the same token while it is valid
    return _answer(await _issue(wechat, now), now)


async def getwxacodeunlimit(request: web.Request) -> web.StreamResponse:
    wechat = request.app[WECHAT]
    given = request.query.get("access_token")
    now = wechat.now()
    token = _token(await wechat.store.access_tokens.find_one({"_id": given})) if given else None
    error = wx.check_token(token, given, now)
    if error is not None:
        return _error(wechat, error)
    fault = wechat.faults.take("wechat.wxacode", {}, actions={"error_5xx"})
    if fault is not None:
        return _error(wechat, wx.SYSTEM_BUSY)
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        body = None
    checked = wx.check_code_request(body, wechat.settings.wechat_mp_pages)
    if isinstance(checked, wx.WxError):
        return _error(wechat, checked)
    return web.Response(
        body=render_png(wx.code_content(wechat.appid, checked), checked.width), content_type="image/png"
    )


def render_png(content: str, width: int) -> bytes:
    """A QR code of `content`, about `width` pixels across (a quiet zone of 4 modules included)."""
    qr = segno.make_qr(content, error="m")
    modules = qr.symbol_size(scale=1, border=4)[0]
    out = io.BytesIO()
    qr.save(out, kind="png", scale=max(1, width // modules), border=4)
    return out.getvalue()


async def expire_token(request: web.Request) -> web.Response:
    """Test-only: the token is expired from now on (what 7,200 s of waiting would do)."""
    wechat = request.app[WECHAT]
    token = request.match_info["token"]
    found = await wechat.store.access_tokens.find_one({"_id": token})
    if found is None:
        return web.json_response({"error": {"code": "not_found", "message": "no such access token"}}, status=404)
    await wechat.store.access_tokens.update_one({"_id": token}, {"$set": {"expires_at": wechat.now()}})
    return web.json_response({"access_token": token, "expired": True})
