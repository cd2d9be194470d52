"""Alipay OpenAPI protocol cryptography: sign content, order strings, raw-text responses, notifications, yuan."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.protocols import alipay as ap

KEYS = Path(__file__).parents[3] / "services" / "sandbox" / "keys"
APP_ID = "2021000000000001"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
NOTIFY_URL = "https://fishbridge.example/notify/alipay"
BIZ = {"out_trade_no": "ord_1", "total_amount": "0.01", "subject": "旧书 & 杂志", "product_code": "QUICK_MSECURITY_PAY"}
BIZ_JSON = '{"out_trade_no":"ord_1","total_amount":"0.01","subject":"旧书 & 杂志","product_code":"QUICK_MSECURITY_PAY"}'
SIGN_CONTENT = (
    "app_id=2021000000000001"
    f"&biz_content={BIZ_JSON}"
    "&charset=utf-8&format=JSON&method=alipay.trade.app.pay"
    "&notify_url=https://fishbridge.example/notify/alipay"
    "&sign_type=RSA2&timestamp=2026-01-01 08:00:00&version=1.0"
)
# Computed once with the TEST_ONLY app key and confirmed with `openssl dgst -sha256 -sign`.
SIGNATURE = (
    "TrwB4TYgkfAhrkgvjRwttrQEO+sKcNEqOodvLh/NeIgsJsgeEkbcVkG225KS+v54+liE7dnDOhd4mJRO/hmy5pMzDa/dl+Te+MV3yu8oH02WwN1"
    "OLdNzrn4d8Z/L2Ia218E9CUndQ/THa6DWXubpKGps45WqrQ62Eyfpc/HjIpE+IhylLzkjxp93idHqdsgPkQ0PZ4/cRqwEaFcXRKQQLRNpuprh3"
    "5+MPX2acKTCHV+GyZca9DrFmwRyHn4j+YUgoB7duep9i553T6q94kHPUcEWN5jSipYE/8Axr2WoWgAvg+NacspSVqH78X568pEmtiSOrLZ3bSr5"
    "4fgzX3UqEQ=="
)
# Alipay signs the response text exactly as written: spacing, \uXXXX and \/ escapes included.
RAW_RESPONSE = (
    '{ "code" : "10000", "msg":"Success","out_trade_no":"ord_1","detail":{"x":[1,{"y":"}{\\""}]},'
    '"subject":"\\u65e7\\u4e66 \\/ 杂志" }'
)
RAW_RESPONSE_SIGNATURE = (
    "XgXfEY5xiU7OxyTIWPruUdBqBC24UAvqNoNXxKaLYxSXUrIzSdeqxFw/WjVLF1mOcLHaGnQ80hsBQGsAIRKGjdQaDuyVDjip0/3Bwi8UNIB4sj0R"
    "bFKRdMzl7iB0L2eM9BRm6Xb0Ee25PWKFeTBRDAsBsZ6Ex647wcjttyyJsQ39rJauxg/yQ7OUrHi0MyOWJdnF2pN4D6dmSuElx6HkLMxg3BP2VWRr"
    "QQW7p4fx95XV11YxgBJRzil6hDzG0GDSWTd8zKuXdzYEsn7A7A+UwdRcm0O+86SqGLvtzm+BVzKnlyoqV8NxQTMOXYRTdoYr3rSC2pAhFcPuOc9q"
    "AGpL+w=="
)


@pytest.fixture(scope="module")
def app_private() -> rsa.RSAPrivateKey:
    return ap.load_private_key((KEYS / "TEST_ONLY_alipay_app_private.pem").read_text())


@pytest.fixture(scope="module")
def app_public() -> rsa.RSAPublicKey:
    return ap.load_public_key((KEYS / "TEST_ONLY_alipay_app_public.pem").read_text())


@pytest.fixture(scope="module")
def alipay_private() -> rsa.RSAPrivateKey:
    return ap.load_private_key((KEYS / "TEST_ONLY_alipay_platform_private.pem").read_text())


@pytest.fixture(scope="module")
def alipay_public() -> rsa.RSAPublicKey:
    return ap.load_public_key((KEYS / "TEST_ONLY_alipay_platform_public.pem").read_text())


def _request(app_private: rsa.RSAPrivateKey) -> dict[str, str]:
    return ap.build_request_params(
        app_id=APP_ID,
        method="alipay.trade.app.pay",
        biz_content=BIZ,
        private_key=app_private,
        now=NOW,
        notify_url=NOTIFY_URL,
    )


# --- sign content and RSA2 --------------------------------------------------------------------------------------------


def test_sign_content_sorts_keeps_raw_values_and_drops_sign_and_empty_values() -> None:
    params = {
        "version": "1.0",
        "sign": "ignored",
        "timestamp": "2026-01-01 08:00:00",
        "app_auth_token": "",
        "sign_type": "RSA2",
        "notify_url": NOTIFY_URL,
        "method": "alipay.trade.app.pay",
        "format": "JSON",
        "charset": "utf-8",
        "biz_content": BIZ_JSON,
        "app_id": APP_ID,
    }
    assert ap.sign_content(params) == SIGN_CONTENT


def test_sign_content_for_notifications_also_drops_sign_type() -> None:
    params = {"sign_type": "RSA2", "b": "2", "a": "1", "sign": "x"}
    assert ap.sign_content(params, exclude_sign_type=True) == "a=1&b=2"
    assert ap.sign_content(params) == "a=1&b=2&sign_type=RSA2"


def test_sign_content_refuses_non_string_values() -> None:
    with pytest.raises(TypeError):
        ap.sign_content({"total_amount": 1.5})  # type: ignore[dict-item]


def test_rsa2_signature_matches_fixed_vector(app_private: rsa.RSAPrivateKey) -> None:
    assert ap.rsa2_sign(SIGN_CONTENT, app_private) == SIGNATURE


def test_request_params_carry_every_common_field_and_the_fixed_signature(app_private: rsa.RSAPrivateKey) -> None:
    assert _request(app_private) == {
        "app_id": APP_ID,
        "method": "alipay.trade.app.pay",
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": "2026-01-01 08:00:00",
        "version": "1.0",
        "biz_content": BIZ_JSON,
        "notify_url": NOTIFY_URL,
        "sign": SIGNATURE,
    }


def test_request_without_notify_url_omits_it_and_verifies(
    app_private: rsa.RSAPrivateKey, app_public: rsa.RSAPublicKey
) -> None:
    params = ap.build_request_params(
        app_id=APP_ID,
        method="alipay.trade.query",
        biz_content={"out_trade_no": "ord_1"},
        private_key=app_private,
        now=NOW,
        extra={"app_auth_token": "tok"},
    )
    assert "notify_url" not in params and params["app_auth_token"] == "tok"
    ap.verify_request(params, app_public)


def test_extra_parameters_cannot_override_common_ones(app_private: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="sign_type"):
        ap.build_request_params(
            app_id=APP_ID,
            method="alipay.trade.query",
            biz_content={},
            private_key=app_private,
            now=NOW,
            extra={"sign_type": "RSA"},
        )


def test_request_verification_covers_sign_type(app_private: rsa.RSAPrivateKey, app_public: rsa.RSAPublicKey) -> None:
    params = _request(app_private)
    params.pop("sign_type")
    with pytest.raises(ap.AlipayMalformed):
        ap.verify_request(params, app_public)


def test_timestamp_is_beijing_wall_clock() -> None:
    assert ap.format_timestamp(datetime(2025, 12, 31, 16, 30, 5, tzinfo=UTC)) == "2026-01-01 00:30:05"
    assert ap.format_timestamp(datetime(2026, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=9)))) == "2026-01-01 08:00:00"
    assert ap.parse_timestamp("2026-01-01 08:00:00") == NOW
    with pytest.raises(ValueError):
        ap.format_timestamp(datetime(2026, 1, 1))
    with pytest.raises(ap.AlipayMalformed):
        ap.parse_timestamp("2026-01-01T08:00:00")


# --- app order strings ------------------------------------------------------------------------------------------------


def test_order_string_is_url_encoded_sorted_with_sign_last(app_private: rsa.RSAPrivateKey) -> None:
    order = ap.build_app_pay_order_string(
        app_id=APP_ID, biz_content=BIZ, private_key=app_private, now=NOW, notify_url=NOTIFY_URL
    )
    keys = [pair.split("=", 1)[0] for pair in order.split("&")]
    assert keys == [
        "app_id",
        "biz_content",
        "charset",
        "format",
        "method",
        "notify_url",
        "sign_type",
        "timestamp",
        "version",
        "sign",
    ]
    assert "&timestamp=2026-01-01+08%3A00%3A00&" in order
    assert "%E6%97%A7%E4%B9%A6+%26+%E6%9D%82%E5%BF%97" in order  # "旧书 & 杂志" cannot split a pair
    assert order.endswith("&sign=" + SIGNATURE.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"))


def test_order_string_round_trips_through_parse_and_verify(
    app_private: rsa.RSAPrivateKey, app_public: rsa.RSAPublicKey
) -> None:
    order = ap.build_app_pay_order_string(
        app_id=APP_ID, biz_content=BIZ, private_key=app_private, now=NOW, notify_url=NOTIFY_URL
    )
    params = ap.verify_order_string(order, app_public)
    assert params == _request(app_private)
    assert json.loads(params["biz_content"]) == BIZ


def test_product_code_defaults_to_quick_msecurity_pay(
    app_private: rsa.RSAPrivateKey, app_public: rsa.RSAPublicKey
) -> None:
    order = ap.build_app_pay_order_string(
        app_id=APP_ID,
        biz_content={"out_trade_no": "ord_2", "total_amount": ap.fen_to_yuan(1999), "subject": "书"},
        private_key=app_private,
        now=NOW,
    )
    biz = json.loads(ap.verify_order_string(order, app_public)["biz_content"])
    assert biz == {
        "out_trade_no": "ord_2",
        "total_amount": "19.99",
        "subject": "书",
        "product_code": "QUICK_MSECURITY_PAY",
    }


def test_order_string_with_changed_amount_is_refused(
    app_private: rsa.RSAPrivateKey, app_public: rsa.RSAPublicKey
) -> None:
    order = ap.build_app_pay_order_string(app_id=APP_ID, biz_content=BIZ, private_key=app_private, now=NOW)
    tampered = order.replace("%220.01%22", "%220.02%22")
    assert tampered != order
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_order_string(tampered, app_public)


def test_order_string_signed_with_another_key_is_refused(
    alipay_private: rsa.RSAPrivateKey, app_public: rsa.RSAPublicKey
) -> None:
    order = ap.build_app_pay_order_string(app_id=APP_ID, biz_content=BIZ, private_key=alipay_private, now=NOW)
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_order_string(order, app_public)


@pytest.mark.parametrize(
    ("order", "error"),
    [
        ("app_id=1&app_id=2&sign=x", ap.AlipayMalformed),
        ("app_id", ap.AlipayMalformed),
        ("app_id=1&sign_type=RSA2", ap.AlipayBadSignature),
        ("app_id=1&sign_type=RSA&sign=eA==", ap.AlipayMalformed),
        ("app_id=1&sign_type=RSA2&charset=gbk&sign=eA==", ap.AlipayMalformed),
        ("app_id=1&sign_type=RSA2&sign=***", ap.AlipayBadSignature),
    ],
    ids=["repeated-key", "no-equals", "unsigned", "rsa1", "gbk", "sign-not-base64"],
)
def test_malformed_order_string_is_refused(order: str, error: type[Exception], app_public: rsa.RSAPublicKey) -> None:
    with pytest.raises(error):
        ap.verify_order_string(order, app_public)


def test_order_string_for_another_method_is_refused(
    app_private: rsa.RSAPrivateKey, app_public: rsa.RSAPublicKey
) -> None:
    params = ap.build_request_params(
        app_id=APP_ID, method="alipay.trade.refund", biz_content={}, private_key=app_private, now=NOW
    )
    with pytest.raises(ap.AlipayMalformed, match=r"alipay\.trade\.app\.pay"):
        ap.verify_order_string(ap.encode_params(params), app_public)


# --- synchronous responses --------------------------------------------------------------------------------------------


def test_response_key_uses_underscores() -> None:
    assert ap.response_key("alipay.trade.fastpay.refund.query") == "alipay_trade_fastpay_refund_query_response"


def test_built_response_signs_its_exact_value_text(
    alipay_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey
) -> None:
    response = {
        "code": "10000",
        "msg": "Success",
        "trade_no": "2026010122001",
        "buyer_logon_id": "159****5620",
        "fund_bill_list": [{"fund_channel": "ALIPAYACCOUNT", "amount": "0.01"}],
        "subject": '旧书 "精装" {第一卷}',
    }
    body = ap.build_signed_response("alipay.trade.query", response, alipay_private)
    raw = ap.extract_response_text(body, "alipay.trade.query")
    assert body.startswith('{"alipay_trade_query_response":' + raw + ',"sign":"')
    assert "旧书" in raw  # UTF-8 text, not \u escapes, as Alipay sends
    assert ap.verify_response(body.encode(), "alipay.trade.query", alipay_public) == response


def test_response_is_verified_over_raw_text_not_a_reserialisation(alipay_public: rsa.RSAPublicKey) -> None:
    body = '{"sign":"' + RAW_RESPONSE_SIGNATURE + '",\n  "alipay_trade_query_response" : ' + RAW_RESPONSE + "\n}"
    assert ap.extract_response_text(body, "alipay.trade.query") == RAW_RESPONSE
    response = ap.verify_response(body, "alipay.trade.query", alipay_public)
    assert response["subject"] == "旧书 / 杂志"
    assert response["detail"] == {"x": [1, {"y": '}{"'}]}


def test_response_with_altered_value_is_refused(alipay_public: rsa.RSAPublicKey) -> None:
    body = '{"alipay_trade_query_response":' + RAW_RESPONSE.replace("10000", "10001") + ',"sign":"'
    body += RAW_RESPONSE_SIGNATURE + '"}'
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_response(body, "alipay.trade.query", alipay_public)


def test_response_signed_by_app_key_is_refused(app_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey) -> None:
    body = ap.build_signed_response("alipay.trade.query", {"code": "10000"}, app_private)
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_response(body, "alipay.trade.query", alipay_public)


def test_unsigned_response_is_refused(alipay_public: rsa.RSAPublicKey) -> None:
    body = '{"alipay_trade_query_response":{"code":"10000","msg":"Success"}}'
    with pytest.raises(ap.AlipayBadSignature, match="not signed"):
        ap.verify_response(body, "alipay.trade.query", alipay_public)


def test_gateway_error_response_is_verified_and_returned(
    alipay_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey
) -> None:
    error = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature", "sub_msg": "验签出错"}
    body = ap.build_signed_response("alipay.trade.query", error, alipay_private, key="error_response")
    assert ap.verify_response(body, "alipay.trade.query", alipay_public) == error


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '{"alipay_trade_query_response":{"code":"10000"},"sign":"x"} trailing',
        '{"alipay_trade_query_response":{"code":"10000"},"alipay_trade_query_response":{"code":"40004"},"sign":"x"}',
        '{"alipay_trade_refund_response":{"code":"10000"},"sign":"x"}',
        '{"alipay_trade_query_response":{"code":"10000"},"sign":"x",}',
        '{"alipay_trade_query_response":{"code":"10000"} "sign":"x"}',
        '{"alipay_trade_query_response":{"code":"10000"',
    ],
    ids=["not-object", "trailing", "repeated-member", "other-method", "trailing-comma", "missing-comma", "truncated"],
)
def test_malformed_response_body_is_refused(body: str, alipay_public: rsa.RSAPublicKey) -> None:
    with pytest.raises(ap.AlipayMalformed):
        ap.verify_response(body, "alipay.trade.query", alipay_public)


# --- async notifications ----------------------------------------------------------------------------------------------


def _notification() -> dict[str, str]:
    return {
        "notify_time": "2026-01-01 08:00:05",
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2026010122001",
        "out_trade_no": "ord_1",
        "buyer_id": "2088102122524333",
        "seller_id": "2088101106499364",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "0.01",
        "subject": "旧书 & 杂志",
        "gmt_payment": "2026-01-01 08:00:04",
        "passback_params": "",
    }


def test_signed_notification_verifies_with_and_without_sign_type(
    alipay_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey
) -> None:
    signed = ap.sign_notification(_notification(), alipay_private)
    assert signed["sign_type"] == "RSA2"
    ap.verify_notification(signed, alipay_public)
    without_type = {key: value for key, value in signed.items() if key != "sign_type"}
    ap.verify_notification(without_type, alipay_public)


def test_notification_survives_form_encoding(
    alipay_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey
) -> None:
    body = ap.encode_params(ap.sign_notification(_notification(), alipay_private)).encode()
    params = ap.parse_form(body)
    ap.verify_notification(params, alipay_public)
    assert params["subject"] == "旧书 & 杂志" and params["passback_params"] == ""


@pytest.mark.parametrize(
    ("field", "value"),
    [("total_amount", "100.00"), ("trade_status", "TRADE_FINISHED"), ("passback_params", "x"), ("extra", "1")],
)
def test_notification_with_changed_field_is_refused(
    alipay_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey, field: str, value: str
) -> None:
    signed = ap.sign_notification(_notification(), alipay_private)
    signed[field] = value
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_notification(signed, alipay_public)


def test_notification_signed_with_app_key_is_refused(
    app_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey
) -> None:
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_notification(ap.sign_notification(_notification(), app_private), alipay_public)


def test_notification_with_other_sign_type_or_no_sign_is_refused(
    alipay_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey
) -> None:
    signed = ap.sign_notification(_notification(), alipay_private)
    with pytest.raises(ap.AlipayMalformed):
        ap.verify_notification({**signed, "sign_type": "RSA"}, alipay_public)
    with pytest.raises(ap.AlipayBadSignature):
        ap.verify_notification({key: value for key, value in signed.items() if key != "sign"}, alipay_public)


def test_form_with_repeated_field_is_refused() -> None:
    with pytest.raises(ap.AlipayMalformed, match="total_amount"):
        ap.parse_form(b"total_amount=0.01&total_amount=100.00")
    with pytest.raises(ap.AlipayMalformed):
        ap.parse_form(b"subject=%FF")


# --- yuan -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "yuan"),
    [(0, "0.00"), (1, "0.01"), (10, "0.10"), (100, "1.00"), (12345, "123.45"), (10_000_000_000, "100000000.00")],
)
def test_fen_and_yuan_round_trip_with_two_decimals(fen: int, yuan: str) -> None:
    assert ap.fen_to_yuan(fen) == yuan
    assert ap.yuan_to_fen(yuan) == fen


@pytest.mark.parametrize(("yuan", "fen"), [("1", 100), ("1.5", 150), ("0.1", 10), ("19.99", 1999)])
def test_yuan_with_fewer_decimals_is_read_exactly(yuan: str, fen: int) -> None:
    assert ap.yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("bad", [-1, 1.0, True, "1"])
def test_fen_to_yuan_refuses_non_int_or_negative(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        ap.fen_to_yuan(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    ["1.234", "0.001", "-1.00", "-0.01", "abc", "", ".5", "1.", "1e3", " 1.00", "1,00", "+1.00", "NaN", "１.００"],
)
def test_yuan_to_fen_refuses_anything_but_plain_two_decimal_text(bad: str) -> None:
    with pytest.raises(ValueError):
        ap.yuan_to_fen(bad)


@pytest.mark.parametrize("bad", [1.5, 1, None])
def test_yuan_to_fen_refuses_non_strings_including_floats(bad: object) -> None:
    with pytest.raises(TypeError):
        ap.yuan_to_fen(bad)  # type: ignore[arg-type]


def test_a_notification_signed_with_its_empty_values_verifies_as_the_long_standing_sdk_signs_it(
    alipay_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey
) -> None:
    form = {**_notification(), "sign_type": "RSA2"}
    # getSignCheckContentV1 as the official SDK long had it: every parameter but sign and sign_type, "k=" included.
    content = ap.notification_check_content(form, keep_empty=True)
    assert "passback_params=&" in content and "sign_type" not in content
    form["sign"] = ap.rsa2_sign(content, alipay_private)
    ap.verify_notification(form, alipay_public)
    with pytest.raises(ap.AlipayBadSignature):  # the empty value is covered: giving it a value breaks the signature
        ap.verify_notification({**form, "passback_params": "x"}, alipay_public)


def test_a_notification_signed_without_its_empty_values_verifies_as_the_current_sdk_signs_it(
    alipay_private: rsa.RSAPrivateKey, alipay_public: rsa.RSAPublicKey
) -> None:
    form = {**_notification(), "sign_type": "RSA2", "body": "  "}
    content = ap.notification_check_content(form, keep_empty=False)
    assert "passback_params" not in content and "body=" not in content  # blank values are skipped as well
    form["sign"] = ap.rsa2_sign(content, alipay_private)
    ap.verify_notification(form, alipay_public)
    for changed in ({"trade_status": "TRADE_FINISHED"}, {"body": "x"}):
        with pytest.raises(ap.AlipayBadSignature):
            ap.verify_notification({**form, **changed}, alipay_public)
