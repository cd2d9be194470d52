"""The app factory's behaviour seen by a client: JSON errors, validation details, auth, health, readiness, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, Field

from shared.errors import Conflict, NotFound
from shared.http.app import READINESS, create_app, internal_auth_middleware, json_response, parse_body, parse_query


class Body(BaseModel):
    title: str = Field(min_length=1, max_length=10)
    price_fen: int = Field(gt=0)


class Query(BaseModel):
    limit: int = Field(default=20, ge=1, le=100)


async def create(request: web.Request) -> web.Response:
    body = await parse_body(request, Body)
    return json_response(body, 201)


async def listing(request: web.Request) -> web.Response:
    q = parse_query(request, Query)
    return json_response({"limit": q.limit})


async def conflict(request: web.Request) -> web.Response:
    raise Conflict("item already reserved", code="item_not_available", details={"item_id": "itm_1"})


async def missing(request: web.Request) -> web.Response:
    raise NotFound()


async def boom(request: web.Request) -> web.Response:
    raise KeyError("internal secret")


async def failing_check() -> None:
    raise ConnectionError("mongo unreachable")


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_app("unit", middlewares=[internal_auth_middleware("t" * 20, public_prefixes=("/public",))])
    app.router.add_post("/items", create)
    app.router.add_get("/items", listing)
    app.router.add_get("/public/conflict", conflict)
    app.router.add_get("/public/missing", missing)
    app.router.add_get("/public/boom", boom)
    async with TestClient(TestServer(app)) as c:
        yield c


AUTH = {"Authorization": "Bearer " + "t" * 20}


async def test_valid_body_passes_through(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.post("/items", json={"title": "desk", "price_fen": 100}, headers=AUTH)
    assert resp.status == 201
    assert await resp.json() == {"title": "desk", "price_fen": 100}


async def test_invalid_body_is_422_with_one_message_per_field(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.post("/items", json={"title": "", "price_fen": "abc", "extra": 1}, headers=AUTH)
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "validation_error"
    assert set(error["details"]) == {"title", "price_fen"}


@pytest.mark.parametrize("payload", [b"", b"{", b"[1,2]", b"\xff\xfe"])
async def test_missing_or_malformed_json_is_422(
    client: TestClient[web.Request, web.Application], payload: bytes
) -> None:
    resp = await client.post("/items", data=payload, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status == 422
    assert (await resp.json())["error"]["code"] == "validation_error"


async def test_bad_query_parameters_are_422(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.get("/items?limit=1000", headers=AUTH)
    assert resp.status == 422
    assert "query.limit" in (await resp.json())["error"]["details"]


async def test_app_errors_keep_their_code_status_and_details(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.get("/public/conflict")
    assert resp.status == 409
    assert (await resp.json())["error"] == {
        "code": "item_not_available",
        "message": "item already reserved",
        "details": {"item_id": "itm_1"},
    }
    resp = await client.get("/public/missing")
    assert (resp.status, (await resp.json())["error"]["code"]) == (404, "not_found")


async def test_unknown_routes_and_methods(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.get("/public/nowhere")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await client.delete("/items", headers=AUTH)
    assert resp.status == 405 and "GET" in resp.headers["Allow"]


async def test_unexpected_errors_are_500_without_internals(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.get("/public/boom")
    assert resp.status == 500
    text = await resp.text()
    assert "internal secret" not in text and "KeyError" not in text
    assert (await resp.json())["error"]["code"] == "internal_error"


async def test_internal_token_guards_all_but_public_paths(client: TestClient[web.Request, web.Application]) -> None:
    assert (await client.get("/items")).status == 401
    assert (await client.get("/items", headers={"Authorization": "Bearer nope"})).status == 401
    assert (await client.get("/items", headers=AUTH)).status == 200
    assert (await client.get("/healthz")).status == 200


async def test_readiness_reports_each_check(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.get("/readyz")
    assert resp.status == 200 and (await resp.json())["checks"] == {}
    client.app[READINESS]["mongo"] = failing_check
    resp = await client.get("/readyz")
    assert resp.status == 503
    assert "mongo unreachable" in (await resp.json())["checks"]["mongo"]


async def test_metrics_count_requests_by_route_template(client: TestClient[web.Request, web.Application]) -> None:
    await client.get("/items?limit=5", headers=AUTH)
    text = await (await client.get("/metrics")).text()
    assert 'http_requests_total{method="GET",route="/items",status="200"}' in text
    assert "# TYPE http_request_duration_seconds histogram" in text
