"""Sensitive request fields: RSA-OAEP (SHA-1) ciphertext for the key the request's Wechatpay-Serial names."""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from services.sandbox.wechat import domain as d
from services.sandbox.wechat.runtime import Keys
from shared.protocols import wechatpay as wp

OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


def key_named(keys: Keys, serial: str | None, fields: str) -> rsa.RSAPrivateKey:
    """The private key of the key ``Wechatpay-Serial`` names (the platform certificate's serial or the public-key
    id, whichever this merchant's key mode holds); 400 PARAM_ERROR when the header is absent or names another key."""
    key = keys.decryption_key(serial or "")
    if key is None:
        raise d.param_error(
            f"Wechatpay-Serial 头缺失或错误 (encrypted {fields} need the header {wp.HEADER_SERIAL} naming the "
            f"platform certificate or WeChat Pay public key they were encrypted for, one of {keys.serials()}; "
            f"got {serial!r})"
        )
    return key


def decrypt(key: rsa.RSAPrivateKey, ciphertext: str, field: str) -> str:
    """The clear text of one field. The caller keeps it in memory only: never store, log or echo it."""
    try:
        return key.decrypt(base64.b64decode(ciphertext, validate=True), OAEP).decode("utf-8")
    except (binascii.Error, ValueError):
        raise d.param_error(
            f"{field} 解密失败 (encrypt it with the key named by Wechatpay-Serial, "
            "RSA/ECB/OAEPWithSHA-1AndMGF1Padding, then Base64)",
            {"location": "body", "field": field},
        ) from None
