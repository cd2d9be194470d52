"""Mini-program login: wx.login codes exchanged once by jscode2session for the buyer's openid."""

from __future__ import annotations

import asyncio
import re

from tests.integration.sandbox.conftest import Sandbox
from tests.integration.sandbox.wechat_support import WechatClient


async def test_a_login_code_gives_the_buyers_openid_once(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    issued = await wechat.login_code("oSandboxBuyer_000000000000001")

    resp, session = await wechat.code2session(issued["code"])

    assert resp.status == 200 and resp.content_type == "text/plain"  # WeChat labels this JSON text/plain
    assert session["openid"] == "oSandboxBuyer_000000000000001" and len(session["session_key"]) == 24
    assert "errcode" not in session
    _, again = await wechat.code2session(issued["code"])
    assert again["errcode"] == 40029 and again["errmsg"].startswith("invalid code")


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
    assert sorted(answer.get("errcode", 0) for answer in answers) == [0, 40029, 40029, 40029]
