"""The sandbox's mini-program code rules (pure) and its PNG, decoded back with a QR reader."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.sandbox.wechat.domain import wxacode as wx
from services.sandbox.wechat.wxacode import render_png
from tests.support.qr import decode_qr

PAGES = ("pages/index/index", "pages/s/index")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_a_scene_is_one_to_32_visible_characters_of_wechats_set() -> None:
    ok = wx.check_code_request({"scene": "K7M2QX9P", "page": "pages/s/index"}, PAGES)
    assert isinstance(ok, wx.CodeRequest) and (ok.scene, ok.width, ok.check_path) == ("K7M2QX9P", 430, True)
    assert wx.check_code_request({"scene": "a" * 32}, PAGES) == wx.CodeRequest("a" * 32, "", 430, "release", True)
    assert wx.check_code_request({"scene": "a" * 33}, PAGES) == wx.SCENE_LENGTH
    assert wx.check_code_request({"scene": ""}, PAGES) == wx.SCENE_LENGTH
    assert wx.check_code_request({"page": "pages/index/index"}, PAGES) == wx.SCENE_LENGTH
    assert wx.check_code_request({"scene": "分享码"}, PAGES) == wx.INVALID_SCENE
    assert wx.check_code_request({"scene": "a b"}, PAGES) == wx.INVALID_SCENE
    assert isinstance(wx.check_code_request({"scene": "id=2&from=app"}, PAGES), wx.CodeRequest)
    assert wx.check_code_request(["scene"], PAGES) == wx.DATA_FORMAT


def test_a_page_must_be_released_without_a_leading_slash_unless_the_check_is_off() -> None:
    assert wx.check_code_request({"scene": "x", "page": "/pages/s/index"}, PAGES) == wx.INVALID_PAGE
    assert wx.check_code_request({"scene": "x", "page": "pages/nope/index"}, PAGES) == wx.INVALID_PAGE
    unchecked = {"scene": "x", "page": "pages/nope/index", "check_path": False}
    assert isinstance(wx.check_code_request(unchecked, PAGES), wx.CodeRequest)
    trial = {"scene": "x", "page": "pages/new/index", "env_version": "trial"}
    assert isinstance(wx.check_code_request(trial, PAGES), wx.CodeRequest)  # only release pages are checked
    assert wx.check_code_request({"scene": "x", "env_version": "beta"}, PAGES) == wx.INVALID_ARGS
    assert wx.check_code_request({"scene": "x", "width": "big"}, PAGES) == wx.INVALID_ARGS
    small = wx.check_code_request({"scene": "x", "width": 10}, PAGES)
    assert isinstance(small, wx.CodeRequest) and small.width == wx.WIDTH_MIN


def test_a_token_expires_and_a_replaced_one_works_five_minutes_more() -> None:
    token = wx.new_token("wx1", NOW)
    assert len(token.token) > 100 and token.expires_in(NOW) == 7_200
    assert wx.check_token(token, token.token, NOW) is None
    assert wx.check_token(None, "forged", NOW) == wx.INVALID_CREDENTIAL
    assert wx.check_token(None, None, NOW) == wx.TOKEN_MISSING
    assert wx.check_token(token, token.token, NOW + timedelta(seconds=7_200)) == wx.TOKEN_EXPIRED
    replaced = wx.AccessToken(token.token, "wx1", NOW, token.expires_at, superseded_at=NOW + timedelta(seconds=60))
    assert wx.check_token(replaced, token.token, NOW + timedelta(seconds=359)) is None
    assert wx.check_token(replaced, token.token, NOW + timedelta(seconds=360)) == wx.INVALID_CREDENTIAL


def test_credentials_are_checked_in_wechats_order() -> None:
    good = {"grant_type": "client_credential", "appid": "wx1", "secret": "s3cret"}
    assert wx.check_credentials(good, appid="wx1", secret="s3cret") is None
    assert wx.check_credentials(good | {"grant_type": "x"}, appid="wx1", secret="s3cret") == wx.WxError(
        40002, "invalid grant_type"
    )
    assert wx.check_credentials(good | {"appid": "wx2"}, appid="wx1", secret="s3cret").errcode == 40013  # type: ignore[union-attr]
    assert wx.check_credentials(good | {"secret": "no"}, appid="wx1", secret="s3cret").errcode == 40125  # type: ignore[union-attr]


def test_the_code_is_a_png_whose_qr_holds_the_page_and_the_scene() -> None:
    request = wx.check_code_request({"scene": "K7M2QX9P", "page": "pages/s/index", "width": 430}, PAGES)
    assert isinstance(request, wx.CodeRequest)
    png = render_png(wx.code_content("wx8888888888888888", request), request.width)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    [text] = decode_qr(png)
    assert text == "https://mp.weixin.qq.com/a/wx8888888888888888/pages/s/index?scene=K7M2QX9P&env_version=release"
