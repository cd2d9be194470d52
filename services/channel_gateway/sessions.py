"""Users and sessions. A mini-program user signs in with a `wx.login` code (exchanged at WeChat's
`jscode2session` for the openid), an app user with an Alipay auth code (`alipay.system.oauth.token` → the Alipay
user id); the first login creates the user (a unique index on the provider identity decides concurrent first
logins). The gateway then issues its own session token: HMAC-SHA256 over its claims, expiring, bound to one
audience — an mp token is refused on `/app/v1` and the reverse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from services.channel_gateway.routing import Session
from shared.errors import Unauthenticated, Unavailable
from shared.events import Channel
from shared.ids import new_id
from shared.mongo import Database, is_duplicate_key
from shared.providers.alipay import AlipayClient
from shared.providers.errors import ProviderMisconfigured, ProviderRejected, ProviderUnavailable

log = logging.getLogger("channel_gateway.sessions")
TOKEN_PREFIX = "fbs1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """`fbs1.<claims>.<mac>`: claims `{"sub", "aud", "iat", "exp", "jti"}` as base64url JSON, MAC over both."""

    def __init__(self, secret: bytes, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        self.key = hashlib.sha256(b"fishbridge-session\x00" + secret).digest()
        self.ttl_s = ttl_s
        self.clock = clock

    def _mac(self, signed: str) -> str:
        return _b64(hmac.new(self.key, signed.encode("utf-8", "surrogateescape"), hashlib.sha256).digest())

    def issue(self, user_id: str, audience: Channel) -> tuple[str, datetime]:
        now = int(self.clock())
        exp = now + self.ttl_s
        claims = {"sub": user_id, "aud": audience, "iat": now, "exp": exp, "jti": secrets.token_urlsafe(12)}
        encoded = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signed = f"{TOKEN_PREFIX}.{encoded}"
        return f"{signed}.{self._mac(signed)}", datetime.fromtimestamp(exp, UTC)

    def verify(self, token: str, audience: Channel) -> Session | None:
        """The session, or None for a token that is malformed, forged, expired or of the other audience."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            return None
        signed = f"{parts[0]}.{parts[1]}"
        # As bytes: a header that was not ASCII (aiohttp hands it over surrogate-escaped) is refused, not a TypeError.
        given = parts[2].encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(self._mac(signed).encode(), given):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return None
        if not isinstance(claims, dict) or claims.get("aud") != audience or not isinstance(claims.get("sub"), str):
            return None
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= self.clock():
            return None
        return Session(user_id=claims["sub"], channel=audience)


@dataclass(frozen=True)
class User:
    user_id: str
    channel: Channel
    openid: str | None
    alipay_user_id: str | None
    created_at: datetime


class Users:
    """`users`: one document per user, `identity` ("wechat:<appid>:<openid>" or "alipay:<user id>") unique."""

    def __init__(self, db: Database) -> None:
        self.collection = db["users"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("identity", 1)], name="identity", unique=True)

    async def sign_in(self, identity: str, channel: Channel, **provider_ids: str) -> tuple[User, bool]:
        """The user of this identity, created on its first login; (user, created)."""
        found = await self.collection.find_one({"identity": identity})
        if found is not None:
            return _user(found), False
        doc = {
            "_id": new_id("usr"),
            "identity": identity,
            "channel": channel,
            "openid": provider_ids.get("openid"),
            "alipay_user_id": provider_ids.get("alipay_user_id"),
            "created_at": datetime.now(UTC),
        }
        try:
            await self.collection.insert_one(doc)
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            found = await self.collection.find_one({"identity": identity})  # a concurrent first login won
            if found is None:
                raise
            return _user(found), False
        return _user(doc), True

    async def get(self, user_id: str) -> User | None:
        doc = await self.collection.find_one({"_id": user_id})
        return _user(doc) if doc else None


def _user(doc: dict[str, Any]) -> User:
    created = doc["created_at"]
    return User(
        user_id=doc["_id"],
        channel=doc["channel"],
        openid=doc.get("openid"),
        alipay_user_id=doc.get("alipay_user_id"),
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
    )


class WechatLogin:
    """`GET /sns/jscode2session`: a `wx.login` code → the openid (errors come as HTTP 200 with an errcode)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, appid: str, secret: str, timeout_s: float) -> None:
        self.http, self.url, self.appid, self.secret = http, base.rstrip("/") + "/sns/jscode2session", appid, secret
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def openid(self, code: str) -> str:
        params = {"appid": self.appid, "secret": self.secret, "js_code": code, "grant_type": "authorization_code"}
        try:
            async with self.http.get(self.url, params=params, timeout=self.timeout) as resp:
                text = await resp.text()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError):
            raise Unavailable("WeChat login is unreachable", details={"provider": "wechat"}) from None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if status != 200 or not isinstance(data, dict):
            raise Unavailable("WeChat login failed", details={"provider": "wechat", "status": status})
        if isinstance(data.get("openid"), str) and data["openid"]:
            return str(data["openid"])
        errcode = data.get("errcode")
        if errcode in (-1, 45011):  # system busy, or too many logins: the client may retry
            raise Unavailable("WeChat login is busy; retry", details={"provider": "wechat", "errcode": errcode})
        log.info("jscode2session refused the code: %s", data)
        raise Unauthenticated("the wx.login code was refused", details={"errcode": errcode})


class AlipayLogin:
    def __init__(self, client: AlipayClient) -> None:
        self.client = client

    async def user_id(self, auth_code: str) -> str:
        try:
            answer = await self.client.oauth_token(auth_code)
        except ProviderRejected as exc:
            raise Unauthenticated("the Alipay auth code was refused", details={"sub_code": exc.provider_code}) from None
        except (ProviderUnavailable, ProviderMisconfigured):
            raise Unavailable("Alipay login is unavailable; retry", details={"provider": "alipay"}) from None
        uid = answer.get("user_id") or answer.get("open_id")
        if not isinstance(uid, str) or not uid:
            raise Unavailable("Alipay answered without a user id", details={"provider": "alipay"})
        return uid
