"""Mini-program server APIs the sandbox plays for sharing: the app's `access_token` (`GET /cgi-bin/token`,
`POST /cgi-bin/stable_token`) and the unlimited mini-program code (`POST /wxa/getwxacodeunlimit`), with WeChat's
checks in its order and its `errcode`s. Pure: the HTTP handlers (wechat/wxacode.py) keep the tokens.

Facts (WeChat's server API documentation and its developer community's reports):
- an access token lives 7,200 s (`expires_in`); `/cgi-bin/token` issues a new one each call and the previous one
  keeps working for 5 minutes; `/cgi-bin/stable_token` answers the current one while it is valid unless
  `force_refresh` is true;
- getwxacodeunlimit: `scene` 1–32 visible characters of digits, letters and ``!#$&'()*+,/:;=?@-._~``;
  `page` an existing page of the released mini-program, without a leading slash (checked when `check_path`, the
  default, is true); `width` 280–1280 px (430 by default);
- errors come back as HTTP 200 JSON `{"errcode", "errmsg"}`: 41001 access_token missing, 40001 invalid credential,
  42001 access_token expired, 47001 data format error, 40169 invalid length for scene, 40129 invalid scene,
  41030 invalid page, 40097 invalid args.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

TOKEN_TTL_S = 7_200
OLD_TOKEN_GRACE_S = 300
SCENE = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}$")
PAGE = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")
ENV_VERSIONS = ("release", "trial", "develop")
WIDTH_MIN, WIDTH_MAX, WIDTH_DEFAULT = 280, 1280, 430


@dataclass(frozen=True)
class WxError:
    errcode: int
    errmsg: str

    def body(self, rid: str) -> dict[str, Any]:
        return {"errcode": self.errcode, "errmsg": f"{self.errmsg} rid: {rid}"}


TOKEN_MISSING = WxError(41001, "access_token missing")
INVALID_CREDENTIAL = WxError(40001, "invalid credential, access_token is invalid or not latest")
TOKEN_EXPIRED = WxError(42001, "access_token expired")
DATA_FORMAT = WxError(47001, "data format error")
SCENE_LENGTH = WxError(40169, "invalid length for scene, or the data is not json string")
INVALID_SCENE = WxError(40129, "invalid scene")
INVALID_PAGE = WxError(41030, "invalid page")
INVALID_ARGS = WxError(40097, "invalid args")
SYSTEM_BUSY = WxError(-1, "system error")


@dataclass(frozen=True)
class AccessToken:
    token: str
    appid: str
    issued_at: datetime
    expires_at: datetime
    # When a newer token replaced it (it works OLD_TOKEN_GRACE_S more), None while it is the latest.
    superseded_at: datetime | None = None

    def usable_at(self, now: datetime) -> bool:
        if now >= self.expires_at:
            return False
        return self.superseded_at is None or now < self.superseded_at + timedelta(seconds=OLD_TOKEN_GRACE_S)

    def expires_in(self, now: datetime) -> int:
        return max(0, int((self.expires_at - now).total_seconds()))


def new_token(appid: str, now: datetime, ttl_s: float = TOKEN_TTL_S) -> AccessToken:
    # WeChat's tokens are opaque strings of 100+ characters; "ACCESS_TOKEN"-like but unguessable here.
    token = f"{int(now.timestamp()) % 100}_{secrets.token_urlsafe(96)}"
    return AccessToken(token=token, appid=appid, issued_at=now, expires_at=now + timedelta(seconds=ttl_s))


def check_credentials(params: dict[str, Any], *, appid: str, secret: str) -> WxError | None:
    """`/cgi-bin/token` and `/cgi-bin/stable_token`'s checks in WeChat's order."""
    if params.get("grant_type") != "client_credential":
        return WxError(40002, "invalid grant_type")
    if not params.get("appid"):
        return WxError(41002, "appid missing")
    if not params.get("secret"):
        return WxError(41004, "appsecret missing")
    if params["appid"] != appid:
        return WxError(40013, "invalid appid")
    if not secrets.compare_digest(str(params["secret"]).encode(), secret.encode()):
        return WxError(40125, "invalid appsecret")
    return None


def check_token(token: AccessToken | None, given: str | None, now: datetime) -> WxError | None:
    if not given:
        return TOKEN_MISSING
    if token is None:
        return INVALID_CREDENTIAL
    if now >= token.expires_at:
        return TOKEN_EXPIRED
    if not token.usable_at(now):
        return INVALID_CREDENTIAL  # replaced more than 5 minutes ago: "not latest"
    return None


@dataclass(frozen=True)
class CodeRequest:
    scene: str
    page: str
    width: int
    env_version: str
    check_path: bool


def check_code_request(body: Any, pages: tuple[str, ...]) -> CodeRequest | WxError:
    """getwxacodeunlimit's body checks: the request, or WeChat's error for it."""
    if not isinstance(body, dict):
        return DATA_FORMAT
    scene = body.get("scene")
    if not isinstance(scene, str) or not 1 <= len(scene) <= 32:
        return SCENE_LENGTH
    if not SCENE.fullmatch(scene):
        return INVALID_SCENE
    page = body.get("page", "")
    check_path = body.get("check_path", True)
    env_version = body.get("env_version", "release")
    width = body.get("width", WIDTH_DEFAULT)
    if not isinstance(page, str) or not isinstance(check_path, bool) or env_version not in ENV_VERSIONS:
        return INVALID_ARGS
    if isinstance(width, bool) or not isinstance(width, int):
        return INVALID_ARGS
    if page and not PAGE.fullmatch(page):
        return INVALID_PAGE  # a leading slash, or no page path at all
    if page and check_path and env_version == "release" and page not in pages:
        return INVALID_PAGE  # not a page of the released mini-program
    width = min(max(width, WIDTH_MIN), WIDTH_MAX)
    return CodeRequest(scene=scene, page=page, width=width, env_version=env_version, check_path=check_path)


def code_content(appid: str, request: CodeRequest) -> str:
    """What the sandbox's code holds: the mini-program, its page and the scene (a real code is WeChat's round
    "sun code" image, which no library draws; a QR code carrying the same facts is what tests can decode)."""
    page = request.page or "pages/index/index"
    return f"https://mp.weixin.qq.com/a/{appid}/{page}?scene={request.scene}&env_version={request.env_version}"
