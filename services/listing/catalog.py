"""Catalog search, pure: search terms for Chinese and English text, keyset cursors and the query filters.

FerretDB 1.24 has no text index, so each item carries `terms`: lower-cased Latin words and their prefixes, and CJK
characters with their bigrams. A query matches when the item holds all of the query's terms (`$all`).
Pages are keyset pages: the cursor holds the last row's sort key and id, so rows added or removed between requests
never shift the rows after it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from services.listing.domain import Condition
from shared.errors import ValidationFailed

Sort = Literal["newest", "price_asc", "price_desc"]
_RUNS = re.compile(r"[a-z0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_MAX_PREFIX = 15


def _is_cjk(run: str) -> bool:
    return not run[0].isascii()


def terms(*texts: str) -> list[str]:
    """Every term an item can be found by."""
    out: set[str] = set()
    for text in texts:
        for run in _RUNS.findall(text.lower()):
            if _is_cjk(run):
                out.update(run)
                out.update(run[i : i + 2] for i in range(len(run) - 1))
            else:
                out.add(run)
                out.update(run[:n] for n in range(2, min(len(run), _MAX_PREFIX) + 1))
    return sorted(out)


def query_terms(q: str) -> list[str]:
    """The terms an item must all hold to match `q`: whole (or prefix) Latin words, CJK bigrams (a lone character
    as itself)."""
    out: list[str] = []
    for run in _RUNS.findall(q.lower()):
        if _is_cjk(run):
            grams = [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
        else:
            grams = [run if len(run) <= _MAX_PREFIX else run[:_MAX_PREFIX]] if len(run) > 1 else []
        out.extend(g for g in grams if g not in out)
    return out


class Keyset(BaseModel):
    """A sort order over one field, ties broken by `_id` in the same direction."""

    field: str
    descending: bool


SORTS: dict[str, Keyset] = {
    "newest": Keyset(field="published_at", descending=True),
    "price_asc": Keyset(field="price_fen", descending=False),
    "price_desc": Keyset(field="price_fen", descending=True),
}


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


class CatalogQuery(BaseModel):
    q: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=40)
    condition: Condition | None = None
    city: str | None = Field(default=None, max_length=40)
    seller_id: str | None = Field(default=None, max_length=64)
    min_price_fen: int | None = Field(default=None, ge=0)
    max_price_fen: int | None = Field(default=None, ge=0)
    sort: Sort = "newest"
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _price_range(self) -> CatalogQuery:
        if (
            self.min_price_fen is not None
            and self.max_price_fen is not None
            and self.min_price_fen > self.max_price_fen
        ):
            raise ValueError("min_price_fen must not exceed max_price_fen")
        return self


def catalog_filter(query: CatalogQuery) -> dict[str, Any]:
    """The Mongo filter of a catalog page: on-sale items matching every given criterion, after the cursor."""
    clauses: list[dict[str, Any]] = [{"status": "on_sale"}]
    for name in ("category", "condition", "city", "seller_id"):
        value = getattr(query, name)
        if value:
            clauses.append({name: value})
    price: dict[str, int] = {}
    if query.min_price_fen is not None:
        price["$gte"] = query.min_price_fen
    if query.max_price_fen is not None:
        price["$lte"] = query.max_price_fen
    if price:
        clauses.append({"price_fen": price})
    if query.q:
        wanted = query_terms(query.q)
        if wanted:
            clauses.append({"terms": {"$all": wanted}})
    if query.cursor:
        key, row_id = decode_cursor(query.cursor, query.sort)
        clauses.append(after(SORTS[query.sort], key, row_id))
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
