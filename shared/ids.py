"""Prefixed, time-ordered identifiers (`ord_01J...`): sortable by creation, unguessable in their random part."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
PREFIXES = frozenset(
    {
        "usr",
        "shp",
        "itm",
        "ord",
        "pay",
        "agr",
        "rfd",
        "acc",
        "trf",
        "wdr",
        "evt",
        "cmd",
        "inv",
        "bnk",
        "esc",
        "stl",
        "shv",
    }
)
_ID_RE = re.compile(r"^([a-z]{3})_([0-9A-HJKMNP-TV-Z]{26})$")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(
    prefix: str,
    *,
    now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> str:
    """A ULID-shaped id: 48 bits of milliseconds then 80 random bits, so ids sort by creation time."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    ms = now_ms()
    if not 0 <= ms < 2**48:
        raise ValueError("timestamp out of range")
    rnd = int.from_bytes(random_bytes(10), "big")
    return f"{prefix}_{_encode(ms, 10)}{_encode(rnd, 16)}"


def is_id(value: str, prefix: str | None = None) -> bool:
    match = _ID_RE.match(value)
    return bool(match) and (prefix is None or match.group(1) == prefix)  # type: ignore[union-attr]


def derived_id(prefix: str, *parts: str) -> str:
    """An id of the same shape as `new_id`'s (it passes `is_id`) that is a pure function of `parts`: "one X per Y"
    is then decided on one stream, and a number minted from it is the same whoever mints it. Not time-ordered."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    digest = hashlib.sha256("\x1f".join((prefix, *parts)).encode()).digest()
    return f"{prefix}_{_encode(int.from_bytes(digest[:17], 'big') >> 6, 26)}"
