"""Share codes: short, readable aloud, case-insensitive, at least 40 bits, and 100,000 drawn without a collision."""

from __future__ import annotations

from shared import share_codes as sc


def test_a_code_is_nine_readable_characters_of_at_least_40_bits() -> None:
    assert len(sc.ALPHABET) == len(set(sc.ALPHABET)) == 31
    assert not set("01ILO") & set(sc.ALPHABET)
    assert sc.BITS >= 40
    code = sc.new_code()
    assert len(code) == sc.LENGTH and sc.normalize(code) == code


def test_a_code_reads_back_in_any_case_with_spaces_or_dashes_and_nothing_else_is_one() -> None:
    code = "K7M2QX9PA"
    assert sc.normalize("k7m2qx9pa") == code
    assert sc.normalize("K7M-2QX 9PA") == code
    for bad in ("K7M2QX9P", "K7M2QX9PAB", "K7M2QX9P0", "K7M2QX9PI", "k7m2qx9pl", "", "分享码分享码分享码"):
        assert sc.normalize(bad) is None, bad


def test_a_hundred_thousand_codes_are_drawn_without_a_collision() -> None:
    codes = [sc.new_code() for _ in range(100_000)]
    assert len(set(codes)) == len(codes)
    # Every symbol is used, about evenly (a CSPRNG, not a pattern): each within 5 % of its share.
    counts = {c: 0 for c in sc.ALPHABET}
    for code in codes:
        for ch in code:
            counts[ch] += 1
    expected = 100_000 * sc.LENGTH / len(sc.ALPHABET)
    assert all(abs(n - expected) / expected < 0.05 for n in counts.values()), counts
