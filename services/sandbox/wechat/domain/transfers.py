"""Transfer bills (商家转账): the request, its user-name rule and the transfer state machine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictInt, field_validator

from services.sandbox.records import from_payload, to_payload
from services.sandbox.wechat.domain.errors import (
    PayRefused,
    StateError,
    invalid_request,
    param_error,
    transfer_not_found,
)
from services.sandbox.wechat.domain.requests import Wire, differing_terms
from services.sandbox.wechat.domain.transactions import SUCCESS
from services.sandbox.wechat.domain.wire import check_notify_url
from shared.aggregate import Aggregate, NewEvent, RecordedEvent

OUT_BILL_NO = r"^[0-9A-Za-z]{5,32}$"


class SceneReportInfo(Wire):
    info_type: str = Field(min_length=1, max_length=15)
    info_content: str = Field(min_length=1, max_length=32)


class TransferRequest(Wire):
    appid: str = Field(min_length=1, max_length=32)
    out_bill_no: str = Field(pattern=OUT_BILL_NO)
    transfer_scene_id: str = Field(min_length=1, max_length=36)
    openid: str = Field(min_length=1, max_length=64)
    user_name: str | None = Field(default=None, min_length=1, max_length=1024)
    transfer_amount: StrictInt = Field(gt=0, le=10**12)
    transfer_remark: str = Field(min_length=1, max_length=32)
    notify_url: str | None = None
    user_recv_perception: str | None = Field(default=None, max_length=32)
    transfer_scene_report_infos: list[SceneReportInfo] = Field(default_factory=list, max_length=10)

    @field_validator("notify_url")
    @classmethod
    def _notify_url(cls, value: str | None) -> str | None:
        return None if value is None else check_notify_url(value)

    def terms(self) -> dict[str, Any]:
        # user_name is RSA-OAEP ciphertext, different on every encryption of the same name: compared by presence.
        terms = self.model_dump(mode="json", exclude={"user_name"})
        terms["user_name"] = self.user_name is not None
        return terms


# User names are required from 2,000 yuan up (payments.md C).
TRANSFER_USER_NAME_FROM_FEN = 200_000


def check_transfer_user_name(req: TransferRequest) -> None:
    if req.transfer_amount >= TRANSFER_USER_NAME_FROM_FEN and req.user_name is None:
        raise param_error(
            "转账金额 >= 2000元时，user_name 必填 (from 2000 yuan, user_name encrypted for the platform is required)"
        )


ACCEPTED = "ACCEPTED"
WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"
PROCESSING_TRANSFER = "PROCESSING"
FAIL = "FAIL"
CANCELING = "CANCELING"
CANCELLED = "CANCELLED"
# 退票: not a transfer-bills state. WeChat names a returned payout REFUND in its withdrawal API (payments.md C 3).
RETURNED = "REFUND"
FINAL_TRANSFER_STATES = {SUCCESS, FAIL, CANCELLED}
TransferOutcome = Literal["SUCCESS", "FAIL", "CANCELLED"]
TRANSFER_OUTCOMES: dict[str, TransferOutcome] = {"SUCCESS": "SUCCESS", "FAIL": "FAIL", "CANCELLED": "CANCELLED"}
DECLINE_REASON = "PAYEE_ACCOUNT_ABNORMAL"
BANK_RETURN_REASON = "BANK_CARD_STATUS_ABNORMAL"


@dataclass(frozen=True)
class TransferBill:
    appid: str
    mchid: str
    out_bill_no: str
    transfer_scene_id: str
    openid: str
    amount_fen: int
    remark: str
    notify_url: str | None
    user_name: bool
    terms: dict[str, Any]


def bill_from_request(req: TransferRequest, mchid: str) -> TransferBill:
    return TransferBill(
        appid=req.appid,
        mchid=mchid,
        out_bill_no=req.out_bill_no,
        transfer_scene_id=req.transfer_scene_id,
        openid=req.openid,
        amount_fen=req.transfer_amount,
        remark=req.transfer_remark,
        notify_url=req.notify_url,
        user_name=req.user_name is not None,
        terms=req.terms(),
    )


@dataclass(frozen=True)
class TransferPlan:
    """How WeChat will finish a bill once it may (at once, or when the user has confirmed receipt): its outcome,
    and after how many seconds; None holds it until a test settles it."""

    outcome: TransferOutcome = "SUCCESS"
    after_s: float | None = 0.0


@dataclass(frozen=True)
class Transfer:
    bill: TransferBill | None = None
    transfer_bill_no: str = ""
    state: str = ACCEPTED
    fail_reason: str | None = None
    package_info: str | None = None
    plan: TransferPlan = TransferPlan()
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CreateTransfer:
    """``package_info`` set: the user must confirm receipt in the mini-program (wx.requestMerchantTransfer) first."""

    bill: TransferBill
    transfer_bill_no: str
    plan: TransferPlan
    now: datetime
    package_info: str | None = None


@dataclass(frozen=True)
class ConfirmTransfer:
    """The payee confirms receipt on the page ``package_info`` opens."""

    openid: str
    package_info: str
    now: datetime


@dataclass(frozen=True)
class SettleTransfer:
    state: TransferOutcome
    fail_reason: str | None
    now: datetime


@dataclass(frozen=True)
class CancelTransfer:
    now: datetime


@dataclass(frozen=True)
class ReturnTransfer:
    reason: str
    now: datetime


TransferCommand = CreateTransfer | ConfirmTransfer | SettleTransfer | CancelTransfer | ReturnTransfer

# Where WeChat itself may take a bill: accepted or confirmed bills finish, a cancelled one (before the user received
# it) ends.
TRANSFER_TRANSITIONS: dict[str, set[str]] = {
    ACCEPTED: {SUCCESS, FAIL},
    PROCESSING_TRANSFER: {SUCCESS, FAIL},
    CANCELING: {CANCELLED},
}


def _decide_transfer(state: Transfer, cmd: TransferCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, CreateTransfer):
        if state.bill is None:
            payload = {
                **to_payload(cmd.bill),
                "transfer_bill_no": cmd.transfer_bill_no,
                "package_info": cmd.package_info,
                "plan": {"outcome": cmd.plan.outcome, "after_s": cmd.plan.after_s},
                "at": cmd.now,
            }
            return [NewEvent("transfer.accepted", payload)]
        if state.bill.terms != cmd.bill.terms:
            differing = differing_terms(state.bill.terms, cmd.bill.terms)
            raise invalid_request(f"商户单号重复，但参数不一致 (out_bill_no was used with other {differing})")
        return []  # the same request again: the same bill, never a second payment
    if state.bill is None:
        raise transfer_not_found()
    if isinstance(cmd, SettleTransfer):
        if state.state == cmd.state:
            return []
        if cmd.state not in TRANSFER_TRANSITIONS.get(state.state, set()):
            raise StateError(f"a {state.state} transfer cannot become {cmd.state}")
        reason = (cmd.fail_reason or DECLINE_REASON) if cmd.state == FAIL else None
        return [NewEvent("transfer.settled", {"state": cmd.state, "fail_reason": reason, "at": cmd.now})]
    if isinstance(cmd, ConfirmTransfer):
        return _decide_confirm(state, cmd)
    if isinstance(cmd, CancelTransfer):
        if state.state in (CANCELING, CANCELLED):
            return []
        if state.state not in (ACCEPTED, WAIT_USER_CONFIRM):
            raise invalid_request(
                f"单据状态为 {state.state}，不允许撤销 (only a bill not yet received can be cancelled)"
            )
        return [NewEvent("transfer.canceling", {"at": cmd.now})]
    if state.state == RETURNED:
        return []
    if state.state != SUCCESS:
        raise StateError(f"only a SUCCESS transfer can be returned by the bank, this one is {state.state}")
    return [NewEvent("transfer.returned", {"fail_reason": cmd.reason, "at": cmd.now})]


def _decide_confirm(state: Transfer, cmd: ConfirmTransfer) -> list[NewEvent]:
    assert state.bill is not None
    if cmd.package_info != state.package_info or state.package_info is None:
        raise PayRefused("package_info_mismatch", 400, "package_info 无效 (not this bill's package_info)")
    if cmd.openid != state.bill.openid:
        raise PayRefused("openid_mismatch", 403, "this user is not the bill's payee openid")
    if state.state != WAIT_USER_CONFIRM:
        raise PayRefused("transfer_not_waiting", 409, f"单据状态为 {state.state}，无需确认收款")
    return [NewEvent("transfer.confirmed", {"at": cmd.now})]


def _evolve_transfer(state: Transfer, event: RecordedEvent) -> Transfer:
    p = event.payload
    if event.type == "transfer.accepted":
        plan = p.get("plan") or {}
        package_info = p.get("package_info")
        return Transfer(
            bill=from_payload(TransferBill, p),
            transfer_bill_no=p["transfer_bill_no"],
            state=WAIT_USER_CONFIRM if package_info else ACCEPTED,
            package_info=package_info,
            plan=TransferPlan(outcome=plan.get("outcome", "SUCCESS"), after_s=plan.get("after_s", 0.0)),
            created_at=p["at"],
            updated_at=p["at"],
        )
    if event.type == "transfer.confirmed":
        return replace(state, state=PROCESSING_TRANSFER, updated_at=p["at"])
    if event.type == "transfer.settled":
        return replace(state, state=p["state"], fail_reason=p.get("fail_reason"), updated_at=p["at"])
    if event.type == "transfer.canceling":
        return replace(state, state=CANCELING, updated_at=p["at"])
    if event.type == "transfer.returned":
        return replace(state, state=RETURNED, fail_reason=p["fail_reason"], updated_at=p["at"])
    return state


TRANSFER: Aggregate[Transfer, TransferCommand] = Aggregate(
    name="wechat.transfer", initial=Transfer, evolve=_evolve_transfer, decide=_decide_transfer
)
