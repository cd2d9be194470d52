"""Make the TEST-ONLY Alipay public-key certificates (公钥证书模式) from the key pairs in this folder.

    .venv/bin/python services/sandbox/keys/make_alipay_certs.py

Writes, next to this script:
- ``TEST_ONLY_alipay_root_cert.crt``: the root bundle, as Alipay's ``alipayRootCert.crt`` is one: an RSA root
  (sha256WithRSAEncryption) and an EC root (ecdsa-with-SHA256, standing in for the SM2 root that RSA2 clients
  must skip), separated by a blank line;
- ``TEST_ONLY_alipay_app_cert.crt``: the app public-key certificate (``appCertPublicKey_<appid>.crt``) for
  ``TEST_ONLY_alipay_app_public.pem``, issued by the RSA root;
- ``TEST_ONLY_alipay_cert.crt``: the Alipay public-key certificate (``alipayCertPublicKey_RSA2.crt``) for
  ``TEST_ONLY_alipay_platform_public.pem``, issued by the RSA root;
- ``TEST_ONLY_alipay_root_private.pem`` / ``TEST_ONLY_alipay_ec_root_private.pem``: the roots' keys (made once, then
  reused, so re-running reproduces the same certificates; RSA signatures are deterministic, the EC root's is not).

Names have exactly the four attributes C, O, OU, CN, as Alipay's do: python-alipay-sdk formats the issuer as
``CN=…,OU=…,O=…,C=…`` itself, and agrees with the official SDK's RFC 2253 name only for such names.
Serial numbers and validity are fixed, so the certificate SNs (and tests pasting them) stay stable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2044, 1, 1, tzinfo=UTC)
CA_OU = "Certification Authority"
ORG = "TEST ONLY Fishbridge Sandbox"


def name(cn: str, ou: str = CA_OU, org: str = ORG) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def key(path: Path, make):  # type: ignore[no-untyped-def]
    if not path.exists():
        path.write_bytes(
            make().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def build(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: Any,
    serial: int,
    signer: Any,
    *,
    ca: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(signer, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def main() -> None:
    rsa_root_key = key(HERE / "TEST_ONLY_alipay_root_private.pem", lambda: rsa.generate_private_key(65537, 2048))
    ec_root_key = key(HERE / "TEST_ONLY_alipay_ec_root_private.pem", lambda: ec.generate_private_key(ec.SECP256R1()))
    rsa_root_name = name("TEST ONLY Ant Financial Certification Authority R1")
    ec_root_name = name("TEST ONLY Ant Financial Certification Authority E1")
    rsa_root = build(
        rsa_root_name, rsa_root_name, rsa_root_key.public_key(), 623_986_286_495_210_583, rsa_root_key, ca=True
    )
    ec_root = build(ec_root_name, ec_root_name, ec_root_key.public_key(), 1_001_123_581_321, ec_root_key, ca=True)

    def public(file: str):  # type: ignore[no-untyped-def]
        return serialization.load_pem_public_key((HERE / file).read_bytes())

    app = build(
        name("2021000000000001", ou="Alipay Open Platform", org="TEST ONLY Fishbridge"),
        rsa_root_name,
        public("TEST_ONLY_alipay_app_public.pem"),
        4_276_919_521_331_123_301,
        rsa_root_key,
        ca=False,
    )
    alipay = build(
        name("TEST ONLY Alipay RSA2 public key", ou="Alipay", org="TEST ONLY Alipay (China) Sandbox"),
        rsa_root_name,
        public("TEST_ONLY_alipay_platform_public.pem"),
        6_102_117_432_893_105_507,
        rsa_root_key,
        ca=False,
    )
    # A blank line between the certificates, as in Alipay's alipayRootCert.crt (python-alipay-sdk splits on it).
    (HERE / "TEST_ONLY_alipay_root_cert.crt").write_bytes(pem(rsa_root) + b"\n" + pem(ec_root))
    (HERE / "TEST_ONLY_alipay_app_cert.crt").write_bytes(pem(app))
    (HERE / "TEST_ONLY_alipay_cert.crt").write_bytes(pem(alipay))


if __name__ == "__main__":
    main()
