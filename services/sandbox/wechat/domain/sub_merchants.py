"""The sub-merchant registry (二级商户): one per sub_mchid, its state mirrored from its application, its settlement
card and the changes of that card (modify-settlement) with their review."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import Field

from services.sandbox.wechat.domain.applyments import (
    ACCOUNT_NUMBER,
    ACCOUNT_TYPE_BUSINESS,
    ACCOUNT_TYPE_PRIVATE,
    CIPHER,
    FINISH,
    FROZEN,
    NEED_SIGN,
    last4,
    luhn_ok,
    mask_name,
    mask_number,
)
from services.sandbox.wechat.domain.errors import StateError, invalid_request, param_error
from services.sandbox.wechat.domain.requests import Wire
from shared.aggregate import Aggregate, NewEvent, RecordedEvent

REGISTRY_STATES = {NEED_SIGN, FINISH, FROZEN}
VERIFY_SUCCESS = "VERIFY_SUCCESS"
AUDITING = "AUDITING"
AUDIT_SUCCESS = "AUDIT_SUCCESS"
AUDIT_FAIL = "AUDIT_FAIL"


class ModifySettlementRequest(Wire):
    modify_mode: str | None = Field(default=None, pattern=r"^MODIFY_MODE_ASYNC$")
    account_type: str = Field(pattern=rf"^({ACCOUNT_TYPE_BUSINESS}|{ACCOUNT_TYPE_PRIVATE})$")
    account_bank: str = Field(min_length=1, max_length=128)
    bank_address_code: str = Field(pattern=r"^\d{6}$")
    bank_name: str | None = Field(default=None, max_length=128)
    bank_branch_id: str | None = Field(default=None, max_length=64)
    account_number: str = CIPHER
    # Optional here: wechatpayv3's applyment_settlement_modify sends none; then the registered name is kept.
    account_name: str | None = Field(default=None, min_length=1, max_length=1024)


@dataclass(frozen=True)
class Settlement:
    """A settlement card as the sandbox keeps it: masks and the last four digits, never the number or the name."""

    account_type: str  # ACCOUNT_TYPE_BUSINESS | ACCOUNT_TYPE_PRIVATE
    account_bank: str
    bank_name: str | None
    bank_branch_id: str | None
    bank_address_code: str | None
    account_number_last4: str
    account_number_masked: str
    account_name_masked: str
    verify_result: str = VERIFY_SUCCESS

    def registry(self) -> dict[str, Any]:
        """The registry document's ``settlement`` (read by the partner-payment half of the sandbox)."""
        return {
            "account_type": self.account_type,
            "account_bank": self.account_bank,
            "bank_name": self.bank_name,
            "account_number_last4": self.account_number_last4,
            "account_name_masked": self.account_name_masked,
            "verify_result": self.verify_result,
        }


def settlement_of(
    *,
    account_type: str,
    account_bank: str,
    bank_name: str | None,
    bank_branch_id: str | None,
    bank_address_code: str | None,
    account_number: str,
    account_name_masked: str,
) -> Settlement:
    return Settlement(
        account_type=account_type,
        account_bank=account_bank,
        bank_name=bank_name,
        bank_branch_id=bank_branch_id,
        bank_address_code=bank_address_code,
        account_number_last4=last4(account_number),
        account_number_masked=mask_number(account_number),
        account_name_masked=account_name_masked,
    )


def requested_settlement(
    req: ModifySettlementRequest, account_number: str, account_name: str | None, *, current_name_masked: str
) -> tuple[Settlement, str | None]:
    """The card a change asks for, from its decrypted number and name, and the rule it fails (it then ends
    AUDIT_FAIL after the review), if any. A number that is not digits is refused now."""
    if not ACCOUNT_NUMBER.fullmatch(account_number):
        raise param_error(
            "account_number 格式错误 (银行账号: 8 to 30 digits)", {"location": "body", "field": "account_number"}
        )
    if account_name is not None and not account_name.strip():
        raise param_error("account_name 不能为空", {"location": "body", "field": "account_name"})
    failure = None
    if req.account_type == ACCOUNT_TYPE_PRIVATE and not luhn_ok(account_number):
        failure = "银行卡号校验失败 (a personal card number fails Luhn)"
    card = settlement_of(
        account_type=req.account_type,
        account_bank=req.account_bank,
        bank_name=req.bank_name,
        bank_branch_id=req.bank_branch_id,
        bank_address_code=req.bank_address_code,
        account_number=account_number,
        account_name_masked=mask_name(account_name) if account_name is not None else current_name_masked,
    )
    return card, failure


@dataclass(frozen=True)
class SettlementChange:
    application_no: str
    card: Settlement
    verify_result: str = AUDITING
    failure: str | None = None  # the rule it fails, decided when requested, applied when reviewed
    fail_reason: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class SubMerchant:
    sub_mchid: str | None = None
    sp_mchid: str = ""
    state: str = NEED_SIGN
    applyment_id: int | None = None
    out_request_no: str | None = None
    applyment_seq: int = 0  # the application's stream position this state mirrors (older mirrors are ignored)
    merchant_shortname: str = ""
    merchant_name: str | None = None
    settlement: Settlement | None = None
    changes: tuple[SettlementChange, ...] = ()
    created_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.sub_mchid is not None

    def change(self, application_no: str) -> SettlementChange | None:
        return next((c for c in self.changes if c.application_no == application_no), None)

    def registry(self) -> dict[str, Any]:
        """The ``wechat_sub_merchants`` document (``_id`` is the sub_mchid)."""
        assert self.sub_mchid is not None and self.settlement is not None
        return {
            "_id": self.sub_mchid,
            "sp_mchid": self.sp_mchid,
            "state": self.state,
            "applyment_id": self.applyment_id,
            "out_request_no": self.out_request_no,
            "merchant_shortname": self.merchant_shortname,
            "settlement": self.settlement.registry(),
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class MirrorApplyment:
    """The application opened the sub-merchant (NEED_SIGN) or moved it on (FINISH, FROZEN)."""

    sub_mchid: str
    sp_mchid: str
    state: str
    applyment_id: int | None
    out_request_no: str | None
    applyment_seq: int
    merchant_shortname: str
    merchant_name: str | None
    settlement: Settlement
    now: datetime


@dataclass(frozen=True)
class RequestSettlementChange:
    application_no: str
    card: Settlement
    failure: str | None
    now: datetime


@dataclass(frozen=True)
class ReviewSettlementChange:
    application_no: str
    now: datetime


SubMerchantCommand = MirrorApplyment | RequestSettlementChange | ReviewSettlementChange


def _decide(state: SubMerchant, cmd: SubMerchantCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, MirrorApplyment):
        if cmd.state not in REGISTRY_STATES:
            raise ValueError(f"a sub-merchant is {sorted(REGISTRY_STATES)}, not {cmd.state}")
        if not state.exists:
            payload = {**asdict(cmd), "at": cmd.now}
            del payload["now"]
            return [NewEvent("sub_merchant.opened", payload)]
        if cmd.applyment_seq <= state.applyment_seq or cmd.state == state.state:
            return []
        return [NewEvent("sub_merchant.state_changed", {"state": cmd.state, "applyment_seq": cmd.applyment_seq})]
    if not state.exists:
        raise StateError("no such sub-merchant")
    if isinstance(cmd, RequestSettlementChange):
        if state.state != FINISH:
            raise invalid_request(f"二级商户状态为 {state.state}，不能修改结算账户 (only a FINISH sub-merchant)")
        if any(c.verify_result == AUDITING for c in state.changes):
            raise invalid_request("存在审核中的修改申请，请等待审核完成 (a change of this card is still AUDITING)")
        payload = {
            "application_no": cmd.application_no,
            "card": asdict(cmd.card),
            "failure": cmd.failure,
            "at": cmd.now,
        }
        return [NewEvent("sub_merchant.settlement_change_requested", payload)]
    change = state.change(cmd.application_no)
    if change is None:
        raise StateError(f"no settlement change {cmd.application_no}")
    if change.verify_result != AUDITING:
        return []
    result = AUDIT_FAIL if change.failure else AUDIT_SUCCESS
    payload = {"application_no": cmd.application_no, "verify_result": result, "at": cmd.now}
    return [NewEvent("sub_merchant.settlement_change_reviewed", payload)]


def _evolve(state: SubMerchant, event: RecordedEvent) -> SubMerchant:
    p = event.payload
    if event.type == "sub_merchant.opened":
        return SubMerchant(
            sub_mchid=p["sub_mchid"],
            sp_mchid=p["sp_mchid"],
            state=p["state"],
            applyment_id=p.get("applyment_id"),
            out_request_no=p.get("out_request_no"),
            applyment_seq=p.get("applyment_seq", 0),
            merchant_shortname=p["merchant_shortname"],
            merchant_name=p.get("merchant_name"),
            settlement=Settlement(**p["settlement"]),
            created_at=p["at"],
        )
    if event.type == "sub_merchant.state_changed":
        return replace(state, state=p["state"], applyment_seq=p["applyment_seq"])
    if event.type == "sub_merchant.settlement_change_requested":
        change = SettlementChange(
            application_no=p["application_no"],
            card=Settlement(**p["card"]),
            failure=p.get("failure"),
            created_at=p["at"],
        )
        return replace(state, changes=(*state.changes, change))
    if event.type == "sub_merchant.settlement_change_reviewed":
        changes = []
        settlement = state.settlement
        for change in state.changes:
            if change.application_no == p["application_no"]:
                change = replace(
                    change,
                    verify_result=p["verify_result"],
                    fail_reason=change.failure if p["verify_result"] == AUDIT_FAIL else None,
                    finished_at=p["at"],
                )
                if change.verify_result == AUDIT_SUCCESS:
                    settlement = change.card
            changes.append(change)
        return replace(state, changes=tuple(changes), settlement=settlement)
    return state


SUB_MERCHANT: Aggregate[SubMerchant, SubMerchantCommand] = Aggregate(
    name="wechat.sub_merchant", initial=SubMerchant, evolve=_evolve, decide=_decide
)
