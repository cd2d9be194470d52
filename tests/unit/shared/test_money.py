"""Integer fen ↔ yuan strings: exact, strict, never through float."""

from __future__ import annotations

import pytest

from shared.money import fen_to_yuan, format_cny, yuan_to_fen


@pytest.mark.parametrize(("fen", "yuan"), [(0, "0.00"), (1, "0.01"), (10, "0.10"), (12345, "123.45"), (6000, "60.00")])
def test_fen_formats_as_yuan_with_two_decimals(fen: int, yuan: str) -> None:
    assert fen_to_yuan(fen) == yuan
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize(("text", "fen"), [("1", 100), ("1.5", 150), ("0.05", 5), ("999999.99", 99999999)])
def test_yuan_with_fewer_decimals_parses(text: str, fen: int) -> None:
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("bad", ["", "1.001", "-1", "01.00", "1.", ".5", "1e2", " 1", "1.00\n", "１", "1,00", "NaN"])
def test_malformed_yuan_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(bad)


def test_non_integers_and_negatives_are_not_money() -> None:
    with pytest.raises(TypeError):
        fen_to_yuan(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fen_to_yuan(True)
    with pytest.raises(TypeError):
        yuan_to_fen(1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        fen_to_yuan(-1)


def test_format_cny_is_for_people() -> None:
    assert format_cny(6000) == "¥60.00"
