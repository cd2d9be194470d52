"""The gateway's sharing parts without services: what a share answers (path, link, text), and the mini-program
code client's access-token cache and its one retry, against a small stand-in for WeChat's two endpoints (the
sandbox itself is exercised in tests/integration/gateway/test_sharing.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from services.channel_gateway.routes.shares import share_out, share_text
from services.channel_gateway.settings import GatewaySettings
from services.channel_gateway.wxacode import MiniProgramCodes
from shared.errors import Unavailable
from shared.share_codes import normalize
from tests.unit.channel_gateway.test_routing import settings as routing_settings


def settings(**extra: Any) -> GatewaySettings:
    return routing_settings(**extra)


def test_a_share_answers_its_page_link_text_and_image_url() -> None:
    item = {"title": "九成新 Kindle Paperwhite 第五代 带原装保护套 送充电线 和两本电子书 的套装", "price_fen": 26_800}
    out = share_out(settings(), "mp", {"code": "K7M2QX9PA", "item": item, "created_at": "2026-12-01T10:00:00+00:00"})
    assert out.mp_path == "pages/s/index?scene=K7M2QX9PA" and len(out.mp_path) <= 32
    assert out.app_url == "fishbridge://s/K7M2QX9PA"
    assert out.mp_code_url == "/mp/v1/shares/K7M2QX9PA/mp-code"
    assert "¥268.00" in out.text and "K7M-2QX-9PA" in out.text and out.app_url in out.text
    assert "…" in out.text and len(out.text) < 140  # a long title is cut, the message stays pasteable
    # The code read back from the text as written there (grouped), in any case.
    assert normalize("k7m-2qx-9pa") == "K7M2QX9PA"
    absolute = share_out(settings(public_base_url="https://gw.example/"), "app", {"code": "K7M2QX9PA", "item": item})
    assert absolute.mp_code_url == "https://gw.example/app/v1/shares/K7M2QX9PA/mp-code"


def test_a_share_page_too_long_for_a_32_character_path_is_refused_at_start() -> None:
    with pytest.raises(ValidationError):
        settings(share_mp_page="pages/share/detail/index")
    assert settings(share_mp_page="pages/s/index").share_mp_page == "pages/s/index"


def test_the_share_text_keeps_short_titles_whole() -> None:
    text = share_text("台灯", 5_000, "23456789A", "fishbridge://s/23456789A")
    assert text.startswith("【Fishbridge】「台灯」¥50.00 ") and text.endswith("234-567-89A fishbridge://s/23456789A")


@dataclass
class FakeWechat:
    """WeChat's stable_token and getwxacodeunlimit as far as the client sees them: tokens that can be expired."""

    tokens: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    forced: int = 0
    expires_in: int = 7200
    refuse_with: int | None = None
    every_token_expired: bool = False
    calls: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self.stable_token)
        app.router.add_post("/wxa/getwxacodeunlimit", self.code)
        return app

    async def stable_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append("token")
        if body["force_refresh"] or not self.tokens or self.tokens[-1] in self.expired:
            self.forced += bool(body["force_refresh"])
            self.tokens.append(f"token-{len(self.tokens)}")
        return web.json_response({"access_token": self.tokens[-1], "expires_in": self.expires_in})

    async def code(self, request: web.Request) -> web.Response:
        self.calls.append("code")
        token = request.query["access_token"]
        if token in self.expired or self.every_token_expired:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if self.refuse_with is not None:
            return web.json_response({"errcode": self.refuse_with, "errmsg": "invalid page"})
        scene = (await request.json())["scene"]
        return web.Response(body=b"\x89PNG" + scene.encode(), content_type="image/png")


@dataclass
class Rig:
    wechat: FakeWechat
    codes: MiniProgramCodes
    now: list[float]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    wechat = FakeWechat()
    server = TestServer(wechat.app())
    await server.start_server()
    now = [1000.0]
    async with aiohttp.ClientSession() as http:
        base = str(server.make_url(""))
        codes = MiniProgramCodes(http, base, "wx1", "secret", 5, refresh_margin_s=300, clock=lambda: now[0])
        yield Rig(wechat, codes, now)
    await server.close()


async def test_the_token_is_cached_until_the_margin_before_it_expires(rig: Rig) -> None:
    assert await rig.codes.unlimited_code("A", "pages/s/index", "release") == b"\x89PNGA"
    assert await rig.codes.unlimited_code("B", "pages/s/index", "release") == b"\x89PNGB"
    assert rig.wechat.calls == ["token", "code", "code"]
    rig.now[0] += 7200 - 299  # inside the margin: asked again (WeChat may still answer the same one)
    await rig.codes.access_token()
    assert rig.wechat.calls.count("token") == 2
    rig.now[0] += 10  # asked lately, still valid: not asked again within margin / 5
    await rig.codes.access_token()
    assert rig.wechat.calls.count("token") == 2


async def test_an_expired_token_is_refreshed_once_and_the_call_retried(rig: Rig) -> None:
    await rig.codes.access_token()
    rig.wechat.expired.add(rig.wechat.tokens[-1])  # expired at WeChat before the gateway's clock says so
    assert await rig.codes.unlimited_code("K7M2QX9PA", "pages/s/index", "release") == b"\x89PNGK7M2QX9PA"
    assert (rig.wechat.forced, rig.codes.retries) == (1, 1)
    assert rig.wechat.calls == ["token", "code", "token", "code"]


async def test_a_token_refused_twice_or_another_errcode_is_a_503_naming_it(rig: Rig) -> None:
    rig.wechat.refuse_with = 41030
    with pytest.raises(Unavailable) as refused:
        await rig.codes.unlimited_code("A", "pages/none", "release")
    assert refused.value.status == 503 and refused.value.details == {"provider": "wechat", "errcode": 41030}
    assert rig.codes.retries == 0  # not a token problem: not retried
    rig.wechat.refuse_with = None
    rig.wechat.every_token_expired = True
    with pytest.raises(Unavailable) as again:
        await rig.codes.unlimited_code("A", "pages/s/index", "release")
    assert again.value.details["errcode"] == 42001 and rig.codes.retries == 1  # one retry, then the refusal


async def test_stable_token_errors_are_a_503(rig: Rig) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(text=json.dumps({"errcode": 40125, "errmsg": "invalid appsecret"}))

    app = web.Application()
    app.router.add_post("/cgi-bin/stable_token", refuse)
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            codes = MiniProgramCodes(http, str(server.make_url("")), "wx1", "bad", 5)
            with pytest.raises(Unavailable) as refused:
                await codes.access_token()
            assert refused.value.details["errcode"] == 40125
    finally:
        await server.close()
