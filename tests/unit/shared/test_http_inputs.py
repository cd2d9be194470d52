"""Hostile input at the HTTP layer (deep or odd JSON, broken or huge bodies) gets a 4xx JSON error, never a 500."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, Field

from shared.http.app import create_app, internal_auth_middleware, json_response, parse_body, read_json

LIMIT = 64 * 1024
AUTH = {"Authorization": "Bearer " + "t" * 20}


class Body(BaseModel):
    title: str = Field(max_length=1000)
    tags: list[str] = Field(default_factory=list)


async def create(request: web.Request) -> web.Response:
    body = await parse_body(request, Body)
    return json_response(body, 201)


async def echo(request: web.Request) -> web.Response:
    return json_response({"value": await read_json(request)})


async def get_thing(request: web.Request) -> web.Response:
    return json_response({"id": request.match_info["thing_id"], "q": dict(request.query)})


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = create_app("unit", middlewares=[internal_auth_middleware("t" * 20)], client_max_size=LIMIT)
    app.router.add_post("/things", create)
    app.router.add_post("/echo", echo)
    app.router.add_get("/things/{thing_id}", get_thing)
    # A fresh connection per request: aiohttp drops a connection whose body it could not read.
    async with TestClient(TestServer(app), connector=aiohttp.TCPConnector(force_close=True)) as c:
        yield c


async def error_of(resp: aiohttp.ClientResponse) -> dict[str, object]:
    error: dict[str, object] = (await resp.json())["error"]
    return error


async def test_a_body_nested_deeper_than_the_json_parser_can_go_is_422(
    client: TestClient[web.Request, web.Application],
) -> None:
    deep = b"[" * 30_000 + b"]" * 30_000  # well under the size limit, far past Python's recursion limit
    resp = await client.post("/echo", data=deep, headers=AUTH)
    assert resp.status == 422
    assert (await error_of(resp))["code"] == "validation_error"


async def test_a_body_nested_past_the_depth_bound_is_422(client: TestClient[web.Request, web.Application]) -> None:
    resp = await client.post("/echo", data=b"[" * 40 + b"]" * 40, headers=AUTH)
    assert resp.status == 422
    assert "nested deeper" in str((await error_of(resp))["details"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b'{"title": "\\ud800"}', "title"),
        (b'{"title": "ok", "tags": ["x", "\\udc80"]}', "tags.1"),
        (b'{"title": "ok", "a\\u0000": 1}', "(body)"),
        (b'{"title": "fish\\u0000"}', "title"),  # jsonb (FerretDB on PostgreSQL) cannot hold U+0000
    ],
)
async def test_a_string_no_database_can_hold_is_422_naming_the_field(
    client: TestClient[web.Request, web.Application], payload: bytes, field: str
) -> None:
    resp = await client.post("/things", data=payload, headers=AUTH)
    assert resp.status == 422
    error = await error_of(resp)
    assert error["code"] == "validation_error"
    assert field in error["details"]  # type: ignore[operator]


@pytest.mark.parametrize("payload", [b"NaN", b'{"title": Infinity}', b"[-Infinity]"])
async def test_nan_and_infinity_are_not_json(client: TestClient[web.Request, web.Application], payload: bytes) -> None:
    resp = await client.post("/echo", data=payload, headers=AUTH)
    assert resp.status == 422
    assert (await error_of(resp))["details"] == {"(body)": "invalid JSON"}


async def test_a_body_over_the_size_limit_is_413_in_the_json_error_format(
    client: TestClient[web.Request, web.Application],
) -> None:
    resp = await client.post("/things", json={"title": "x" * (LIMIT + 1)}, headers=AUTH)
    assert resp.status == 413
    error = await error_of(resp)
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"max_bytes": LIMIT}


async def test_a_compressed_body_that_inflates_past_the_limit_is_413(
    client: TestClient[web.Request, web.Application],
) -> None:
    bomb = gzip.compress(b'{"title": "' + b"x" * (LIMIT * 20) + b'"}')
    assert len(bomb) < LIMIT
    resp = await client.post("/things", data=bomb, headers={**AUTH, "Content-Encoding": "gzip"})
    assert resp.status == 413
    assert (await error_of(resp))["code"] == "payload_too_large"


async def test_a_body_with_a_broken_content_encoding_is_400_not_500(
    client: TestClient[web.Request, web.Application],
) -> None:
    resp = await client.post("/things", data=b"not gzip at all", headers={**AUTH, "Content-Encoding": "gzip"})
    assert resp.status == 400
    assert (await error_of(resp))["code"] == "bad_request"


async def test_any_content_type_is_read_as_json_and_judged_by_the_json(
    client: TestClient[web.Request, web.Application],
) -> None:
    for content_type in ("text/plain", "application/json; charset=bogus", "multipart/form-data; boundary=x"):
        resp = await client.post("/things", data=b'{"title": "ok"}', headers={**AUTH, "Content-Type": content_type})
        assert resp.status == 201
    resp = await client.post("/things", data={"title": "ok"}, headers=AUTH)  # a form is not JSON
    assert resp.status == 422


async def test_odd_path_and_query_values_reach_the_handler_as_text(
    client: TestClient[web.Request, web.Application],
) -> None:
    resp = await client.get("/things/%E9%B1%BC?q=%FF&r=a+b&s=%ED%A0%80", headers=AUTH)
    assert resp.status == 200
    assert await resp.json() == {"id": "鱼", "q": {"q": "\ufffd", "r": "a b", "s": "\ufffd" * 3}}


async def test_a_nul_in_a_path_or_query_parameter_is_422_before_any_handler(
    client: TestClient[web.Request, web.Application],
) -> None:
    """PostgreSQL's jsonb cannot hold U+0000: on FerretDB such an id would fail the whole query (a 500)."""
    for url, where in (("/things/%E9%B1%BC%00", "path.thing_id"), ("/things/x?q=a%00", "query.q")):
        resp = await client.get(url, headers=AUTH)
        assert resp.status == 422, url
        error = await error_of(resp)
        assert error["code"] == "validation_error" and where in error["details"], error


def _raw_get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """http.client sends header values as latin-1, so a test can send bytes that are not UTF-8 (aiohttp's client
    would refuse them)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


async def test_a_token_that_is_not_utf8_is_401_not_500(client: TestClient[web.Request, web.Application]) -> None:
    port = client.server.port
    assert port is not None
    status, body = await asyncio.to_thread(_raw_get, port, "/things/a", {"Authorization": "Bearer \xff\xfe"})
    assert status == 401
    assert json.loads(body)["error"]["code"] == "unauthenticated"
