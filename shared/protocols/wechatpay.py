"""WeChat Pay APIv3 wire cryptography: request and response signatures, notification AES-GCM, paySign and RSA keys."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
AES_ALGORITHM = "AEAD_AES_256_GCM"
RESOURCE_TYPE = "encrypt-resource"
# wechatpay-go rejects a timestamp 5 minutes or more away from now; we use the same bound for requests and callbacks.
TIMESTAMP_WINDOW_S = 300
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
MIN_RSA_KEY_BITS = 2048
APIV3_KEY_BYTES = 32
AES_NONCE_BYTES = 12
MAX_PAY_NONCE_CHARS = 32

HEADER_TIMESTAMP = "Wechatpay-Timestamp"
HEADER_NONCE = "Wechatpay-Nonce"
HEADER_SIGNATURE = "Wechatpay-Signature"
HEADER_SERIAL = "Wechatpay-Serial"
HEADER_SIGNATURE_TYPE = "Wechatpay-Signature-Type"

PublicKeys = rsa.RSAPublicKey | Mapping[str, rsa.RSAPublicKey]
"""One key (the serial is not checked) or keys by serial number / public-key id (the message's serial picks one)."""


class InvalidKeyError(ValueError):
    """Key material (PEM/DER key, certificate, APIv3 key) that cannot be used; a configuration error."""


class WechatPayError(Exception):
    """A WeChat Pay message was rejected; every subclass means "do not trust this message"."""


class WechatPayMalformed(WechatPayError, ValueError):
    """A header, field or envelope does not have the shape the protocol requires (missing, duplicated, bad syntax)."""


class WechatPayBadSignature(WechatPayError):
    """The RSA signature does not match the message under the expected key."""


class WechatPayStaleTimestamp(WechatPayError):
    """The signed timestamp is TIMESTAMP_WINDOW_S seconds or more away from now (a replay or a wrong clock)."""


class WechatPayUnknownSerial(WechatPayError):
    """No key is configured for the serial number the message names (the caller may refresh its keys)."""


class WechatPayDecryptError(WechatPayError):
    """AES-256-GCM authentication failed: ciphertext, tag, nonce or associated data altered, or a wrong key."""


# Header values sit inside "..." and are separated by commas, so neither may appear in them; nor may whitespace,
# which would also let a value smuggle a line into the newline-separated signing message.
_TOKEN_RE = re.compile(r"[\x21\x23-\x2b\x2d-\x7e]+")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
_METHOD_RE = re.compile(r"[A-Z]+")
_AUTH_PAIR_RE = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')
_AUTH_FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
_NONCE_ALPHABET = string.ascii_letters + string.digits
_PAYMENT_FIELDS = ("timeStamp", "nonceStr", "package", "signType", "paySign")


# --- keys -------------------------------------------------------------------------------------------------------------


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def _der_from_bare_base64(raw: bytes) -> bytes:
    # Provider consoles (Alipay especially) hand out keys as bare Base64 without PEM armour.
    return base64.b64decode(b"".join(raw.split()), validate=True)


def _check_rsa_size(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> None:
    if key.key_size < MIN_RSA_KEY_BITS:
        raise InvalidKeyError(f"RSA key has {key.key_size} bits; at least {MIN_RSA_KEY_BITS} are required")


def load_private_key(data: str | bytes) -> rsa.RSAPrivateKey:
    """An unencrypted RSA private key from PEM (PKCS#8 or PKCS#1) or bare Base64 DER."""
    raw = _as_bytes(data).strip()
    try:
        if raw.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(raw, password=None)
        else:
            key = serialization.load_der_private_key(_der_from_bare_base64(raw), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # Only the error type: parser details about key bytes have no place in logs.
        raise InvalidKeyError(f"not a usable unencrypted private key: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidKeyError("private key is not an RSA key")
    _check_rsa_size(key)
    return key


def load_public_key(data: str | bytes) -> rsa.RSAPublicKey:
    """An RSA public key from PEM (SubjectPublicKeyInfo, PKCS#1 or an X.509 certificate) or bare Base64 DER SPKI."""
    raw = _as_bytes(data).strip()
    if raw.startswith(b"-----BEGIN CERTIFICATE"):
        key: object = load_certificate(raw).public_key()
    else:
        try:
            if raw.startswith(b"-----BEGIN"):
                key = serialization.load_pem_public_key(raw)
            else:
                key = serialization.load_der_public_key(_der_from_bare_base64(raw))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InvalidKeyError(f"not a usable public key: {type(exc).__name__}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidKeyError("public key is not an RSA key")
    _check_rsa_size(key)
    return key


def load_certificate(data: str | bytes) -> x509.Certificate:
    """An X.509 certificate from PEM."""
    try:
        return x509.load_pem_x509_certificate(_as_bytes(data).strip())
    except ValueError as exc:
        raise InvalidKeyError(f"not a PEM certificate: {exc}") from None


def certificate_serial_no(cert: x509.Certificate) -> str:
    """The serial as WeChat prints it: upper-case hex without leading zeros (as ``Wechatpay-Serial``/``serial_no``)."""
    return format(cert.serial_number, "X")


def is_public_key_id(serial: str) -> bool:
    """True for public-key-mode ids (``PUB_KEY_ID_…``), false for certificate serials."""
    return serial.startswith(PUBLIC_KEY_ID_PREFIX)


def _normalise_serial(serial: str) -> str:
    # Certificate serials are hex numbers: case and leading zeros vary between SDKs, the number does not.
    if is_public_key_id(serial):
        return serial
    return serial.upper().lstrip("0") or "0"


def _select_key(public_key: PublicKeys, serial: str) -> rsa.RSAPublicKey:
    if isinstance(public_key, rsa.RSAPublicKey):
        return public_key
    wanted = _normalise_serial(serial)
    for candidate, key in public_key.items():
        if _normalise_serial(candidate) == wanted:
            return key
    raise WechatPayUnknownSerial(f"no public key configured for serial {serial!r}")


def new_nonce(length: int = 32) -> str:
    """A random alphanumeric nonce (32 chars for nonce_str/nonceStr, 12 for an AES-GCM resource nonce)."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


# --- RSA signatures ---------------------------------------------------------------------------------------------------


def sign_message(message: bytes, private_key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA (PKCS#1 v1.5) over ``message``, Base64-encoded."""
    return base64.b64encode(private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify_message(message: bytes, signature: str, public_key: rsa.RSAPublicKey) -> None:
    """Raise WechatPayBadSignature unless ``signature`` (Base64) is SHA256withRSA over ``message`` by this key."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise WechatPayMalformed("signature is not Base64") from None
    try:
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise WechatPayBadSignature("signature does not match the message") from None


def _line(value: str, what: str) -> bytes:
    if not value or "\n" in value or "\r" in value:
        raise WechatPayMalformed(f"{what} must be non-empty and on one line")
    try:
        return value.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a header that was not UTF-8 reaches us surrogate-escaped
        raise WechatPayMalformed(f"{what} is not UTF-8 text") from None


def _timestamp_text(timestamp: int | str) -> str:
    text = str(timestamp)
    if isinstance(timestamp, bool) or not _TIMESTAMP_RE.fullmatch(text):
        raise WechatPayMalformed(f"timestamp must be unix seconds in decimal digits, got {text!r}")
    return text


def check_timestamp(timestamp: int | str, now: int) -> None:
    """Raise WechatPayStaleTimestamp when ``timestamp`` is TIMESTAMP_WINDOW_S seconds or more away from ``now``."""
    skew = abs(now - int(_timestamp_text(timestamp)))
    if skew >= TIMESTAMP_WINDOW_S:
        raise WechatPayStaleTimestamp(f"timestamp is {skew}s away from now (limit {TIMESTAMP_WINDOW_S - 1}s)")


# --- request signatures (merchant → WeChat) ---------------------------------------------------------------------------


def request_message(method: str, url: str, timestamp: int | str, nonce: str, body: str | bytes = b"") -> bytes:
    """``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n``; ``url`` is path plus query, ``body`` the raw bytes sent."""
    if not _METHOD_RE.fullmatch(method):
        raise WechatPayMalformed(f"method must be an upper-case HTTP method, got {method!r}")
    if not url.startswith("/"):
        raise WechatPayMalformed(f"url must be the path and query (starting with '/'), got {url!r}")
    return (
        _line(method, "method")
        + _line(url, "url")
        + _line(_timestamp_text(timestamp), "timestamp")
        + _line(nonce, "nonce")
        + _as_bytes(body)
        + b"\n"
    )


@dataclass(frozen=True, slots=True)
class Authorization:
    """The fields of an ``Authorization: WECHATPAY2-SHA256-RSA2048 ...`` header."""

    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str

    def __post_init__(self) -> None:
        for name in _AUTH_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
                raise WechatPayMalformed(f"Authorization {name} is empty or has characters a header value cannot hold")
        _timestamp_text(self.timestamp)

    def header(self) -> str:
        pairs = ",".join(f'{name}="{getattr(self, name)}"' for name in _AUTH_FIELDS)
        return f"{SIGNATURE_TYPE} {pairs}"

    @classmethod
    def parse(cls, header: str) -> Authorization:
        """Strict: the scheme, then each of the five fields exactly once as ``name="value"``, in any order."""
        scheme, _, rest = header.strip().partition(" ")
        if scheme != SIGNATURE_TYPE:
            raise WechatPayMalformed(f"Authorization scheme must be {SIGNATURE_TYPE}")
        fields: dict[str, str] = {}
        for part in rest.split(","):
            match = _AUTH_PAIR_RE.fullmatch(part)
            if match is None:
                raise WechatPayMalformed(f"Authorization has a malformed pair: {part.strip()[:40]!r}")
            name, value = match.groups()
            if name not in _AUTH_FIELDS:
                raise WechatPayMalformed(f"Authorization has an unknown field {name!r}")
            if name in fields:
                raise WechatPayMalformed(f"Authorization repeats field {name!r}")
            fields[name] = value
        missing = [name for name in _AUTH_FIELDS if name not in fields]
        if missing:
            raise WechatPayMalformed(f"Authorization lacks {', '.join(missing)}")
        return cls(**fields)


def parse_authorization(header: str) -> Authorization:
    """Parse an Authorization header; raises WechatPayMalformed with the reason."""
    return Authorization.parse(header)


def build_authorization(
    *,
    method: str,
    url: str,
    body: str | bytes,
    mchid: str,
    serial_no: str,
    private_key: rsa.RSAPrivateKey,
    timestamp: int,
    nonce: str,
) -> str:
    """The full Authorization header value for a request, signed with the merchant key."""
    signature = sign_message(request_message(method, url, timestamp, nonce, body), private_key)
    return Authorization(
        mchid=mchid, nonce_str=nonce, signature=signature, timestamp=str(timestamp), serial_no=serial_no
    ).header()


def verify_request(
    authorization: str, *, method: str, url: str, body: str | bytes, public_key: PublicKeys, now: int
) -> Authorization:
    """Verify a merchant request (provider side) and return its parsed Authorization.

    ``url`` is the path and query exactly as received (undecoded); ``body`` the raw bytes received.

    Raises WechatPayMalformed, WechatPayUnknownSerial, WechatPayStaleTimestamp or WechatPayBadSignature.
    """
    auth = Authorization.parse(authorization)
    key = _select_key(public_key, auth.serial_no)
    # The cheap window check first: a replayed request is refused without an RSA operation.
    check_timestamp(auth.timestamp, now)
    verify_message(request_message(method, url, auth.timestamp, auth.nonce_str, body), auth.signature, key)
    return auth


# --- response and notification signatures (WeChat → merchant) ---------------------------------------------------------


def response_message(timestamp: int | str, nonce: str, body: str | bytes) -> bytes:
    """``TIMESTAMP\\nNONCE\\nBODY\\n`` over the raw body bytes (an empty body leaves just the final ``\\n``)."""
    return _line(_timestamp_text(timestamp), "timestamp") + _line(nonce, "nonce") + _as_bytes(body) + b"\n"


def sign_response(
    body: str | bytes, *, private_key: rsa.RSAPrivateKey, serial_no: str, timestamp: int, nonce: str
) -> dict[str, str]:
    """The ``Wechatpay-*`` headers that sign a response or notification body with the platform key."""
    if not _TOKEN_RE.fullmatch(serial_no):
        raise WechatPayMalformed("serial_no is empty or has characters a header value cannot hold")
    return {
        HEADER_TIMESTAMP: _timestamp_text(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign_message(response_message(timestamp, nonce, body), private_key),
        HEADER_SERIAL: serial_no,
        HEADER_SIGNATURE_TYPE: SIGNATURE_TYPE,
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    found = [value for key, value in headers.items() if key.lower() == wanted]
    if len(found) > 1:
        raise WechatPayMalformed(f"header {name} is repeated")
    return found[0] if found else None


def _required_header(headers: Mapping[str, str], name: str) -> str:
    value = _header(headers, name)
    if not value:
        raise WechatPayMalformed(f"header {name} is missing; an unsigned response must be treated as forged")
    return value


def verify_response(headers: Mapping[str, str], body: str | bytes, *, public_key: PublicKeys, now: int) -> str:
    """Verify a signed response or notification (merchant side) and return the serial it was signed under.

    ``headers`` is matched case-insensitively; ``body`` must be the raw bytes received, never re-serialised JSON.
    Raises WechatPayMalformed, WechatPayUnknownSerial, WechatPayStaleTimestamp or WechatPayBadSignature.
    """
    timestamp = _required_header(headers, HEADER_TIMESTAMP)
    nonce = _required_header(headers, HEADER_NONCE)
    signature = _required_header(headers, HEADER_SIGNATURE)
    serial = _required_header(headers, HEADER_SERIAL)
    # Absent is tolerated (older responses omit it); any other algorithm is not ours to accept.
    signature_type = _header(headers, HEADER_SIGNATURE_TYPE)
    if signature_type is not None and signature_type != SIGNATURE_TYPE:
        raise WechatPayMalformed(f"unsupported {HEADER_SIGNATURE_TYPE} {signature_type!r}")
    key = _select_key(public_key, serial)
    check_timestamp(timestamp, now)
    verify_message(response_message(timestamp, nonce, body), signature, key)
    return serial


# --- notification resource encryption (AEAD_AES_256_GCM) --------------------------------------------------------------


class EncryptedResource(TypedDict):
    """The ``resource`` object of a notification (and of each ``/v3/certificates`` entry)."""

    algorithm: str
    ciphertext: str
    associated_data: str
    original_type: str
    nonce: str


def _aes(apiv3_key: str | bytes) -> AESGCM:
    key = _as_bytes(apiv3_key)
    if len(key) != APIV3_KEY_BYTES:
        raise InvalidKeyError(f"the APIv3 key must be {APIV3_KEY_BYTES} bytes, got {len(key)}")
    return AESGCM(key)


def _aes_nonce(nonce: str) -> bytes:
    raw = nonce.encode("utf-8")
    if len(raw) != AES_NONCE_BYTES:
        raise WechatPayMalformed(f"resource nonce must be {AES_NONCE_BYTES} bytes, got {len(raw)}")
    return raw


def encrypt_resource(
    plaintext: str | bytes, *, apiv3_key: str | bytes, nonce: str, associated_data: str, original_type: str
) -> EncryptedResource:
    """AES-256-GCM under the APIv3 key; ``ciphertext`` is Base64 of the ciphertext followed by the 16-byte tag."""
    sealed = _aes(apiv3_key).encrypt(_aes_nonce(nonce), _as_bytes(plaintext), associated_data.encode("utf-8"))
    return EncryptedResource(
        algorithm=AES_ALGORITHM,
        ciphertext=base64.b64encode(sealed).decode("ascii"),
        associated_data=associated_data,
        original_type=original_type,
        nonce=nonce,
    )


def _resource_field(resource: Mapping[str, Any], name: str) -> str:
    value = resource.get(name)
    if not isinstance(value, str):
        raise WechatPayMalformed(f"resource.{name} must be a string")
    return value


def decrypt_resource(resource: Mapping[str, Any], *, apiv3_key: str | bytes) -> str:
    """The plaintext (UTF-8 text, JSON for notifications) of an encrypted resource.

    Raises WechatPayMalformed for a wrong shape or algorithm, WechatPayDecryptError when the tag does not verify.
    """
    algorithm = _resource_field(resource, "algorithm")
    if algorithm != AES_ALGORITHM:
        raise WechatPayMalformed(f"unsupported resource algorithm {algorithm!r}")
    associated_data = _resource_field(resource, "associated_data")
    nonce = _aes_nonce(_resource_field(resource, "nonce"))
    try:
        sealed = base64.b64decode(_resource_field(resource, "ciphertext"), validate=True)
    except (binascii.Error, ValueError):
        raise WechatPayMalformed("resource.ciphertext is not Base64") from None
    aes = _aes(apiv3_key)
    try:
        plaintext = aes.decrypt(nonce, sealed, associated_data.encode("utf-8"))
    except InvalidTag:
        raise WechatPayDecryptError("resource failed AES-GCM authentication (tampered or wrong APIv3 key)") from None
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:
        raise WechatPayDecryptError("resource plaintext is not UTF-8") from None


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified, decrypted callback: the envelope (``id``, ``event_type``, …) and the decrypted resource."""

    envelope: dict[str, Any]
    resource: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.envelope["id"])

    @property
    def event_type(self) -> str:
        return str(self.envelope["event_type"])


def build_notification_body(
    *,
    event_id: str,
    create_time: str,
    event_type: str,
    summary: str,
    original_type: str,
    resource: Mapping[str, Any],
    apiv3_key: str | bytes,
    nonce: str,
    associated_data: str,
) -> bytes:
    """The JSON body of a callback (provider side): envelope plus ``resource`` encrypted under the APIv3 key."""
    plaintext = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
    envelope = {
        "id": event_id,
        "create_time": create_time,
        "resource_type": RESOURCE_TYPE,
        "event_type": event_type,
        "summary": summary,
        "resource": encrypt_resource(
            plaintext, apiv3_key=apiv3_key, nonce=nonce, associated_data=associated_data, original_type=original_type
        ),
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def verify_notification(
    headers: Mapping[str, str], body: bytes, *, public_key: PublicKeys, now: int, apiv3_key: str | bytes
) -> Notification:
    """Verify a callback's signature and timestamp, then decrypt its resource (merchant side)."""
    verify_response(headers, body, public_key=public_key, now=now)
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WechatPayMalformed("notification body is not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("resource"), dict):
        raise WechatPayMalformed("notification has no resource object")
    for name in ("id", "event_type"):
        if not isinstance(envelope.get(name), str):
            raise WechatPayMalformed(f"notification {name} must be a string")
    plaintext = decrypt_resource(envelope["resource"], apiv3_key=apiv3_key)
    try:
        resource = json.loads(plaintext)
    except ValueError:
        raise WechatPayMalformed("decrypted resource is not JSON") from None
    if not isinstance(resource, dict):
        raise WechatPayMalformed("decrypted resource is not a JSON object")
    return Notification(envelope=envelope, resource=resource)


# --- mini-program wx.requestPayment -----------------------------------------------------------------------------------


class RequestPaymentParams(TypedDict):
    """What the mini-program passes to ``wx.requestPayment`` (besides callbacks)."""

    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


def pay_sign_message(app_id: str, timestamp: int | str, nonce_str: str, package: str) -> bytes:
    """``appId\\ntimeStamp\\nnonceStr\\npackage\\n``; ``signType`` is not signed."""
    if len(nonce_str) > MAX_PAY_NONCE_CHARS:
        raise WechatPayMalformed(f"nonceStr must be at most {MAX_PAY_NONCE_CHARS} characters")
    if not package.startswith("prepay_id=") or package == "prepay_id=":
        raise WechatPayMalformed("package must be 'prepay_id=<prepay_id>'")
    return (
        _line(app_id, "appId")
        + _line(_timestamp_text(timestamp), "timeStamp")
        + _line(nonce_str, "nonceStr")
        + _line(package, "package")
    )


def pay_sign(*, app_id: str, timestamp: int | str, nonce_str: str, package: str, private_key: rsa.RSAPrivateKey) -> str:
    """The ``paySign`` for ``wx.requestPayment``, signed with the merchant key."""
    return sign_message(pay_sign_message(app_id, timestamp, nonce_str, package), private_key)


def verify_pay_sign(
    *, app_id: str, timestamp: int | str, nonce_str: str, package: str, signature: str, public_key: rsa.RSAPublicKey
) -> None:
    """Raise WechatPayBadSignature unless ``signature`` is the merchant's paySign over these fields."""
    verify_message(pay_sign_message(app_id, timestamp, nonce_str, package), signature, public_key)


def request_payment_params(
    *, app_id: str, prepay_id: str, private_key: rsa.RSAPrivateKey, timestamp: int, nonce_str: str
) -> RequestPaymentParams:
    """The complete ``wx.requestPayment`` parameters for a prepay_id."""
    package = f"prepay_id={prepay_id}"
    return RequestPaymentParams(
        timeStamp=_timestamp_text(timestamp),
        nonceStr=nonce_str,
        package=package,
        signType="RSA",
        paySign=pay_sign(
            app_id=app_id, timestamp=timestamp, nonce_str=nonce_str, package=package, private_key=private_key
        ),
    )


def verify_request_payment(params: Mapping[str, object], *, app_id: str, public_key: rsa.RSAPublicKey) -> str:
    """Check ``wx.requestPayment`` parameters as the wallet would (provider side); return the prepay_id."""
    fields = {name: value for name in _PAYMENT_FIELDS if isinstance(value := params.get(name), str)}
    missing = [name for name in _PAYMENT_FIELDS if name not in fields]
    if missing:
        raise WechatPayMalformed(f"requestPayment params lack {', '.join(missing)}")
    if fields["signType"] != "RSA":
        raise WechatPayMalformed(f"signType must be RSA, got {fields['signType']!r}")
    verify_pay_sign(
        app_id=app_id,
        timestamp=fields["timeStamp"],
        nonce_str=fields["nonceStr"],
        package=fields["package"],
        signature=fields["paySign"],
        public_key=public_key,
    )
    return fields["package"].removeprefix("prepay_id=")
