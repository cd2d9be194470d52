"""二级商户进件 (e-commerce sub-merchant onboarding): the request, its field rules and masks, the states."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import Field, StrictBool

from services.sandbox.wechat.domain.errors import StateError, param_error
from services.sandbox.wechat.domain.requests import Wire
from shared.aggregate import Aggregate, NewEvent, RecordedEvent

# --- field rules (pure, over clear values that never leave memory) ---------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
ID_NUMBER_SHAPE = re.compile(r"\d{17}[\dX]")
MOBILE = re.compile(r"1[3-9]\d{9}")
ACCOUNT_NUMBER = re.compile(r"\d{8,30}")


def id_number_problem(number: str) -> str | None:
    """Why an 18-character mainland ID number (GB 11643) is not a valid one: its birth date or its check character
    (ISO 7064 MOD 11-2 over the first 17 digits); None when it is valid. The shape is checked before this."""
    number = number.upper()
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "身份证号码出生日期无效 (the birth date in the ID number is not a date)"
    if born.year < 1900:
        return "身份证号码出生日期无效 (the birth date in the ID number is not a date)"
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17]:
        return "身份证号码校验位错误 (the ID number's check character does not match: GB 11643 MOD 11-2)"
    return None


def id_check_character(first17: str) -> str:
    """The check character that completes 17 digits into a valid ID number (for tests and fixtures)."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def luhn_ok(number: str) -> bool:
    """The Luhn check personal (UnionPay) bank card numbers carry."""
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char)
        if i % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def mask_name(name: str) -> str:
    """Every character but the last one starred (张三 → *三); a one-character name entirely."""
    return "*" * len(name) if len(name) < 2 else "*" * (len(name) - 1) + name[-1]


def mask_number(number: str) -> str:
    """Every digit but the last four starred; shorter values entirely."""
    return "*" * len(number) if len(number) <= 4 else "*" * (len(number) - 4) + number[-4:]


def last4(number: str) -> str:
    return number[-4:] if len(number) > 4 else ""


# --- the request ----------------------------------------------------------------------------------------------------

ORGANIZATION_TYPES = {"2401", "2500", "4", "2", "3", "2502", "1708"}
# 小微商户 and 个人卖家 have no business licence and can only be paid to a personal account.
PERSONAL_ORGANIZATIONS = {"2401", "2500"}
ENTERPRISE = "2"
CORPORATE_ACCOUNT = "74"  # 对公账户
PERSONAL_ACCOUNT = "75"  # 对私账户
# The settlement-card API's names for the two kinds of account.
ACCOUNT_TYPE_BUSINESS = "ACCOUNT_TYPE_BUSINESS"
ACCOUNT_TYPE_PRIVATE = "ACCOUNT_TYPE_PRIVATE"
ACCOUNT_TYPES = {CORPORATE_ACCOUNT: ACCOUNT_TYPE_BUSINESS, PERSONAL_ACCOUNT: ACCOUNT_TYPE_PRIVATE}
ID_CARD = "IDENTIFICATION_TYPE_IDCARD"
OUT_REQUEST_NO = r"^[0-9A-Za-z_\-]{1,124}$"
CIPHER = Field(min_length=1, max_length=1024)


class BusinessLicenseInfo(Wire):
    cert_type: str | None = Field(default=None, max_length=16)
    business_license_copy: str = Field(min_length=1, max_length=256)
    business_license_number: str = Field(min_length=15, max_length=18)
    merchant_name: str = Field(min_length=1, max_length=128)
    legal_person: str = Field(min_length=1, max_length=64)
    company_address: str | None = Field(default=None, max_length=256)
    business_time: str | None = Field(default=None, max_length=64)


class IdCardInfo(Wire):
    id_card_copy: str = Field(min_length=1, max_length=256)
    id_card_national: str = Field(min_length=1, max_length=256)
    id_card_name: str = CIPHER
    id_card_number: str = CIPHER
    id_card_valid_time_begin: str | None = Field(default=None, max_length=16)
    id_card_valid_time: str = Field(min_length=1, max_length=16)


class IdDocInfo(Wire):
    id_doc_name: str = CIPHER
    id_doc_number: str = CIPHER
    id_doc_copy: str = Field(min_length=1, max_length=256)
    id_doc_copy_back: str | None = Field(default=None, max_length=256)
    doc_period_begin: str | None = Field(default=None, max_length=16)
    doc_period_end: str = Field(min_length=1, max_length=16)


class UboInfo(Wire):
    ubo_id_doc_type: str = Field(min_length=1, max_length=64)
    ubo_id_doc_copy: str = Field(min_length=1, max_length=256)
    ubo_id_doc_copy_back: str | None = Field(default=None, max_length=256)
    ubo_id_doc_name: str = CIPHER
    ubo_id_doc_number: str = CIPHER
    ubo_id_doc_address: str = CIPHER
    ubo_period_begin: str = Field(min_length=1, max_length=16)
    ubo_period_end: str = Field(min_length=1, max_length=16)


class AccountInfo(Wire):
    bank_account_type: str = Field(pattern=r"^(74|75)$")
    account_bank: str = Field(min_length=1, max_length=128)
    account_name: str = CIPHER
    bank_address_code: str = Field(pattern=r"^\d{6}$")
    bank_branch_id: str | None = Field(default=None, max_length=64)
    bank_name: str | None = Field(default=None, max_length=128)
    account_number: str = CIPHER


class ContactInfo(Wire):
    contact_type: str = Field(pattern=r"^(65|66)$")
    contact_name: str = CIPHER
    contact_id_doc_type: str | None = Field(default=None, max_length=64)
    contact_id_card_number: str | None = Field(default=None, min_length=1, max_length=1024)
    contact_id_doc_copy: str | None = Field(default=None, max_length=256)
    contact_id_doc_copy_back: str | None = Field(default=None, max_length=256)
    contact_period_begin: str | None = Field(default=None, max_length=16)
    contact_period_end: str | None = Field(default=None, max_length=16)
    business_authorization_letter: str | None = Field(default=None, max_length=256)
    mobile_phone: str = CIPHER


class SalesSceneInfo(Wire):
    store_name: str = Field(min_length=1, max_length=256)
    store_url: str | None = Field(default=None, max_length=1024)
    store_qr_code: str | None = Field(default=None, max_length=256)
    mini_program_sub_appid: str | None = Field(default=None, max_length=32)


class SettlementInfo(Wire):
    settlement_id: int | str | None = None
    qualification_type: str | None = Field(default=None, max_length=64)


class ApplymentRequest(Wire):
    out_request_no: str = Field(pattern=OUT_REQUEST_NO)
    organization_type: str = Field(min_length=1, max_length=8)
    finance_institution: StrictBool | None = None
    business_license_info: BusinessLicenseInfo | None = None
    id_holder_type: str | None = Field(default=None, pattern=r"^(LEGAL|SUPER)$")
    id_doc_type: str | None = Field(default=None, max_length=64)
    authorize_letter_copy: str | None = Field(default=None, max_length=256)
    id_card_info: IdCardInfo | None = None
    id_doc_info: IdDocInfo | None = None
    owner: StrictBool | None = None
    ubo_info_list: list[UboInfo] = Field(default_factory=list, max_length=10)
    account_info: AccountInfo
    contact_info: ContactInfo
    sales_scene_info: SalesSceneInfo
    settlement_info: SettlementInfo | None = None
    merchant_shortname: str = Field(min_length=1, max_length=64)
    qualifications: list[str] = Field(default_factory=list, max_length=20)
    business_addition_pics: list[str] = Field(default_factory=list, max_length=20)
    business_addition_desc: str | None = Field(default=None, max_length=512)

    def encrypted_fields(self) -> dict[str, str]:
        """Every encrypted field present, by its name in the request (``ubo_info_list[0].ubo_id_doc_name``)."""
        found: dict[str, str] = {
            "account_info.account_name": self.account_info.account_name,
            "account_info.account_number": self.account_info.account_number,
            "contact_info.contact_name": self.contact_info.contact_name,
            "contact_info.mobile_phone": self.contact_info.mobile_phone,
        }
        if self.contact_info.contact_id_card_number is not None:
            found["contact_info.contact_id_card_number"] = self.contact_info.contact_id_card_number
        if self.id_card_info is not None:
            found["id_card_info.id_card_name"] = self.id_card_info.id_card_name
            found["id_card_info.id_card_number"] = self.id_card_info.id_card_number
        if self.id_doc_info is not None:
            found["id_doc_info.id_doc_name"] = self.id_doc_info.id_doc_name
            found["id_doc_info.id_doc_number"] = self.id_doc_info.id_doc_number
        for i, ubo in enumerate(self.ubo_info_list):
            for name in ("ubo_id_doc_name", "ubo_id_doc_number", "ubo_id_doc_address"):
                found[f"ubo_info_list[{i}].{name}"] = getattr(ubo, name)
        return found


@dataclass(frozen=True)
class AuditDetail:
    param_name: str
    reject_reason: str


@dataclass(frozen=True)
class Submission:
    """What the sandbox keeps of one submission: plain fields, masks and last digits, the rules it failed; never a
    clear sensitive value, never a ciphertext."""

    organization_type: str
    merchant_shortname: str
    merchant_name: str | None  # the business licence's name (not a sensitive field)
    bank_account_type: str
    account_bank: str
    bank_name: str | None
    bank_branch_id: str | None
    bank_address_code: str
    account_number_last4: str
    account_number_masked: str
    account_name_masked: str
    id_card_name_masked: str | None
    id_card_number_masked: str | None
    contact_name_masked: str
    mobile_phone_masked: str
    rejections: tuple[AuditDetail, ...] = ()

    @property
    def corporate(self) -> bool:
        return self.bank_account_type == CORPORATE_ACCOUNT

    @property
    def account_type(self) -> str:
        return ACCOUNT_TYPES[self.bank_account_type]

    def payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Submission:
        rejections = tuple(AuditDetail(**r) for r in payload.get("rejections") or ())
        return cls(**{**payload, "rejections": rejections})


def _structural_checks(req: ApplymentRequest) -> None:
    """Which sections each kind of seller needs, and which account it may be paid to: 400 PARAM_ERROR."""
    if req.organization_type not in ORGANIZATION_TYPES:
        raise param_error(
            f"organization_type 取值错误 (one of {sorted(ORGANIZATION_TYPES)})",
            {"location": "body", "field": "/body/organization_type"},
        )
    personal = req.organization_type in PERSONAL_ORGANIZATIONS
    if not personal and req.business_license_info is None:
        raise param_error(
            "business_license_info 必填 (a licensed seller needs its business licence)",
            {"location": "body", "field": "/body/business_license_info"},
        )
    if (req.id_doc_type or ID_CARD) == ID_CARD and req.id_card_info is None:
        raise param_error(
            "id_card_info 必填 (id_doc_type IDENTIFICATION_TYPE_IDCARD needs id_card_info)",
            {"location": "body", "field": "/body/id_card_info"},
        )
    if (req.id_doc_type or ID_CARD) != ID_CARD and req.id_doc_info is None:
        raise param_error(
            "id_doc_info 必填 (another identity document needs id_doc_info)",
            {"location": "body", "field": "/body/id_doc_info"},
        )
    if personal and req.account_info.bank_account_type != PERSONAL_ACCOUNT:
        raise param_error(
            "小微/个人卖家只能使用对私账户 (organization_type 2401 and 2500 need bank_account_type 75)",
            {"location": "body", "field": "/body/account_info/bank_account_type"},
        )
    if req.organization_type == ENTERPRISE and req.account_info.bank_account_type != CORPORATE_ACCOUNT:
        raise param_error(
            "企业只能使用对公账户 (organization_type 2 needs bank_account_type 74)",
            {"location": "body", "field": "/body/account_info/bank_account_type"},
        )


def _shape(clear: dict[str, str], field: str, pattern: re.Pattern[str], what: str) -> None:
    value = clear.get(field)
    if value is not None and not pattern.fullmatch(value):
        # The message names the field and the rule, never the value.
        raise param_error(f"{field} 格式错误 ({what})", {"location": "body", "field": field})


def submission_from(req: ApplymentRequest, clear: dict[str, str]) -> Submission:
    """Check a submission whose encrypted fields were decrypted into ``clear`` (same keys as
    ``encrypted_fields``): shapes are refused now (400 PARAM_ERROR); what WeChat's review would catch is recorded as
    the rules the application fails (it becomes REJECTED with them after CHECKING). Only masks are kept."""
    _structural_checks(req)
    for field, value in clear.items():
        if not value.strip():
            raise param_error(f"{field} 不能为空 (empty after decryption)", {"location": "body", "field": field})
    _shape(clear, "id_card_info.id_card_number", ID_NUMBER_SHAPE, "18 位身份证号码: 17 digits and a digit or X")
    _shape(clear, "contact_info.mobile_phone", MOBILE, "11 位手机号码 1[3-9]xxxxxxxxx")
    _shape(clear, "account_info.account_number", ACCOUNT_NUMBER, "银行账号: 8 to 30 digits")
    contact_id_is_card = (req.contact_info.contact_id_doc_type or ID_CARD) == ID_CARD
    if contact_id_is_card:
        _shape(clear, "contact_info.contact_id_card_number", ID_NUMBER_SHAPE, "18 位身份证号码")
    rejections: list[AuditDetail] = []
    for field in ("id_card_info.id_card_number", "contact_info.contact_id_card_number"):
        number = clear.get(field)
        if number is None or (field.startswith("contact_info") and not contact_id_is_card):
            continue
        problem = id_number_problem(number)
        if problem is not None:
            rejections.append(AuditDetail(field.split(".")[-1], problem))
    account = req.account_info
    account_name, account_number = clear["account_info.account_name"], clear["account_info.account_number"]
    if account.bank_account_type == PERSONAL_ACCOUNT:
        holder = clear.get("id_card_info.id_card_name") or clear.get("id_doc_info.id_doc_name")
        if holder is not None and account_name != holder:
            rejections.append(
                AuditDetail(
                    "account_name", "对私账户户名须与经营者证件姓名一致 (a personal account in the holder's name)"
                )
            )
        if not luhn_ok(account_number):
            rejections.append(AuditDetail("account_number", "银行卡号校验失败 (a personal card number fails Luhn)"))
    elif req.business_license_info is not None and account_name != req.business_license_info.merchant_name:
        rejections.append(
            AuditDetail("account_name", "对公账户户名须与营业执照名称一致 (a corporate account in the licence's name)")
        )
    id_name = clear.get("id_card_info.id_card_name") or clear.get("id_doc_info.id_doc_name")
    id_number = clear.get("id_card_info.id_card_number") or clear.get("id_doc_info.id_doc_number")
    license_info = req.business_license_info
    return Submission(
        organization_type=req.organization_type,
        merchant_shortname=req.merchant_shortname,
        merchant_name=license_info.merchant_name if license_info is not None else None,
        bank_account_type=account.bank_account_type,
        account_bank=account.account_bank,
        bank_name=account.bank_name,
        bank_branch_id=account.bank_branch_id,
        bank_address_code=account.bank_address_code,
        account_number_last4=last4(account_number),
        account_number_masked=mask_number(account_number),
        account_name_masked=mask_name(account_name),
        id_card_name_masked=mask_name(id_name) if id_name is not None else None,
        id_card_number_masked=mask_number(id_number) if id_number is not None else None,
        contact_name_masked=mask_name(clear["contact_info.contact_name"]),
        mobile_phone_masked=mask_number(clear["contact_info.mobile_phone"]),
        rejections=tuple(rejections),
    )


# --- the application ------------------------------------------------------------------------------------------------

CHECKING = "CHECKING"
ACCOUNT_NEED_VERIFY = "ACCOUNT_NEED_VERIFY"
AUDITING = "AUDITING"
REJECTED = "REJECTED"
NEED_SIGN = "NEED_SIGN"
FINISH = "FINISH"
FROZEN = "FROZEN"
CANCELED = "CANCELED"
STATE_DESC = {
    CHECKING: "资料校验中",
    ACCOUNT_NEED_VERIFY: "待账户验证",
    AUDITING: "审核中",
    REJECTED: "已驳回",
    NEED_SIGN: "待签约",
    FINISH: "完成",
    FROZEN: "已冻结",
    CANCELED: "已作废",
}
# The way an application goes by itself; a test may skip ahead along it.
FORWARD = (CHECKING, ACCOUNT_NEED_VERIFY, AUDITING, NEED_SIGN, FINISH)
# States in which WeChat has opened the sub-merchant: sub_mchid is answered from NEED_SIGN on (docs/providers.md 1).
WITH_SUB_MCHID = {NEED_SIGN, FINISH}
DECIDABLE = {ACCOUNT_NEED_VERIFY, AUDITING, REJECTED, NEED_SIGN, FINISH, FROZEN, CANCELED}
DEFAULT_REJECT_REASON = "资料审核未通过 (rejected by a sandbox test)"
DEFAULT_FREEZE_REASON = "商户存在风险，申请单已冻结 (frozen by a sandbox test)"
VALIDATION_DAYS = 7


@dataclass(frozen=True)
class AccountValidation:
    """What the seller must remit from the corporate account to prove it is theirs (ACCOUNT_NEED_VERIFY)."""

    account_name: str  # masked: see the README (WeChat's encryption of this answer field is not modelled)
    account_no: str  # masked
    pay_amount: int
    destination_account_number: str
    destination_account_name: str
    destination_account_bank: str
    city: str
    remark: str
    deadline: datetime


@dataclass(frozen=True)
class Applyment:
    applyment_id: int | None = None
    out_request_no: str = ""
    submission: Submission | None = None
    state: str = CHECKING
    round: int = 0  # 1 for the first submission; each resubmission of a REJECTED one adds one
    sub_mchid: str | None = None
    signed: bool = False
    audit_detail: tuple[AuditDetail, ...] = ()
    validation: AccountValidation | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.applyment_id is not None


@dataclass(frozen=True)
class SubmitApplyment:
    applyment_id: int
    out_request_no: str
    submission: Submission
    now: datetime


@dataclass(frozen=True)
class Advance:
    """WeChat's own next step, due after a delay: applied only if the application is still where it was."""

    expected: str
    round: int
    now: datetime
    sub_mchid: str | None = None
    validation: AccountValidation | None = None


@dataclass(frozen=True)
class Decide:
    """A test decides the application now."""

    state: str
    reason: str | None
    now: datetime
    sub_mchid: str | None = None
    validation: AccountValidation | None = None


@dataclass(frozen=True)
class Sign:
    """The seller's administrator signs the agreement at sign_url."""

    now: datetime


ApplymentCommand = SubmitApplyment | Advance | Decide | Sign


def next_state(state: Applyment) -> str | None:
    """Where an application goes by itself from its state, None when it waits for nobody but a test."""
    assert state.submission is not None
    if state.state == CHECKING:
        if state.submission.rejections:
            return REJECTED
        return ACCOUNT_NEED_VERIFY if state.submission.corporate else AUDITING
    if state.state == ACCOUNT_NEED_VERIFY:
        return AUDITING  # the remittance arrived
    if state.state == AUDITING:
        return NEED_SIGN
    if state.state == NEED_SIGN:
        return FINISH  # the seller signed
    return None


def _check_decision(state: Applyment, target: str) -> None:
    if target not in DECIDABLE:
        raise StateError(f"an application cannot be decided {target}; one of {sorted(DECIDABLE)}")
    current = state.state
    if target == FROZEN:
        if current in (FROZEN, CANCELED):
            raise StateError(f"a {current} application cannot be frozen")
        return
    if target in (REJECTED, CANCELED):
        if current not in (CHECKING, ACCOUNT_NEED_VERIFY, AUDITING):
            raise StateError(f"a {current} application cannot become {target} (only before NEED_SIGN)")
        return
    if current not in FORWARD or FORWARD.index(target) <= FORWARD.index(current):
        raise StateError(f"a {current} application cannot go to {target} (only forward: {' → '.join(FORWARD)})")


def _moved(
    state: Applyment,
    target: str,
    now: datetime,
    *,
    reason: str | None = None,
    sub_mchid: str | None = None,
    validation: AccountValidation | None = None,
) -> NewEvent:
    assert state.submission is not None
    audit: list[dict[str, str]] = []
    if target == REJECTED:
        details = state.submission.rejections if reason is None else ()
        audit = [asdict(d) for d in details] or [{"param_name": "", "reject_reason": reason or DEFAULT_REJECT_REASON}]
    elif target == FROZEN:
        audit = [{"param_name": "", "reject_reason": reason or DEFAULT_FREEZE_REASON}]
    payload: dict[str, Any] = {"state": target, "audit_detail": audit, "at": now}
    if target in WITH_SUB_MCHID and state.sub_mchid is None:
        if sub_mchid is None:
            raise ValueError(f"{target} needs the sub_mchid minted for the application")
        payload["sub_mchid"] = sub_mchid
    if target == ACCOUNT_NEED_VERIFY:
        if validation is None:
            raise ValueError("ACCOUNT_NEED_VERIFY needs the account validation")
        payload["validation"] = asdict(validation)
    if target == FINISH:
        payload["signed"] = True
    return NewEvent("applyment.moved", payload)


def decide_applyment(state: Applyment, cmd: ApplymentCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, SubmitApplyment):
        payload = {
            "applyment_id": state.applyment_id if state.exists else cmd.applyment_id,
            "out_request_no": cmd.out_request_no,
            "submission": cmd.submission.payload(),
            "at": cmd.now,
        }
        if not state.exists:
            return [NewEvent("applyment.submitted", payload)]
        if state.state == REJECTED:
            return [NewEvent("applyment.resubmitted", payload)]  # 覆盖修改原申请单: the same number overwrites it
        return []  # the same out_request_no is the same application
    if not state.exists:
        raise StateError("no such application")
    if isinstance(cmd, Advance):
        if state.state != cmd.expected or state.round != cmd.round:
            return []  # a test moved it first
        target = next_state(state)
        if target is None:
            return []
        return [_moved(state, target, cmd.now, sub_mchid=cmd.sub_mchid, validation=cmd.validation)]
    if isinstance(cmd, Decide):
        if state.state == cmd.state:
            return []
        _check_decision(state, cmd.state)
        return [
            _moved(state, cmd.state, cmd.now, reason=cmd.reason, sub_mchid=cmd.sub_mchid, validation=cmd.validation)
        ]
    if state.state == FINISH and state.signed:
        return []
    if state.state != NEED_SIGN:
        raise StateError(f"a {state.state} application has nothing to sign (only NEED_SIGN)")
    return [_moved(state, FINISH, cmd.now)]


def evolve_applyment(state: Applyment, event: RecordedEvent) -> Applyment:
    p = event.payload
    if event.type in ("applyment.submitted", "applyment.resubmitted"):
        return Applyment(
            applyment_id=int(p["applyment_id"]),
            out_request_no=p["out_request_no"],
            submission=Submission.of(p["submission"]),
            state=CHECKING,
            round=state.round + 1,
            sub_mchid=None,
            created_at=state.created_at or p["at"],
            updated_at=p["at"],
        )
    if event.type == "applyment.moved":
        validation = p.get("validation")
        return replace(
            state,
            state=p["state"],
            sub_mchid=p.get("sub_mchid") or state.sub_mchid,
            signed=state.signed or bool(p.get("signed")),
            audit_detail=tuple(AuditDetail(**d) for d in p.get("audit_detail") or ()),
            validation=AccountValidation(**validation) if validation else state.validation,
            updated_at=p["at"],
        )
    return state


APPLYMENT: Aggregate[Applyment, ApplymentCommand] = Aggregate(
    name="wechat.applyment", initial=Applyment, evolve=evolve_applyment, decide=decide_applyment
)


def account_validation(submission: Submission, applyment_id: int, now: datetime) -> AccountValidation:
    """The remittance WeChat asks of a corporate account (a few fen, refunded afterwards)."""
    return AccountValidation(
        account_name=submission.account_name_masked,
        account_no=submission.account_number_masked,
        pay_amount=1 + applyment_id % 99,
        destination_account_number="7222000000000000001",
        destination_account_name="财付通支付科技有限公司",
        destination_account_bank="招商银行深圳分行大冲支行",
        city="深圳",
        remark=f"入驻验证{applyment_id % 1_000_000:06d}",
        deadline=now + timedelta(days=VALIDATION_DAYS),
    )
