"""The catalog query model and its cursors (the search itself: tests/unit/listing/test_search.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.listing.catalog import CatalogQuery
from shared.errors import ValidationFailed
from shared.pagination import decode_cursor, encode_cursor


def test_cursors_round_trip_dates_and_prices() -> None:
    at = datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)
    assert decode_cursor(encode_cursor("newest", at, "itm_9"), "newest") == (at, "itm_9")
    assert decode_cursor(encode_cursor("price_asc", 1200, "itm_9"), "price_asc") == (1200, "itm_9")


@pytest.mark.parametrize("cursor", ["garbage", "", "e30", encode_cursor("price_asc", 1, "itm_1")])
def test_a_bad_or_foreign_cursor_is_a_validation_error(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, "newest")


def test_catalog_query_is_validated() -> None:
    for bad in (
        {"limit": 0},
        {"limit": 101},
        {"sort": "oldest"},
        {"min_price_fen": 5, "max_price_fen": 4},
        {"condition": "broken"},
        {"min_price_fen": -1},
    ):
        with pytest.raises(ValidationError):
            CatalogQuery.model_validate(bad)
