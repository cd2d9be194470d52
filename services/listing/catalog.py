"""Catalog search, pure: search terms for Chinese and English text, keyset cursors and the query filters.

FerretDB 1.24 has no text index, so each item carries `terms`: lower-cased Latin words and their prefixes, and CJK
characters with their bigrams. A query matches when the item holds all of the query's terms (`$all`).
Pages are keyset pages (shared/pagination.py).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from services.listing.domain import MAX_PRICE_FEN, Condition
from shared.pagination import Keyset, after, decode_cursor

Sort = Literal["newest", "price_asc", "price_desc", "relevance"]
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


SORTS: dict[str, Keyset] = {
    "newest": Keyset(field="published_at", descending=True),
    "price_asc": Keyset(field="price_fen", descending=False),
    "price_desc": Keyset(field="price_fen", descending=True),
}


class CatalogQuery(BaseModel):
    q: str | None = Field(default=None, max_length=100)
    category: str | None = Field(default=None, max_length=40)
    condition: Condition | None = None
    city: str | None = Field(default=None, max_length=40)
    seller_id: str | None = Field(default=None, max_length=64)
    min_price_fen: int | None = Field(default=None, ge=0, le=MAX_PRICE_FEN)
    max_price_fen: int | None = Field(default=None, ge=0, le=MAX_PRICE_FEN)
    sort: Sort | None = None  # relevance when `q` is given, else newest
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
