"""The mini-program code of a share (issue 18): WeChat's `POST /wxa/getwxacodeunlimit` with the mini-program's
`access_token`, and the images the gateway keeps, one per share.

The token comes from `POST /cgi-bin/stable_token`, which answers every caller the same token while it is valid, so
gateway replicas share one token instead of replacing each other's (each `/cgi-bin/token` call would issue a new
one). It is cached until `refresh_margin_s` before it expires and asked for again from then on (at most every
`margin / 5` while WeChat still answers the old one); a call refused with 42001 (expired) or 40001 (invalid, e.g.
replaced elsewhere) forces a new token once and is tried again once. Other errcodes are WeChat's answer to a request
we built (a page not in the released mini-program, a bad scene): logged and answered as 503, never a 500.

The image of a share never changes (its scene is the code), so it is fetched once and kept in the gateway's
database by the share code (`_id`; the first insert wins a race, both images being the same), with an in-process
cache in front that also makes concurrent first requests share one call to WeChat."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from bson import Binary

from shared.errors import Unavailable
from shared.mongo import Collection, Database, DuplicateKeyError

log = logging.getLogger("channel_gateway.wxacode")

TOKEN_REFUSED = (42001, 40001)  # expired; invalid or not the latest


class WechatRefused(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


@dataclass
class _Token:
    value: str
    expires_at: float  # monotonic
    asked_at: float


class MiniProgramCodes:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        base: str,
        appid: str,
        secret: str,
        timeout_s: float,
        *,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http, self.base, self.appid, self.secret = http, base.rstrip("/"), appid, secret
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.margin_s = refresh_margin_s
        self.clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self.tokens_fetched = 0
        self.retries = 0

    async def _post(self, path: str, body: dict[str, Any], params: dict[str, str] | None = None) -> tuple[str, bytes]:
        try:
            async with self.http.post(self.base + path, json=body, params=params, timeout=self.timeout) as resp:
                data = await resp.read()
                if resp.status != 200:
                    raise Unavailable("WeChat failed", details={"provider": "wechat", "status": resp.status})
                return resp.content_type, data
        except (TimeoutError, aiohttp.ClientError):
            raise Unavailable("WeChat is unreachable", details={"provider": "wechat"}) from None

    @staticmethod
    def _error(content_type: str, data: bytes) -> WechatRefused | None:
        """WeChat's errors are HTTP 200 JSON bodies with an errcode (a success is the image itself)."""
        if content_type != "application/json" and not data.lstrip().startswith(b"{"):
            return None
        try:
            body = json.loads(data)
        except ValueError:
            return WechatRefused(-1, "unreadable answer")
        if not isinstance(body, dict):
            return WechatRefused(-1, "unreadable answer")
        return WechatRefused(int(body.get("errcode") or -1), str(body.get("errmsg", "")))

    async def access_token(self, *, force: bool = False) -> str:
        now = self.clock()
        token = self._token
        if not force and token is not None and now < token.expires_at - self.margin_s:
            return token.value
        async with self._lock:
            token, now = self._token, self.clock()
            if not force and token is not None:
                fresh = now < token.expires_at - self.margin_s
                asked_lately = now < token.asked_at + self.margin_s / 5
                if fresh or (asked_lately and now < token.expires_at):
                    return token.value
            body = {
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": force,
            }
            _, data = await self._post("/cgi-bin/stable_token", body)
            try:
                answer = json.loads(data)
            except ValueError:
                answer = None
            if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
                log.warning("stable_token refused: %s", data[:200])
                code = answer.get("errcode") if isinstance(answer, dict) else None
                raise Unavailable("WeChat refused the access token", details={"provider": "wechat", "errcode": code})
            expires_in = float(answer.get("expires_in") or 0)
            self._token = _Token(answer["access_token"], now + expires_in, now)
            self.tokens_fetched += 1
            return self._token.value

    async def unlimited_code(self, scene: str, page: str, env_version: str) -> bytes:
        """The PNG of `getwxacodeunlimit` for a page and scene (after one forced token refresh if the token was
        refused)."""
        body = {"scene": scene, "page": page, "env_version": env_version, "check_path": env_version == "release"}
        for attempt in (0, 1):
            token = await self.access_token(force=attempt == 1)
            content_type, data = await self._post("/wxa/getwxacodeunlimit", body, {"access_token": token})
            error = self._error(content_type, data)
            if error is None:
                return data
            if error.errcode in TOKEN_REFUSED and attempt == 0:
                self.retries += 1
                log.info("getwxacodeunlimit: token refused (%s); refreshing it once", error.errcode)
                continue
            log.warning("getwxacodeunlimit refused scene=%s page=%s: %s", scene, page, error)
            raise Unavailable(
                "WeChat refused the mini-program code", details={"provider": "wechat", "errcode": error.errcode}
            )
        raise AssertionError("unreachable")


class ShareImages:
    """The mini-program code image of each share, by its code."""

    def __init__(self, db: Database) -> None:
        self.images: Collection = db["share_images"]

    async def get(self, code: str) -> bytes | None:
        doc = await self.images.find_one({"_id": code})
        return None if doc is None else bytes(doc["png"])

    async def put(self, code: str, png: bytes) -> None:
        try:
            await self.images.insert_one({"_id": code, "png": Binary(png), "created_at": datetime.now(UTC)})
        except DuplicateKeyError:
            pass  # another request (or replica) stored the same image first
