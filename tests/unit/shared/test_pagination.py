"""Keyset cursors from clients: whatever a cursor holds, decoding it gives a usable (key, id) or a 422."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ValidationFailed
from shared.pagination import MAX_CURSOR_INT, decode_cursor, encode_cursor


def forge(data: Any) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "key",
    [
        {"ms": 1e300},
        {"ms": 10**30},
        {"ms": -(10**30)},
        {"ms": 10**15},  # past year 9999
        {"ms": float("inf")},
        {"ms": float("nan")},
        {"ms": True},
        {"ms": "1733000000000"},
        {"ms": 1.5},
        {"x": 1},
        2**63,
        -(2**63) - 1,
        10**23,
        True,
        1.5,
        None,
        [1],
    ],
)
def test_a_cursor_with_an_out_of_range_or_odd_key_is_a_validation_error(key: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(forge({"s": "newest", "k": key, "i": "itm_1"}), "newest")
    assert caught.value.status == 422
    assert caught.value.details == {"query.cursor": "not a cursor of this list"}


@pytest.mark.parametrize("row_id", [None, 1, "", "x" * 201, "itm_\ud800"])
def test_a_cursor_with_a_bad_row_id_is_a_validation_error(row_id: Any) -> None:
    with pytest.raises(ValidationFailed):
        decode_cursor(forge({"s": "price_asc", "k": 100, "i": row_id}), "price_asc")


def test_a_cursor_with_a_bad_string_key_is_a_validation_error() -> None:
    for key in ("\udc80", "k" * 201):
        with pytest.raises(ValidationFailed):
            decode_cursor(forge({"s": "s", "k": key, "i": "x"}), "s")


def test_keys_at_the_edges_of_the_range_still_decode() -> None:
    assert decode_cursor(forge({"s": "p", "k": MAX_CURSOR_INT, "i": "a"}), "p") == (MAX_CURSOR_INT, "a")
    assert decode_cursor(forge({"s": "p", "k": -MAX_CURSOR_INT - 1, "i": "a"}), "p") == (-MAX_CURSOR_INT - 1, "a")
    last = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert decode_cursor(encode_cursor("n", last, "a"), "n") == (last, "a")
    first = datetime(1, 1, 1, tzinfo=UTC)
    assert decode_cursor(encode_cursor("n", first, "a"), "n") == (first, "a")


def test_a_cursor_nested_too_deep_for_the_parser_is_a_validation_error() -> None:
    deep = base64.urlsafe_b64encode(b"[" * 100_000).decode()
    with pytest.raises(ValidationFailed):
        decode_cursor(deep, "newest")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.binary(max_size=120).map(lambda b: base64.urlsafe_b64encode(b).decode()),
        st.fixed_dictionaries(
            {"s": st.sampled_from(["newest", "x"]), "k": json_values | st.builds(dict, ms=json_values)},
            optional={"i": json_values},
        ).map(forge),
    )
)
def test_any_cursor_decodes_or_is_a_validation_error(cursor: str) -> None:
    try:
        key, row_id = decode_cursor(cursor, "newest")
    except ValidationFailed:
        return
    assert isinstance(row_id, str)
    assert isinstance(key, datetime | str) or (
        isinstance(key, int) and not isinstance(key, bool) and -MAX_CURSOR_INT - 1 <= key <= MAX_CURSOR_INT
    )
