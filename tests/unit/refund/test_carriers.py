"""The carriers a buyer self-ships a return with: each carrier's documented tracking numbers pass, malformed ones
are refused with the field and the reason, names and codes resolve to the carrier, and no text whatever makes the
check raise anything but ValidationFailed."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.refund.carriers import (
    CARRIERS,
    OTHER,
    carrier_code,
    normalize_tracking,
    s10_check_digit,
    s10_valid,
    validate_return_shipment,
)
from shared.errors import ValidationFailed

# Numbers the sources show for each carrier (see the module's docstring for the sources).
DOCUMENTED = {
    "SF": ["SF1385628716739", "118650888018", "118461988807", "444010688260"],
    "JD": ["JDX024407261700", "JDVA11408814483", "JDVE02526529995", "78785333107"],
    "ZTO": ["73610555582883", "432542035598773"],
    "YTO": ["YT8962646785389", "YT2058328209504", "YT2058994692268", "710286471234", "700074134800"],
    "STO": ["773277027280336", "968754207139", "77316523125896"],
    "YUNDA": ["463431409940372", "462598779470531", "3103630045838"],
    "EMS": ["1207119765021", "RB403863099CN", "LK664578623CN", "EM263999513JP", "EB000717595HK", "EE471108151FR"],
    "CHINAPOST": ["1240921381750", "4309597495550", "RB403863099CN", "LK664578623CN"],
    "JT": ["JT5261988016578", "JT1252161236123", "JT0006968326954"],
    "DEPPON": ["DPK202252612836", "DPK364112047425", "DPK300585915441"],
    OTHER: ["A1B2-C3D4E5", "123456", "X" * 40],
}

CANONICAL = re.compile(r"[A-Z0-9-]{6,40}")


def refused(carrier: str, tracking_no: str, carrier_name: str | None = None) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        validate_return_shipment(carrier, tracking_no, carrier_name)
    assert caught.value.status == 422
    details: dict[str, str] = caught.value.details
    return details


def test_every_carrier_has_documented_numbers_and_its_example_passes() -> None:
    assert set(DOCUMENTED) == set(CARRIERS)
    for code, carrier in CARRIERS.items():
        assert carrier.code == code
        assert carrier.accepts(carrier.example), code


@pytest.mark.parametrize(("code", "number"), [(c, n) for c, numbers in DOCUMENTED.items() for n in numbers])
def test_documented_numbers_are_accepted(code: str, number: str) -> None:
    name = "某某快递" if code == OTHER else None
    got_code, display, normalized = validate_return_shipment(code, number, name)
    assert (got_code, normalized) == (code, number)
    assert display == (name if code == OTHER else CARRIERS[code].name_zh)


@pytest.mark.parametrize(
    ("code", "number"),
    [
        # wrong prefix
        ("SF", "SX1385628716739"),
        ("JT", "JX5261988016578"),
        ("YTO", "YX8962646785389"),
        ("DEPPON", "DPX202252612836"),
        ("JD", "JE024407261700"),
        # wrong length
        ("SF", "SF13856287167"),
        ("SF", "SF13856287167390"),
        ("SF", "11865088801"),
        ("JT", "JT52619880165"),
        ("JT", "JT52619880165780"),
        ("YTO", "YT896264678538"),
        ("YTO", "YT89626467853890"),
        ("YUNDA", "46343140994037"),
        ("YUNDA", "463431409940"),
        ("ZTO", "73610555582"),
        ("ZTO", "7361055558288312"),
        ("STO", "96875420713"),
        ("EMS", "120711976502"),
        ("EMS", "RB40386309CN"),
        ("DEPPON", "1234567"),
        # letters where digits belong
        ("SF", "SF13856287167A9"),
        ("ZTO", "7361055558288O"),
        ("YUNDA", "46343140994037l"),
        ("JT", "JT526198801657B"),
        ("EMS", "RB4038630X9CN"),
        ("DEPPON", "DPK2022526128A6"),
        # the right shape, a leading digit the carrier does not issue
        ("EMS", "2207119765021"),
        # another carrier's number, where the formats do not overlap
        ("JT", "SF1385628716739"),
        ("YTO", "JT5261988016578"),
        ("SF", "YT8962646785389"),
        ("JD", "DPK202252612836"),
        ("ZTO", "RB403863099CN"),
        ("DEPPON", "JDX024407261700"),
        ("YUNDA", "SF1385628716739"),
        ("STO", "EM263999513JP"),
        # hyphens and other punctuation are not part of a listed carrier's numbers
        ("SF", "SF-1385628716739"),
        ("YUNDA", "463431409940372."),
    ],
)
def test_malformed_numbers_are_refused(code: str, number: str) -> None:
    details = refused(code, number)
    assert list(details) == ["tracking_no"]
    assert CARRIERS[code].example in details["tracking_no"]


@pytest.mark.parametrize("number", ["EA123456789CN", "TX801495811US", "RB403863098CN", "LK664578624CN"])
@pytest.mark.parametrize("code", ["EMS", "CHINAPOST"])
def test_an_s10_number_with_a_wrong_check_digit_is_refused(code: str, number: str) -> None:
    # EA123456789CN is trackingmore's placeholder and TX801495811US kuaidi100's test number: both fail the check.
    assert not s10_valid(number)
    assert "check digit" in refused(code, number)["tracking_no"]


def test_the_s10_check_digit_matches_the_reference_vectors() -> None:
    # npm s10's tests; 96633102 is the "11 - r = 10 -> 0" case and 00000000 the "11 -> 5" one.
    assert s10_check_digit("00071758") == 1
    assert s10_check_digit("96633102") == 0
    assert s10_check_digit("76129403") == 8
    assert s10_check_digit("00071761") == 8
    assert s10_check_digit("00000000") == 5
    assert s10_valid("EB000717595HK")
    assert not s10_valid("EB000717594HK")
    assert not s10_valid("EB000717535HK")
    with pytest.raises(ValueError):
        s10_check_digit("1234567")


@given(st.text("0123456789", min_size=8, max_size=8), st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4))
def test_every_s10_number_is_accepted_with_its_check_digit_and_refused_with_any_other(
    serial: str, letters: str
) -> None:
    check = s10_check_digit(serial)
    good = f"{letters[:2]}{serial}{check}{letters[2:]}"
    assert validate_return_shipment("EMS", good)[2] == good
    for wrong in set(range(10)) - {check}:
        assert "check digit" in refused("EMS", f"{letters[:2]}{serial}{wrong}{letters[2:]}")["tracking_no"]


@pytest.mark.parametrize("blank", ["", " ", "   ", "\t\n", "\u3000", "\u200b"])
@pytest.mark.parametrize("code", ["SF", "EMS", OTHER])
def test_an_empty_or_blank_number_is_required(code: str, blank: str) -> None:
    assert refused(code, blank, "某某快递") == {"tracking_no": "required"}


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("sf1234567890123", "SF1234567890123"),
        ("  SF 1385 6287 16739 ", "SF1385628716739"),
        ("sf\t1385\n6287\u300016739", "SF1385628716739"),
        ("ＳＦ１３８５６２８７１６７３９", "SF1385628716739"),  # typed in full-width mode
        ("\ufeffSF1385628716739\u200b", "SF1385628716739"),  # pasted with a BOM and a zero-width space
        ("em263999513jp", "EM263999513JP"),
        ("ab-12cd", "AB-12CD"),
        ("ﬀ123456", "ﬀ123456"),  # only ASCII letters are upper-cased: the ligature is not turned into "FF"
    ],
)
def test_normalization(raw: str, normalized: str) -> None:
    assert normalize_tracking(raw) == normalized


def test_a_normalized_number_is_returned() -> None:
    assert validate_return_shipment("SF", "sf1234567890123") == ("SF", "顺丰速运", "SF1234567890123")
    assert validate_return_shipment("EMS", " em 263999513 jp") == ("EMS", "中国邮政速递物流", "EM263999513JP")
    with pytest.raises(ValidationFailed):
        validate_return_shipment(OTHER, "ﬀ123456", "某某快递")


@pytest.mark.parametrize(
    ("given_name", "code"),
    [
        ("SF", "SF"),
        ("sf", "SF"),
        (" Sf ", "SF"),
        ("顺丰", "SF"),
        ("顺丰速运", "SF"),
        ("顺丰快递", "SF"),
        ("SF Express", "SF"),
        ("sf express", "SF"),
        ("ＳＦ", "SF"),
        ("jd", "JD"),
        ("京东", "JD"),
        ("京东物流", "JD"),
        ("中通", "ZTO"),
        ("中通快递", "ZTO"),
        ("yto", "YTO"),
        ("圆通", "YTO"),
        ("圆通速递", "YTO"),
        ("申通", "STO"),
        ("韵达", "YUNDA"),
        ("韵达快递", "YUNDA"),
        ("yunda", "YUNDA"),
        ("ems", "EMS"),
        ("邮政EMS", "EMS"),
        ("邮政", "CHINAPOST"),
        ("邮政包裹", "CHINAPOST"),
        ("邮政快递包裹", "CHINAPOST"),
        ("极兔", "JT"),
        ("极兔速递", "JT"),
        ("J&T", "JT"),
        ("德邦", "DEPPON"),
        ("德邦快递", "DEPPON"),
        ("other", OTHER),
        ("Other", OTHER),
        ("其他", OTHER),
    ],
)
def test_a_carrier_is_named_by_its_code_in_any_case_or_by_its_names(given_name: str, code: str) -> None:
    assert carrier_code(given_name) == code


def test_every_code_and_chinese_name_resolves_to_its_carrier() -> None:
    for code, carrier in CARRIERS.items():
        for name in (code, code.lower(), carrier.name_zh, carrier.name_en, *carrier.aliases):
            assert carrier_code(name) == code


@pytest.mark.parametrize("name", ["", " ", "UPS", "顺风", "SFX", "快递", "sf1385628716739"])
def test_an_unknown_carrier_is_refused(name: str) -> None:
    assert refused(name, "SF1385628716739") == {"carrier": "unknown carrier"}


@pytest.mark.parametrize("name", [None, "", "   ", "\t"])
def test_other_requires_the_carriers_name(name: str | None) -> None:
    assert list(refused(OTHER, "A1B2C3D4", name)) == ["carrier_name"]


@pytest.mark.parametrize("name", ["x" * 33, "某某\x00快递", "bad\nname\x07", "\ud800快递", "\ue000快递"])
def test_other_refuses_a_name_that_is_too_long_or_not_storable_text(name: str) -> None:
    assert list(refused(OTHER, "A1B2C3D4", name)) == ["carrier_name"]


def test_other_takes_the_buyers_name_tidied() -> None:
    assert validate_return_shipment("other", "a1b2-c3d4", "  安能   快运 ") == ("OTHER", "安能 快运", "A1B2-C3D4")
    assert validate_return_shipment(OTHER, "123456", "x" * 32)[1] == "x" * 32
    # a listed carrier ignores the name
    assert validate_return_shipment("SF", "SF1385628716739", "whatever") == ("SF", "顺丰速运", "SF1385628716739")


@pytest.mark.parametrize("number", ["12345", "X" * 41, "AB_123456", "AB/123456", "快递123456", "AB.123456"])
def test_other_requires_6_to_40_letters_digits_or_hyphens(number: str) -> None:
    assert list(refused(OTHER, number, "某某快递")) == ["tracking_no"]


CARRIER_INPUT = st.one_of(
    st.sampled_from([name for c in CARRIERS.values() for name in (c.code, c.code.lower(), c.name_zh, *c.aliases)]),
    st.text(max_size=20),
)
NUMBER_INPUT = st.one_of(
    st.text(max_size=60),
    st.text("0123456789ABCDEFGJKLPSTXYZabcdefjkpstxyz- \t\u3000", max_size=45),
    st.sampled_from([n for numbers in DOCUMENTED.values() for n in numbers]),
)


@settings(max_examples=1500, deadline=None)
@given(CARRIER_INPUT, NUMBER_INPUT, st.one_of(st.none(), st.text(max_size=40)))
def test_no_text_raises_anything_but_validation_failed_and_what_passes_is_canonical(
    carrier: str, tracking_no: str, carrier_name: str | None
) -> None:
    try:
        code, display, number = validate_return_shipment(carrier, tracking_no, carrier_name)
    except ValidationFailed as e:
        assert e.status == 422 and e.code == "validation_error"
        assert isinstance(e.details, dict) and len(e.details) == 1
        assert set(e.details) <= {"carrier", "carrier_name", "tracking_no"}
        return
    assert CANONICAL.fullmatch(number), number
    assert code == carrier_code(carrier) and CARRIERS[code].accepts(number)
    assert number == normalize_tracking(tracking_no) == normalize_tracking(number)
    assert 1 <= len(display) <= 32 and display.strip() == display
