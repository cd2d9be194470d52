"""Provider-minted numbers in WeChat's shapes (openids, prepay ids, transaction, refund and bill numbers)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.sandbox.wechat.domain.wire import BEIJING

_URLSAFE = string.ascii_letters + string.digits + "-_"


def _digits(n: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(n))


def _chars(n: int, alphabet: str) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _beijing(at: datetime, fmt: str) -> str:
    return at.astimezone(BEIJING).strftime(fmt)


@dataclass
class Ids:
    """Provider-minted numbers in WeChat's shapes; ``digits`` and ``chars`` are injectable for tests."""

    digits: Callable[[int], str] = _digits
    chars: Callable[[int, str], str] = _chars

    def openid(self) -> str:
        return "o" + self.chars(27, _URLSAFE)

    def login_code(self) -> str:
        return self.chars(32, string.ascii_letters + string.digits)

    def session_key(self) -> str:
        return self.chars(22, string.ascii_letters + string.digits + "+/") + "=="

    def prepay_id(self, now: datetime) -> str:
        return "wx" + _beijing(now, "%Y%m%d%H%M%S") + self.chars(20, "0123456789abcdef")

    def transaction_id(self, now: datetime) -> str:
        return "4200" + _beijing(now, "%Y%m%d") + self.digits(16)

    def refund_id(self, now: datetime) -> str:
        return "50" + "3" + _beijing(now, "%Y%m%d") + self.digits(18)

    def transfer_bill_no(self, now: datetime) -> str:
        return "1330" + _beijing(now, "%Y%m%d") + self.digits(28)

    def profitsharing_order_id(self, now: datetime) -> str:
        return "3008" + _beijing(now, "%Y%m%d") + self.digits(18)

    def return_id(self, now: datetime) -> str:
        return "3008" + _beijing(now, "%Y%m%d") + "9" + self.digits(17)

    def withdraw_id(self, now: datetime) -> str:
        return "1010" + _beijing(now, "%Y%m%d") + self.digits(20)

    def package_info(self) -> str:
        return self.chars(86, string.ascii_letters + string.digits + "+/") + "=="

    def event_id(self) -> str:
        return "EV-" + self.digits(19)

    def request_id(self) -> str:
        return self.chars(32, "0123456789ABCDEF")
