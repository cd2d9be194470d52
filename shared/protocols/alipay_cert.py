"""Alipay public-key-certificate mode (公钥证书模式): certificate SNs and the certificates' keys.

Requests carry ``app_cert_sn`` (the app public-key certificate's SN) and ``alipay_root_cert_sn`` (the SNs of the
RSA-family certificates in Alipay's root bundle, joined by ``_``); answers carry ``alipay_cert_sn`` (the SN of the
Alipay public-key certificate that signed them). An SN is the MD5, in lowercase hex, of the issuer's RFC 2253 name
followed by the serial number in decimal: the official SDK's ``AntCertificationUtil.getCertSN`` (docs/providers.md §8).
"""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "RSA_FAMILY_OID_PREFIX",
    "AlipayCertError",
    "cert_content",
    "cert_public_key",
    "cert_sn",
    "load_certs",
    "root_cert_sn",
]

# Signature algorithms the official SDK keeps for RSA2 (1.2.840.113549.1.1.*: sha256WithRSAEncryption and kin); an
# SM2 root (1.2.156.10197.1.501) or an EC one is skipped.
RSA_FAMILY_OID_PREFIX = "1.2.840.113549.1.1"
_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class AlipayCertError(ValueError):
    """Not a PEM certificate (or bundle) of the expected kind."""


def load_certs(pem_bundle: bytes | str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, in order (Alipay's root bundle separates them by a blank line)."""
    data = pem_bundle.encode() if isinstance(pem_bundle, str) else pem_bundle
    blocks = _PEM_RE.findall(data)
    if not blocks:
        raise AlipayCertError("no PEM certificate found")
    try:
        return [x509.load_pem_x509_certificate(block) for block in blocks]
    except ValueError as exc:
        raise AlipayCertError(f"not a valid certificate: {exc}") from None


def _one(cert: x509.Certificate | bytes | str) -> x509.Certificate:
    if isinstance(cert, x509.Certificate):
        return cert
    certs = load_certs(cert)
    if len(certs) != 1:
        raise AlipayCertError(f"expected one certificate, found {len(certs)}")
    return certs[0]


def cert_sn(cert: x509.Certificate | bytes | str) -> str:
    """MD5 hex (32 chars) of the issuer's RFC 2253 name + the decimal serial: ``app_cert_sn`` / ``alipay_cert_sn``."""
    parsed = _one(cert)
    issuer = parsed.issuer.rfc4514_string()  # RFC 4514 obsoletes RFC 2253 and formats these names the same way
    return hashlib.md5((issuer + str(parsed.serial_number)).encode("utf-8")).hexdigest()


def root_cert_sn(pem_bundle: bytes | str) -> str:
    """``alipay_root_cert_sn``: the SNs of the bundle's RSA-family certificates, in order, joined by ``_``."""
    sns = [
        cert_sn(cert)
        for cert in load_certs(pem_bundle)
        if cert.signature_algorithm_oid.dotted_string.startswith(RSA_FAMILY_OID_PREFIX)
    ]
    if not sns:
        raise AlipayCertError("the root bundle holds no RSA-family certificate")
    return "_".join(sns)


def cert_public_key(cert: x509.Certificate | bytes | str) -> rsa.RSAPublicKey:
    """The RSA public key a public-key certificate carries (what signatures are verified with)."""
    key = _one(cert).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise AlipayCertError("the certificate's key is not RSA")
    return key


def cert_content(cert: x509.Certificate | bytes | str) -> str:
    """``alipay_cert_content`` of ``alipay.open.app.alipaycert.download``: the PEM text, Base64-encoded."""
    pem = _one(cert).public_bytes(serialization.Encoding.PEM)
    return base64.b64encode(pem).decode("ascii")
