"""What every WeChat handler works with: settings, keys, store, notifier, faults, clock, ids and the settler's bell."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from services.sandbox.faults import ActiveFault, FaultRegistry
from services.sandbox.notifier import Notifier
from services.sandbox.settings import SandboxSettings
from services.sandbox.wechat import domain as d
from services.sandbox.wechat.store import WechatStore
from shared.clock import Clock
from shared.protocols import wechatpay as wp

CERTIFICATE_MODE = "certificate"
PUBLIC_KEY_MODE = "public_key"
SWITCHING_MODE = "switching"


@dataclass(frozen=True)
class PlatformKey:
    """One key WeChat holds for a merchant: what it signs with, and the id ``Wechatpay-Serial`` names it by."""

    serial: str
    private_key: rsa.RSAPrivateKey
    certificate: bool

    def matches(self, serial: str) -> bool:
        if not self.certificate:
            return serial == self.serial  # an assigned id, compared exactly (docs/providers.md 6)
        # A certificate serial is a hex number: SDKs vary its case and leading zeros.
        return serial.upper().lstrip("0") == self.serial.upper().lstrip("0")


@dataclass
class Keys:
    """The merchant certificate the sandbox verifies requests and paySign with; the keys WeChat holds for the
    merchant in its key mode: the platform certificate's, the WeChat Pay public key (an id WeChat assigned), or both
    while the merchant switches over (then answers and notifications alternate between them)."""

    merchant_cert: x509.Certificate
    platform_key: rsa.RSAPrivateKey
    platform_cert: x509.Certificate
    public_key_private: rsa.RSAPrivateKey
    public_key_id: str
    mode: str = CERTIFICATE_MODE
    # One turn counter per kind of message, so answers and notifications each alternate whatever their interleaving.
    _turns: dict[str, Iterator[int]] = field(default_factory=dict, repr=False)

    @property
    def merchant_serial(self) -> str:
        return wp.certificate_serial_no(self.merchant_cert)

    @property
    def merchant_public_key(self) -> rsa.RSAPublicKey:
        key = self.merchant_cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        return key

    @property
    def certificate_serial(self) -> str:
        return wp.certificate_serial_no(self.platform_cert)

    @property
    def has_certificate(self) -> bool:
        """A merchant in public-key mode has no platform certificate (a new merchant is never issued one)."""
        return self.mode != PUBLIC_KEY_MODE

    def held(self) -> list[PlatformKey]:
        """The keys of this mode, in the order a switching merchant's answers alternate between them."""
        certificate = PlatformKey(self.certificate_serial, self.platform_key, certificate=True)
        public_key = PlatformKey(self.public_key_id, self.public_key_private, certificate=False)
        if self.mode == CERTIFICATE_MODE:
            return [certificate]
        if self.mode == PUBLIC_KEY_MODE:
            return [public_key]
        return [certificate, public_key]

    def signing_key(self, kind: str = "answer") -> PlatformKey:
        """The key the next answer (or notification, by ``kind``) is signed with; switching: one, then the other."""
        held = self.held()
        return held[next(self._turns.setdefault(kind, itertools.count())) % len(held)]

    def serials(self) -> list[str]:
        return [key.serial for key in self.held()]

    def decryption_key(self, serial: str) -> rsa.RSAPrivateKey | None:
        """The private key of the key a request's ``Wechatpay-Serial`` says its sensitive fields were encrypted
        for; None when this merchant holds no such key."""
        return next((key.private_key for key in self.held() if serial and key.matches(serial)), None)


def load_keys(settings: SandboxSettings) -> Keys:
    platform_cert = wp.load_certificate(settings.wechat_platform_cert_file.read_bytes())
    platform_key = wp.load_private_key(settings.wechat_platform_private_key_file.read_bytes())
    cert_key = platform_cert.public_key()
    if (
        not isinstance(cert_key, rsa.RSAPublicKey)
        or cert_key.public_numbers() != platform_key.public_key().public_numbers()
    ):
        raise wp.InvalidKeyError("the WeChat platform certificate does not match the platform private key")
    public_key_private = wp.load_private_key(settings.wechat_pay_public_key_private_file.read_bytes())
    if public_key_private.public_key().public_numbers() == cert_key.public_numbers():
        raise wp.InvalidKeyError("the WeChat Pay public key must be a key pair of its own, not the certificate's")
    return Keys(
        merchant_cert=wp.load_certificate(settings.wechat_merchant_cert_file.read_bytes()),
        platform_key=platform_key,
        platform_cert=platform_cert,
        public_key_private=public_key_private,
        public_key_id=settings.wechat_pay_public_key_id,
        mode=settings.wechat_pay_key_mode,
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

    def finishes_at(self, settle_s: float, fault: ActiveFault | None, now: datetime) -> datetime | None:
        """When WeChat finishes what it accepted by itself: `settle_s` (scaled) from now. A `delay` fault sets the
        moment itself, and one of 0 s holds it until a test's settle action (None: nothing scheduled)."""
        if fault is not None and fault.action == "delay":
            return None if fault.delay_s == 0 else now + timedelta(seconds=fault.delay_s)
        return now + self.scaled(settle_s)

    def now(self) -> datetime:
        return self.clock.now()

    def wrong_signature(self, message: bytes) -> str:
        """A well-formed signature that does not verify: what ``corrupt_signature`` faults put in place."""
        return wp.sign_message(message + b"\x00corrupted", self.keys.platform_key)


WECHAT = web.AppKey("wechat", Wechat)
