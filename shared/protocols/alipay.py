"""Alipay OpenAPI wire cryptography: RSA2 sign content, gateway requests, app order strings, responses, notices."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.money import fen_to_yuan, yuan_to_fen
from shared.protocols.wechatpay import InvalidKeyError, load_private_key, load_public_key

__all__ = [
    "APP_PAY_METHOD",
    "APP_PAY_PRODUCT_CODE",
    "CHARSET",
    "FORMAT",
    "SIGN_TYPE",
    "VERSION",
    "AlipayBadSignature",
    "AlipayError",
    "AlipayMalformed",
    "InvalidKeyError",
    "build_app_pay_order_string",
    "build_request_params",
    "build_signed_response",
    "encode_params",
    "extract_response_text",
    "fen_to_yuan",
    "format_timestamp",
    "load_private_key",
    "load_public_key",
    "notification_check_content",
    "parse_form",
    "parse_order_string",
    "parse_timestamp",
    "response_key",
    "rsa2_sign",
    "rsa2_verify",
    "sign_content",
    "sign_notification",
    "sign_params",
    "verify_notification",
    "verify_order_string",
    "verify_request",
    "verify_response",
    "yuan_to_fen",
]

SIGN_TYPE = "RSA2"
CHARSET = "utf-8"
FORMAT = "JSON"
VERSION = "1.0"
APP_PAY_METHOD = "alipay.trade.app.pay"
APP_PAY_PRODUCT_CODE = "QUICK_MSECURITY_PAY"
ERROR_RESPONSE_KEY = "error_response"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

# Alipay timestamps are Beijing wall-clock time. China has kept UTC+8 without DST since 1991, so a fixed offset is
# exact and avoids depending on the system tz database (absent in slim images).
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

_METHOD_RE = re.compile(r"[a-z0-9]+(\.[a-z0-9]+)+")
_JSON_WS_RE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


class AlipayError(Exception):
    """An Alipay message was rejected; every subclass means "do not trust this message"."""


class AlipayMalformed(AlipayError, ValueError):
    """Parameters, an order string or a response body do not have the shape the protocol requires."""


class AlipayBadSignature(AlipayError):
    """The RSA2 signature is missing or does not match the signed content under the expected key."""


# --- RSA2 -------------------------------------------------------------------------------------------------------------


def sign_content(params: Mapping[str, str], *, exclude_sign_type: bool = False) -> str:
    """The string RSA2 signs: ``k=v`` pairs with raw (not URL-encoded) values, sorted by key, joined by ``&``.

    ``sign`` and empty values are always left out; ``sign_type`` only when ``exclude_sign_type`` (async notifications).
    """
    excluded = {"sign", "sign_type"} if exclude_sign_type else {"sign"}
    pairs = []
    for key in sorted(params):
        value = params[key]
        if not isinstance(value, str):
            raise TypeError(f"parameter {key!r} must be a string, got {type(value).__name__}")
        if key in excluded or value == "":
            continue
        pairs.append(f"{key}={value}")
    return "&".join(pairs)


def rsa2_sign(content: str, private_key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA (PKCS#1 v1.5) over the UTF-8 bytes of ``content``, Base64-encoded."""
    signature = private_key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(content: str, signature: str, public_key: rsa.RSAPublicKey) -> None:
    """Raise AlipayBadSignature unless ``signature`` is RSA2 over ``content`` by this key."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise AlipayBadSignature("sign is not Base64") from None
    try:
        public_key.verify(raw, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise AlipayBadSignature("sign does not match the signed content") from None


def _check_envelope_fields(params: Mapping[str, str]) -> str:
    signature = params.get("sign")
    if not signature:
        raise AlipayBadSignature("sign is missing")
    sign_type = params.get("sign_type")
    if sign_type is not None and sign_type != SIGN_TYPE:
        raise AlipayMalformed(f"sign_type must be {SIGN_TYPE}, got {sign_type!r}")
    charset = params.get("charset")
    if charset is not None and charset.lower() != CHARSET:
        raise AlipayMalformed(f"charset must be {CHARSET}, got {charset!r}")
    return signature


# --- requests and app order strings (merchant → Alipay) ---------------------------------------------------------------


def format_timestamp(now: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time, from a timezone-aware datetime."""
    if now.tzinfo is None:
        raise ValueError("timestamp needs a timezone-aware datetime")
    return now.astimezone(SHANGHAI).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    """The aware datetime (Beijing time) of an Alipay ``yyyy-MM-dd HH:mm:ss`` timestamp."""
    try:
        parsed = datetime.strptime(text, TIMESTAMP_FORMAT)
    except (TypeError, ValueError):
        raise AlipayMalformed(f"timestamp must be 'yyyy-MM-dd HH:mm:ss', got {text!r}") from None
    return parsed.replace(tzinfo=SHANGHAI)


def sign_params(params: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """A copy of request ``params`` with ``sign`` set over everything else (``sign_type`` included)."""
    signed = dict(params)
    signed.pop("sign", None)
    signed["sign"] = rsa2_sign(sign_content(signed), private_key)
    return signed


def verify_request(params: Mapping[str, str], public_key: rsa.RSAPublicKey) -> None:
    """Verify gateway request parameters or an order string's fields with the app's public key (provider side)."""
    signature = _check_envelope_fields(params)
    if params.get("sign_type") != SIGN_TYPE:
        raise AlipayMalformed(f"requests must carry sign_type={SIGN_TYPE}")
    rsa2_verify(sign_content(params), signature, public_key)


def build_request_params(
    *,
    app_id: str,
    method: str,
    biz_content: Mapping[str, Any],
    private_key: rsa.RSAPrivateKey,
    now: datetime,
    notify_url: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The signed common parameters of a ``gateway.do`` call (or of an app order string).

    ``extra`` adds further common parameters such as ``app_auth_token`` or ``return_url``.
    """
    if not _METHOD_RE.fullmatch(method):
        raise ValueError(f"not an Alipay method name: {method!r}")
    params = {
        "app_id": app_id,
        "method": method,
        "format": FORMAT,
        "charset": CHARSET,
        "sign_type": SIGN_TYPE,
        "timestamp": format_timestamp(now),
        "version": VERSION,
        # Compact and non-ASCII kept as UTF-8: the string is signed as is, so any valid JSON works, and this one is
        # what Alipay's own SDKs send.
        "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")),
    }
    if notify_url:
        params["notify_url"] = notify_url
    for key, value in (extra or {}).items():
        if key in params or key == "sign":
            raise ValueError(f"extra parameter {key!r} would override a common parameter")
        params[key] = value
    return sign_params(params, private_key)


def encode_params(params: Mapping[str, str]) -> str:
    """``k=v&…`` with URL-encoded values (``+`` for space), sorted by key, ``sign`` last: an order string or query."""
    items = sorted((key, value) for key, value in params.items() if key != "sign")
    if "sign" in params:
        items.append(("sign", params["sign"]))
    return "&".join(f"{quote_plus(key)}={quote_plus(value)}" for key, value in items)


def build_app_pay_order_string(
    *,
    app_id: str,
    biz_content: Mapping[str, Any],
    private_key: rsa.RSAPrivateKey,
    now: datetime,
    notify_url: str | None = None,
) -> str:
    """The signed ``alipay.trade.app.pay`` order string the app SDK receives (no server call involved).

    ``biz_content`` holds ``subject``, ``out_trade_no``, ``total_amount`` (yuan, see fen_to_yuan) and optional fields;
    ``product_code`` defaults to QUICK_MSECURITY_PAY.
    """
    biz = dict(biz_content)
    biz.setdefault("product_code", APP_PAY_PRODUCT_CODE)
    params = build_request_params(
        app_id=app_id, method=APP_PAY_METHOD, biz_content=biz, private_key=private_key, now=now, notify_url=notify_url
    )
    return encode_params(params)


def parse_form(body: str | bytes) -> dict[str, str]:
    """Decode ``application/x-www-form-urlencoded`` text (UTF-8); a repeated key is refused, not merged."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise AlipayMalformed("not a UTF-8 URL-encoded parameter string") from None
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params:
            # A repeated key makes "the" value ambiguous between signer and reader, so nothing is guessed.
            raise AlipayMalformed(f"parameter {key!r} is repeated")
        params[key] = value
    return params


def parse_order_string(order_string: str) -> dict[str, str]:
    """The decoded parameters of an order string (not verified; see verify_order_string)."""
    return parse_form(order_string)


def verify_order_string(order_string: str, public_key: rsa.RSAPublicKey) -> dict[str, str]:
    """Parse an app order string, verify it with the app's public key, and return its parameters."""
    params = parse_order_string(order_string)
    verify_request(params, public_key)
    if params.get("method") != APP_PAY_METHOD:
        raise AlipayMalformed(f"order string method must be {APP_PAY_METHOD}, got {params.get('method')!r}")
    return params


# --- synchronous responses (Alipay → merchant) ------------------------------------------------------------------------


def response_key(method: str) -> str:
    """``alipay.trade.query`` → ``alipay_trade_query_response``."""
    if not _METHOD_RE.fullmatch(method):
        raise ValueError(f"not an Alipay method name: {method!r}")
    return method.replace(".", "_") + "_response"


def build_signed_response(
    method: str, response: Mapping[str, Any], private_key: rsa.RSAPrivateKey, *, key: str | None = None
) -> str:
    """A response body ``{"<method>_response":{…},"sign":"…"}`` whose sign covers the value's exact text.

    ``key`` overrides the member name (e.g. ``error_response``).
    """
    raw = json.dumps(response, ensure_ascii=False, separators=(",", ":"))
    member = key or response_key(method)
    signature = rsa2_sign(raw, private_key)
    return "{" + json.dumps(member) + ":" + raw + ',"sign":' + json.dumps(signature) + "}"


def _skip_ws(text: str, index: int) -> int:
    match = _JSON_WS_RE.match(text, index)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _char(text: str, index: int) -> str:
    return text[index] if index < len(text) else ""


def _raw_members(text: str) -> dict[str, str]:
    """The top-level members of a JSON object, each value as the exact substring of ``text`` that encodes it.

    Scanning with the JSON decoder (rather than counting braces) keeps braces and quotes inside strings harmless.
    """
    members: dict[str, str] = {}
    index = _skip_ws(text, 0)
    if _char(text, index) != "{":
        raise AlipayMalformed("response body is not a JSON object")
    index = _skip_ws(text, index + 1)
    if _char(text, index) == "}":
        index += 1
    else:
        while True:
            if _char(text, index) != '"':
                raise AlipayMalformed(f"expected a member name at offset {index}")
            try:
                name, index = _DECODER.raw_decode(text, index)
                index = _skip_ws(text, index)
                if _char(text, index) != ":":
                    raise AlipayMalformed(f"expected ':' at offset {index}")
                start = _skip_ws(text, index + 1)
                _, index = _DECODER.raw_decode(text, start)
            except json.JSONDecodeError as exc:
                raise AlipayMalformed(f"response body is not valid JSON: {exc.msg} at offset {exc.pos}") from None
            if name in members:
                # Two members with one name would let the verified text differ from the one a parser keeps.
                raise AlipayMalformed(f"response body repeats member {name!r}")
            members[name] = text[start:index]
            index = _skip_ws(text, index)
            separator = _char(text, index)
            if separator not in (",", "}"):
                raise AlipayMalformed(f"expected ',' or '}}' at offset {index}")
            index = _skip_ws(text, index + 1)
            if separator == "}":
                break
    if _skip_ws(text, index) != len(text):
        raise AlipayMalformed("response body has trailing data")
    return members


def _body_text(body: str | bytes) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise AlipayMalformed("response body is not UTF-8") from None


def _response_member(members: Mapping[str, str], method: str) -> str:
    wanted = response_key(method)
    if wanted in members:
        return wanted
    # Gateway-level failures (bad app_id, bad signature) answer under error_response instead.
    if ERROR_RESPONSE_KEY in members:
        return ERROR_RESPONSE_KEY
    raise AlipayMalformed(f"response body has no {wanted} member")


def extract_response_text(body: str | bytes, method: str) -> str:
    """The raw text of the ``<method>_response`` (or ``error_response``) value, byte for byte as in the body."""
    members = _raw_members(_body_text(body))
    return members[_response_member(members, method)]


def verify_response(body: str | bytes, method: str, public_key: rsa.RSAPublicKey) -> dict[str, Any]:
    """Verify a synchronous response's top-level ``sign`` over the raw response text; return the response object.

    An unsigned body raises AlipayBadSignature; check ``code == "10000"`` on the returned object yourself.
    """
    members = _raw_members(_body_text(body))
    raw = members[_response_member(members, method)]
    if "sign" not in members:
        raise AlipayBadSignature("response is not signed")
    signature = json.loads(members["sign"])
    if not isinstance(signature, str) or not signature:
        raise AlipayBadSignature("response sign is not a non-empty string")
    rsa2_verify(raw, signature, public_key)
    response = json.loads(raw)
    if not isinstance(response, dict):
        raise AlipayMalformed("response value is not a JSON object")
    return response


# --- async notifications (Alipay → merchant, form POST) ---------------------------------------------------------------


def sign_notification(params: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """A copy of notification ``params`` with ``sign_type=RSA2`` and ``sign`` over everything but those two."""
    signed = {key: value for key, value in params.items() if key not in ("sign", "sign_type")}
    signed["sign_type"] = SIGN_TYPE
    signed["sign"] = rsa2_sign(sign_content(signed, exclude_sign_type=True), private_key)
    return signed


def notification_check_content(params: Mapping[str, str], *, keep_empty: bool) -> str:
    """What a notification's ``sign`` covers: every received parameter but ``sign`` and ``sign_type``, sorted, as
    ``k=v`` joined by ``&``. ``keep_empty`` is the official SDK's ``getSignCheckContentV1`` as it long was (empty values
    kept as ``k=``); without it, as the current SDK has it (empty and blank values skipped) — docs/providers.md §8."""
    pairs = []
    for key in sorted(params):
        value = params[key]
        if not isinstance(value, str):
            raise TypeError(f"parameter {key!r} must be a string, got {type(value).__name__}")
        if key in ("sign", "sign_type"):
            continue
        if not keep_empty and not value.strip():
            continue
        pairs.append(f"{key}={value}")
    return "&".join(pairs)


def verify_notification(params: Mapping[str, str], public_key: rsa.RSAPublicKey) -> None:
    """Verify decoded notification form fields with Alipay's public key; ``sign_type`` may be present or absent.

    The content is every received parameter but ``sign`` and ``sign_type``, empty values included; a notification
    that carries empty values and does not verify so is tried as the current official SDK builds it (empty values
    skipped), since the two official versions differ. Both cover every non-empty value, so nothing unsigned can
    carry meaning. Business checks (``app_id``, ``seller_id``, ``out_trade_no``, ``total_amount``) are the caller's.
    """
    signature = _check_envelope_fields(params)
    try:
        rsa2_verify(notification_check_content(params, keep_empty=True), signature, public_key)
    except AlipayBadSignature:
        if all(value.strip() for key, value in params.items() if key not in ("sign", "sign_type")):
            raise
        rsa2_verify(notification_check_content(params, keep_empty=False), signature, public_key)
