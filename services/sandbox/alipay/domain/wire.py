"""Alipay's wire values: yuan amounts as integer fen, and timestamps in Beijing time."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator

from shared.money import fen_to_yuan, yuan_to_fen
from shared.protocols.alipay import SHANGHAI, AlipayMalformed, format_timestamp, parse_timestamp

MAX_AMOUNT_FEN = 100_000_000 * 100  # Alipay's ceiling for one trade: 100,000,000 yuan


def parse_yuan(value: object) -> int:
    """A wire amount (``"12.34"``, or a JSON number parsed as Decimal/int) as integer fen; never through float."""
    if isinstance(value, bool):
        raise ValueError("an amount is not a boolean")
    if isinstance(value, str):
        return yuan_to_fen(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("an amount must not be negative")
        return value * 100
    if isinstance(value, Decimal):
        fen = value * 100
        if not fen.is_finite() or fen < 0 or fen != fen.to_integral_value():
            raise ValueError(f"not a yuan amount with at most two decimals: {value}")
        return int(fen)
    raise ValueError('an amount is a yuan string such as "12.34"')


Yuan = Annotated[int, BeforeValidator(parse_yuan)]


def yuan(fen: int) -> str:
    return fen_to_yuan(fen)


def beijing_day(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def beijing_month(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m")


def wire_time(at: datetime) -> str:
    return format_timestamp(at)


def wire_time_ms(at: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss.SSS``: the form Alipay uses for ``gmt_refund`` in notifications."""
    local = at.astimezone(SHANGHAI)
    return local.strftime("%Y-%m-%d %H:%M:%S") + f".{local.microsecond // 1000:03d}"


def parse_wire_time(text: str) -> datetime:
    try:
        return parse_timestamp(text)
    except AlipayMalformed as exc:
        raise ValueError(str(exc)) from None
