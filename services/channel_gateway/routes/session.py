"""Signing in: `POST /mp/v1/session` with a `wx.login` code, `POST /app/v1/session` with an Alipay auth code."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from services.channel_gateway.keys import ALIPAY_LOGIN, TOKENS, USERS, WECHAT_LOGIN
from services.channel_gateway.models import In, SessionOut
from services.channel_gateway.routing import Ctx, Registry
from services.channel_gateway.sessions import User
from shared.errors import Unauthenticated
from shared.events import Channel

registry = Registry()


LINK = "a session token of the other audience: this sign-in joins that user (one person, both audiences)"


class MpSessionIn(In):
    code: str = Field(min_length=1, max_length=128, description="the code wx.login returned")
    app_token: str | None = Field(default=None, min_length=1, max_length=1024, description=LINK)


class AppSessionIn(In):
    auth_code: str = Field(min_length=1, max_length=128, description="the Alipay auth code")
    mp_token: str | None = Field(default=None, min_length=1, max_length=1024, description=LINK)


def _link(ctx: Ctx[Any, Any], token: str | None, audience: Channel) -> str | None:
    """The user of a session of the other audience, to link this sign-in to; 401 for a token that is not one."""
    if token is None:
        return None
    session = ctx.app[TOKENS].verify(token, audience)
    if session is None:
        raise Unauthenticated(f"the {audience} session to link is not valid", details={"audience": audience})
    return session.user_id


def _session(ctx: Ctx[Any, Any], user: User) -> tuple[int, SessionOut]:
    token, expires = ctx.app[TOKENS].issue(user.user_id, ctx.channel)
    out = SessionOut.model_validate(
        {"token": token, "expires_at": expires.isoformat(), "user": {"id": user.user_id, "channel": ctx.channel}}
    )
    return 201, out


@registry.route(
    "POST",
    "/session",
    summary="Sign in with a wx.login code (jscode2session → openid); the first login creates the user or links it",
    audiences=("mp",),
    auth="none",
    body=MpSessionIn,
    response=SessionOut,
    status=201,
    rate_limit="login",
    errors=(401,),  # the provider refused the code
    tags=("session",),
)
async def mp_session(ctx: Ctx[MpSessionIn, Any]) -> tuple[int, SessionOut]:
    login = ctx.app[WECHAT_LOGIN]
    openid = await login.openid(ctx.body.code)
    link = _link(ctx, ctx.body.app_token, "app")
    user, _ = await ctx.app[USERS].sign_in(f"wechat:{login.appid}:{openid}", "mp", link_to=link, openid=openid)
    return _session(ctx, user)


@registry.route(
    "POST",
    "/session",
    summary="Sign in with an Alipay auth code (alipay.system.oauth.token → user id); the first login creates the user",
    audiences=("app",),
    auth="none",
    body=AppSessionIn,
    response=SessionOut,
    status=201,
    rate_limit="login",
    errors=(401,),  # the provider refused the code
    tags=("session",),
)
async def app_session(ctx: Ctx[AppSessionIn, Any]) -> tuple[int, SessionOut]:
    uid = await ctx.app[ALIPAY_LOGIN].user_id(ctx.body.auth_code)
    link = _link(ctx, ctx.body.mp_token, "mp")
    user, _ = await ctx.app[USERS].sign_in(f"alipay:{uid}", "app", link_to=link, alipay_user_id=uid)
    return _session(ctx, user)
