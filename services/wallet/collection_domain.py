"""WeChat collection, pure: the seller's onboarding input and its rules and masks, and the aggregates of the wallet's
copy of shops, invitation batches, invitations, onboarding applications and Alipay payees.

Streams (the wallet's database): `shp_…` (the shop id listing gave), `bat_…` (a batch), `inv_<seller_id>` (one
invitation per seller: its first append decides), `onb_<seller_id>` (the seller's applications, one `out_request_no`
per attempt), `pye_<seller_id>` (the seller's Alipay royalty receiver).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.errors import AppError, Conflict, InvalidState
from shared.events.wallet import (
    AlipayPayeeBound,
    AlipayPayeeRefused,
    AlipayPayeeRequested,
    CollectionActivated,
    InvitationBatchCompleted,
    InvitationBatchStarted,
    OnboardingRefused,
    OnboardingRequested,
    OnboardingStateChanged,
    OnboardingSubmitted,
    SettlementCardChangeRequested,
    ShopLevelRecorded,
    ShopRecorded,
    WalletInvited,
)

MAX_LEVEL = 20  # listing's highest shop level (services/listing/domain.py)

# --- field rules and masks ------------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
ID_NUMBER = re.compile(r"\d{17}[\dX]")
MOBILE = re.compile(r"1[3-9]\d{9}")
ACCOUNT_NUMBER = re.compile(r"\d{10,30}")
# A 2088… Alipay user id (16 digits), or an OpenID of the app (letters, digits, `_` and `-`).
ALIPAY_USER = re.compile(r"2088\d{12}|[A-Za-z0-9_-]{16,64}")
VALID_UNTIL = re.compile(r"长期|\d{4}-\d{2}-\d{2}")
NAME = re.compile(r"[^\d\s!-/:-@\[-`{-~]{2,32}|[A-Za-z][A-Za-z .·]{1,62}[A-Za-z]")
# WeChat's `account_bank` values for a personal (对私) account; any other bank is 其他银行 with its full `bank_name`.
OTHER_BANK = "其他银行"
Bank = Literal[
    "工商银行",
    "交通银行",
    "招商银行",
    "民生银行",
    "中信银行",
    "浦发银行",
    "兴业银行",
    "光大银行",
    "广发银行",
    "平安银行",
    "北京银行",
    "华夏银行",
    "农业银行",
    "建设银行",
    "邮政储蓄银行",
    "中国银行",
    "宁波银行",
    "其他银行",
]
BANKS: tuple[str, ...] = get_args(Bank)
PERSONAL_ACCOUNT = "75"  # 对私账户: what 小微 and 个人卖家 are paid to
ID_CARD = "IDENTIFICATION_TYPE_IDCARD"
CONTACT_LEGAL = "65"  # the contact is the holder of the ID


def id_number_problem(number: str) -> str | None:
    """Why an 18-character mainland ID number (GB 11643) is not valid: its birth date or its check character (ISO 7064
    MOD 11-2); None when it is. The message never contains the number."""
    if not ID_NUMBER.fullmatch(number):
        return "an ID number is 17 digits and a digit or X"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "the birth date in the ID number is not a date"
    if born.year < 1900:
        return "the birth date in the ID number is not a date"
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17]:
        return "the ID number's check character does not match (GB 11643)"
    return None


def id_check_character(first17: str) -> str:
    """The check character completing 17 digits into a valid ID number (for tests and fixtures)."""
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def mask_name(name: str) -> str:
    """张三 → 张*: the first character only."""
    return name[:1] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_id_number(number: str) -> str:
    """110101199003071234 → 1101**********1234."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_mobile(mobile: str) -> str:
    """13800138000 → 138****8000."""
    return mobile[:3] + "****" + mobile[-4:]


def mask_card(number: str) -> str:
    """6222020200112233445 → ****3445."""
    return "****" + number[-4:]


# --- the seller's input (validated at the edge; its clear values live only in memory) --------------------------------


class BankCard(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_bank: Bank
    # The bank's province and city code (省市编码, 6 digits), as WeChat's onboarding lists them.
    bank_address_code: str = Field(pattern=r"^\d{6}$")
    # The branch's full name: required for 其他银行 (WeChat then needs it to route the money).
    bank_name: str | None = Field(default=None, min_length=4, max_length=128)
    account_number: str = Field(pattern=r"^\d{10,30}$", repr=False)
    account_name: str = Field(min_length=1, max_length=64, repr=False)

    @model_validator(mode="after")
    def _other_bank_named(self) -> BankCard:
        if self.account_bank == OTHER_BANK and self.bank_name is None:
            raise ValueError("bank_name is required with account_bank 其他银行")
        return self


class ActivationRequest(BaseModel):
    """What onboarding as a WeChat Pay e-commerce sub-merchant needs of an individual seller (小微 2401 or 个人卖家
    2500): the ID holder, a mobile number, and a personal settlement card in the holder's name."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    organization_type: Literal["2401", "2500"] = "2401"
    real_name: str = Field(min_length=2, max_length=64, repr=False)
    id_card_number: str = Field(min_length=18, max_length=18, repr=False)
    # 身份证有效期 end: a date (YYYY-MM-DD) or 长期.
    id_card_valid_time: str = Field(pattern=VALID_UNTIL.pattern)
    # Media ids of the ID card's two sides, from WeChat's image upload (POST /v3/merchant/media/upload).
    id_card_copy: str = Field(min_length=1, max_length=256)
    id_card_national: str = Field(min_length=1, max_length=256)
    mobile: str = Field(pattern=r"^1[3-9]\d{9}$", repr=False)
    merchant_shortname: str | None = Field(default=None, min_length=1, max_length=64)
    bank_card: BankCard

    @field_validator("real_name")
    @classmethod
    def _a_name(cls, value: str) -> str:
        if not NAME.fullmatch(value):
            raise ValueError("real_name must be a person's name (no digits or symbols)")
        return value

    @field_validator("id_card_number")
    @classmethod
    def _an_id_number(cls, value: str) -> str:
        value = value.upper()
        problem = id_number_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _card_in_holders_name(self) -> ActivationRequest:
        if self.bank_card.account_name != self.real_name:
            raise ValueError("bank_card.account_name must be the real_name (a personal account in the holder's name)")
        return self

    def masked(self) -> dict[str, str]:
        return {
            "real_name_masked": mask_name(self.real_name),
            "id_card_number_masked": mask_id_number(self.id_card_number),
            "mobile_masked": mask_mobile(self.mobile),
            "account_bank": self.bank_card.account_bank,
            "bank_address_code": self.bank_card.bank_address_code,
            "account_number_masked": mask_card(self.bank_card.account_number),
        }


def applyment_body(
    request: ActivationRequest, out_request_no: str, store_name: str, encrypt: Callable[[str], str]
) -> dict[str, Any]:
    """The `POST /v3/ecommerce/applyments/` body for an individual seller (docs/providers.md 1): the sensitive fields
    through `encrypt` (the provider's RSA-OAEP ciphertext), everything else plain."""
    card = request.bank_card
    account: dict[str, Any] = {
        "bank_account_type": PERSONAL_ACCOUNT,
        "account_bank": card.account_bank,
        "account_name": encrypt(card.account_name),
        "bank_address_code": card.bank_address_code,
        "account_number": encrypt(card.account_number),
    }
    if card.bank_name is not None:
        account["bank_name"] = card.bank_name
    return {
        "out_request_no": out_request_no,
        "organization_type": request.organization_type,
        "id_doc_type": ID_CARD,
        "id_card_info": {
            "id_card_copy": request.id_card_copy,
            "id_card_national": request.id_card_national,
            "id_card_name": encrypt(request.real_name),
            "id_card_number": encrypt(request.id_card_number),
            "id_card_valid_time": request.id_card_valid_time,
        },
        "account_info": account,
        "contact_info": {
            "contact_type": CONTACT_LEGAL,
            "contact_name": encrypt(request.real_name),
            "contact_id_doc_type": ID_CARD,
            "contact_id_card_number": encrypt(request.id_card_number),
            "mobile_phone": encrypt(request.mobile),
        },
        "sales_scene_info": {"store_name": store_name[:256]},
        "merchant_shortname": (request.merchant_shortname or store_name)[:64],
    }


def onboarding_stream(seller_id: str) -> str:
    return f"onb_{seller_id}"


def invitation_stream(seller_id: str) -> str:
    return f"inv_{seller_id}"


def payee_stream(seller_id: str) -> str:
    return f"pye_{seller_id}"


def applyment_number(seller_id: str, attempt: int) -> str:
    """The seller's `out_request_no` of one attempt (WeChat: letters, digits, `_`, `-`, at most 124)."""
    return f"onb_{seller_id}_{attempt}"


def payee_number(seller_id: str, attempt: int) -> str:
    """The Alipay bind's `out_request_no` of one attempt (at most 32 letters, digits and `_`): derived, so every
    process that mints it mints the same."""
    return "pye" + hashlib.sha256(f"{seller_id}\x1f{attempt}".encode()).hexdigest()[:28]


def wechat_account(seller_id: str) -> str:
    """The seller's WeChat balance account in the wallet's books (services/wallet/flows.py)."""
    return f"acc_{seller_id}.wechat_available"


class ProviderRefusal(AppError):
    """The provider's definite no, shown to the seller with its own code and message."""

    status, code = 422, "provider_rejected"


# --- the wallet's copy of a shop ------------------------------------------------------------------------------------


class ShopCopy(BaseModel):
    shop_id: str = ""
    seller_id: str = ""
    name: str = ""
    level: int = 0
    level_seq: int = 0  # the listing stream position the level was set at (a change arriving late never wins)
    opened: bool = False
    opened_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.opened


class RecordOpened(BaseModel):
    shop_id: str
    seller_id: str
    name: str
    level: int
    opened_at: datetime
    source_seq: int


class RecordLevel(BaseModel):
    shop_id: str
    seller_id: str
    level: int
    source_seq: int


def decide_shop(state: ShopCopy, c: RecordOpened | RecordLevel) -> list[NewEvent]:
    if isinstance(c, RecordOpened):
        if state.opened:
            return []
        return [NewEvent.of(ShopRecorded(**c.model_dump()))]
    if c.source_seq < state.level_seq or (c.source_seq == state.level_seq and c.level == state.level):
        return []  # older than the level held, or the same one again
    return [NewEvent.of(ShopLevelRecorded(**c.model_dump()))]


def evolve_shop(state: ShopCopy, event: RecordedEvent) -> ShopCopy:
    p = event.payload
    update: dict[str, Any] = {"shop_id": p["shop_id"], "seller_id": p["seller_id"]}
    if event.type == "wallet.shop_recorded":
        update |= {"name": p["name"], "opened": True, "opened_at": p["opened_at"]}
        if state.level_seq == 0 or p["source_seq"] > state.level_seq:
            update |= {"level": p["level"], "level_seq": p["source_seq"]}
    elif event.type == "wallet.shop_level_recorded":
        update |= {"level": p["level"], "level_seq": p["source_seq"]}
    return ShopCopy.model_validate({**state.model_dump(), **update})


SHOP: Aggregate[ShopCopy, RecordOpened | RecordLevel] = Aggregate(
    "wallet.shop",
    ShopCopy,
    evolve_shop,
    decide_shop,
    state_model=ShopCopy,
    events=("wallet.shop_recorded", "wallet.shop_level_recorded"),
)


# --- invitations and their batches ----------------------------------------------------------------------------------


class Invitation(BaseModel):
    invitation_id: str = ""
    batch_id: str = ""
    seller_id: str = ""
    shop_id: str = ""
    level: int = 0
    invited_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return bool(self.invitation_id)


class Invite(BaseModel):
    invitation_id: str
    batch_id: str
    seller_id: str
    shop_id: str
    level: int


def decide_invitation(state: Invitation, c: Invite) -> list[NewEvent]:
    if state.exists:
        return []  # a seller is invited once: the batch that appended first has them
    return [NewEvent.of(WalletInvited(**c.model_dump()))]


def evolve_invitation(state: Invitation, event: RecordedEvent) -> Invitation:
    if event.type != "wallet.invited":
        return state
    return Invitation(**event.payload, invited_at=event.occurred_at)


INVITATION: Aggregate[Invitation, Invite] = Aggregate(
    "wallet.invitation",
    Invitation,
    evolve_invitation,
    decide_invitation,
    state_model=Invitation,
    events=("wallet.invited",),
)


class Batch(BaseModel):
    batch_id: str = ""
    min_level: int = 0
    max_count: int = 0
    status: Literal["none", "running", "completed"] = "none"
    seller_ids: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.status != "none"


class StartBatch(BaseModel):
    batch_id: str
    min_level: int
    max_count: int


class CompleteBatch(BaseModel):
    batch_id: str
    seller_ids: list[str]


def decide_batch(state: Batch, c: StartBatch | CompleteBatch) -> list[NewEvent]:
    if isinstance(c, StartBatch):
        return [] if state.exists else [NewEvent.of(InvitationBatchStarted(**c.model_dump()))]
    if state.status != "running":
        return []
    return [
        NewEvent.of(
            InvitationBatchCompleted(batch_id=c.batch_id, invited_count=len(c.seller_ids), seller_ids=c.seller_ids)
        )
    ]


def evolve_batch(state: Batch, event: RecordedEvent) -> Batch:
    p = event.payload
    if event.type == "wallet.invitation_batch_started":
        return Batch(
            batch_id=p["batch_id"],
            min_level=p["min_level"],
            max_count=p["max_count"],
            status="running",
            started_at=event.occurred_at,
        )
    if event.type == "wallet.invitation_batch_completed":
        return state.model_copy(
            update={"status": "completed", "seller_ids": list(p["seller_ids"]), "completed_at": event.occurred_at}
        )
    return state


BATCH: Aggregate[Batch, StartBatch | CompleteBatch] = Aggregate(
    "wallet.invitation_batch",
    Batch,
    evolve_batch,
    decide_batch,
    state_model=Batch,
    events=("wallet.invitation_batch_started", "wallet.invitation_batch_completed"),
)


def pick_candidates(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Shops of one level in invitation order: the oldest first (opened_at, then shop id)."""
    return sorted(docs, key=lambda d: (d["opened_at"], d["_id"]))


# --- onboarding -----------------------------------------------------------------------------------------------------

OnboardingStatus = Literal["none", "requested", "applying", "rejected", "refused", "active", "frozen", "canceled"]
# Where a seller may start a new attempt (under a new out_request_no).
MAY_APPLY: tuple[OnboardingStatus, ...] = ("none", "rejected", "refused", "canceled")
OPEN_STATUSES: tuple[OnboardingStatus, ...] = ("requested", "applying")
APPLYING_STATES = frozenset({"CHECKING", "ACCOUNT_NEED_VERIFY", "AUDITING", "NEED_SIGN"})
STATUS_OF_STATE: dict[str, OnboardingStatus] = {
    **dict.fromkeys(APPLYING_STATES, "applying"),
    "REJECTED": "rejected",
    "FINISH": "active",
    "FROZEN": "frozen",
    "CANCELED": "canceled",
}


class Onboarding(BaseModel):
    seller_id: str = ""
    shop_id: str = ""
    attempt: int = 0
    out_request_no: str | None = None
    status: OnboardingStatus = "none"
    applyment_id: str | None = None
    provider_state: str | None = None
    provider_state_desc: str | None = None
    sub_mchid: str | None = None
    sign_url: str | None = None
    audit_detail: list[dict[str, str]] = Field(default_factory=list)
    refusal: dict[str, str] | None = None  # {provider_code, message} of a refused submission
    masked: dict[str, str] = Field(default_factory=dict)
    activated: bool = False
    requested_at: datetime | None = None
    updated_at: datetime | None = None
    settlement_application_no: str | None = None
    settlement_change: dict[str, str] | None = None

    @property
    def exists(self) -> bool:
        return self.attempt > 0


class RequestOnboarding(BaseModel):
    seller_id: str
    shop_id: str
    attempt: int
    out_request_no: str
    organization_type: str
    merchant_shortname: str
    masked: dict[str, str]


class MarkSubmitted(BaseModel):
    out_request_no: str
    applyment_id: str


class MarkRefused(BaseModel):
    out_request_no: str
    provider_code: str
    message: str


class Observe(BaseModel):
    """What the application query answered (parsed defensively: WeChat may leave out any field)."""

    out_request_no: str
    answer: dict[str, Any]


class RecordSettlementChange(BaseModel):
    application_no: str
    account_bank: str
    account_number_masked: str


OnboardingCommand = RequestOnboarding | MarkSubmitted | MarkRefused | Observe | RecordSettlementChange


def _audit(answer: dict[str, Any]) -> list[dict[str, str]]:
    found = answer.get("audit_detail")
    if not isinstance(found, list):
        return []
    return [
        {"param_name": str(d.get("param_name") or ""), "reject_reason": str(d.get("reject_reason") or "")}
        for d in found
        if isinstance(d, dict)
    ]


def _text(answer: dict[str, Any], name: str) -> str | None:
    value = answer.get(name)
    return str(value) if value not in (None, "") else None


def decide_onboarding(state: Onboarding, c: OnboardingCommand) -> list[NewEvent]:
    if isinstance(c, RequestOnboarding):
        if state.attempt >= c.attempt:
            return []  # this attempt was recorded already (a concurrent or retried request)
        if state.status not in MAY_APPLY or c.attempt != state.attempt + 1:
            raise InvalidState(f"an application is {state.status}", code="application_in_progress")
        return [
            NewEvent.of(
                OnboardingRequested(
                    seller_id=c.seller_id,
                    shop_id=c.shop_id,
                    attempt=c.attempt,
                    out_request_no=c.out_request_no,
                    organization_type=c.organization_type,
                    merchant_shortname=c.merchant_shortname,
                    **c.masked,
                )
            )
        ]
    if isinstance(c, RecordSettlementChange):
        if state.status != "active" or state.sub_mchid is None:
            raise InvalidState("WeChat collection is not active", code="not_active")
        if state.settlement_application_no == c.application_no:
            return []
        return [
            NewEvent.of(
                SettlementCardChangeRequested(seller_id=state.seller_id, sub_mchid=state.sub_mchid, **c.model_dump())
            )
        ]
    if c.out_request_no != state.out_request_no:
        return []  # about an attempt that is no longer the current one
    if isinstance(c, MarkSubmitted):
        if state.status != "requested":
            return []
        return [NewEvent.of(OnboardingSubmitted(seller_id=state.seller_id, **c.model_dump()))]
    if isinstance(c, MarkRefused):
        if state.status != "requested":
            return []
        return [NewEvent.of(OnboardingRefused(seller_id=state.seller_id, **c.model_dump()))]
    return _observed(state, c.answer)


def _observed(state: Onboarding, answer: dict[str, Any]) -> list[NewEvent]:
    provider_state = _text(answer, "applyment_state")
    if provider_state is None or state.status not in OPEN_STATUSES:
        return []  # an answer without a state tells nothing (docs/providers.md 1); a closed application stays so
    assert state.out_request_no is not None
    events: list[NewEvent] = []
    applyment_id = _text(answer, "applyment_id")
    if state.status == "requested" and applyment_id is not None:
        # The submission's answer was lost, but WeChat holds the application.
        events.append(
            NewEvent.of(
                OnboardingSubmitted(
                    seller_id=state.seller_id, out_request_no=state.out_request_no, applyment_id=applyment_id
                )
            )
        )
    sub_mchid = _text(answer, "sub_mchid") or state.sub_mchid
    sign_url = _text(answer, "sign_url")
    audit = _audit(answer)
    changed = (provider_state, sub_mchid, sign_url, audit) != (
        state.provider_state,
        state.sub_mchid,
        state.sign_url,
        state.audit_detail,
    )
    if changed or events:
        events.append(
            NewEvent.of(
                OnboardingStateChanged(
                    seller_id=state.seller_id,
                    out_request_no=state.out_request_no,
                    provider_state=provider_state,
                    provider_state_desc=_text(answer, "applyment_state_desc"),
                    sub_mchid=sub_mchid,
                    sign_url=sign_url,
                    audit_detail=audit,
                )
            )
        )
    if provider_state == "FINISH" and sub_mchid is not None and not state.activated:
        events.append(
            NewEvent.of(
                CollectionActivated(
                    seller_id=state.seller_id,
                    shop_id=state.shop_id,
                    account_id=wechat_account(state.seller_id),
                    sub_mchid=sub_mchid,
                )
            )
        )
    return events


def evolve_onboarding(state: Onboarding, event: RecordedEvent) -> Onboarding:
    p = event.payload
    at = event.occurred_at
    if event.type == "wallet.onboarding_requested":
        masked = {k: p[k] for k in ActivationMasks}
        return Onboarding(
            seller_id=p["seller_id"],
            shop_id=p["shop_id"],
            attempt=p["attempt"],
            out_request_no=p["out_request_no"],
            status="requested",
            masked=masked,
            activated=state.activated,
            requested_at=at,
            updated_at=at,
        )
    if event.type == "wallet.onboarding_submitted":
        return state.model_copy(update={"status": "applying", "applyment_id": p["applyment_id"], "updated_at": at})
    if event.type == "wallet.onboarding_refused":
        refusal = {"provider_code": p["provider_code"], "message": p["message"]}
        return state.model_copy(update={"status": "refused", "refusal": refusal, "updated_at": at})
    if event.type == "wallet.onboarding_state_changed":
        provider_state = p["provider_state"]
        status = STATUS_OF_STATE.get(provider_state, state.status)
        if status == "active" and not p.get("sub_mchid"):
            status = "applying"
        return state.model_copy(
            update={
                "status": status,
                "provider_state": provider_state,
                "provider_state_desc": p.get("provider_state_desc"),
                "sub_mchid": p.get("sub_mchid") or state.sub_mchid,
                "sign_url": p.get("sign_url"),
                "audit_detail": list(p.get("audit_detail") or []),
                "updated_at": at,
            }
        )
    if event.type == "wallet.collection_activated":
        return state.model_copy(update={"activated": True, "status": "active", "updated_at": at})
    if event.type == "wallet.settlement_card_change_requested":
        change = {"account_bank": p["account_bank"], "account_number_masked": p["account_number_masked"]}
        return state.model_copy(
            update={"settlement_application_no": p["application_no"], "settlement_change": change, "updated_at": at}
        )
    return state


ActivationMasks = (
    "real_name_masked",
    "id_card_number_masked",
    "mobile_masked",
    "account_bank",
    "bank_address_code",
    "account_number_masked",
)

ONBOARDING: Aggregate[Onboarding, OnboardingCommand] = Aggregate(
    "wallet.onboarding",
    Onboarding,
    evolve_onboarding,
    decide_onboarding,
    state_model=Onboarding,
    events=(
        "wallet.onboarding_requested",
        "wallet.onboarding_submitted",
        "wallet.onboarding_refused",
        "wallet.onboarding_state_changed",
        "wallet.collection_activated",
        "wallet.settlement_card_change_requested",
    ),
)


def refuse_activation(state: Onboarding) -> None:
    """Why a new application cannot start now (409), or nothing."""
    if state.status == "active":
        raise Conflict("WeChat collection is already active", code="already_active")
    if state.status == "frozen":
        raise Conflict("the WeChat sub-merchant is frozen", code="collection_frozen")
    if state.status == "applying":
        raise Conflict(
            "an application is under way", code="application_in_progress", details={"state": state.provider_state}
        )


# --- the seller's Alipay payee (royalty receiver) -------------------------------------------------------------------

PayeeStatus = Literal["none", "binding", "bound", "refused"]


class Payee(BaseModel):
    seller_id: str = ""
    attempt: int = 0
    alipay_user_id: str | None = None  # of the current attempt
    out_request_no: str | None = None
    name_masked: str | None = None
    status: PayeeStatus = "none"
    bound_user_id: str | None = None  # the account bound last: what royalties go to
    refusal: dict[str, str] | None = None
    updated_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.attempt > 0


class RequestPayee(BaseModel):
    seller_id: str
    alipay_user_id: str
    attempt: int
    out_request_no: str
    name_masked: str | None


class PayeeBound(BaseModel):
    out_request_no: str


class PayeeRefused(BaseModel):
    out_request_no: str
    provider_code: str
    message: str


def payee_attempt(state: Payee, alipay_user_id: str) -> tuple[int, bool]:
    """(the attempt to bind `alipay_user_id` under, whether it is already bound or being bound under that one)."""
    if state.alipay_user_id == alipay_user_id and state.status in ("binding", "bound"):
        return state.attempt, True
    return state.attempt + 1, False


def decide_payee(state: Payee, c: RequestPayee | PayeeBound | PayeeRefused) -> list[NewEvent]:
    if isinstance(c, RequestPayee):
        if c.attempt <= state.attempt:
            return []
        return [NewEvent.of(AlipayPayeeRequested(**c.model_dump(exclude={"attempt"})))]
    if c.out_request_no != state.out_request_no or state.status != "binding":
        return []
    assert state.alipay_user_id is not None
    if isinstance(c, PayeeBound):
        return [
            NewEvent.of(
                AlipayPayeeBound(
                    seller_id=state.seller_id, alipay_user_id=state.alipay_user_id, out_request_no=c.out_request_no
                )
            )
        ]
    return [
        NewEvent.of(
            AlipayPayeeRefused(seller_id=state.seller_id, alipay_user_id=state.alipay_user_id, **c.model_dump())
        )
    ]


def evolve_payee(state: Payee, event: RecordedEvent) -> Payee:
    p = event.payload
    at = event.occurred_at
    if event.type == "wallet.alipay_payee_requested":
        return state.model_copy(
            update={
                "seller_id": p["seller_id"],
                "attempt": state.attempt + 1,
                "alipay_user_id": p["alipay_user_id"],
                "out_request_no": p["out_request_no"],
                "name_masked": p.get("name_masked"),
                "status": "binding",
                "refusal": None,
                "updated_at": at,
            }
        )
    if event.type == "wallet.alipay_payee_bound":
        return state.model_copy(update={"status": "bound", "bound_user_id": p["alipay_user_id"], "updated_at": at})
    if event.type == "wallet.alipay_payee_refused":
        refusal = {"provider_code": p["provider_code"], "message": p["message"]}
        return state.model_copy(update={"status": "refused", "refusal": refusal, "updated_at": at})
    return state


PAYEE: Aggregate[Payee, RequestPayee | PayeeBound | PayeeRefused] = Aggregate(
    "wallet.alipay_payee",
    Payee,
    evolve_payee,
    decide_payee,
    state_model=Payee,
    events=("wallet.alipay_payee_requested", "wallet.alipay_payee_bound", "wallet.alipay_payee_refused"),
)
