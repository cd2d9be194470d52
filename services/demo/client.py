"""The demo's two counterparts: the gateway's public API (as the app, the mini-program and the platform's operators
call it) and the sandbox's buyer actions (what a person does on the phone: wx.login, wx.requestPayment, signing in
Alipay). Every call is printed as a step: who does what, the answer's key fields and the trace id the gateway (or
the sandbox) answered in its `traceparent` header."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

import aiohttp

T = TypeVar("T")

# A 429 is waited out (Retry-After, at most this long) and the request sent again; a 5xx or a connection error while
# polling is a moment of an asynchronous world (a service restarting, RabbitMQ back after a blip) and polled again.
MAX_RETRY_AFTER_S = 30.0


class DemoFailure(Exception):
    """Something the story needs did not hold: the message says which step, what was answered and its trace."""


class Transient(DemoFailure):
    """A 5xx answer or no answer at all: worth asking again while polling."""


@dataclass(frozen=True)
class Endpoints:
    gateway: str = "http://127.0.0.1:8080"
    sandbox: str = "http://127.0.0.1:8090"
    jaeger: str = "http://127.0.0.1:16686"
    admin_token: str = ""
    # The platform's WeChat Pay merchant id (sp_mchid): its account at the sandbox receives the profit-shared fees.
    platform_mchid: str = "1900000001"


@dataclass(frozen=True)
class ServiceNames:
    """The `service.name` each process reports its spans under (`make run`: the package names, deploy/run.sh)."""

    gateway: str = "channel_gateway"
    listing: str = "listing"
    payment: str = "payment"
    wallet: str = "wallet"
    refund: str = "refund"
    sandbox: str = "sandbox"


@dataclass
class Reply:
    status: int
    body: Any
    trace_id: str | None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def error_code(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get("code")) if isinstance(error, dict) else None


@dataclass
class Login:
    """A signed-in person of one audience, with the identity the sandbox gave their phone."""

    who: str
    token: str
    user_id: str
    audience: str
    openid: str | None = None
    alipay_user_id: str | None = None


def trace_of(headers: Mapping[str, str]) -> str | None:
    """The trace id of a W3C `traceparent` header (`00-<trace id>-<span id>-<flags>`)."""
    value = headers.get("traceparent") or headers.get("Traceparent")
    parts = value.split("-") if value else []
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def short(body: Any, limit: int = 300) -> str:
    text = json.dumps(body, ensure_ascii=False) if not isinstance(body, str) else body
    return text if len(text) <= limit else text[:limit] + "…"


class Demo:
    """One run's HTTP session, endpoints and output. Steps print as they happen; `wait` polls with a deadline."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        endpoints: Endpoints,
        *,
        names: ServiceNames | None = None,
        out: TextIO | None = None,
        speed: float = 1.0,
    ) -> None:
        self.http = http
        self.endpoints = endpoints
        self.names = names or ServiceNames()
        self.out = out or sys.stdout
        # Deadlines are written for `make run` (real provider delays, seconds); tests may scale them down or up.
        self.speed = speed
        self.started = time.monotonic()

    # ------------------------------------------------------------------------------------------------- printing

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, who: str, what: str, detail: str = "", trace_id: str | None = None) -> None:
        elapsed = time.monotonic() - self.started
        line = f"  {elapsed:6.1f}s  {who:<13} {what}"
        if detail:
            line += f" → {detail}"
        if trace_id:
            line += f"  [trace {trace_id}]"
        self.say(line)

    def note(self, text: str) -> None:
        self.say(f"{'':10}{'':14}… {text}")

    # ----------------------------------------------------------------------------------------------------- HTTP

    async def _send(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        body: Any = None,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Reply:
        headers: dict[str, str] = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        for _ in range(5):
            try:
                async with self.http.request(method, url, json=body, params=params, headers=headers) as resp:
                    text = await resp.text()
                    try:
                        data: Any = json.loads(text) if text else None
                    except ValueError:
                        data = text
                    reply = Reply(resp.status, data, trace_of(resp.headers), dict(resp.headers))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise Transient(f"{method} {url}: no answer ({type(exc).__name__}: {exc})") from exc
            if reply.status != 429:
                return reply
            wait = min(MAX_RETRY_AFTER_S, float(reply.headers.get("Retry-After") or 1))
            self.note(f"rate limited on {method} {url}; waiting {wait:g}s as Retry-After says")
            await asyncio.sleep(wait)
        return reply

    async def gateway(
        self,
        method: str,
        path: str,
        who: Login | str | None = None,
        *,
        body: Any = None,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Reply:
        token = who.token if isinstance(who, Login) else who
        return await self._send(method, self.endpoints.gateway + path, token=token, body=body, key=key, params=params)

    async def ok(
        self,
        method: str,
        path: str,
        who: Login | str | None = None,
        *,
        body: Any = None,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> tuple[Any, str | None]:
        """A gateway call that must succeed: its body and trace id (else DemoFailure naming both). A request that
        may be repeated (GET, PUT, a POST under its Idempotency-Key) is sent again after a 503 or no answer, as a
        client does: a service behind the gateway that answered too late under load."""
        repeatable = method in ("GET", "PUT") or key is not None
        for attempt in range(4):
            try:
                reply = await self.gateway(method, path, who, body=body, key=key, params=params)
            except Transient as exc:
                if not repeatable or attempt == 3:
                    raise
                self.note(f"{exc}; again")
                await asyncio.sleep(1.0 + attempt)
                continue
            if reply.status != 503 or not repeatable or attempt == 3:
                break
            self.note(f"{method} {path} answered 503 {reply.error_code} (trace {reply.trace_id}); again")
            await asyncio.sleep(1.0 + attempt)
        if reply.status >= 500:
            raise Transient(f"{method} {path} answered {reply.status}: {short(reply.body)} (trace {reply.trace_id})")
        if reply.status >= 300:
            raise DemoFailure(f"{method} {path} answered {reply.status}: {short(reply.body)} (trace {reply.trace_id})")
        return reply.body, reply.trace_id

    async def get(self, path: str, who: Login | str | None = None, **params: Any) -> Any:
        body, _ = await self.ok("GET", path, who, params=params or None)
        return body

    async def admin(self, method: str, path: str, body: Any = None, **params: Any) -> tuple[Any, str | None]:
        return await self.ok(method, f"/admin/v1{path}", self.endpoints.admin_token, body=body, params=params or None)

    async def sandbox(self, method: str, path: str, body: Any = None) -> tuple[Any, str | None]:
        """A buyer action (or a test-only reading) at the sandbox: what the person's phone does."""
        reply = await self._send(method, self.endpoints.sandbox + path, body=body)
        if reply.status >= 300:
            raise DemoFailure(f"sandbox {method} {path} answered {reply.status}: {short(reply.body)}")
        return reply.body, reply.trace_id

    @staticmethod
    def key() -> str:
        """A fresh Idempotency-Key (one per intended action; a retry of the same action reuses it)."""
        return f"demo-{uuid.uuid4().hex}"

    # --------------------------------------------------------------------------------------------- signing in

    async def mp_login(self, who: str, openid: str | None = None, *, app_token: str | None = None) -> Login:
        """The mini-program: wx.login's code (the sandbox plays WeChat), then the gateway's session."""
        issued, _ = await self.sandbox("POST", "/sandbox/wechat/login-codes", {"openid": openid} if openid else {})
        body: dict[str, Any] = {"code": issued["code"]}
        if app_token:
            body["app_token"] = app_token
        s, trace_id = await self.ok("POST", "/mp/v1/session", body=body)
        login = Login(who, s["token"], s["user"]["id"], "mp", openid=issued["openid"])
        self.step(who, "signs in to the mini-program (wx.login code)", f"user {login.user_id}", trace_id)
        return login

    async def app_login(self, who: str, *, mp_token: str | None = None) -> Login:
        """The app: an Alipay auth code (the sandbox plays Alipay), then the gateway's session."""
        issued, _ = await self.sandbox("POST", "/sandbox/alipay/auth-codes", {})
        body: dict[str, Any] = {"auth_code": issued["auth_code"]}
        if mp_token:
            body["mp_token"] = mp_token
        s, trace_id = await self.ok("POST", "/app/v1/session", body=body)
        login = Login(who, s["token"], s["user"]["id"], "app", alipay_user_id=issued["user_id"])
        how = "with the mini-program session linked" if mp_token else "(Alipay auth code)"
        self.step(who, f"signs in to the app {how}", f"user {login.user_id}", trace_id)
        return login

    # ------------------------------------------------------------------------------------------------ waiting

    async def wait(
        self,
        what: str,
        probe: Callable[[], Awaitable[T]],
        until: Callable[[T], bool],
        *,
        describe: Callable[[T], str] | None = None,
        timeout_s: float = 120.0,
        interval_s: float = 0.5,
    ) -> T:
        """Poll `probe` until `until` holds, printing each new state seen (`describe`) and how long it took; a
        transient failure is asked again. Past the deadline: DemoFailure with the last thing seen."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeout_s * self.speed
        last_seen = ""
        printed = ""
        while True:
            try:
                value = await probe()
            except Transient as exc:
                last_seen = f"(transient: {exc})"
            else:
                if until(value):
                    if loop.time() - started >= 1.0:
                        self.note(f"{what}: after {loop.time() - started:.1f}s")
                    return value
                last_seen = describe(value) if describe else short(value, 160)
            if last_seen != printed and describe is not None:
                self.note(f"waiting for {what}: {last_seen}")
                printed = last_seen
            if loop.time() > deadline:
                raise DemoFailure(
                    f"timed out after {timeout_s * self.speed:g}s waiting for {what}; last seen: {last_seen}"
                )
            await asyncio.sleep(interval_s)
