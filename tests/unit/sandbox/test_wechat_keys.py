"""The WeChat stand-in's key material: which key signs in each mode, which serials decrypt, refusing bad pairs."""

from __future__ import annotations

import pytest

from services.sandbox.settings import KEYS, SandboxSettings
from services.sandbox.wechat.runtime import load_keys
from shared.protocols import wechatpay as wp

PUBLIC_KEY_ID = "PUB_KEY_ID_0119000000012026120100000000000001"


def settings(**change: object) -> SandboxSettings:
    return SandboxSettings(mongo_url="mongodb://unused/", **change)


def _public(name: str) -> object:
    return wp.load_public_key((KEYS / name).read_bytes()).public_numbers()


def test_certificate_mode_signs_under_the_platform_certificate_serial() -> None:
    keys = load_keys(settings())
    cert = wp.load_certificate((KEYS / "TEST_ONLY_wechatpay_platform_cert.pem").read_bytes())
    signing = keys.signing_key()
    assert signing.serial == wp.certificate_serial_no(cert) == keys.certificate_serial
    assert signing.private_key.public_key().public_numbers() == _public("TEST_ONLY_wechatpay_platform_public.pem")
    assert keys.has_certificate and keys.serials() == [keys.certificate_serial]
    merchant = wp.load_certificate((KEYS / "TEST_ONLY_wechatpay_merchant_cert.pem").read_bytes())
    assert keys.merchant_serial == wp.certificate_serial_no(merchant)


def test_public_key_mode_signs_with_its_own_key_under_the_configured_id() -> None:
    keys = load_keys(settings(wechat_pay_key_mode="public_key"))
    signing = keys.signing_key()
    assert signing.serial == PUBLIC_KEY_ID  # the default id, assigned, not derived from the key
    assert signing.private_key.public_key().public_numbers() == _public("TEST_ONLY_wechatpay_pubkey_public.pem")
    assert not keys.has_certificate and keys.serials() == [PUBLIC_KEY_ID]
    assert keys.decryption_key(keys.certificate_serial) is None  # a new merchant has no certificate


def test_the_public_key_id_is_whatever_is_configured() -> None:
    keys = load_keys(settings(wechat_pay_key_mode="public_key", wechat_pay_public_key_id="K1"))
    assert keys.signing_key().serial == "K1" and keys.decryption_key("K1") is not None
    assert keys.decryption_key("k1") is None  # ids are compared exactly


def test_switching_mode_alternates_between_the_two_keys() -> None:
    keys = load_keys(settings(wechat_pay_key_mode="switching"))
    serials = [keys.signing_key().serial for _ in range(4)]
    assert serials == [keys.certificate_serial, PUBLIC_KEY_ID] * 2
    assert keys.has_certificate
    assert keys.decryption_key(PUBLIC_KEY_ID) is keys.public_key_private
    assert keys.decryption_key(keys.certificate_serial.lower()) is keys.platform_key  # hex serials: any case
    assert keys.decryption_key("5157F09EFDC096DE15EBE81A47057A7232F1B8E1") is None
    assert keys.decryption_key("") is None


def test_an_unknown_key_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        settings(wechat_pay_key_mode="hmac")


def test_a_platform_certificate_that_does_not_match_the_private_key_stops_start_up() -> None:
    with pytest.raises(wp.InvalidKeyError):
        load_keys(settings(wechat_platform_cert_file=KEYS / "TEST_ONLY_wechatpay_merchant_cert.pem"))


def test_a_public_key_that_is_the_certificates_key_stops_start_up() -> None:
    with pytest.raises(wp.InvalidKeyError):
        load_keys(settings(wechat_pay_public_key_private_file=KEYS / "TEST_ONLY_wechatpay_platform_private.pem"))
