"""The gateway's routes as data: each one declares its audiences, the capability the channel policy must grant, who
may call it, and the pydantic models of its query, body and answer. From that one table the aiohttp routes are
registered (parsing, authentication and the policy decided before the handler runs) and the OpenAPI 3.1 document
is generated — so the document cannot drift from what the handlers accept and return.

A route of both audiences (`P` in API.md) is registered under `/app/v1` and `/mp/v1`; one whose capability the mini-
program's policy does not grant is still registered there, answering 403 `not_available_in_channel` before anything
else (documented as such). No handler ever compares a channel: it reads `ctx.policy`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast

from aiohttp import web
from pydantic import BaseModel, ValidationError

from shared.channels import ChannelPolicy, policy
from shared.errors import AppError, NotFound, Unauthenticated, ValidationFailed
from shared.events import Channel
from shared.http.app import parse_body, read_json, validation_details

Audience = Literal["app", "mp", "admin"]
Auth = Literal["none", "user", "admin"]
PREFIX: dict[Audience, str] = {"app": "/app/v1", "mp": "/mp/v1", "admin": "/admin/v1"}

# A path parameter names a resource by its id (`ord_01J…`, a share code): letters, digits, `_` and `-`. Anything else
# names nothing (404), and must never reach a service's URL, where a decoded `?`, `#`, `/` or `..` would change what
# is asked (`/orders/<id>%3Fviewer_id%3D<owner>` would ask listing for the owner's view).
PATH_PARAM_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_PATH_PARAM_VALUE = re.compile(PATH_PARAM_PATTERN.strip("^$"))  # fullmatch: no `$` before a trailing newline

B = TypeVar("B", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)


class NotAvailableInChannel(AppError):
    status, code = 403, "not_available_in_channel"


@dataclass(frozen=True)
class Session:
    """Who calls: a signed-in user of one audience (from a verified session token)."""

    user_id: str
    channel: Channel


@dataclass
class Ctx(Generic[B, Q]):
    """What a handler gets: the request, its audience and policy, the caller, and its parsed body and query."""

    request: web.Request
    audience: Audience
    session: Session | None
    body: B
    query: Q

    @property
    def channel(self) -> Channel:
        if self.audience == "admin":
            raise AssertionError("an admin route has no channel")
        return self.audience

    @property
    def policy(self) -> ChannelPolicy:
        return policy(self.channel)

    @property
    def user_id(self) -> str:
        if self.session is None:
            raise Unauthenticated("a session is required")
        return self.session.user_id

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def app(self) -> web.Application:
        return self.request.app


class Empty(BaseModel):
    """No query parameters or no body."""


Handler = Callable[[Ctx[Any, Any]], Awaitable["Result"]]
Result = BaseModel | tuple[int, BaseModel] | web.StreamResponse


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # relative to the audience prefix, e.g. "/orders/{order_id}"
    handler: Handler
    summary: str
    audiences: tuple[Audience, ...]
    auth: Auth = "user"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    # A ChannelPolicy field that must be true (or non-empty) for the route to exist in an audience.
    capability: str | None = None
    # Answers with a stored replay for the same Idempotency-Key (required header).
    idempotency_key: bool = False
    errors: tuple[int, ...] = ()
    # When the answer is not JSON: its media type (e.g. image/png).
    media_type: str | None = None
    tags: tuple[str, ...] = ()
    rate_limit: str | None = None  # a rate-limit rule's name (ratelimit.py)

    def allowed_in(self, audience: Audience) -> bool:
        if audience == "admin" or self.capability is None:
            return True
        value = getattr(policy(audience), self.capability)
        return bool(value)

    def operation_id(self, audience: Audience) -> str:
        words = [w.strip("{}") for w in self.path.strip("/").replace("-", "_").split("/") if w]
        return f"{audience}_{self.method.lower()}_{'_'.join(words) or 'root'}"


@dataclass
class Registry:
    routes: list[Route] = field(default_factory=list)

    def add(self, route: Route) -> None:
        self.routes.append(route)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        audiences: Sequence[Audience] = ("app", "mp"),
        **options: Any,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(Route(method, path, handler, summary, tuple(audiences), **options))
            return handler

        return register


# ------------------------------------------------------------------------------------------------ aiohttp wiring

Authenticate = Callable[[web.Request, Audience], Awaitable[Session | None]]
Guard = Callable[[web.Request, Route, Audience, Session | None], Awaitable[None]]
IdempotentRun = Callable[[web.Request, str, Callable[[], Awaitable[web.Response]]], Awaitable[web.Response]]


@dataclass(frozen=True)
class Wiring:
    """What the registered routes need from the application: how sessions and admins are verified, the rate
    limiter, and the idempotency store."""

    authenticate: Authenticate
    authorize_admin: Callable[[web.Request], None]
    guard: Guard
    idempotent: IdempotentRun


def _parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ValidationFailed("invalid query parameters", details=validation_details(exc, "query.")) from None


def render(result: Result, status: int) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    if isinstance(result, tuple):
        status, result = result
    return web.Response(
        text=result.model_dump_json(by_alias=True), status=status, content_type="application/json", charset="utf-8"
    )


def _handler_for(route: Route, audience: Audience, wiring: Wiring) -> Callable[[web.Request], Awaitable[Any]]:
    async def not_available(request: web.Request) -> web.StreamResponse:
        raise NotAvailableInChannel(
            f"{route.method} {PREFIX[audience]}{route.path} is not available in this channel",
            details={"channel": audience},
        )

    if not route.allowed_in(audience):
        return not_available

    async def handle(request: web.Request) -> web.StreamResponse:
        session: Session | None = None
        if route.auth == "admin":
            wiring.authorize_admin(request)
        elif route.auth == "user":
            session = await wiring.authenticate(request, audience)
            if session is None:
                raise Unauthenticated("a session token of this audience is required")
        await wiring.guard(request, route, audience, session)
        for name, value in request.match_info.items():
            if not _PATH_PARAM_VALUE.fullmatch(value):
                raise NotFound("no such resource", details={"parameter": name})
        query = _parse_query(request, route.query) if route.query is not None else Empty()
        if route.body is not None:
            body: BaseModel = await parse_body(request, route.body)
        else:
            if request.body_exists and (await request.read()).strip():
                await read_json(request)  # a body where none is expected must at least be JSON
            body = Empty()
        ctx: Ctx[Any, Any] = Ctx(request=request, audience=audience, session=session, body=body, query=query)

        async def compute() -> web.Response:
            response = render(await route.handler(ctx), route.status)
            return cast(web.Response, response)

        if route.idempotency_key:
            scope = f"{audience}:{session.user_id if session else 'admin'}"
            return await wiring.idempotent(request, scope, compute)
        return render(await route.handler(ctx), route.status)

    return handle


def install(app: web.Application, registry: Registry, wiring: Wiring) -> None:
    for route in registry.routes:
        for audience in route.audiences:
            app.router.add_route(route.method, PREFIX[audience] + route.path, _handler_for(route, audience, wiring))


def endpoints(registry: Registry) -> list[tuple[str, str, Route, Audience]]:
    """(method, full path, route, audience) of everything registered: what the contract tests walk."""
    return [(r.method, PREFIX[a] + r.path, r, a) for r in registry.routes for a in r.audiences]
