"""The Alipay gateway envelope, checked offline: the order of refusals, timestamps, biz_content parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from services.sandbox.alipay.gateway import Call, GatewayError, check_envelope
from services.sandbox.alipay.runtime import CertMode
from shared.protocols import alipay as ap

KEYS = Path(__file__).parents[3] / "services" / "sandbox" / "keys"
APP_ID = "2021000000000001"
NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
APP_PRIVATE = ap.load_private_key((KEYS / "TEST_ONLY_alipay_app_private.pem").read_text())
APP_PUBLIC = ap.load_public_key((KEYS / "TEST_ONLY_alipay_app_public.pem").read_text())
OTHER_PRIVATE = ap.load_private_key((KEYS / "TEST_ONLY_alipay_platform_private.pem").read_text())


def params(**over: str) -> dict[str, str]:
    signed = ap.build_request_params(
        app_id=APP_ID,
        method="alipay.trade.query",
        biz_content={"out_trade_no": "ord_1"},
        private_key=APP_PRIVATE,
        now=NOW,
    )
    signed.update(over)
    return signed


def check(p: dict[str, str], now: datetime = NOW) -> Call:
    return check_envelope(
        p, app_id=APP_ID, known={"alipay.trade.query"}.__contains__, public_key=APP_PUBLIC, now=now, tolerance_s=1800
    )


def refusal(p: dict[str, str], now: datetime = NOW) -> tuple[str, str, bool]:
    with pytest.raises(GatewayError) as exc:
        check(p, now)
    return exc.value.code, exc.value.sub_code, exc.value.signed


def test_a_well_signed_request_passes_with_its_biz_content_parsed() -> None:
    call = check(
        ap.sign_params({**params(), "biz_content": '{"out_trade_no":"ord_1","refund_amount":12.30}'}, APP_PRIVATE)
    )
    assert call.method == "alipay.trade.query" and call.biz["refund_amount"] == Decimal("12.30")


def test_the_app_is_checked_before_the_signature_and_its_refusal_is_unsigned() -> None:
    assert refusal(params(app_id="2021999999999999", sign="garbage")) == ("40002", "isv.invalid-app-id", False)
    no_app = params()
    del no_app["app_id"]
    assert refusal(no_app) == ("40001", "isv.missing-app-id", False)


def test_signature_problems_have_their_documented_sub_codes() -> None:
    assert refusal(params(sign="")) == ("40001", "isv.missing-signature", True)
    assert refusal(params(sign_type="RSA"))[1] == "isv.invalid-signature-type"
    wrong = ap.build_request_params(
        app_id=APP_ID, method="alipay.trade.query", biz_content={}, private_key=OTHER_PRIVATE, now=NOW
    )
    assert refusal(wrong) == ("40002", "isv.invalid-signature", True)
    assert refusal(params(biz_content='{"out_trade_no":"ord_2"}'))[1] == "isv.invalid-signature"
    assert refusal(params(method="alipay.trade.nope"))[1] == "isv.invalid-method"


def test_timestamps_are_beijing_time_within_the_tolerance() -> None:
    assert check(params(), NOW + timedelta(minutes=29)).method == "alipay.trade.query"
    assert refusal(params(), NOW + timedelta(minutes=31))[1] == "isv.invalid-timestamp"
    assert refusal(params(), NOW - timedelta(hours=8))[1] == "isv.invalid-timestamp"
    bad_format = ap.sign_params({**params(), "timestamp": "2026/03/01 12:00:00"}, APP_PRIVATE)
    assert refusal(bad_format)[1] == "isv.invalid-timestamp"


def test_biz_content_must_be_a_json_object_and_charset_utf8() -> None:
    assert refusal(ap.sign_params({**params(), "biz_content": "[1]"}, APP_PRIVATE))[1] == "isv.invalid-parameter"
    assert refusal(ap.sign_params({**params(), "charset": "GBK"}, APP_PRIVATE))[1] == "isv.invalid-charset"


def test_in_cert_mode_the_cert_sns_are_checked_before_the_signature() -> None:
    certs = CertMode(app_cert_sn="a" * 32, alipay_root_cert_sn="r" * 32, alipay_cert_sn="c" * 32, alipay_cert_pem=b"")

    def signed(**extra: str) -> dict[str, str]:
        return ap.build_request_params(
            app_id=APP_ID,
            method="alipay.trade.query",
            biz_content={"out_trade_no": "ord_1"},
            private_key=APP_PRIVATE,
            now=NOW,
            extra=extra,
        )

    def refused(p: dict[str, str]) -> str:
        with pytest.raises(GatewayError) as exc:
            check_envelope(
                p, app_id=APP_ID, known=lambda m: True, public_key=APP_PUBLIC, now=NOW, tolerance_s=1800, certs=certs
            )
        assert exc.value.code == "40002"
        return exc.value.sub_code

    assert refused(signed()) == "isv.missing-app-cert-sn"
    assert refused(signed(app_cert_sn="b" * 32)) == "isv.app-cert-not-exist"
    assert refused(signed(app_cert_sn="a" * 32)) == "isv.missing-alipay-root-cert-sn"
    assert refused(signed(app_cert_sn="a" * 32, alipay_root_cert_sn="x")) == "isv.invalid-alipay-root-cert-sn"
    good = signed(app_cert_sn="a" * 32, alipay_root_cert_sn="r" * 32)
    call = check_envelope(
        good, app_id=APP_ID, known=lambda m: True, public_key=APP_PUBLIC, now=NOW, tolerance_s=1800, certs=certs
    )
    assert call.params["app_cert_sn"] == "a" * 32
    # The SNs are signed like any common parameter: changing one after signing fails the signature.
    tampered = {**good, "alipay_root_cert_sn": "r" * 32, "app_cert_sn": "a" * 32, "extra": "1"}
    assert refused(tampered) == "isv.invalid-signature"
