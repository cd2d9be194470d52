"""The WeChat stand-in's key material: which serial it signs under in each mode, and refusing a mismatched pair."""

from __future__ import annotations

import pytest

from services.sandbox.settings import KEYS, SandboxSettings
from services.sandbox.wechat.runtime import load_keys
from shared.protocols import wechatpay as wp


def settings(**change: object) -> SandboxSettings:
    return SandboxSettings(mongo_url="mongodb://unused/", **change)


def test_certificate_mode_signs_under_the_platform_certificate_serial() -> None:
    keys = load_keys(settings())
    cert = wp.load_certificate((KEYS / "TEST_ONLY_wechatpay_platform_cert.pem").read_bytes())
    assert keys.platform_serial == wp.certificate_serial_no(cert)
    merchant = wp.load_certificate((KEYS / "TEST_ONLY_wechatpay_merchant_cert.pem").read_bytes())
    assert keys.merchant_serial == wp.certificate_serial_no(merchant)


def test_public_key_mode_signs_under_the_public_key_id() -> None:
    keys = load_keys(settings(wechat_pay_key_mode="public_key"))
    assert wp.is_public_key_id(keys.platform_serial)
    assert keys.platform_serial == wp.public_key_id(keys.platform_key.public_key())
    assert keys.platform_serials() == {keys.platform_serial, wp.certificate_serial_no(keys.platform_cert)}


def test_an_unknown_key_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        settings(wechat_pay_key_mode="hmac")


def test_a_platform_certificate_that_does_not_match_the_private_key_stops_start_up() -> None:
    with pytest.raises(wp.InvalidKeyError):
        load_keys(settings(wechat_platform_cert_file=KEYS / "TEST_ONLY_wechatpay_merchant_cert.pem"))
