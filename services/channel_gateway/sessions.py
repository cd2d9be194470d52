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
from shared.errors import Conflict, Unauthenticated, Unavailable
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
    channel: Channel  # where the user first signed in
    openid: str | None
    alipay_user_id: str | None
    created_at: datetime


class IdentityLinkedElsewhere(Conflict):
    code = "identity_linked_elsewhere"


class Users:
    """`identities`: one document per provider identity ("wechat:<appid>:<openid>", "alipay:<user id>"), its `_id`
    the identity, holding the user it signs in as — the unique `_id` decides concurrent first logins. `users`: one
    document per user with the provider ids checkout needs (the openid for WeChat Pay, the Alipay user id).

    One person may use both audiences as one user: signing in to one audience while holding a session of the other
    links the new identity to that user (a mini-program buyer then reads refund details in the app, as the app is
    where they are shown). An identity that already belongs to another user is not moved (409)."""

    def __init__(self, db: Database) -> None:
        self.identities = db["identities"]
        self.users = db["users"]

    async def ensure_indexes(self) -> None:
        return None  # every read is by `_id`

    async def sign_in(
        self, identity: str, channel: Channel, *, link_to: str | None = None, **provider_ids: str
    ) -> tuple[User, bool]:
        """The user of this identity (created on its first login, or linked to `link_to`); (user, created)."""
        found = await self.identities.find_one({"_id": identity})
        if found is None:
            user_id = link_to or new_id("usr")
            try:
                await self.identities.insert_one(
                    {"_id": identity, "user_id": user_id, "channel": channel, "created_at": datetime.now(UTC)}
                )
            except Exception as exc:
                if not is_duplicate_key(exc):
                    raise
                found = await self.identities.find_one({"_id": identity})  # a concurrent first login won
                if found is None:
                    raise
        user_id = found["user_id"] if found is not None else user_id
        if link_to is not None and user_id != link_to:
            raise IdentityLinkedElsewhere(
                "this account already signs in as another user", details={"identity": identity.split(":", 1)[0]}
            )
        created = found is None and link_to is None
        return await self._record(user_id, channel, provider_ids), created

    async def _record(self, user_id: str, channel: Channel, provider_ids: dict[str, str]) -> User:
        """The user's document with this identity's provider id (written by its own sign-ins only)."""
        update = {
            "$setOnInsert": {"channel": channel, "created_at": datetime.now(UTC)},
            "$set": {k: v for k, v in provider_ids.items() if v},
        }
        for attempt in range(2):
            try:
                await self.users.update_one({"_id": user_id}, update, upsert=True)
                break
            except Exception as exc:  # two first upserts of one user at once: the second updates
                if not is_duplicate_key(exc) or attempt:
                    raise
        user = await self.get(user_id)
        assert user is not None
        return user

    async def get(self, user_id: str) -> User | None:
        doc = await self.users.find_one({"_id": user_id})
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
