"""Mini-program login (jscode2session): issued codes and WeChat's checks in its order."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

LOGIN_CODE_TTL_S = 300.0


@dataclass(frozen=True)
class LoginError:
    errcode: int
    errmsg: str


# Unknown, expired (codes live 5 minutes) or issued to another app. WeChat has no distinct "code expired" errcode
# for jscode2session (docs/providers.md 8).
INVALID_CODE = LoginError(40029, "invalid code")
# A code already exchanged: observed WeChat behaviour, not on the official code2Session list (docs/providers.md 8).
CODE_BEEN_USED = LoginError(40163, "code been used")


@dataclass(frozen=True)
class IssuedCode:
    code: str
    appid: str
    openid: str
    issued_at: datetime


def check_login(
    params: dict[str, str],
    *,
    appid: str,
    secret: str,
    issued: IssuedCode | None,
    now: datetime,
    ttl_s: float = LOGIN_CODE_TTL_S,
) -> LoginError | None:
    """jscode2session's checks in WeChat's order; None when the code may be exchanged (once: the caller claims it)."""
    if not params.get("appid"):
        return LoginError(41002, "appid missing")
    if not params.get("secret"):
        return LoginError(41004, "appsecret missing")
    if not params.get("js_code"):
        return LoginError(41008, "missing code")
    if params.get("grant_type") != "authorization_code":
        return LoginError(40002, "invalid grant_type")
    if params["appid"] != appid:
        return LoginError(40013, "invalid appid")
    if not secrets.compare_digest(params["secret"].encode(), secret.encode()):
        return LoginError(40125, "invalid appsecret")
    if issued is None or issued.appid != appid or now >= issued.issued_at + timedelta(seconds=ttl_s):
        return INVALID_CODE
    return None
