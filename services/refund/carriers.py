"""The express carriers a buyer may self-ship a return with, and the check of the tracking number they enter.

Each carrier's tracking-number formats are researched facts, not guesses. No carrier publishes a complete waybill
specification, so the patterns come from what the carriers' query pages and the integrators built on them report,
and where those sources disagree or are silent the pattern is the permissive union of what they support: a buyer
refused a real number cannot send their return, while a mistyped number that passes still fails at tracking. The
one format with a real specification, the UPU S10 identifier (EMS and China Post), is checked to its check digit.

Sources consulted (quoted in the comments as [name]):
  [kuaidi100]   kuaidi100's carrier table (company list with `freg`/`freginfo`), as copied in
                gist.github.com/haotian-liu/3851788ddcb1364790a5
  [cv]          github.com/BF-zh/Courier-Validation, src/pattern/*.ts and test/index.test.ts (npm courier-validation)
  [udf]         a Hive UDF validating Chinese logistics numbers, com.chinagoods.bigdata.functions.logistic.
                UDFLogisticNoValid (patterns per carrier, example numbers in its comments)
  [py-rules]    a Python "快递单号正则表达式" module whose docstring cites each carrier's official site
  [kdniao]      kdniao (快递鸟) API guides on csdn/juejin/aliyun (example LogisticCode values)
  [wx]          developers.weixin.qq.com community threads (YTO numbers returned by the WeChat logistics API)
  [s10]         npm `s10` (UPU S10 check digit: weights 8 6 4 2 3 5 9 7, 11 - sum mod 11, 10 -> 0, 11 -> 5),
                the bwipp UPU S10 wiki page and the Royal Mail gist acoster/7417994 (same weights)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from shared.errors import ValidationFailed

OTHER = "OTHER"
OTHER_NAME_MAX = 32
OTHER_TRACKING = re.compile(r"[A-Z0-9-]{6,40}")

# UPU S10: two letters (service indicator), an eight-digit serial, its check digit, two letters (the issuing
# operator's ISO country code). Any country is accepted: a return may travel on a number issued abroad, and the
# check digit is what actually catches a mistyped S10 number.
S10 = re.compile(r"[A-Z]{2}[0-9]{9}[A-Z]{2}")
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """The S10 check digit of an eight-digit serial number [s10]."""
    if len(serial) != 8 or not serial.isascii() or not serial.isdigit():
        raise ValueError("an S10 serial number is eight digits")
    digit = 11 - sum(int(c) * w for c, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(digit, digit)


def s10_valid(number: str) -> bool:
    """Whether `number` is an S10 identifier whose ninth digit is the check digit of the eight before it."""
    return S10.fullmatch(number) is not None and s10_check_digit(number[2:10]) == int(number[10])


@dataclass(frozen=True)
class Carrier:
    code: str
    name_zh: str
    name_en: str
    patterns: tuple[re.Pattern[str], ...]
    example: str
    aliases: tuple[str, ...] = ()  # further names a buyer may type; the code and both names are always accepted
    free_text: bool = False  # `other`: the buyer names the carrier

    def accepts(self, number: str) -> bool:
        """Whether the normalized `number` is in one of this carrier's formats (an S10 one with its check digit)."""
        for pattern in self.patterns:
            if pattern.fullmatch(number):
                return pattern is not S10 or s10_valid(number)
        return False


def _patterns(*sources: str) -> tuple[re.Pattern[str], ...]:
    # ASCII only: in Python `\d` would also match other scripts' digits, so the patterns spell out [0-9].
    return tuple(S10 if source == S10.pattern else re.compile(source, re.ASCII) for source in sources)


_CARRIERS = (
    Carrier(
        "SF",
        "顺丰速运",
        "SF Express",
        # Current waybills are SF + 13 digits (SF1385628716739 [cv]); [cv] also allows a letter in the third place,
        # and the brief's SF + 12 digits is kept. Older waybills are 12 digits (118650888018 [kdniao], 444010688260
        # in SF's own order API sample; [py-rules] quotes SF's site: "运单号只能为12位数字").
        _patterns(r"SF[A-Z0-9]?[0-9]{12}", r"[0-9]{12}"),
        "SF1385628716739",
        aliases=("顺丰", "顺丰快递", "顺丰速递"),
    ),
    Carrier(
        "JD",
        "京东物流",
        "JD Logistics",
        # JD + up to two letters + 11-13 digits: JDVA11408814483 [udf], JDVE02526529995 (a bossapi query sample),
        # JDX024407261700 [cv]. [udf] has JD[XK] + 12 digits and JDV? + 11, [cv] JD + 2 characters + 11 digits: the
        # union is taken, not each rule. Older all-digit JD waybills are 11 digits (78785333107 in zhlhuang/express;
        # an OCR SDK's JD pattern is 11 digits before the package suffix).
        _patterns(r"JD[A-Z]{0,2}[0-9]{11,13}", r"[0-9]{11}"),
        "JDX024407261700",
        aliases=("京东", "京东快递"),
    ),
    Carrier(
        "ZTO",
        "中通快递",
        "ZTO Express",
        # Digits only, but the sources give 12 ([py-rules], from ZTO's site, and most of [udf]'s prefixes), 14
        # (73610555582883 [cv], whose rule is 7[3-68] + 12 digits; [udf] also takes any 14 digits) and 15
        # (432542035598773, [udf]'s example). No prefix rule is common to them, so: 12-15 digits.
        _patterns(r"[0-9]{12,15}"),
        "73610555582883",
        aliases=("中通",),
    ),
    Carrier(
        "YTO",
        "圆通速递",
        "YTO Express",
        # YT + 13 digits (YT8962646785389 [cv], YT2058328209504 [wx]). Older numbers are all digits: 10-12 per
        # [py-rules] (from YTO's site), 12 in API samples (710286471234, 700074134800 in kuaidi100's autonumber sample).
        # [udf]'s letter-prefixed legacy forms (D, V, Y + digits) are not accepted: none is issued any more.
        _patterns(r"YT[0-9]{13}", r"[0-9]{10,12}"),
        "YT8962646785389",
        aliases=("圆通", "圆通快递"),
    ),
    Carrier(
        "STO",
        "申通快递",
        "STO Express",
        # Digits: 12-13 per [kuaidi100] (268/368/58... prefixes, 968754207139) and [py-rules]; 14-15 in [udf]
        # (77316523125896, 77 + 13 digits) and [cv] (773277027280336; its rule is 77 or 43 + 12-15 digits, up to
        # 17 in all). Prefix lists disagree (268, 368, 58, 77, 33, 43, 55...), so no prefix is required.
        _patterns(r"[0-9]{12,15}", r"(?:77|43)[0-9]{14,15}"),
        "773277027280336",
        aliases=("申通",),
    ),
    Carrier(
        "YUNDA",
        "韵达快递",
        "Yunda Express",
        # 13 digits ([py-rules], from Yunda's site; 3103630045838 [kdniao]) or 15 digits ([udf]: 462598779470531;
        # [cv]: 463431409940372, whose rule also restricts the first digit, which [udf] does not).
        _patterns(r"[0-9]{13}", r"[0-9]{15}"),
        "463431409940372",
        aliases=("韵达", "韵达速递"),
    ),
    Carrier(
        "EMS",
        "中国邮政速递物流",
        "EMS (China Post Express & Logistics)",
        # [kuaidi100]: "13位纯数字或者开头和结尾各2位字母中间9位数字" - 13 digits, or S10 (RB403863099CN and
        # LK664578623CN in tracking samples, em263999513jp in kuaidi100's API sample). For the 13 digits the
        # leading-digit rules disagree - [cv] 1/8/9, [udf] 10-12/50-52/95-99 - so their union is taken: 1, 5, 8 or 9
        # (1207119765021 [cv]). [cv]'s P + letter + 11 digits form has no example anywhere and is not accepted.
        _patterns(S10.pattern, r"[1589][0-9]{12}"),
        "1207119765021",
        aliases=("邮政EMS", "邮政速递", "EMS快递", "中国邮政EMS", "E邮宝"),
    ),
    Carrier(
        "CHINAPOST",
        "邮政快递包裹",
        "China Post Parcel",
        # Shares S10 with EMS; its domestic parcels are 13 digits with no leading-digit rule in [udf]
        # (1240921381750, 4309597495550).
        _patterns(S10.pattern, r"[0-9]{13}"),
        "1240921381750",
        # "邮政" alone is ambiguous between EMS and China Post parcels; it goes here, whose formats include all of
        # EMS's, so a buyer who types it is not refused an EMS number.
        aliases=("邮政", "中国邮政", "邮政包裹", "邮政小包", "中国邮政包裹"),
    ),
    Carrier(
        "JT",
        "极兔速递",
        "J&T Express",
        # JT + 13 digits (JT5261988016578 [cv], JT1252161236123 in J&T's own tracking URL, JT0006968326954 [udf]);
        # [udf] also accepts JT + 12 digits.
        _patterns(r"JT[0-9]{12,13}"),
        "JT5261988016578",
        aliases=("极兔", "极兔快递", "J&T"),
    ),
    Carrier(
        "DEPPON",
        "德邦快递",
        "Deppon Express",
        # DPK + 12 digits in every example (DPK202252612836 [cv], DPK364112047425 and DPK300585915441 [udf]); [udf]
        # takes 11 or more, so 11-13. Older 德邦物流 numbers are 8-10 digits ([py-rules], from Deppon's site; [udf]).
        # The 12 digits are the brief's and none of the sources': kept, being the permissive side.
        _patterns(r"DPK[0-9]{11,13}", r"[0-9]{8,10}", r"[0-9]{12}"),
        "DPK202252612836",
        aliases=("德邦", "德邦物流"),
    ),
    Carrier(
        OTHER,
        "其他快递",
        "Other carrier",
        (OTHER_TRACKING,),
        "A1B2-C3D4E5",
        aliases=("其他", "其它", "其它快递"),
        free_text=True,
    ),
)

CARRIERS: dict[str, Carrier] = {carrier.code: carrier for carrier in _CARRIERS}

_ALIASES: dict[str, str] = {}
for _carrier in _CARRIERS:
    for _name in (_carrier.code, _carrier.name_zh, _carrier.name_en, *_carrier.aliases):
        _key = "".join(_name.split()).casefold()
        if _ALIASES.setdefault(_key, _carrier.code) != _carrier.code:
            raise AssertionError(f"carrier name {_name!r} is given to two carriers")

# Only ASCII letters are upper-cased: str.upper() would turn a ligature or a long s into ASCII ("ﬀ" -> "FF").
_ASCII_UPPER = {code: code - 32 for code in range(ord("a"), ord("z") + 1)}
# Full-width ASCII (what a Chinese input method types in full-width mode): U+FF01..U+FF5E -> U+0021..U+007E.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}


def normalize_tracking(raw: str) -> str:
    """A tracking number as typed or pasted, made canonical: full-width characters made ASCII, all whitespace
    (inner too) and invisible format characters (zero-width spaces and the like) removed, letters upper-cased."""
    text = raw.translate(_FULL_WIDTH)
    text = "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Cf")
    return text.translate(_ASCII_UPPER)


def carrier_code(carrier: str) -> str | None:
    """The code of the carrier `carrier` names: its code in any case, or one of its Chinese or English names."""
    return _ALIASES.get("".join(carrier.translate(_FULL_WIDTH).split()).casefold())


def _storable_name(name: str) -> str | None:
    """`name` with its whitespace tidied, or None if it is empty, too long or holds characters that have no place
    in stored text (control characters, lone surrogates, unassigned or private-use code points)."""
    tidy = " ".join(name.split())
    if not 1 <= len(tidy) <= OTHER_NAME_MAX:
        return None
    if any(unicodedata.category(c) in ("Cc", "Cs", "Cn", "Co") for c in tidy):
        return None
    return tidy


def validate_return_shipment(carrier: str, tracking_no: str, carrier_name: str | None = None) -> tuple[str, str, str]:
    """(carrier code, carrier display name, normalized tracking number) of a buyer's self-shipped return, or
    ValidationFailed saying which field is wrong and why. `carrier_name` is the carrier's name for `other` (and
    ignored for a listed carrier). The details never echo the input."""
    if not isinstance(carrier, str):
        raise ValidationFailed("unknown carrier", details={"carrier": "unknown carrier"})
    code = carrier_code(carrier)
    if code is None:
        raise ValidationFailed("unknown carrier", details={"carrier": "unknown carrier"})
    found = CARRIERS[code]

    display = found.name_zh
    if found.free_text:
        if not isinstance(carrier_name, str) or not carrier_name.strip():
            raise ValidationFailed(
                "carrier name required", details={"carrier_name": "the carrier's name is required for other"}
            )
        name = _storable_name(carrier_name)
        if name is None:
            raise ValidationFailed(
                "invalid carrier name",
                details={"carrier_name": f"1-{OTHER_NAME_MAX} characters of printable text"},
            )
        display = name

    if not isinstance(tracking_no, str):
        raise ValidationFailed("tracking number required", details={"tracking_no": "required"})
    number = normalize_tracking(tracking_no)
    if not number:
        raise ValidationFailed("tracking number required", details={"tracking_no": "required"})
    if not found.accepts(number):
        raise ValidationFailed("invalid tracking number", details={"tracking_no": _why(found, number)})
    return found.code, display, number


def _why(carrier: Carrier, number: str) -> str:
    if carrier.free_text:
        return "6-40 letters, digits or hyphens"
    if S10.fullmatch(number) and any(p is S10 for p in carrier.patterns):
        return "the check digit (the 11th character) does not match; please check the number"
    return f"does not match the formats of {carrier.name_en} (e.g. {carrier.example})"
