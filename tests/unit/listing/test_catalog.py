"""Catalog search terms (Chinese and English), keyset cursors and filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.listing.catalog import SORTS, CatalogQuery, catalog_filter, query_terms, terms
from shared.errors import ValidationFailed
from shared.pagination import decode_cursor, encode_cursor, next_cursor


def matches(q: str, *texts: str) -> bool:
    return set(query_terms(q)) <= set(terms(*texts))


def test_chinese_queries_match_substrings_of_titles_and_descriptions() -> None:
    assert matches("苹果手机", "九成新苹果手机 13 Pro")
    assert matches("手机", "九成新苹果手机")
    assert matches("机", "九成新苹果手机")
    assert matches("自提", "iPhone", "仅限北京自提")
    assert not matches("华为手机", "九成新苹果手机")


def test_english_queries_are_case_insensitive_and_match_word_prefixes() -> None:
    assert matches("IPHONE", "iPhone 13 Pro")
    assert matches("iph pro", "iPhone 13 Pro")
    assert not matches("android", "iPhone 13 Pro")
    assert matches("kindle 电子书", "Kindle Paperwhite 电子书阅读器")


def test_a_query_of_only_punctuation_or_one_latin_letter_has_no_terms() -> None:
    assert query_terms("!!! ?") == []
    assert query_terms("a") == []


def test_cursors_round_trip_dates_and_prices() -> None:
    at = datetime(2026, 11, 25, 10, 0, 0, 123000, tzinfo=UTC)
    assert decode_cursor(encode_cursor("newest", at, "itm_9"), "newest") == (at, "itm_9")
    assert decode_cursor(encode_cursor("price_asc", 1200, "itm_9"), "price_asc") == (1200, "itm_9")


@pytest.mark.parametrize("cursor", ["garbage", "", "e30", encode_cursor("price_asc", 1, "itm_1")])
def test_a_bad_or_foreign_cursor_is_a_validation_error(cursor: str) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(cursor, "newest")


def test_next_cursor_only_when_a_row_beyond_the_page_exists() -> None:
    rows = [{"_id": f"itm_{i}", "price_fen": i} for i in range(3)]
    assert next_cursor("price_asc", SORTS["price_asc"], rows, 3) is None
    cursor = next_cursor("price_asc", SORTS["price_asc"], rows, 2)
    assert cursor is not None and decode_cursor(cursor, "price_asc") == (1, "itm_1")


def test_filter_combines_every_criterion_with_on_sale() -> None:
    query = CatalogQuery(q="苹果", category="手机", city="杭州", min_price_fen=100, max_price_fen=900, sort="price_asc")
    clauses = catalog_filter(query)["$and"]
    assert {"status": "on_sale"} in clauses and {"category": "手机"} in clauses and {"city": "杭州"} in clauses
    assert {"price_fen": {"$gte": 100, "$lte": 900}} in clauses and {"terms": {"$all": ["苹果"]}} in clauses


def test_filter_after_a_cursor_continues_past_ties_by_id() -> None:
    cursor = encode_cursor("price_desc", 500, "itm_5")
    clauses = catalog_filter(CatalogQuery(sort="price_desc", cursor=cursor))["$and"]
    assert {"$or": [{"price_fen": {"$lt": 500}}, {"price_fen": 500, "_id": {"$lt": "itm_5"}}]} in clauses


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
