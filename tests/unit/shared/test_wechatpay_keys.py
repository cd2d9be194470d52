"""The WeChat Pay client's verification keys: a WeChat Pay public key under the id WeChat assigned, platform
certificates by serial, both at once while a merchant switches over; which key sensitive fields are encrypted for.
Keys are made here (RSA 2048, self-signed certificates); no HTTP."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from shared.protocols import wechatpay as wp
from shared.providers.errors import ProviderUnavailable
from shared.providers.settings import WechatPaySettings
from shared.providers.wechatpay import Keyring, WechatPayClient

APIV3_KEY = "UnitTestApiV3Key0123456789abcdef"
ASSIGNED_ID = "PUB_KEY_ID_0119000000012026120100000000000042"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(key: rsa.RSAPrivateKey, serial: int, days: tuple[int, int] = (-1, 365)) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA test")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now + timedelta(days=days[0]))
        .not_valid_after(now + timedelta(days=days[1]))
        .sign(key, hashes.SHA256())
    )


MERCHANT = _key()
PUBKEY = _key()  # WeChat Pay public-key mode: a key pair of its own, not the certificate's
PLATFORM = _key()
PLATFORM_CERT = _cert(PLATFORM, 0x5157F09EFDC096DE15EBE81A47057A72)


def _pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _client(tmp_path: Path, *, public_key: bool, certificates: bool) -> WechatPayClient:
    files = {
        "merchant.pem": _pem_private(MERCHANT),
        "merchant.crt": _cert(MERCHANT, 0x1234).public_bytes(serialization.Encoding.PEM),
        "pubkey.pem": PUBKEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "platform.crt": PLATFORM_CERT.public_bytes(serialization.Encoding.PEM),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    settings = WechatPaySettings(
        wechat_api_base="https://wechat.test",
        wechat_appid="wx_app",
        wechat_mchid="1900000001",
        wechat_apiv3_key=APIV3_KEY,
        wechat_merchant_private_key_file=tmp_path / "merchant.pem",
        wechat_merchant_cert_file=tmp_path / "merchant.crt",
        wechat_pay_public_key_file=tmp_path / "pubkey.pem" if public_key else None,
        wechat_pay_public_key_id=ASSIGNED_ID if public_key else None,
        wechat_platform_certificates=certificates,
        wechat_platform_cert_file=tmp_path / "platform.crt" if certificates else None,
    )
    return WechatPayClient(aiohttp.ClientSession.__new__(aiohttp.ClientSession), settings)


def _notification(key: rsa.RSAPrivateKey, serial: str) -> tuple[dict[str, str], bytes]:
    resource = {"sp_mchid": "1900000001", "out_trade_no": "pay_1", "trade_state": "SUCCESS"}
    body = wp.build_notification_body(
        event_id="n-1",
        create_time="2026-12-01T10:00:00+08:00",
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=resource,
        apiv3_key=APIV3_KEY,
        nonce=wp.new_nonce(12),
        associated_data="transaction",
    )
    headers = wp.sign_response(
        body, private_key=key, serial_no=serial, timestamp=int(time.time()), nonce=wp.new_nonce()
    )
    return headers, body


def test_a_callback_signed_with_the_wechat_pay_public_key_verifies_under_its_assigned_id(tmp_path: Path) -> None:
    client = _client(tmp_path, public_key=True, certificates=False)
    note = client.verify_notification(*_notification(PUBKEY, ASSIGNED_ID))
    assert note.resource["out_trade_no"] == "pay_1"


def test_the_public_key_id_is_the_assigned_one_never_one_derived_from_the_key(tmp_path: Path) -> None:
    client = _client(tmp_path, public_key=True, certificates=False)
    other_id = "PUB_KEY_ID_0119000000012026120100000000000043"
    with pytest.raises(wp.WechatPayUnknownSerial):
        client.verify_notification(*_notification(PUBKEY, other_id))
    assert set(client.keyring.keys()) == {ASSIGNED_ID}


def test_a_callback_signed_under_a_platform_certificate_verifies_by_its_serial(tmp_path: Path) -> None:
    client = _client(tmp_path, public_key=False, certificates=True)
    serial = wp.certificate_serial_no(PLATFORM_CERT)
    assert client.verify_notification(*_notification(PLATFORM, serial)).event_type == "TRANSACTION.SUCCESS"
    with pytest.raises(wp.WechatPayUnknownSerial):  # a public-key callback, before the merchant configured that key
        client.verify_notification(*_notification(PUBKEY, ASSIGNED_ID))


def test_while_switching_over_callbacks_signed_by_either_key_verify(tmp_path: Path) -> None:
    client = _client(tmp_path, public_key=True, certificates=True)
    serial = wp.certificate_serial_no(PLATFORM_CERT)
    for key, named in [(PLATFORM, serial), (PUBKEY, ASSIGNED_ID), (PLATFORM, serial.lower())]:
        assert client.verify_notification(*_notification(key, named)).id == "n-1"
    # Each key verifies only under its own id: the certificate's key named by the public-key id is refused.
    with pytest.raises(wp.WechatPayBadSignature):
        client.verify_notification(*_notification(PLATFORM, ASSIGNED_ID))


def _decrypt(ciphertext: str, key: rsa.RSAPrivateKey) -> str:
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    return key.decrypt(base64.b64decode(ciphertext), oaep).decode()


def test_sensitive_fields_are_encrypted_for_the_public_key_when_configured_else_the_platform_certificate(
    tmp_path: Path,
) -> None:
    both = _client(tmp_path, public_key=True, certificates=True)
    ciphertext, serial = both.encrypt("张三")
    assert (serial, _decrypt(ciphertext, PUBKEY)) == (ASSIGNED_ID, "张三")
    certs_only = _client(tmp_path, public_key=False, certificates=True)
    ciphertext, serial = certs_only.encrypt("6222020200112233")
    assert (serial, _decrypt(ciphertext, PLATFORM)) == (wp.certificate_serial_no(PLATFORM_CERT), "6222020200112233")


def test_the_certificate_encrypted_for_is_the_valid_one_that_expires_last() -> None:
    ring = Keyring(None, None)
    now = datetime.now(UTC)
    expired, older, newer, future = (_cert(PLATFORM, n, days) for n, days in [
        (1, (-400, -1)), (2, (-10, 100)), (3, (-1, 300)), (4, (5, 900)),
    ])  # fmt: skip
    with pytest.raises(ProviderUnavailable):
        ring.encryption_key(now)  # nothing downloaded yet: no answer, asked again later
    for cert in (expired, older, newer, future):
        assert ring.add(cert)
    assert not ring.add(newer)  # known already
    assert ring.encryption_key(now)[0] == wp.certificate_serial_no(newer)


def test_settings_want_a_public_key_with_its_id_and_some_way_to_verify() -> None:
    base: dict[str, Any] = {
        "wechat_api_base": "https://wechat.test",
        "wechat_appid": "wx_app",
        "wechat_mchid": "1900000001",
        "wechat_apiv3_key": APIV3_KEY,
        "wechat_merchant_private_key_file": Path("m.pem"),
        "wechat_merchant_cert_file": Path("m.crt"),
    }
    with pytest.raises(ValueError, match="go together"):
        WechatPaySettings(**base, wechat_pay_public_key_file=Path("p.pem"))
    with pytest.raises(ValueError, match="public key, or platform certificates"):
        WechatPaySettings(**base, wechat_platform_certificates=False)
