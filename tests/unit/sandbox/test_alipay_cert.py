"""Certificate SNs (shared.protocols.alipay_cert) cross-checked against python-alipay-sdk's DCAliPay."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from alipay import DCAliPay
from cryptography.hazmat.primitives import serialization

from shared.protocols import alipay_cert as ac

KEYS = Path(__file__).resolve().parents[3] / "services" / "sandbox" / "keys"
ROOT = (KEYS / "TEST_ONLY_alipay_root_cert.crt").read_text()
APP = (KEYS / "TEST_ONLY_alipay_app_cert.crt").read_text()
ALIPAY = (KEYS / "TEST_ONLY_alipay_cert.crt").read_text()


def test_cert_sn_is_md5_of_the_issuer_name_and_decimal_serial_as_the_sdk_computes_it() -> None:
    (cert,) = ac.load_certs(APP)
    expected = hashlib.md5((cert.issuer.rfc4514_string() + str(cert.serial_number)).encode()).hexdigest()
    assert ac.cert_sn(APP) == expected == DCAliPay.get_cert_sn(APP)
    assert ac.cert_sn(ALIPAY) == DCAliPay.get_cert_sn(ALIPAY)
    assert len(ac.cert_sn(APP)) == 32 and ac.cert_sn(APP) != ac.cert_sn(ALIPAY)
    assert cert.issuer.rfc4514_string().startswith("CN=TEST ONLY Ant Financial Certification Authority R1,OU=")


def test_root_cert_sn_keeps_only_the_rsa_roots_as_the_sdk_does() -> None:
    certs = ac.load_certs(ROOT)
    assert len(certs) == 2  # an RSA root and an EC root (standing in for the SM2 one)
    assert ac.root_cert_sn(ROOT) == DCAliPay.get_root_cert_sn(ROOT) == ac.cert_sn(certs[0])
    assert "_" not in ac.root_cert_sn(ROOT)
    doubled = ROOT + "\n" + ROOT
    assert (
        ac.root_cert_sn(doubled)
        == DCAliPay.get_root_cert_sn(doubled)
        == f"{ac.cert_sn(certs[0])}_{ac.cert_sn(certs[0])}"
    )


def test_the_certificates_carry_the_existing_key_pairs_and_chain_to_the_root() -> None:
    app_public = serialization.load_pem_public_key((KEYS / "TEST_ONLY_alipay_app_public.pem").read_bytes())
    platform_public = serialization.load_pem_public_key((KEYS / "TEST_ONLY_alipay_platform_public.pem").read_bytes())
    assert ac.cert_public_key(APP).public_numbers() == app_public.public_numbers()  # type: ignore[union-attr]
    assert ac.cert_public_key(ALIPAY).public_numbers() == platform_public.public_numbers()  # type: ignore[union-attr]
    root = ac.load_certs(ROOT)[0]
    for leaf in (ac.load_certs(APP)[0], ac.load_certs(ALIPAY)[0]):
        leaf.verify_directly_issued_by(root)


def test_cert_content_is_the_base64_of_the_pem() -> None:
    assert base64.b64decode(ac.cert_content(ALIPAY)).decode() == ALIPAY


def test_a_bundle_without_rsa_roots_or_garbage_is_refused() -> None:
    ec_only = ROOT[ROOT.index("-----BEGIN", 10) :]
    with pytest.raises(ac.AlipayCertError):
        ac.root_cert_sn(ec_only)
    with pytest.raises(ac.AlipayCertError):
        ac.cert_sn("not a certificate")
    with pytest.raises(ac.AlipayCertError):
        ac.cert_sn(ROOT)  # two certificates where one is expected
