"""Flat provider-side records (dataclasses of plain values) to and from the payloads of the sandbox's events."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

R = TypeVar("R")


def to_payload(record: Any) -> dict[str, Any]:
    """Every field of a flat dataclass record, by name."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def from_payload(cls: type[R], payload: dict[str, Any]) -> R:
    """The record of `cls` held in an event payload (which may carry further keys, such as the event's time)."""
    return cls(**{f.name: payload.get(f.name) for f in fields(cls)})  # type: ignore[arg-type]
