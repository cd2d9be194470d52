"""The sandbox as WeChat's mini-program server APIs for sharing, over HTTP: the access token (`/cgi-bin/token`,
`/cgi-bin/stable_token`) and `/wxa/getwxacodeunlimit`, whose PNG a QR reader decodes to the page and scene; errors as
WeChat's `errcode`/`errmsg` with HTTP 200."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.integration.sandbox.conftest import Sandbox
from tests.integration.sandbox.wechat_support import APP_SECRET as SECRET
from tests.integration.sandbox.wechat_support import APPID
from tests.support.qr import decode_qr


async def _json(resp: aiohttp.ClientResponse) -> Any:
    assert resp.status == 200, await resp.text()
    return await resp.json(content_type=None)


async def token(http: aiohttp.ClientSession, sandbox: Sandbox, **params: str) -> Any:
    query = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, **params}
    async with http.get(f"{sandbox.url}/cgi-bin/token", params=query) as resp:
        return await _json(resp)


async def code(http: aiohttp.ClientSession, sandbox: Sandbox, access_token: str, body: Any) -> tuple[str, bytes]:
    url = f"{sandbox.url}/wxa/getwxacodeunlimit"
    async with http.post(url, params={"access_token": access_token}, json=body) as resp:
        assert resp.status == 200
        return resp.content_type, await resp.read()


async def test_a_mini_program_code_decodes_to_its_page_and_scene(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        issued = await token(http, sandbox)
        assert issued["expires_in"] == 7_200 and len(issued["access_token"]) > 100
        kind, png = await code(http, sandbox, issued["access_token"], {"scene": "K7M2QX9P", "page": "pages/s/index"})
        assert kind == "image/png"
        [text] = decode_qr(png)
        assert text.endswith(f"/a/{APPID}/pages/s/index?scene=K7M2QX9P&env_version=release")


async def test_errors_come_back_as_wechats_errcodes(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        assert (await token(http, sandbox, secret="wrong"))["errcode"] == 40125
        assert (await token(http, sandbox, appid="wx0000000000000000"))["errcode"] == 40013
        good = (await token(http, sandbox))["access_token"]
        cases = [
            ("forged", {"scene": "a"}, 40001),
            (good, {"scene": "a" * 33}, 40169),
            (good, {"scene": "分享"}, 40129),
            (good, {"scene": "a", "page": "/pages/s/index"}, 41030),
            (good, {"scene": "a", "page": "pages/unreleased/index"}, 41030),
        ]
        for access_token, body, errcode in cases:
            kind, raw = await code(http, sandbox, access_token, body)
            assert kind == "application/json", (body, raw[:100])
            answer = json.loads(raw)
            assert answer["errcode"] == errcode and answer["errmsg"], (body, answer)
        async with http.post(f"{sandbox.url}/wxa/getwxacodeunlimit", json={"scene": "a"}) as resp:
            assert (await _json(resp))["errcode"] == 41001  # no access_token at all


async def test_an_expired_token_is_refused_and_a_new_one_works(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as http:
        body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
        async with http.post(f"{sandbox.url}/cgi-bin/stable_token", json=body) as resp:
            stable = await _json(resp)
        async with http.post(f"{sandbox.url}/cgi-bin/stable_token", json=body) as resp:
            assert (await _json(resp))["access_token"] == stable["access_token"]  # stable while valid
        async with http.post(f"{sandbox.url}/sandbox/wechat/access-tokens/{stable['access_token']}/expire") as resp:
            assert resp.status == 200
        kind, raw = await code(http, sandbox, stable["access_token"], {"scene": "K7M2QX9P"})
        assert kind == "application/json" and json.loads(raw)["errcode"] == 42001
        async with http.post(f"{sandbox.url}/cgi-bin/stable_token", json=body) as resp:
            renewed = await _json(resp)
        assert renewed["access_token"] != stable["access_token"]  # the expired one is not answered again
        kind, png = await code(http, sandbox, renewed["access_token"], {"scene": "K7M2QX9P"})
        assert kind == "image/png" and decode_qr(png)[0].endswith("scene=K7M2QX9P&env_version=release")
        async with http.post(f"{sandbox.url}/cgi-bin/stable_token", json=body | {"force_refresh": True}) as resp:
            forced = await _json(resp)
        assert forced["access_token"] != renewed["access_token"]
        kind, _ = await code(http, sandbox, renewed["access_token"], {"scene": "x"})
        assert kind == "image/png"  # a replaced token works 5 minutes more
