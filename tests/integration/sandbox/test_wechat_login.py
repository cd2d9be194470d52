"""Mini-program login: wx.login codes exchanged once by jscode2session for the buyer's openid (then 40163)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.mongo import Client
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.wechat_support import WechatClient, start_sandbox


async def test_a_login_code_gives_the_buyers_openid_once(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    issued = await wechat.login_code("oSandboxBuyer_000000000000001")

    resp, session = await wechat.code2session(issued["code"])

    assert resp.status == 200 and resp.content_type == "text/plain"  # WeChat labels this JSON text/plain
    assert session["openid"] == "oSandboxBuyer_000000000000001" and len(session["session_key"]) == 24
    assert "errcode" not in session
    _, again = await wechat.code2session(issued["code"])
    assert again["errcode"] == 40163 and re.fullmatch(r"code been used, rid: [0-9a-f]+", again["errmsg"])
    assert "openid" not in again


async def test_a_new_buyer_gets_a_new_openid(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    first, second = await wechat.login_code(), await wechat.login_code()
    assert first["openid"] != second["openid"]
    assert re.fullmatch(r"o[A-Za-z0-9_-]{27}", first["openid"])
    _, session = await wechat.code2session(second["code"])
    assert session["openid"] == second["openid"]


async def test_wrong_credentials_and_unknown_codes_get_wechat_errcodes(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    code = (await wechat.login_code())["code"]
    cases = [
        ({"appid": "wx0000000000000000"}, 40013),
        ({"secret": "not-the-secret"}, 40125),
        ({"grant_type": "client_credential"}, 40002),
        ({"js_code": ""}, 41008),
        ({"js_code": "0" * 32}, 40029),
    ]
    for params, errcode in cases:
        resp, answer = await wechat.code2session(code, **params)
        assert (resp.status, answer["errcode"]) == (200, errcode), (params, answer)
        assert "openid" not in answer
    _, session = await wechat.code2session(code)  # the refusals above did not use the code up
    assert "openid" in session


async def test_a_code_exchanged_twice_at_once_gives_one_session(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    code = (await wechat.login_code())["code"]
    answers = [answer for _, answer in await asyncio.gather(*(wechat.code2session(code) for _ in range(4)))]
    assert sorted(answer.get("errcode", 0) for answer in answers) == [0, 40163, 40163, 40163]


@pytest.fixture(scope="module")
async def short_code_sandbox(mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    """Login codes that live 0.3 s instead of WeChat's 5 minutes."""
    async for sandbox in start_sandbox(
        mongo_client, merchant, log_dir, "sandbox-login", {"WECHAT_LOGIN_CODE_TTL_S": "0.3"}
    ):
        yield sandbox


async def test_an_expired_code_is_an_invalid_code_not_a_used_one(short_code_sandbox: Sandbox) -> None:
    wechat = WechatClient(short_code_sandbox)
    code = (await wechat.login_code())["code"]
    await asyncio.sleep(0.4)  # the code's lifetime passing is the behaviour under test, not an event to wait for
    _, expired = await wechat.code2session(code)
    assert expired["errcode"] == 40029 and expired["errmsg"].startswith("invalid code, rid: ")
    _, unknown = await wechat.code2session("never-issued-code")
    assert unknown["errcode"] == 40029
