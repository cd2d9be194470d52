"""Field types and renderings shared by domain models and the HTTP APIs (pydantic and the standard library only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

UserId: Any = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
"""A user id as a body or query field: `buyer_id: str = UserId`."""


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 in a JSON answer (None stays null)."""
    return value.isoformat() if value else None
