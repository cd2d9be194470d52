"""Share codes (issue 18): short, unguessable, case-insensitive and readable aloud.

Nine characters from 31 symbols — the digits 2–9 and the letters but I, L and O, so no 0/O or 1/I/L can be misread
or misheard — drawn from the operating system's CSPRNG (`secrets`): 9 × log2(31) ≈ 44.6 bits, so guessing one of a
million live codes takes ~2^24.6 tries per hit, which the resolve rate limit makes impractical. A code is stored
upper-case as the share's `_id`: whichever insert comes first owns a code, and a collision (about one in 2^44.6 / n
for the n-th code) is drawn again."""

from __future__ import annotations

import math
import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 9
BITS = LENGTH * math.log2(len(ALPHABET))
CODE = re.compile(rf"^[{ALPHABET}]{{{LENGTH}}}$")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize(text: str) -> str | None:
    """The code a user typed or read aloud, in any letter case and with spaces or dashes, or None if it cannot be
    one (then it is not looked up at all)."""
    code = re.sub(r"[\s-]", "", text).upper()
    return code if CODE.fullmatch(code) else None
