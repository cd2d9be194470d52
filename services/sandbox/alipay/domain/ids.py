"""Provider-side numbers in Alipay's shapes (user ids, trade and agreement numbers, tokens)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.protocols.alipay import SHANGHAI


@dataclass(frozen=True)
class Ids:
    """Provider-side numbers in Alipay's shapes; the random source is injectable for deterministic tests."""

    randbelow: Callable[[int], int] = secrets.randbelow

    def digits(self, n: int) -> str:
        return f"{self.randbelow(10**n):0{n}d}"

    def hex(self, n: int) -> str:
        return "".join("0123456789abcdef"[self.randbelow(16)] for _ in range(n))

    def user_id(self) -> str:
        return "2088" + self.digits(12)

    def trade_no(self, now: datetime) -> str:
        return now.astimezone(SHANGHAI).strftime("%Y%m%d") + "2200" + self.digits(16)

    def agreement_no(self, now: datetime) -> str:
        return now.astimezone(SHANGHAI).strftime("%Y") + self.digits(16)

    def transfer_order_id(self, now: datetime) -> str:
        return now.astimezone(SHANGHAI).strftime("%Y%m%d") + "1100700" + self.digits(17)

    def settle_no(self, now: datetime) -> str:
        return now.astimezone(SHANGHAI).strftime("%Y%m%d") + "002530" + self.digits(18)

    def detail_id(self, now: datetime) -> str:
        return now.astimezone(SHANGHAI).strftime("%Y%m%d") + self.digits(20)

    def notify_id(self) -> str:
        return self.hex(34)

    def auth_code(self) -> str:
        return self.hex(32)

    def token(self, prefix: str) -> str:
        return prefix + self.hex(32) + "X01"


USER_ID_RE = re.compile(r"2088[0-9]{12}")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
OPEN_ID_LENGTH = 46


def open_id(app_id: str, user_id: str) -> str:
    """The user's open id for this app, in Alipay's shape (``074a1CcTG1Lelx…``, 46 characters): open ids are per app,
    so the same user has a different one in every app; stable, so the sandbox can derive it again."""
    number = int.from_bytes(hashlib.sha256(f"{app_id}:{user_id}".encode()).digest(), "big")
    chars: list[str] = []
    while len(chars) < OPEN_ID_LENGTH - 2:
        number, rest = divmod(number, 62)
        chars.append(_BASE62[rest])
        if number == 0:
            number = int.from_bytes(hashlib.sha256(("".join(chars) + user_id).encode()).digest(), "big")
    return "07" + "".join(chars)


def masked_logon_id(user_id: str) -> str:
    """A masked logon id (a phone number, as Alipay shows it) derived from the user id."""
    return f"138****{user_id[-4:]}"
