"""WeChat Pay APIv3 protocol cryptography: fixed vectors, round trips and every way a message must be refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.protocols import wechatpay as wp

KEYS = Path(__file__).parents[3] / "services" / "sandbox" / "keys"
APIV3_KEY = "FishbridgeTESTonlyAPIv3Key012345"  # 32 ASCII bytes, test-only

MCHID = "1230000109"
APPID = "wxd678efh567hg6787"
NOW = 1767225600  # 2026-01-01T00:00:00Z
NONCE = "593BEC0C930BF1AFEB40B4A08C8FB242"
JSAPI_URL = "/v3/pay/transactions/jsapi"
JSAPI_BODY = (
    '{"appid":"wxd678efh567hg6787","mchid":"1230000109","description":"Fishbridge 测试",'
    '"out_trade_no":"ord_1","amount":{"total":1,"currency":"CNY"}}'
)
# Computed once with the TEST_ONLY merchant key and confirmed with `openssl dgst -sha256 -sign`.
JSAPI_SIGNATURE = (
    "gDwDIF7fV5E/R+a1fYyaVeEP+4EDucBeG9vByIYm4Lu1oQkTqe0lz9+k1ycAOEP0Q0rvpfl7M/anYUbxChLDVDivnl8hNqVBYrmjVcKlqMsdGOe"
    "NXTsFrzlvXxFibMWbcw6XMrE7LZckak51bPQpU+fhfGSFiYUC3gjyePCZbjOcL7d4PVi7HbLPuyBG6lyqdhmu/kMUuywI8n9V69WrymRxgRdw+3"
    "Er/U1jX2CpYUpdyz+ikmdj4BRBu+5btp6PfkvdaMgh80UPXDhgWQJw0oig5yke9x3LoNQbBWT1mEugRAULGnlpypaQiq6bvm/fllBKuL9J4fCF"
    "Uu47jDyzwQ=="
)
RESPONSE_NONCE = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
RESPONSE_BODY = '{"prepay_id":"wx201410272009395522657a690389285100"}'
RESPONSE_SIGNATURE = (
    "Hhn0dgck0ZnTccZeCbTvZ2bQD+Q0rGIJ9WaKVEc9FFEzIMs4ZvWBBQxtsQ3WdKbT5X5To8Vz3UVKOUJQBXOdNQe/nqMkv8lWvyIJ+lP1J1cd3Z19"
    "JOhZQogQJzEJ7/5gLd8GYpQgKRp+NkbkIB5hL8ruZs8fymG14kXxQnm9OxZ/KP6gXC3nrzAVTd305cEVKZwB7vr404fPzhJR3ZBGRlhvOVUbYIT0"
    "IwQgU2ASPuAnSBkAlh2Oktmm/mUJ0cGwcA62gbhfe7XlNdRIImW2C9qMYOGJx6LBou+rYB9fBkHkRI/VUaD5hBAxtn9chH1vJ0en4HDWsBW88Azo"
    "0y5IfQ=="
)
RESOURCE_PLAINTEXT = '{"mchid":"1230000109","out_trade_no":"ord_1","trade_state":"SUCCESS","amount":{"total":1}}'
RESOURCE_NONCE = "fbNonce12345"
RESOURCE_CIPHERTEXT = (
    "UYKut7giHxlHmQRzfAVToTa+EcE+HwyhR4ONfZoARyDZsdsSU09B2V1dw+tAydShlSZcD/AQz2hNPA6TAoI0+t7CpaU7rl1g+pyJMjsva1w5kntg"
    "PgET4fgz+9iFxQATvKun63KvmJbVJw=="
)
PREPAY_ID = "wx201410272009395522657a690389285100"
PAY_SIGN = (
    "sLdchwmv+YWTT/CLHwbyZGoUmb+0L/t+UMRZyElHzTs8OnRXGbzIdhX9M6nFkiSwT0/AYuodQnqwZgQzeu9j0oowvJDKK9IkcU66jYnofXUmuxw7"
    "OqS/OmP89tfTqDdbtdGWj1r5GkMkhdPKxslDpUavShz8yiGn5URxqV9akDmpTJMPEZaCBhQiVnhqxxr6nAATOavH+i0ugaCA8aBbpN6bt2ybLjTg"
    "iWfrJ/aqhYY34wXI9ZDyeBdqj9YFXRgSshpq2bhL2Qhx/RVUEPSiMMud7aBiydwJ9RdpolZH2jrKpxUgQfysoUOp4to6NiwAxpOdtB8YIrBPtKlk"
    "j0VH8g=="
)
MERCHANT_SERIAL = "262ABE98B028081E1FEE10B5DFD9F3393410AAC4"
PLATFORM_SERIAL = "4D8E3EF649806EA93DD1A54FA34B530F19FA0EB7"


def _key_text(name: str) -> str:
    return (KEYS / name).read_text()


@pytest.fixture(scope="module")
def merchant_private() -> rsa.RSAPrivateKey:
    return wp.load_private_key(_key_text("TEST_ONLY_wechatpay_merchant_private.pem"))


@pytest.fixture(scope="module")
def merchant_public() -> rsa.RSAPublicKey:
    return wp.load_public_key(_key_text("TEST_ONLY_wechatpay_merchant_public.pem"))


@pytest.fixture(scope="module")
def platform_private() -> rsa.RSAPrivateKey:
    return wp.load_private_key(_key_text("TEST_ONLY_wechatpay_platform_private.pem"))


@pytest.fixture(scope="module")
def platform_public() -> rsa.RSAPublicKey:
    return wp.load_public_key(_key_text("TEST_ONLY_wechatpay_platform_public.pem"))


def _jsapi_authorization(private_key: rsa.RSAPrivateKey, *, timestamp: int = NOW, body: str = JSAPI_BODY) -> str:
    return wp.build_authorization(
        method="POST",
        url=JSAPI_URL,
        body=body,
        mchid=MCHID,
        serial_no=MERCHANT_SERIAL,
        private_key=private_key,
        timestamp=timestamp,
        nonce=NONCE,
    )


# --- keys and serials -------------------------------------------------------------------------------------------------


def test_certificate_serial_is_upper_hex_as_openssl_prints_it() -> None:
    cert = wp.load_certificate(_key_text("TEST_ONLY_wechatpay_merchant_cert.pem"))
    assert wp.certificate_serial_no(cert) == MERCHANT_SERIAL


def test_a_public_key_id_is_whatever_wechat_assigned_compared_exactly(platform_public: rsa.RSAPublicKey) -> None:
    # WeChat assigns the id (docs/providers.md §6); nothing derives one from the key.
    assigned = "PUB_KEY_ID_0119000000012026120100000000000001"
    assert wp.is_public_key_id(assigned) and not wp.is_public_key_id(PLATFORM_SERIAL)
    assert wp._select_key({assigned: platform_public}, assigned) is platform_public
    with pytest.raises(wp.WechatPayUnknownSerial):
        wp._select_key({assigned: platform_public}, assigned.replace("0001", "0010"))


def test_public_key_loads_from_certificate_and_bare_base64(merchant_public: rsa.RSAPublicKey) -> None:
    from_cert = wp.load_public_key(_key_text("TEST_ONLY_wechatpay_merchant_cert.pem"))
    pem = _key_text("TEST_ONLY_wechatpay_merchant_public.pem")
    bare = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    assert from_cert.public_numbers() == merchant_public.public_numbers()
    assert wp.load_public_key(bare).public_numbers() == merchant_public.public_numbers()


def test_private_key_loads_from_bytes_and_bare_base64(merchant_private: rsa.RSAPrivateKey) -> None:
    pem = _key_text("TEST_ONLY_wechatpay_merchant_private.pem")
    bare = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    for source in (pem.encode(), bare):
        assert wp.load_private_key(source).private_numbers() == merchant_private.private_numbers()


@pytest.mark.parametrize("garbage", ["", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"])
def test_unusable_private_key_is_refused_clearly(garbage: str) -> None:
    with pytest.raises(wp.InvalidKeyError):
        wp.load_private_key(garbage)


def test_public_key_is_not_accepted_as_private_key() -> None:
    with pytest.raises(wp.InvalidKeyError):
        wp.load_private_key(_key_text("TEST_ONLY_wechatpay_merchant_public.pem"))


def test_short_rsa_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(wp.InvalidKeyError, match="2048"):
        wp.load_public_key(pem)


# --- request signatures -----------------------------------------------------------------------------------------------


def test_request_message_is_five_newline_terminated_lines() -> None:
    message = wp.request_message("GET", "/v3/pay/transactions/out-trade-no/ord_1?mchid=1230000109", NOW, NONCE)
    assert message == (
        b"GET\n/v3/pay/transactions/out-trade-no/ord_1?mchid=1230000109\n1767225600\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    )


def test_request_signature_matches_fixed_vector(merchant_private: rsa.RSAPrivateKey) -> None:
    message = wp.request_message("POST", JSAPI_URL, NOW, NONCE, JSAPI_BODY)
    assert wp.sign_message(message, merchant_private) == JSAPI_SIGNATURE


def test_authorization_header_has_exact_wire_form(merchant_private: rsa.RSAPrivateKey) -> None:
    assert _jsapi_authorization(merchant_private) == (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}",nonce_str="{NONCE}",signature="{JSAPI_SIGNATURE}",'
        f'timestamp="{NOW}",serial_no="{MERCHANT_SERIAL}"'
    )


def test_authorization_parses_pairs_in_any_order_with_spaces() -> None:
    header = (
        f'WECHATPAY2-SHA256-RSA2048 serial_no="{MERCHANT_SERIAL}", timestamp="{NOW}",signature="{JSAPI_SIGNATURE}", '
        f'nonce_str="{NONCE}",mchid="{MCHID}"'
    )
    auth = wp.parse_authorization(header)
    assert auth == wp.Authorization(
        mchid=MCHID, nonce_str=NONCE, signature=JSAPI_SIGNATURE, timestamp=str(NOW), serial_no=MERCHANT_SERIAL
    )


def test_signed_request_verifies_and_names_its_merchant(
    merchant_private: rsa.RSAPrivateKey, merchant_public: rsa.RSAPublicKey
) -> None:
    auth = wp.verify_request(
        _jsapi_authorization(merchant_private),
        method="POST",
        url=JSAPI_URL,
        body=JSAPI_BODY.encode(),
        public_key=merchant_public,
        now=NOW + 10,
    )
    assert (auth.mchid, auth.serial_no) == (MCHID, MERCHANT_SERIAL)


def test_signed_get_request_with_empty_body_verifies(
    merchant_private: rsa.RSAPrivateKey, merchant_public: rsa.RSAPublicKey
) -> None:
    url = "/v3/refund/domestic/refunds/rfd_1"
    header = wp.build_authorization(
        method="GET",
        url=url,
        body=b"",
        mchid=MCHID,
        serial_no=MERCHANT_SERIAL,
        private_key=merchant_private,
        timestamp=NOW,
        nonce=NONCE,
    )
    wp.verify_request(header, method="GET", url=url, body=b"", public_key=merchant_public, now=NOW)


def test_request_key_is_chosen_by_serial(
    merchant_private: rsa.RSAPrivateKey, merchant_public: rsa.RSAPublicKey, platform_public: rsa.RSAPublicKey
) -> None:
    keys = {"00" + MERCHANT_SERIAL.lower(): merchant_public, PLATFORM_SERIAL: platform_public}
    header = _jsapi_authorization(merchant_private)
    wp.verify_request(header, method="POST", url=JSAPI_URL, body=JSAPI_BODY, public_key=keys, now=NOW)
    with pytest.raises(wp.WechatPayUnknownSerial):
        wp.verify_request(
            header,
            method="POST",
            url=JSAPI_URL,
            body=JSAPI_BODY,
            public_key={PLATFORM_SERIAL: platform_public},
            now=NOW,
        )


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", JSAPI_URL, JSAPI_BODY.replace('"total":1', '"total":100')),
        ("POST", JSAPI_URL, JSAPI_BODY + " "),
        ("POST", JSAPI_URL + "?x=1", JSAPI_BODY),
        ("PUT", JSAPI_URL, JSAPI_BODY),
    ],
    ids=["amount-changed", "trailing-space", "query-added", "method-changed"],
)
def test_request_changed_after_signing_is_refused(
    merchant_private: rsa.RSAPrivateKey, merchant_public: rsa.RSAPublicKey, method: str, url: str, body: str
) -> None:
    with pytest.raises(wp.WechatPayBadSignature):
        wp.verify_request(
            _jsapi_authorization(merchant_private),
            method=method,
            url=url,
            body=body,
            public_key=merchant_public,
            now=NOW,
        )


def test_request_signed_with_another_key_is_refused(
    platform_private: rsa.RSAPrivateKey, merchant_public: rsa.RSAPublicKey
) -> None:
    with pytest.raises(wp.WechatPayBadSignature):
        wp.verify_request(
            _jsapi_authorization(platform_private),
            method="POST",
            url=JSAPI_URL,
            body=JSAPI_BODY,
            public_key=merchant_public,
            now=NOW,
        )


@pytest.mark.parametrize(("skew", "accepted"), [(299, True), (-299, True), (300, False), (-300, False), (86400, False)])
def test_request_timestamp_window_is_under_five_minutes(
    merchant_private: rsa.RSAPrivateKey, merchant_public: rsa.RSAPublicKey, skew: int, accepted: bool
) -> None:
    header = _jsapi_authorization(merchant_private)
    if accepted:
        wp.verify_request(
            header, method="POST", url=JSAPI_URL, body=JSAPI_BODY, public_key=merchant_public, now=NOW + skew
        )
    else:
        with pytest.raises(wp.WechatPayStaleTimestamp):
            wp.verify_request(
                header, method="POST", url=JSAPI_URL, body=JSAPI_BODY, public_key=merchant_public, now=NOW + skew
            )


@pytest.mark.parametrize(
    "header",
    [
        "",
        f'Bearer mchid="{MCHID}"',
        f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}",nonce_str="{NONCE}",signature="c2ln",timestamp="{NOW}"',
        f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}",mchid="{MCHID}",nonce_str="{NONCE}",signature="c2ln",'
        f'timestamp="{NOW}",serial_no="{MERCHANT_SERIAL}"',
        f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}",nonce_str="{NONCE}",signature="c2ln",timestamp="{NOW}",'
        f'serial_no="{MERCHANT_SERIAL}",extra="1"',
        f'WECHATPAY2-SHA256-RSA2048 mchid={MCHID},nonce_str="{NONCE}",signature="c2ln",timestamp="{NOW}",'
        f'serial_no="{MERCHANT_SERIAL}"',
        f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}",nonce_str="{NONCE}",signature="c2ln",timestamp="soon",'
        f'serial_no="{MERCHANT_SERIAL}"',
        f'WECHATPAY2-SHA256-RSA2048 mchid="",nonce_str="{NONCE}",signature="c2ln",timestamp="{NOW}",'
        f'serial_no="{MERCHANT_SERIAL}"',
        f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}",nonce_str="a b",signature="c2ln",timestamp="{NOW}",'
        f'serial_no="{MERCHANT_SERIAL}"',
    ],
    ids=[
        "empty",
        "other-scheme",
        "missing-serial",
        "repeated-field",
        "unknown-field",
        "unquoted",
        "non-numeric-timestamp",
        "empty-value",
        "space-in-value",
    ],
)
def test_malformed_authorization_is_refused_with_reason(header: str) -> None:
    with pytest.raises(wp.WechatPayMalformed):
        wp.parse_authorization(header)


def test_signature_that_is_not_base64_is_malformed(merchant_public: rsa.RSAPublicKey) -> None:
    header = (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}",nonce_str="{NONCE}",signature="***",timestamp="{NOW}",'
        f'serial_no="{MERCHANT_SERIAL}"'
    )
    with pytest.raises(wp.WechatPayMalformed, match="Base64"):
        wp.verify_request(header, method="POST", url=JSAPI_URL, body=JSAPI_BODY, public_key=merchant_public, now=NOW)


@pytest.mark.parametrize(
    ("method", "url", "nonce"),
    [
        ("post", JSAPI_URL, NONCE),
        ("POST", "https://api.mch.weixin.qq.com" + JSAPI_URL, NONCE),
        ("POST", JSAPI_URL, "a\nb"),
    ],
    ids=["lower-case-method", "absolute-url", "newline-in-nonce"],
)
def test_request_message_refuses_ambiguous_fields(method: str, url: str, nonce: str) -> None:
    with pytest.raises(wp.WechatPayMalformed):
        wp.request_message(method, url, NOW, nonce, JSAPI_BODY)


# --- response and notification signatures -----------------------------------------------------------------------------


def test_response_signature_matches_fixed_vector(platform_private: rsa.RSAPrivateKey) -> None:
    headers = wp.sign_response(
        RESPONSE_BODY, private_key=platform_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    assert headers == {
        "Wechatpay-Timestamp": str(NOW),
        "Wechatpay-Nonce": RESPONSE_NONCE,
        "Wechatpay-Signature": RESPONSE_SIGNATURE,
        "Wechatpay-Serial": PLATFORM_SERIAL,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def test_response_message_for_empty_body_ends_with_blank_line() -> None:
    assert wp.response_message(NOW, RESPONSE_NONCE, b"") == b"1767225600\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\n\n"


def test_signed_response_verifies_with_lower_case_headers(
    platform_private: rsa.RSAPrivateKey, platform_public: rsa.RSAPublicKey
) -> None:
    headers = wp.sign_response(
        RESPONSE_BODY, private_key=platform_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    lowered = {name.lower(): value for name, value in headers.items()}
    serial = wp.verify_response(
        lowered, RESPONSE_BODY.encode(), public_key={PLATFORM_SERIAL: platform_public}, now=NOW - 100
    )
    assert serial == PLATFORM_SERIAL


def test_empty_204_response_signature_verifies(
    platform_private: rsa.RSAPrivateKey, platform_public: rsa.RSAPublicKey
) -> None:
    headers = wp.sign_response(
        b"", private_key=platform_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    wp.verify_response(headers, b"", public_key=platform_public, now=NOW)


def test_response_with_reserialised_body_is_refused(
    platform_private: rsa.RSAPrivateKey, platform_public: rsa.RSAPublicKey
) -> None:
    headers = wp.sign_response(
        RESPONSE_BODY, private_key=platform_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    reserialised = json.dumps(json.loads(RESPONSE_BODY))  # adds a space after ':'
    with pytest.raises(wp.WechatPayBadSignature):
        wp.verify_response(headers, reserialised, public_key=platform_public, now=NOW)


def test_response_signed_by_merchant_key_is_refused(
    merchant_private: rsa.RSAPrivateKey, platform_public: rsa.RSAPublicKey
) -> None:
    headers = wp.sign_response(
        RESPONSE_BODY, private_key=merchant_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    with pytest.raises(wp.WechatPayBadSignature):
        wp.verify_response(headers, RESPONSE_BODY, public_key=platform_public, now=NOW)


def test_stale_notification_is_refused_even_when_genuine(
    platform_private: rsa.RSAPrivateKey, platform_public: rsa.RSAPublicKey
) -> None:
    headers = wp.sign_response(
        RESPONSE_BODY, private_key=platform_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    with pytest.raises(wp.WechatPayStaleTimestamp):
        wp.verify_response(headers, RESPONSE_BODY, public_key=platform_public, now=NOW + 300)


@pytest.mark.parametrize("drop", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"])
def test_unsigned_response_is_treated_as_forged(
    platform_private: rsa.RSAPrivateKey, platform_public: rsa.RSAPublicKey, drop: str
) -> None:
    headers = wp.sign_response(
        RESPONSE_BODY, private_key=platform_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    del headers[drop]
    with pytest.raises(wp.WechatPayMalformed, match=drop):
        wp.verify_response(headers, RESPONSE_BODY, public_key=platform_public, now=NOW)


def test_other_signature_type_is_refused(
    platform_private: rsa.RSAPrivateKey, platform_public: rsa.RSAPublicKey
) -> None:
    headers = wp.sign_response(
        RESPONSE_BODY, private_key=platform_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    headers["Wechatpay-Signature-Type"] = "WECHATPAY2-SM2-WITH-SM3"
    with pytest.raises(wp.WechatPayMalformed):
        wp.verify_response(headers, RESPONSE_BODY, public_key=platform_public, now=NOW)


# --- AEAD_AES_256_GCM resources ---------------------------------------------------------------------------------------


def _resource() -> wp.EncryptedResource:
    return wp.encrypt_resource(
        RESOURCE_PLAINTEXT,
        apiv3_key=APIV3_KEY,
        nonce=RESOURCE_NONCE,
        associated_data="transaction",
        original_type="transaction",
    )


def test_resource_encryption_matches_fixed_vector() -> None:
    assert _resource() == {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": RESOURCE_CIPHERTEXT,
        "associated_data": "transaction",
        "original_type": "transaction",
        "nonce": RESOURCE_NONCE,
    }


def test_resource_round_trips_including_empty_associated_data() -> None:
    assert wp.decrypt_resource(_resource(), apiv3_key=APIV3_KEY) == RESOURCE_PLAINTEXT
    sealed = wp.encrypt_resource(
        "证书", apiv3_key=APIV3_KEY.encode(), nonce=RESOURCE_NONCE, associated_data="", original_type="certificate"
    )
    assert wp.decrypt_resource(sealed, apiv3_key=APIV3_KEY) == "证书"


def _flip_byte(b64: str, index: int) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("field", "tampered"),
    [
        ("ciphertext", _flip_byte(RESOURCE_CIPHERTEXT, 0)),
        ("ciphertext", _flip_byte(RESOURCE_CIPHERTEXT, -1)),
        ("ciphertext", base64.b64encode(base64.b64decode(RESOURCE_CIPHERTEXT)[:-16]).decode()),
        ("associated_data", "refund"),
        ("nonce", "fbNonce12346"),
    ],
    ids=["ciphertext-byte", "tag-byte", "tag-stripped", "associated-data", "nonce"],
)
def test_tampered_resource_fails_authentication(field: str, tampered: str) -> None:
    resource = dict(_resource())
    resource[field] = tampered
    with pytest.raises(wp.WechatPayDecryptError):
        wp.decrypt_resource(resource, apiv3_key=APIV3_KEY)


def test_resource_under_another_apiv3_key_fails_authentication() -> None:
    with pytest.raises(wp.WechatPayDecryptError):
        wp.decrypt_resource(_resource(), apiv3_key=APIV3_KEY[::-1])


@pytest.mark.parametrize(
    ("field", "value"),
    [("algorithm", "AEAD_AES_128_GCM"), ("ciphertext", "not base64!"), ("nonce", "short"), ("associated_data", None)],
)
def test_malformed_resource_is_refused_before_decryption(field: str, value: str | None) -> None:
    resource: dict[str, object] = dict(_resource())
    resource[field] = value
    with pytest.raises(wp.WechatPayMalformed):
        wp.decrypt_resource(resource, apiv3_key=APIV3_KEY)


def test_apiv3_key_must_be_32_bytes() -> None:
    with pytest.raises(wp.InvalidKeyError):
        wp.decrypt_resource(_resource(), apiv3_key=APIV3_KEY[:31])


def test_notification_verifies_and_decrypts(
    platform_private: rsa.RSAPrivateKey, platform_public: rsa.RSAPublicKey
) -> None:
    transaction = {"mchid": MCHID, "out_trade_no": "ord_1", "trade_state": "SUCCESS", "trade_state_desc": "支付成功"}
    body = wp.build_notification_body(
        event_id="EV-2026",
        create_time="2026-01-01T08:00:00+08:00",
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=transaction,
        apiv3_key=APIV3_KEY,
        nonce=RESOURCE_NONCE,
        associated_data="transaction",
    )
    headers = wp.sign_response(
        body, private_key=platform_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    notification = wp.verify_notification(
        headers, body, public_key={PLATFORM_SERIAL: platform_public}, now=NOW + 5, apiv3_key=APIV3_KEY
    )
    assert (notification.id, notification.event_type) == ("EV-2026", "TRANSACTION.SUCCESS")
    assert notification.envelope["resource_type"] == "encrypt-resource"
    assert notification.resource == transaction


def test_notification_with_tampered_resource_is_refused_by_signature(
    platform_private: rsa.RSAPrivateKey, platform_public: rsa.RSAPublicKey
) -> None:
    body = wp.build_notification_body(
        event_id="EV-1",
        create_time="2026-01-01T08:00:00+08:00",
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource={"out_trade_no": "ord_1"},
        apiv3_key=APIV3_KEY,
        nonce=RESOURCE_NONCE,
        associated_data="transaction",
    )
    headers = wp.sign_response(
        body, private_key=platform_private, serial_no=PLATFORM_SERIAL, timestamp=NOW, nonce=RESPONSE_NONCE
    )
    with pytest.raises(wp.WechatPayBadSignature):
        wp.verify_notification(
            headers, body.replace(b"EV-1", b"EV-2"), public_key=platform_public, now=NOW, apiv3_key=APIV3_KEY
        )


# --- wx.requestPayment ------------------------------------------------------------------------------------------------


def test_pay_sign_message_and_fixed_vector(merchant_private: rsa.RSAPrivateKey) -> None:
    package = f"prepay_id={PREPAY_ID}"
    assert wp.pay_sign_message(APPID, NOW, RESPONSE_NONCE, package) == (
        f"{APPID}\n{NOW}\n{RESPONSE_NONCE}\n{package}\n".encode()
    )
    signature = wp.pay_sign(
        app_id=APPID, timestamp=NOW, nonce_str=RESPONSE_NONCE, package=package, private_key=merchant_private
    )
    assert signature == PAY_SIGN


def test_request_payment_params_are_complete_and_verify(
    merchant_private: rsa.RSAPrivateKey, merchant_public: rsa.RSAPublicKey
) -> None:
    params = wp.request_payment_params(
        app_id=APPID, prepay_id=PREPAY_ID, private_key=merchant_private, timestamp=NOW, nonce_str=RESPONSE_NONCE
    )
    assert params == {
        "timeStamp": str(NOW),
        "nonceStr": RESPONSE_NONCE,
        "package": f"prepay_id={PREPAY_ID}",
        "signType": "RSA",
        "paySign": PAY_SIGN,
    }
    assert wp.verify_request_payment(params, app_id=APPID, public_key=merchant_public) == PREPAY_ID


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("package", "prepay_id=wx_other", wp.WechatPayBadSignature),
        ("timeStamp", str(NOW + 1), wp.WechatPayBadSignature),
        ("signType", "MD5", wp.WechatPayMalformed),
        ("package", "wx_no_prefix", wp.WechatPayMalformed),
    ],
)
def test_altered_request_payment_params_are_refused(
    merchant_private: rsa.RSAPrivateKey,
    merchant_public: rsa.RSAPublicKey,
    field: str,
    value: str,
    error: type[Exception],
) -> None:
    params = dict(
        wp.request_payment_params(
            app_id=APPID, prepay_id=PREPAY_ID, private_key=merchant_private, timestamp=NOW, nonce_str=RESPONSE_NONCE
        )
    )
    params[field] = value
    with pytest.raises(error):
        wp.verify_request_payment(params, app_id=APPID, public_key=merchant_public)


def test_pay_sign_for_another_app_is_refused(merchant_public: rsa.RSAPublicKey) -> None:
    with pytest.raises(wp.WechatPayBadSignature):
        wp.verify_pay_sign(
            app_id="wx_other_app",
            timestamp=NOW,
            nonce_str=RESPONSE_NONCE,
            package=f"prepay_id={PREPAY_ID}",
            signature=PAY_SIGN,
            public_key=merchant_public,
        )


def test_nonce_str_longer_than_32_is_refused(merchant_private: rsa.RSAPrivateKey) -> None:
    with pytest.raises(wp.WechatPayMalformed):
        wp.request_payment_params(
            app_id=APPID, prepay_id=PREPAY_ID, private_key=merchant_private, timestamp=NOW, nonce_str="x" * 33
        )


def test_generated_nonces_are_alphanumeric_and_distinct() -> None:
    first, second = wp.new_nonce(), wp.new_nonce()
    assert len(first) == 32 and first.isalnum() and first != second
    assert len(wp.new_nonce(12)) == 12
