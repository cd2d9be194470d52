"""alipay.system.oauth.token (auth code → user id and access token) and the buyer action that issues auth codes."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.alipay import domain as d
from services.sandbox.alipay import identity
from services.sandbox.alipay.gateway import ERROR_RESPONSE, Call, Handler
from services.sandbox.alipay.runtime import ALIPAY, Alipay, fault_action
from services.sandbox.faults import ActiveFault
from shared.http.app import json_response, parse_body

METHOD = "alipay.system.oauth.token"


def _refused(sub_code: str, sub_msg: str) -> d.BizError:
    return d.BizError(sub_code, sub_msg, code="40002", msg="Invalid Arguments", member=ERROR_RESPONSE)


def legacy_user_id(user_id: str) -> str:
    """The 32-digit ``alipay_user_id`` Alipay still returns next to ``user_id``: stable per user."""
    return "2088" + f"{int(hashlib.sha256(user_id.encode()).hexdigest(), 16) % 10**28:028d}"


async def oauth_token(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    # grant_type, code and refresh_token are common parameters of this method, not biz_content fields.
    now = alipay.clock.now()
    grant_type = call.params.get("grant_type", "")
    if grant_type == "authorization_code":
        code = call.params.get("code", "")
        found = await alipay.store.auth_code(code) if code else None
        fresh = found is not None and now - found["created_at"] <= timedelta(
            seconds=alipay.settings.alipay_auth_code_ttl_s
        )
        if fault_action(fault, "decline") or found is None or found["app_id"] != alipay.app_id or not fresh:
            raise _refused("isv.code-invalid", "授权码code无效")
        if not await alipay.store.use_auth_code(code, now):
            raise _refused("isv.code-invalid", "授权码code无效: 授权码只能使用一次")
        user_id = str(found["user_id"])
    elif grant_type == "refresh_token":
        token = await alipay.store.token_by_refresh(call.params.get("refresh_token", "") or "\x00")
        ttl = timedelta(seconds=2 * alipay.settings.alipay_access_token_ttl_s)
        if fault_action(fault, "decline") or token is None or now - token["created_at"] > ttl:
            raise _refused("isv.refresh-token-invalid", "刷新令牌refresh_token无效")
        user_id = str(token["user_id"])
    else:
        raise _refused("isv.grant-type-invalid", "grant_type必须是authorization_code或者refresh_token")
    access_token = alipay.ids.token("authusrB")
    refresh_token = alipay.ids.token("authusrB")
    expires_in = alipay.settings.alipay_access_token_ttl_s
    await alipay.store.save_token(
        {"_id": access_token, "refresh_token": refresh_token, "user_id": user_id, "created_at": now}
    )
    # A successful token exchange carries no code/msg: Alipay returns only the token fields.
    answer: dict[str, Any] = {
        "access_token": access_token,
        "auth_start": d.wire_time(now),
        "expires_in": expires_in,
        "re_expires_in": 2 * expires_in,
        "refresh_token": refresh_token,
    }
    if identity.open_id_mode(alipay):
        # Apps of the OpenID regime get the user's open id in this app, and no user id of either kind.
        answer["open_id"] = await identity.open_id_of(alipay, user_id)
    else:
        answer.update({"alipay_user_id": legacy_user_id(user_id), "user_id": user_id})
    return dict(sorted(answer.items()))


class AuthCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(default=None, pattern=r"^2088[0-9]{12}$")
    open_id: str | None = Field(default=None, pattern=r"^0[0-9A-Za-z]{43,63}$")


async def issue_auth_code(request: web.Request) -> web.Response:
    """Test-only: what the Alipay app hands the merchant app after the user authorizes (my.getAuthCode)."""
    body = await parse_body(request, AuthCodeRequest)
    alipay = request.app[ALIPAY]
    user_id, open_id = await identity.buyer(alipay, body.user_id, body.open_id)
    code = alipay.ids.auth_code()
    await alipay.store.save_auth_code(code, user_id, alipay.app_id, alipay.clock.now())
    answer = {"auth_code": code, "user_id": user_id}
    if open_id:
        answer["open_id"] = open_id
    return json_response(answer)


METHODS: dict[str, Handler] = {METHOD: oauth_token}
