"""The Alipay gateway envelope and oauth: signature, app id and timestamp checks as Alipay does them; one-use codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.protocols import alipay as ap
from tests.integration.sandbox.alipay_support import APP_PRIVATE, WRONG_PRIVATE, AlipayClient, fresh, user_id
from tests.integration.sandbox.conftest import Sandbox

QUERY = "alipay.trade.query"


async def test_a_request_signed_with_the_wrong_key_is_refused_with_a_signed_invalid_signature(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    answer = await alipay.call(QUERY, {"out_trade_no": fresh("ord")}, key=WRONG_PRIVATE)
    response = answer.verified()
    assert response["code"] == "40002" and response["msg"] == "Invalid Arguments"
    assert response["sub_code"] == "isv.invalid-signature"
    assert "app_id=2021000000000001&amp;biz_content=" in response["sub_msg"]


async def test_tampered_parameters_fail_the_signature_check(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    params = alipay.params("alipay.trade.refund", {"out_trade_no": fresh("ord"), "refund_amount": "0.01"})
    params["biz_content"] = params["biz_content"].replace("0.01", "999.00")
    response = (await alipay.send("alipay.trade.refund", params)).verified()
    assert response["sub_code"] == "isv.invalid-signature"


async def test_a_missing_sign_is_a_missing_signature(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    params = alipay.params(QUERY, {"out_trade_no": fresh("ord")})
    del params["sign"]
    response = (await alipay.send(QUERY, params)).verified()
    assert (response["code"], response["sub_code"]) == ("40001", "isv.missing-signature")


async def test_an_unknown_app_id_is_refused_unsigned_before_the_signature_is_checked(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    params = alipay.params(QUERY, {"out_trade_no": fresh("ord")})
    params["app_id"] = "2021999999999999"
    response = (await alipay.send(QUERY, params)).unsigned()
    assert (response["code"], response["sub_code"]) == ("40002", "isv.invalid-app-id")


async def test_timestamps_must_be_beijing_time_in_the_documented_format(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    utc_wall_clock = datetime.now(UTC) - timedelta(hours=8)  # what a client stamping UTC instead of Beijing time sends
    stale = await alipay.call(QUERY, {"out_trade_no": fresh("ord")}, now=utc_wall_clock)
    assert stale.verified()["sub_code"] == "isv.invalid-timestamp"
    params = alipay.params(QUERY, {"out_trade_no": fresh("ord")})
    params["timestamp"] = params["timestamp"].replace(" ", "T")
    iso = await alipay.send(QUERY, ap.sign_params(params, APP_PRIVATE))
    assert iso.verified()["sub_code"] == "isv.invalid-timestamp"


async def test_an_unknown_method_is_invalid_method(sandbox: Sandbox) -> None:
    response = (await AlipayClient(sandbox).call("alipay.trade.teleport", {})).verified()
    assert response["sub_code"] == "isv.invalid-method"


async def test_params_are_accepted_in_the_query_string_as_sdks_send_them(sandbox: Sandbox) -> None:
    response = await AlipayClient(sandbox).api(QUERY, {"out_trade_no": fresh("ord")}, get=True)
    assert (response["code"], response["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")


async def test_an_auth_code_gives_the_user_id_once(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    uid = user_id()
    code = (await alipay.auth_code(uid))["auth_code"]
    extra = {"grant_type": "authorization_code", "code": code}
    token = await alipay.api("alipay.system.oauth.token", extra=extra)
    assert token["user_id"] == uid and token["access_token"] and token["expires_in"] > 0
    assert "code" not in token  # a successful token exchange carries only the token fields
    again = await alipay.api("alipay.system.oauth.token", extra=extra)
    assert (again["code"], again["sub_code"]) == ("40002", "isv.code-invalid")

    refreshed = await alipay.api(
        "alipay.system.oauth.token", extra={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    )
    assert refreshed["user_id"] == uid and refreshed["access_token"] != token["access_token"]


async def test_a_new_buyer_gets_a_fresh_2088_user_id(sandbox: Sandbox) -> None:
    alipay = AlipayClient(sandbox)
    first, second = await alipay.auth_code(), await alipay.auth_code()
    assert first["user_id"] != second["user_id"]
    assert all(len(c["user_id"]) == 16 and c["user_id"].startswith("2088") for c in (first, second))
    bogus = await alipay.api("alipay.system.oauth.token", extra={"grant_type": "authorization_code", "code": "nope"})
    assert bogus["sub_code"] == "isv.code-invalid"
