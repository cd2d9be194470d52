"""Money is integer fen (分). Conversion to and from the yuan strings providers such as Alipay use."""

from __future__ import annotations

import re

_YUAN_RE = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]{1,2})?")  # used with fullmatch: no trailing newline slips by


def fen_to_yuan(fen: int) -> str:
    """12345 → "123.45"; exactly two decimals, as Alipay's total_amount expects."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError("fen must be an int")
    if fen < 0:
        raise ValueError("fen must not be negative")
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(yuan: str) -> int:
    """ "123.45" → 12345. Strict: a string, non-negative, at most two decimals; never goes through float."""
    if not isinstance(yuan, str):
        raise TypeError("yuan must be a string")
    if not _YUAN_RE.fullmatch(yuan):
        raise ValueError(f"not a yuan amount: {yuan!r}")
    whole, _, frac = yuan.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def format_cny(fen: int) -> str:
    """For people: 12345 → "¥123.45"."""
    return "¥" + fen_to_yuan(fen)
