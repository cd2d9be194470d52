"""What any client-sent JSON, path, query or cursor value must be before it reaches a query or a stored document,
whatever its model says: pydantic checks the fields a model names, this checks what the databases cannot carry —
BSON no unpaired surrogate, PostgreSQL's jsonb (under FerretDB) no NUL character anywhere in a string."""

from __future__ import annotations

from typing import Any

UNSTORABLE = "contains a NUL character or an unpaired surrogate"
MAX_DEPTH = 32
"""JSON bodies nest at most this deep: no model here goes past a few levels."""


def is_storable_text(value: str) -> bool:
    """False for text with an unpaired surrogate (JSON's `"\\ud800"`: not encodable as UTF-8, so not as BSON) or
    a NUL character (JSON's `"\\u0000"`: jsonb refuses it, so FerretDB on PostgreSQL fails the whole query)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(value: str) -> str:
    """`value` with each unpaired surrogate and NUL as U+FFFD: for keeping what a client sent (header values that
    were not UTF-8 arrive surrogate-escaped) in a log or audit document."""
    if is_storable_text(value):
        return value
    value = value.replace("\x00", "\ufffd")
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")  # the bytes as sent, decoded
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")  # surrogates that were never bytes: "?"


def first_unstorable(value: Any, path: str = "", depth: int = 0) -> tuple[str, str] | None:
    """(path, problem) of the first string, key or nesting level in a parsed JSON value that BSON cannot carry."""
    here = path or "(body)"
    if depth > MAX_DEPTH:
        return here, f"nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, str):
        return None if is_storable_text(value) else (here, UNSTORABLE)
    if isinstance(value, dict):
        for key, item in value.items():
            if not is_storable_text(key):
                return here, "a key contains a NUL character or an unpaired surrogate"
            found = first_unstorable(item, f"{path}.{key}" if path else key, depth + 1)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = first_unstorable(item, f"{path}.{index}" if path else str(index), depth + 1)
            if found:
                return found
    return None


def first_unstorable_param(request_params: dict[str, dict[str, str]]) -> tuple[str, str] | None:
    """(where, problem) of the first path or query parameter (name or value) no database can carry, as
    {"path": {...}, "query": {...}} gives them."""
    for kind, params in request_params.items():
        for name, value in params.items():
            if not is_storable_text(name) or not is_storable_text(value):
                return f"{kind}.{storable(name)}", UNSTORABLE
    return None
