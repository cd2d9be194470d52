"""The catalog query a client sends: its filters, sort and cursor, validated. The search index that answers it is
services/listing/search.py."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from services.listing.domain import MAX_PRICE_FEN, Condition

Sort = Literal["newest", "price_asc", "price_desc", "relevance"]


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
