"""Ids: prefixed, fixed-length, ordered by creation time."""

from __future__ import annotations

import pytest

from shared.ids import is_id, new_id


def test_ids_carry_their_prefix_and_a_26_char_body() -> None:
    value = new_id("ord")
    assert value.startswith("ord_") and len(value) == 30
    assert is_id(value, "ord") and is_id(value) and not is_id(value, "pay")


def test_ids_sort_by_creation_time() -> None:
    earlier = new_id("itm", now_ms=lambda: 1_700_000_000_000, random_bytes=lambda n: b"\xff" * n)
    later = new_id("itm", now_ms=lambda: 1_700_000_000_001, random_bytes=lambda n: b"\x00" * n)
    assert earlier < later


def test_ids_are_deterministic_given_their_sources() -> None:
    make = lambda: new_id("evt", now_ms=lambda: 0, random_bytes=lambda n: bytes(range(n)))  # noqa: E731
    assert make() == make() == "evt_0000000000000G40R40M30E209"


def test_unknown_prefixes_and_malformed_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        new_id("xyz")
    assert not is_id("ord_short")
    assert not is_id("ord_0000000000000000000000000I")  # I is not Crockford base32


def test_derived_ids_pass_is_id_and_depend_only_on_their_parts() -> None:
    from shared.ids import derived_id

    ids = {derived_id("shp", "seller", f"usr_{n}") for n in range(2_000)}
    assert len(ids) == 2_000 and all(is_id(i, "shp") for i in ids)
    assert derived_id("rfd", "order_closed", "pay_1") == derived_id("rfd", "order_closed", "pay_1")
    # The parts are kept apart: ("a", "bc") and ("ab", "c") are different keys.
    assert derived_id("cmd", "a", "bc") != derived_id("cmd", "ab", "c")
    with pytest.raises(ValueError):
        derived_id("xyz", "k")
