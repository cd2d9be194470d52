"""The route table and what its wiring decides before a handler runs.

The invariants are checked over every route of `api.ROUTES` (so routes added later are held to them); the wiring is
exercised on a small registry of its own through the gateway's real `wiring()` (sessions, admin token, rate limits):
the channel policy first (403 whatever the token), then the session or admin token (401), then the rate limit (429
with Retry-After), then the query and body (422), then the handler with the caller."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, Field

from services.channel_gateway.api import ROUTES
from services.channel_gateway.app import rules, wiring
from services.channel_gateway.keys import LIMITER, TOKENS
from services.channel_gateway.models import In, Query
from services.channel_gateway.openapi import PATH_PARAM
from services.channel_gateway.ratelimit import RateLimiter
from services.channel_gateway.routing import PREFIX, Audience, Ctx, Registry, Route, endpoints, install
from services.channel_gateway.sessions import Tokens
from services.channel_gateway.settings import GatewaySettings
from shared.channels import POLICY, ChannelPolicy, policy
from shared.http.app import create_app

ENDPOINTS = endpoints(ROUTES)
POLICY_FIELDS = [f.name for f in dataclasses.fields(ChannelPolicy)]
ADMIN_TOKEN = "unit-admin-token-0123456789"


def label(route: Route) -> str:
    return f"{route.method} {route.path} {route.audiences}"


# ------------------------------------------------------------------------------------------ the route table


@pytest.mark.parametrize("route", ROUTES.routes, ids=label)
def test_a_routes_capability_is_a_column_of_the_policy_table(route: Route) -> None:
    assert route.capability is None or route.capability in POLICY_FIELDS, (
        f"{label(route)}: capability {route.capability!r} is not a ChannelPolicy field ({POLICY_FIELDS})"
    )


@pytest.mark.parametrize("route", ROUTES.routes, ids=label)
def test_a_route_is_allowed_exactly_where_the_policy_grants_its_capability(route: Route) -> None:
    for audience in ("app", "mp"):
        granted = True if route.capability is None else bool(getattr(policy(audience), route.capability))
        assert route.allowed_in(audience) is granted, (label(route), audience)
    assert route.allowed_in("admin")


@pytest.mark.parametrize("capability", POLICY_FIELDS)
def test_allowed_in_follows_every_column_of_the_policy_table(capability: str) -> None:
    async def handler(ctx: Ctx[Any, Any]) -> BaseModel:
        raise AssertionError

    route = Route("GET", "/x", handler, "x", ("app", "mp"), capability=capability)
    for audience, row in POLICY.items():
        assert route.allowed_in(audience) is bool(getattr(row, capability)), (capability, audience)


def test_the_policy_table_leaves_the_mini_program_without_the_app_only_capabilities() -> None:
    # What ARCHITECTURE.md's table says, as the routes rely on it (an app-only route answers 403 under /mp/v1).
    for capability in ("manage_shop", "activate_wechat_collection", "wallet", "password_free_agreements"):
        assert getattr(policy("app"), capability) and not getattr(policy("mp"), capability), capability
    assert policy("app").browse_catalog and policy("mp").browse_catalog


@pytest.mark.parametrize("route", ROUTES.routes, ids=label)
def test_admin_routes_and_only_they_take_the_admin_token(route: Route) -> None:
    assert route.audiences, label(route)
    assert set(route.audiences) <= set(PREFIX), label(route)
    if "admin" in route.audiences:
        assert route.audiences == ("admin",) and route.auth == "admin", label(route)
    else:
        assert route.auth in ("none", "user"), label(route)


@pytest.mark.parametrize("route", ROUTES.routes, ids=label)
def test_a_route_declares_what_it_answers(route: Route) -> None:
    # /openapi.json documents every answer from these declarations, so none may be missing.
    assert route.response is not None or route.media_type is not None, f"{label(route)} declares no response"
    assert 200 <= route.status < 300, label(route)
    assert route.summary.strip(), label(route)
    if route.idempotency_key:
        assert route.method == "POST", label(route)
    if route.body is not None:
        assert route.method in ("POST", "PUT", "PATCH", "DELETE"), label(route)
        assert issubclass(route.body, In), f"{label(route)}: a body model extends models.In (extra=forbid, strict)"
    if route.query is not None:
        assert issubclass(route.query, Query), f"{label(route)}: a query model extends models.Query (extra=forbid)"


@pytest.mark.parametrize("route", ROUTES.routes, ids=label)
def test_a_routes_rate_limit_names_a_rule(route: Route) -> None:
    names = set(rules(settings()))
    assert route.rate_limit is None or route.rate_limit in names, (label(route), route.rate_limit, names)


def test_no_two_endpoints_share_a_method_and_path() -> None:
    seen: dict[tuple[str, str], str] = {}
    for method, path, route, _ in ENDPOINTS:
        key = (method, PATH_PARAM.sub("{}", path))
        assert key not in seen, f"{method} {path} is registered twice ({seen[key]} and {route.summary})"
        seen[key] = route.summary
        assert re.fullmatch(r"(/[a-z0-9-]+|/\{[a-z_]+\})+", route.path), f"{route.path}: lower-case segments"


def test_the_whole_table_installs_on_one_application() -> None:
    app = web.Application()
    install(app, ROUTES, wiring(app, settings()))
    registered = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    for method, path, _, _ in ENDPOINTS:
        assert (method, path) in registered


# ---------------------------------------------------------------------------------------- the wiring, in order


def settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "mongo_url": "mongodb://127.0.0.1:1/",
        "amqp_url": "amqp://127.0.0.1:1/",
        "internal_token": "unit-internal-token-0123",
        "admin_token": ADMIN_TOKEN,
        "session_secret": "unit-session-secret-0123456789abcdef",
        "wechat_appid": "wx-unit",
        "wechat_app_secret": "unit",
        "alipay_gateway_url": "http://127.0.0.1:1/gateway.do",
        "alipay_app_id": "unit",
        "alipay_seller_id": "2088000000000000",
        "alipay_app_private_key_file": Path("unit.pem"),
        "alipay_public_key_file": Path("unit.pub"),
        "otel_enabled": False,
    }
    return GatewaySettings(**(values | overrides))


class ThingIn(In):
    name: str = Field(min_length=1, max_length=10)
    price_fen: int = Field(ge=0)


class ThingQuery(Query):
    limit: int = Field(default=20, ge=1, le=100)


class Echo(BaseModel):
    user_id: str | None
    channel: str | None
    thing_id: str | None = None
    name: str | None = None
    limit: int | None = None


test_routes = Registry()
CALLS: list[str] = []


@test_routes.route("GET", "/things/{thing_id}", summary="one", query=ThingQuery, response=Echo)
async def get_thing(ctx: Ctx[Any, ThingQuery]) -> Echo:
    CALLS.append("get_thing")
    return Echo(user_id=ctx.user_id, channel=ctx.channel, thing_id=ctx.path("thing_id"), limit=ctx.query.limit)


@test_routes.route("POST", "/things", summary="create", body=ThingIn, response=Echo, status=201)
async def create_thing(ctx: Ctx[ThingIn, Any]) -> Echo:
    CALLS.append("create_thing")
    return Echo(user_id=ctx.user_id, channel=ctx.channel, name=ctx.body.name)


@test_routes.route("POST", "/shop-things", summary="app only", body=ThingIn, response=Echo, capability="manage_shop")
async def shop_thing(ctx: Ctx[ThingIn, Any]) -> Echo:
    CALLS.append("shop_thing")
    return Echo(user_id=ctx.user_id, channel=ctx.channel)


@test_routes.route("POST", "/poke", summary="no body", response=Echo)
async def poke(ctx: Ctx[Any, Any]) -> Echo:
    CALLS.append("poke")
    return Echo(user_id=ctx.user_id, channel=ctx.channel)


@test_routes.route("GET", "/open", summary="no session", auth="none", response=Echo)
async def open_thing(ctx: Ctx[Any, Any]) -> Echo:
    CALLS.append("open_thing")
    return Echo(user_id=ctx.session.user_id if ctx.session else None, channel=ctx.channel)


@test_routes.route("POST", "/login", summary="limited", auth="none", response=Echo, rate_limit="login")
async def login(ctx: Ctx[Any, Any]) -> Echo:
    CALLS.append("login")
    return Echo(user_id=None, channel=ctx.channel)


@test_routes.route("GET", "/thing-count", summary="admin", audiences=("admin",), auth="admin", response=Echo)
async def admin_thing(ctx: Ctx[Any, Any]) -> Echo:
    CALLS.append("admin_thing")
    return Echo(user_id=None, channel=None)


Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    config = settings(login_per_client=2)
    app = create_app("unit-gateway")
    app[TOKENS] = Tokens(config.session_secret.get_secret_value().encode(), 3600)
    app[LIMITER] = RateLimiter()
    install(app, test_routes, wiring(app, config))
    CALLS.clear()
    async with TestClient(TestServer(app)) as c:
        yield c


def bearer(client: Client, user_id: str, audience: Audience) -> dict[str, str]:
    assert audience != "admin"
    token, _ = client.app[TOKENS].issue(user_id, audience)
    return {"Authorization": f"Bearer {token}"}


async def answer(resp: Any) -> tuple[int, Any]:
    return resp.status, await resp.json()


async def error(resp: Any) -> tuple[int, str]:
    status, body = await answer(resp)
    return status, body["error"]["code"]


async def test_a_session_of_the_audience_reaches_the_handler_with_its_user(client: Client) -> None:
    for audience in ("app", "mp"):
        resp = await client.get(f"{PREFIX[audience]}/things/t1?limit=5", headers=bearer(client, "usr_1", audience))
        status, body = await answer(resp)
        assert status == 200 and body == {
            "user_id": "usr_1",
            "channel": audience,
            "thing_id": "t1",
            "name": None,
            "limit": 5,
        }
    assert CALLS == ["get_thing", "get_thing"]


async def test_no_session_or_another_audiences_or_a_bad_token_is_401(client: Client) -> None:
    app_user, mp_user = bearer(client, "usr_1", "app"), bearer(client, "usr_2", "mp")
    cases = [
        ("/app/v1/things/t1", {}),
        ("/app/v1/things/t1", mp_user),
        ("/mp/v1/things/t1", app_user),
        ("/app/v1/things/t1", {"Authorization": f"Bearer {ADMIN_TOKEN}"}),
        ("/app/v1/things/t1", {"Authorization": app_user["Authorization"].replace("Bearer", "Basic")}),
        ("/app/v1/things/t1", {"Authorization": app_user["Authorization"][:-3]}),
        ("/app/v1/things/t1", {"Authorization": "Bearer"}),
        ("/app/v1/things/t1", {"Authorization": "Bearer fbs1.x.\u00e9"}),
    ]
    for path, headers in cases:
        assert await error(await client.get(path, headers=headers)) == (401, "unauthenticated"), (path, headers)
    assert CALLS == []


async def test_the_session_is_checked_before_the_input(client: Client) -> None:
    bad = {"name": "", "price_fen": -1, "extra": True}
    assert await error(await client.post("/app/v1/things", json=bad)) == (401, "unauthenticated")
    assert await error(await client.get("/app/v1/things/t1?limit=0")) == (401, "unauthenticated")
    assert CALLS == []


async def test_bad_input_is_422_with_the_fields_and_never_reaches_the_handler(client: Client) -> None:
    me = bearer(client, "usr_1", "app")
    resp = await client.post("/app/v1/things", json={"name": "", "price_fen": "1", "extra": 1}, headers=me)
    status, body = await answer(resp)
    assert status == 422 and body["error"]["code"] == "validation_error"
    assert set(body["error"]["details"]) == {"name", "price_fen", "extra"}
    query = await answer(await client.get("/app/v1/things/t1?limit=0", headers=me))
    assert query[0] == 422 and set(query[1]["error"]["details"]) == {"query.limit"}
    unknown = await answer(await client.get("/app/v1/things/t1?nope=1", headers=me))
    assert unknown[0] == 422 and set(unknown[1]["error"]["details"]) == {"query.nope"}
    not_json = await client.post("/app/v1/things", data=b"{not json", headers=me)
    assert await error(not_json) == (422, "validation_error")
    assert await error(await client.post("/app/v1/things", headers=me)) == (422, "validation_error")
    # A route without a body model still refuses a body that is not JSON, and accepts none or an empty one.
    assert await error(await client.post("/app/v1/poke", data=b"\x00garbage", headers=me)) == (422, "validation_error")
    assert CALLS == []
    assert (await client.post("/app/v1/poke", headers=me)).status == 200
    assert (await client.post("/app/v1/poke", json={}, headers=me)).status == 200
    created = await answer(await client.post("/app/v1/things", json={"name": "desk", "price_fen": 0}, headers=me))
    assert created == (201, {"user_id": "usr_1", "channel": "app", "thing_id": None, "name": "desk", "limit": None})


async def test_a_route_the_policy_does_not_grant_is_403_whatever_the_token_and_the_body(client: Client) -> None:
    mp_user, app_user = bearer(client, "usr_2", "mp"), bearer(client, "usr_1", "app")
    for headers in ({}, mp_user, app_user, {"Authorization": "Bearer garbage"}):
        for body in (None, {"bad": True}, {"name": "desk", "price_fen": 1}):
            resp = await client.post("/mp/v1/shop-things", json=body, headers=headers)
            status, payload = await answer(resp)
            assert (status, payload["error"]["code"]) == (403, "not_available_in_channel"), (headers, body)
            assert payload["error"]["details"] == {"channel": "mp"}
    assert CALLS == []
    ok = await client.post("/app/v1/shop-things", json={"name": "desk", "price_fen": 1}, headers=app_user)
    assert ok.status == 200 and CALLS == ["shop_thing"]


async def test_an_open_route_ignores_whatever_token_comes_with_it(client: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer garbage"}, bearer(client, "usr_2", "mp")):
        assert await answer(await client.get("/app/v1/open", headers=headers)) == (
            200,
            {"user_id": None, "channel": "app", "thing_id": None, "name": None, "limit": None},
        )


async def test_admin_routes_take_the_admin_token_only(client: Client) -> None:
    wrong = [
        {},
        {"Authorization": "Bearer wrong-admin-token-000000"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"bearer  {ADMIN_TOKEN}"},
        {"Authorization": ADMIN_TOKEN},
        bearer(client, "usr_1", "app"),
        bearer(client, "usr_2", "mp"),
    ]
    for headers in wrong:
        assert await error(await client.get("/admin/v1/thing-count", headers=headers)) == (401, "unauthenticated")
    assert CALLS == []
    resp = await client.get("/admin/v1/thing-count", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert resp.status == 200 and CALLS == ["admin_thing"]


async def test_a_rate_limited_route_answers_429_with_retry_after_past_its_limit(client: Client) -> None:
    for _ in range(2):
        assert (await client.post("/app/v1/login")).status == 200
    resp = await client.post("/app/v1/login")
    status, body = await answer(resp)
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert body["error"]["details"]["rule"] == "login_per_client"
    assert CALLS == ["login", "login"]
    # Per client: under /mp/v1 the same client shares the count (one rule per client address).
    assert (await client.post("/mp/v1/login")).status == 429


async def test_a_path_parameter_that_is_no_id_is_404_before_the_handler(client: Client) -> None:
    me = bearer(client, "usr_1", "app")
    # Decoded by aiohttp, these would change the URL a handler builds for a service (a query, a fragment, a path).
    for raw in ("t1%3Fviewer_id%3Dusr_2", "t1%23", "x%2F..%2Ft1", "t1%2F", "t%201", "t1%0A", "\u00e9", "x" * 65):
        assert await error(await client.get(f"/app/v1/things/{raw}", headers=me)) == (404, "not_found"), raw
        assert await error(await client.get(f"/app/v1/things/{raw}")) == (401, "unauthenticated"), raw
    assert CALLS == []
    for fine in ("ord_01J0000000000000000000000", "AbC-12_z", "x" * 64):
        assert (await client.get(f"/app/v1/things/{fine}", headers=me)).status == 200, fine
