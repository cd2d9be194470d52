"""Payouts (alipay.fund.trans.uni.transfer): their biz_content and the transfer state machine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import Field, model_validator

from services.sandbox.alipay.domain.biz import Biz, BizError
from services.sandbox.alipay.domain.ids import USER_ID_RE
from services.sandbox.alipay.domain.wire import MAX_AMOUNT_FEN, Yuan
from services.sandbox.records import from_payload, to_payload
from shared.aggregate import Aggregate, NewEvent, RecordedEvent


class BankcardExtInfo(Biz):
    account_type: Literal["1", "2"]  # 1 corporate, 2 personal
    inst_name: str | None = None
    inst_province: str | None = None
    inst_city: str | None = None
    inst_branch_name: str | None = None
    bank_code: str | None = None

    @model_validator(mode="after")
    def _corporate_needs_bank(self) -> BankcardExtInfo:
        if self.account_type == "1" and not (
            self.bank_code or (self.inst_name and self.inst_province and self.inst_city and self.inst_branch_name)
        ):
            raise ValueError("a corporate account needs bank_code or inst_name, inst_province, inst_city, branch")
        return self


class PayeeInfo(Biz):
    identity: str = Field(min_length=1, max_length=100)
    identity_type: Literal["BANKCARD_ACCOUNT", "ALIPAY_USER_ID", "ALIPAY_LOGON_ID"]
    name: str | None = Field(default=None, max_length=100)
    bankcard_ext_info: BankcardExtInfo | None = None


class TransferBiz(Biz):
    out_biz_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    trans_amount: Annotated[Yuan, Field(ge=10, le=MAX_AMOUNT_FEN)]  # at least 0.10 yuan
    product_code: Literal["TRANS_BANKCARD_NO_PWD", "TRANS_ACCOUNT_NO_PWD"]
    biz_scene: Literal["DIRECT_TRANSFER"]
    order_title: str = Field(min_length=1, max_length=128)
    payee_info: PayeeInfo
    remark: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _payee_fits_product(self) -> TransferBiz:
        payee = self.payee_info
        if self.product_code == "TRANS_BANKCARD_NO_PWD":
            if payee.identity_type != "BANKCARD_ACCOUNT":
                raise ValueError("TRANS_BANKCARD_NO_PWD pays a BANKCARD_ACCOUNT")
            if not payee.name or payee.bankcard_ext_info is None:
                raise ValueError("a bank card payee needs name and bankcard_ext_info")
        else:
            if payee.identity_type == "BANKCARD_ACCOUNT":
                raise ValueError("TRANS_ACCOUNT_NO_PWD pays an ALIPAY_USER_ID or ALIPAY_LOGON_ID")
            if payee.identity_type == "ALIPAY_USER_ID" and not USER_ID_RE.fullmatch(payee.identity):
                raise ValueError("an ALIPAY_USER_ID is 16 digits starting with 2088")
            if payee.identity_type == "ALIPAY_LOGON_ID" and not payee.name:
                raise ValueError("an ALIPAY_LOGON_ID payee needs name")
        return self


class TransferQueryBiz(Biz):
    out_biz_no: str | None = None
    order_id: str | None = None
    pay_fund_order_id: str | None = None
    product_code: str | None = None
    biz_scene: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> TransferQueryBiz:
        if not (self.out_biz_no or self.order_id or self.pay_fund_order_id):
            raise ValueError("out_biz_no, order_id or pay_fund_order_id is required")
        if self.out_biz_no and not (self.order_id or self.pay_fund_order_id):
            if not (self.product_code and self.biz_scene):
                raise ValueError("product_code and biz_scene are required with out_biz_no")
        return self


TransferStatus = Literal["SUCCESS", "FAIL", "DEALING", "REFUND"]


@dataclass(frozen=True)
class TransferOrder:
    app_id: str
    out_biz_no: str
    amount_fen: int
    product_code: str
    biz_scene: str
    order_title: str
    payee_identity: str
    payee_identity_type: str
    payee_name: str | None
    remark: str | None = None

    def same_terms(self, other: TransferOrder) -> bool:
        keys = ("amount_fen", "product_code", "payee_identity", "payee_identity_type", "payee_name")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


@dataclass(frozen=True)
class TransferState:
    order: TransferOrder | None = None
    order_id: str = ""
    pay_fund_order_id: str = ""
    created_at: datetime | None = None
    initial: str = "DEALING"
    settle_at: datetime | None = None  # a DEALING transfer becomes SUCCESS at this time (None: only when told)
    settled: str | None = None
    settled_at: datetime | None = None
    error_code: str | None = None
    fail_reason: str | None = None
    returned_at: datetime | None = None

    def status(self, now: datetime) -> TransferStatus:
        if self.order is None:
            raise ValueError("no transfer")
        if self.returned_at is not None:
            return "REFUND"
        current = self.settled or self.initial
        if current == "DEALING" and self.settle_at is not None and now >= self.settle_at:
            current = "SUCCESS"
        if current not in ("SUCCESS", "FAIL", "DEALING"):
            raise ValueError(f"unknown transfer status {current!r}")
        return cast(TransferStatus, current)

    def paid_at(self, now: datetime) -> datetime | None:
        status = self.status(now)
        if status not in ("SUCCESS", "REFUND"):
            return None
        if self.settled_at is not None:
            return self.settled_at
        if self.initial == "DEALING":
            return self.settle_at
        return self.created_at


@dataclass(frozen=True)
class CreateTransfer:
    order: TransferOrder
    order_id: str
    pay_fund_order_id: str
    outcome: Literal["SUCCESS", "FAIL", "DEALING"]
    settle_at: datetime | None
    now: datetime


@dataclass(frozen=True)
class SettleTransfer:
    status: Literal["SUCCESS", "FAIL"]
    fail_reason: str | None
    now: datetime


@dataclass(frozen=True)
class ReturnTransfer:
    """退票: the bank sent a card payout back after reporting success."""

    reason: str
    now: datetime


TransferCommand = CreateTransfer | SettleTransfer | ReturnTransfer

ORDER_NOT_EXIST = ("ORDER_NOT_EXIST", "转账订单不存在")
DECLINE_REASON = ("PAYEE_CARD_INFO_ERROR", "收款方卡信息错误")


class TransferStateError(Exception):
    """A test-only transfer action that the transfer's state does not allow."""


def is_repeat(state: TransferState, order: TransferOrder) -> bool:
    """Whether this out_biz_no already has its transfer; a repeat with other terms is refused."""
    if state.order is None:
        return False
    if not state.order.same_terms(order):
        raise BizError("PAYMENT_INFO_INCONSISTENCY", "两次请求商户单号一样，但是参数不一致")
    return True


def decide_transfer(state: TransferState, cmd: TransferCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, CreateTransfer):
        if is_repeat(state, cmd.order):
            return []
        failed = cmd.outcome == "FAIL"
        return [
            NewEvent(
                "transfer.created",
                {
                    **to_payload(cmd.order),
                    "order_id": cmd.order_id,
                    "pay_fund_order_id": cmd.pay_fund_order_id,
                    "status": cmd.outcome,
                    "settle_at": cmd.settle_at,
                    "error_code": DECLINE_REASON[0] if failed else None,
                    "fail_reason": DECLINE_REASON[1] if failed else None,
                    "at": cmd.now,
                },
            )
        ]
    if state.order is None:
        raise TransferStateError("no such transfer")
    status = state.status(cmd.now)
    if isinstance(cmd, SettleTransfer):
        if status != "DEALING":
            raise TransferStateError(f"only a DEALING transfer can be settled; this one is {status}")
        reason = cmd.fail_reason or DECLINE_REASON[1]
        return [
            NewEvent(
                "transfer.settled",
                {
                    "status": cmd.status,
                    "error_code": DECLINE_REASON[0] if cmd.status == "FAIL" else None,
                    "fail_reason": reason if cmd.status == "FAIL" else None,
                    "at": cmd.now,
                },
            )
        ]
    if state.order.product_code != "TRANS_BANKCARD_NO_PWD":
        raise TransferStateError("only a bank card payout can be returned by the bank")
    if status != "SUCCESS":
        raise TransferStateError(f"only a SUCCESS payout can be returned; this one is {status}")
    return [NewEvent("transfer.returned", {"reason": cmd.reason, "at": cmd.now})]


def _transfer_order_from(p: dict[str, Any]) -> TransferOrder:
    return from_payload(TransferOrder, p)


def evolve_transfer(state: TransferState, event: RecordedEvent) -> TransferState:
    p = event.payload
    if event.type == "transfer.created":
        return replace(
            state,
            order=_transfer_order_from(p),
            order_id=p["order_id"],
            pay_fund_order_id=p["pay_fund_order_id"],
            created_at=p["at"],
            initial=p["status"],
            settle_at=p.get("settle_at"),
            error_code=p.get("error_code"),
            fail_reason=p.get("fail_reason"),
        )
    if event.type == "transfer.settled":
        return replace(
            state,
            settled=p["status"],
            settled_at=p["at"],
            error_code=p.get("error_code"),
            fail_reason=p.get("fail_reason"),
        )
    if event.type == "transfer.returned":
        return replace(state, returned_at=p["at"], error_code="REFUND", fail_reason=p["reason"])
    return state


TRANSFER: Aggregate[TransferState, TransferCommand] = Aggregate(
    name="alipay.transfer", initial=TransferState, evolve=evolve_transfer, decide=decide_transfer
)
