"""What every WeChat handler works with: settings, keys, store, notifier, faults, clock, ids and the settler's bell."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from services.sandbox.faults import FaultRegistry
from services.sandbox.notifier import Notifier
from services.sandbox.settings import SandboxSettings
from services.sandbox.wechat import domain as d
from services.sandbox.wechat.store import WechatStore
from shared.clock import Clock
from shared.protocols import wechatpay as wp


@dataclass
class Keys:
    """The merchant certificate the sandbox verifies requests and paySign with; the platform key it signs with."""

    merchant_cert: x509.Certificate
    platform_key: rsa.RSAPrivateKey
    platform_cert: x509.Certificate
    use_public_key_id: bool

    @property
    def merchant_serial(self) -> str:
        return wp.certificate_serial_no(self.merchant_cert)

    @property
    def merchant_public_key(self) -> rsa.RSAPublicKey:
        key = self.merchant_cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        return key

    @property
    def platform_serial(self) -> str:
        """What Wechatpay-Serial names: the platform certificate's serial, or in public-key mode its PUB_KEY_ID_."""
        if self.use_public_key_id:
            return wp.public_key_id(self.platform_key.public_key())
        return wp.certificate_serial_no(self.platform_cert)

    def platform_serials(self) -> set[str]:
        """Serials a merchant may name when it encrypts a field for the platform (either mode is accepted)."""
        return {wp.public_key_id(self.platform_key.public_key()), wp.certificate_serial_no(self.platform_cert)}


def load_keys(settings: SandboxSettings) -> Keys:
    platform_cert = wp.load_certificate(settings.wechat_platform_cert_file.read_bytes())
    platform_key = wp.load_private_key(settings.wechat_platform_private_key_file.read_bytes())
    cert_key = platform_cert.public_key()
    if (
        not isinstance(cert_key, rsa.RSAPublicKey)
        or cert_key.public_numbers() != platform_key.public_key().public_numbers()
    ):
        raise wp.InvalidKeyError("the WeChat platform certificate does not match the platform private key")
    return Keys(
        merchant_cert=wp.load_certificate(settings.wechat_merchant_cert_file.read_bytes()),
        platform_key=platform_key,
        platform_cert=platform_cert,
        use_public_key_id=settings.wechat_pay_key_mode == "public_key",
    )


@dataclass
class Wechat:
    settings: SandboxSettings
    keys: Keys
    store: WechatStore
    notifier: Notifier
    faults: FaultRegistry
    clock: Clock
    ids: d.Ids
    # Rung when a settlement is scheduled, so a short one is not left waiting for the next poll.
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def appid(self) -> str:
        return self.settings.wechat_appid

    @property
    def mchid(self) -> str:
        return self.settings.wechat_mchid

    @property
    def apiv3_key(self) -> str:
        return self.settings.wechat_apiv3_key.get_secret_value()

    def scaled(self, seconds: float) -> timedelta:
        """A delay WeChat takes by itself (refunds, transfers, the shortest pay window), at the sandbox's pace."""
        return timedelta(seconds=seconds * self.settings.time_scale)

    def now(self) -> datetime:
        return self.clock.now()

    def wrong_signature(self, message: bytes) -> str:
        """A well-formed signature that does not verify: what ``corrupt_signature`` faults put in place."""
        return wp.sign_message(message + b"\x00corrupted", self.keys.platform_key)


WECHAT = web.AppKey("wechat", Wechat)
