"""Keyset (cursor) pagination: the cursor holds the last row's sort key and id, so rows added or removed between
requests never shift the rows after it."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from shared.errors import ValidationFailed
from shared.http.inputs import is_storable_text


class Keyset(BaseModel):
    """A sort order over one field, ties broken by `_id` in the same direction."""

    field: str
    descending: bool


MAX_CURSOR_INT = 2**63 - 1
"""Cursor integers must fit BSON's int64 (the largest a query can carry); a client's cursor past it is a 422."""
MAX_CURSOR_TEXT = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def encode_cursor(sort: str, key: Any, row_id: str) -> str:
    if isinstance(key, datetime):
        key = {"ms": (key - _EPOCH) // _MS}
    raw = json.dumps({"s": sort, "k": key, "i": row_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -MAX_CURSOR_INT - 1 <= value <= MAX_CURSOR_INT


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_CURSOR_TEXT and is_storable_text(value)


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """The (key, id) a cursor continues after; 422 for a cursor that is malformed, out of range or from another
    sort. A cursor comes from the client, so nothing in it is trusted: every value is checked before a query."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(data, dict) or data.get("s") != sort or not _is_text(data.get("i")):
            raise ValueError("cursor belongs to another sort")
        key = data.get("k")
        if isinstance(key, dict) and set(key) == {"ms"} and _is_int(key["ms"]):
            key = _EPOCH + key["ms"] * _MS  # OverflowError past year 9999 or before year 1
        elif not (_is_int(key) or _is_text(key)):
            raise ValueError("bad key")
        return key, data["i"]
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError, binascii.Error, UnicodeDecodeError):
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
