"""Keyset (cursor) pagination: the cursor holds the last row's sort key and id, so rows added or removed between
requests never shift the rows after it."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from shared.errors import ValidationFailed


class Keyset(BaseModel):
    """A sort order over one field, ties broken by `_id` in the same direction."""

    field: str
    descending: bool


def encode_cursor(sort: str, key: Any, row_id: str) -> str:
    if isinstance(key, datetime):
        key = {"ms": int(key.timestamp() * 1000)}
    raw = json.dumps({"s": sort, "k": key, "i": row_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """The (key, id) a cursor continues after; 422 for a cursor that is malformed or from another sort."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != sort or not isinstance(data["i"], str):
            raise ValueError("cursor belongs to another sort")
        key = data["k"]
        if isinstance(key, dict):
            key = datetime.fromtimestamp(int(key["ms"]) / 1000, tz=UTC)
        elif not isinstance(key, int | str):
            raise ValueError("bad key")
        return key, data["i"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("invalid cursor", details={"query.cursor": "not a cursor of this list"}) from None


def after(keyset: Keyset, key: Any, row_id: str) -> dict[str, Any]:
    """The filter for rows strictly after (key, row_id) in the keyset's order."""
    op = "$lt" if keyset.descending else "$gt"
    return {"$or": [{keyset.field: {op: key}}, {keyset.field: key, "_id": {op: row_id}}]}


def sort_spec(keyset: Keyset) -> list[tuple[str, int]]:
    direction = -1 if keyset.descending else 1
    return [(keyset.field, direction), ("_id", direction)]


def next_cursor(sort: str, keyset: Keyset, rows: list[dict[str, Any]], limit: int) -> str | None:
    """A cursor after the last row, when the page is full (`rows` holds one row more than `limit` if more exist)."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(sort, last[keyset.field], last["_id"])
