"""E-commerce money (平台收付通): each merchant's account stream decides its balances, splits, refunds and withdrawals.

One stream per merchant account (a seller's sub_mchid, or the platform's sp_mchid): every decision that moves money
of that account is an append to it, so a balance never goes negative however requests race. Each event carries the
balances after it (``after``). A seller's account also holds, per paid partner transaction, what is still frozen for
profit sharing, and the records of its splits, returns, refunds and withdrawals (they all draw on the same money).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, field_validator

from services.sandbox.wechat.domain.errors import StateError, WechatError, invalid_request, resource_not_exists
from services.sandbox.wechat.domain.requests import Wire, differing_terms
from services.sandbox.wechat.domain.transactions import OUT_REFUND_NO, OUT_TRADE_NO, TRANSACTION_ID, RefundAmount
from services.sandbox.wechat.domain.wire import check_notify_url
from shared.aggregate import Aggregate, NewEvent, RecordedEvent

OUT_ORDER_NO = r"^[0-9A-Za-z_\-|*@]{1,64}$"
OUT_REQUEST_NO = r"^[0-9A-Za-z_\-]{1,32}$"

# Profit sharing (providers.md §4): receivers get at most 30% of the order in total; at most 50 split requests per
# order; at most 20 returns per split. Withdrawals (§5) have no count limit.
MAX_SPLIT_RATIO_PERCENT = 30
MAX_SPLITS = 50
MAX_RETURNS = 20
MERCHANT_ID = "MERCHANT_ID"

# Split (分账单) and return (回退单) states; withdrawal states (providers.md §5).
SPLIT_PROCESSING = "PROCESSING"
SPLIT_FINISHED = "FINISHED"
RETURN_PROCESSING = "PROCESSING"
RETURN_SUCCESS = "SUCCESS"
RETURN_FAILED = "FAILED"
WITHDRAW_CREATED = "CREATE_SUCCESS"
WITHDRAW_SUCCESS = "SUCCESS"
WITHDRAW_FAIL = "FAIL"
WITHDRAW_REFUND = "REFUND"
WithdrawOutcome = Literal["SUCCESS", "FAIL"]
WITHDRAW_FAIL_REASON = "提现失败：收款银行账户异常 (the bank refused the payout)"
WITHDRAW_RETURN_REASON = "银行退票：收款账户状态异常 (the bank returned the payout)"
RETURN_NOT_ENOUGH = "BALANCE_NOT_ENOUGH"


def not_enough(message: str) -> WechatError:
    return WechatError(403, "NOT_ENOUGH", message)


def rule_limit(message: str) -> WechatError:
    return WechatError(403, "RULE_LIMIT", message)


# --- requests ----------------------------------------------------------------------------------------------------


class Receiver(Wire):
    type: Literal["MERCHANT_ID", "PERSONAL_OPENID"]
    receiver_account: str = Field(min_length=1, max_length=64)
    amount: StrictInt = Field(gt=0, le=10**12)
    description: str = Field(min_length=1, max_length=80)
    receiver_name: str | None = Field(default=None, max_length=1024)


class SplitRequest(Wire):
    appid: str | None = Field(default=None, max_length=32)
    sub_mchid: str = Field(min_length=1, max_length=32)
    transaction_id: str = Field(pattern=TRANSACTION_ID)
    out_order_no: str = Field(pattern=OUT_ORDER_NO)
    receivers: list[Receiver] = Field(min_length=1, max_length=50)
    finish: StrictBool

    def terms(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"appid", "sub_mchid"})


class FinishRequest(Wire):
    sub_mchid: str = Field(min_length=1, max_length=32)
    transaction_id: str = Field(pattern=TRANSACTION_ID)
    out_order_no: str = Field(pattern=OUT_ORDER_NO)
    description: str = Field(min_length=1, max_length=80)


class ReturnRequest(Wire):
    sub_mchid: str = Field(min_length=1, max_length=32)
    order_id: str | None = Field(default=None, min_length=1, max_length=64)
    out_order_no: str | None = Field(default=None, pattern=OUT_ORDER_NO)
    out_return_no: str = Field(pattern=OUT_ORDER_NO)
    return_mchid: str = Field(min_length=1, max_length=32)
    amount: StrictInt = Field(gt=0, le=10**12)
    description: str = Field(min_length=1, max_length=80)
    transaction_id: str | None = Field(default=None, pattern=TRANSACTION_ID)


class EcommerceRefundRequest(Wire):
    sub_mchid: str = Field(min_length=1, max_length=32)
    sp_appid: str = Field(min_length=1, max_length=32)
    sub_appid: str | None = Field(default=None, max_length=32)
    transaction_id: str | None = Field(default=None, pattern=TRANSACTION_ID)
    out_trade_no: str | None = Field(default=None, pattern=OUT_TRADE_NO)
    out_refund_no: str = Field(pattern=OUT_REFUND_NO)
    reason: str | None = Field(default=None, max_length=80)
    amount: RefundAmount
    notify_url: str | None = None
    refund_account: Literal["REFUND_SOURCE_SUB_MERCHANT", "REFUND_SOURCE_PARTNER_ADVANCE"] = (
        "REFUND_SOURCE_SUB_MERCHANT"
    )
    funds_account: Literal["AVAILABLE", "UNSETTLED", "PREPAID"] | None = None

    @field_validator("notify_url")
    @classmethod
    def _notify_url(cls, value: str | None) -> str | None:
        return None if value is None else check_notify_url(value)


class WithdrawRequest(Wire):
    sub_mchid: str = Field(min_length=1, max_length=32)
    out_request_no: str = Field(pattern=OUT_REQUEST_NO)
    amount: StrictInt = Field(gt=0, le=80_000_000_000)
    remark: str | None = Field(default=None, max_length=56)
    bank_memo: str | None = Field(default=None, max_length=32)
    account_type: Literal["BASIC", "OPERATION", "FEES"] = "BASIC"
    notify_url: str | None = None

    @field_validator("notify_url")
    @classmethod
    def _notify_url(cls, value: str | None) -> str | None:
        return None if value is None else check_notify_url(value)

    def terms(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"sub_mchid"})


# --- state -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """A paid partner transaction as the seller's account sees it."""

    transaction_id: str
    out_trade_no: str
    total_fen: int
    profit_sharing: bool
    frozen_fen: int = 0  # still frozen: what splits and finish-order can take (unsplit_amount)
    refunded_fen: int = 0  # refunds not CLOSED
    split_fen: int = 0  # given to receivers by accepted splits
    splits: int = 0  # split and finish requests
    in_flight: int = 0  # splits still PROCESSING
    finished: bool = False


@dataclass(frozen=True)
class Split:
    out_order_no: str
    order_id: str
    transaction_id: str
    receivers: tuple[dict[str, Any], ...]
    finish: bool
    status: str
    created_at: datetime
    terms: dict[str, Any]
    finished_at: datetime | None = None
    finish_amount: int | None = None  # finish-order (or finish=true): what was unfrozen to the seller
    finish_description: str | None = None
    returned: dict[str, int] = field(default_factory=dict)  # by receiver account, returns not FAILED

    @property
    def amount_fen(self) -> int:
        return sum(int(r["amount"]) for r in self.receivers)

    def given_to(self, account: str) -> int:
        return sum(int(r["amount"]) for r in self.receivers if r["receiver_account"] == account)


@dataclass(frozen=True)
class Return:
    out_return_no: str
    return_id: str
    out_order_no: str
    order_id: str
    transaction_id: str
    return_mchid: str
    amount_fen: int
    description: str
    result: str
    created_at: datetime
    fail_reason: str | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class RefundHold:
    out_refund_no: str
    transaction_id: str
    amount_fen: int
    from_frozen_fen: int
    from_available_fen: int
    released: bool = False


@dataclass(frozen=True)
class Withdrawal:
    out_request_no: str
    withdraw_id: str
    amount_fen: int
    remark: str | None
    bank_memo: str | None
    account_type: str
    notify_url: str | None
    terms: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class Account:
    available_fen: int = 0
    pending_fen: int = 0  # frozen for profit sharing, or in a split not yet FINISHED
    withdrawn_fen: int = 0  # withdrawals accepted and not failed or returned by the bank
    held: dict[str, Held] = field(default_factory=dict)
    splits: dict[str, Split] = field(default_factory=dict)
    returns: dict[str, Return] = field(default_factory=dict)
    refunds: dict[str, RefundHold] = field(default_factory=dict)
    withdrawals: dict[str, Withdrawal] = field(default_factory=dict)

    def balances(self) -> dict[str, int]:
        return {
            "available_fen": self.available_fen,
            "pending_fen": self.pending_fen,
            "withdrawn_fen": self.withdrawn_fen,
        }

    def split_by_order_id(self, order_id: str) -> Split | None:
        return next((s for s in self.splits.values() if s.order_id == order_id), None)


# --- commands ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditPayment:
    """A partner order was paid to this seller: frozen for profit sharing, else available at once."""

    transaction_id: str
    out_trade_no: str
    total_fen: int
    profit_sharing: bool
    now: datetime


@dataclass(frozen=True)
class RequestSplit:
    out_order_no: str
    order_id: str
    transaction_id: str
    receivers: tuple[dict[str, Any], ...]
    finish: bool
    terms: dict[str, Any]
    platform_mchid: str
    now: datetime


@dataclass(frozen=True)
class FinishSplit:
    """The split was carried out: its money left the seller (the receivers are credited by the caller)."""

    out_order_no: str
    now: datetime


@dataclass(frozen=True)
class FinishOrder:
    out_order_no: str
    order_id: str
    transaction_id: str
    description: str
    now: datetime


@dataclass(frozen=True)
class Receive:
    """Money comes in from another account (a split to the platform, a return to the seller's available)."""

    cause: str
    amount_fen: int
    now: datetime


@dataclass(frozen=True)
class PayOut:
    """Money leaves available for another account (a return from the platform): NOT_ENOUGH if it is not there."""

    cause: str
    amount_fen: int
    now: datetime


@dataclass(frozen=True)
class RequestReturn:
    out_return_no: str
    return_id: str
    out_order_no: str | None
    order_id: str | None
    return_mchid: str
    amount_fen: int
    description: str
    now: datetime


@dataclass(frozen=True)
class CompleteReturn:
    out_return_no: str
    ok: bool
    fail_reason: str | None
    now: datetime


@dataclass(frozen=True)
class HoldRefund:
    out_refund_no: str
    transaction_id: str
    amount_fen: int
    now: datetime


@dataclass(frozen=True)
class ReleaseRefund:
    """A refund ended CLOSED: its money goes back where it came from."""

    out_refund_no: str
    now: datetime


@dataclass(frozen=True)
class Withdraw:
    out_request_no: str
    withdraw_id: str
    amount_fen: int
    remark: str | None
    bank_memo: str | None
    account_type: str
    notify_url: str | None
    terms: dict[str, Any]
    now: datetime


@dataclass(frozen=True)
class SettleWithdrawal:
    out_request_no: str
    status: WithdrawOutcome
    reason: str | None
    now: datetime


@dataclass(frozen=True)
class ReturnWithdrawal:
    """退票: the bank sends a SUCCESS withdrawal back; the money is available again."""

    out_request_no: str
    reason: str
    now: datetime


AccountCommand = (
    CreditPayment
    | RequestSplit
    | FinishSplit
    | FinishOrder
    | Receive
    | PayOut
    | RequestReturn
    | CompleteReturn
    | HoldRefund
    | ReleaseRefund
    | Withdraw
    | SettleWithdrawal
    | ReturnWithdrawal
)


# --- decisions ---------------------------------------------------------------------------------------------------


def _event(state: Account, type_: str, payload: dict[str, Any]) -> NewEvent:
    """The event with the balances it leaves behind, so every entry of the stream shows them."""
    after = _apply(state, type_, payload).balances()
    return NewEvent(type_, {**payload, "after": after})


def _held(state: Account, transaction_id: str) -> Held:
    held = state.held.get(transaction_id)
    if held is None:
        raise resource_not_exists(f"订单不存在 (no paid order of this sub_mchid has transaction_id {transaction_id})")
    return held


def _decide_split(state: Account, cmd: RequestSplit) -> list[NewEvent]:
    existing = state.splits.get(cmd.out_order_no)
    if existing is not None:
        if existing.terms != cmd.terms:
            differing = differing_terms(existing.terms, cmd.terms)
            raise invalid_request(f"商户分账单号重复 (out_order_no was used with other {differing})")
        return []  # 同一分账单号多次请求等同一次
    held = _held(state, cmd.transaction_id)
    if not held.profit_sharing:
        raise invalid_request("该笔订单不需要分账 (the order was placed without settle_info.profit_sharing=true)")
    if held.finished:
        raise invalid_request("分账已完结 (this order's profit sharing is finished: its rest was unfrozen)")
    if held.splits >= MAX_SPLITS:
        raise invalid_request(f"分账次数超过限制 (at most {MAX_SPLITS} split requests per order)")
    for receiver in cmd.receivers:
        if receiver["type"] != MERCHANT_ID or receiver["receiver_account"] != cmd.platform_mchid:
            raise invalid_request(
                f"分账接收方不存在 ({receiver['type']} {receiver['receiver_account']} was never added as a receiver; "
                f"the sandbox serves only the platform {cmd.platform_mchid}, a receiver by default)"
            )
    amount = sum(int(r["amount"]) for r in cmd.receivers)
    cap = held.total_fen * MAX_SPLIT_RATIO_PERCENT // 100
    if held.split_fen + amount > cap:
        raise invalid_request(
            f"分账金额超出最大分账比例 {MAX_SPLIT_RATIO_PERCENT}% (receivers may get {cap} fen of this order in total, "
            f"{held.split_fen} already split, {amount} asked)"
        )
    if amount > held.frozen_fen:
        raise not_enough(f"分账方待分账金额不足 ({held.frozen_fen} fen unsplit, {amount} asked)")
    payload = {
        "out_order_no": cmd.out_order_no,
        "order_id": cmd.order_id,
        "transaction_id": cmd.transaction_id,
        "receivers": list(cmd.receivers),
        "finish": cmd.finish,
        "terms": cmd.terms,
        "amount_fen": amount,
        "at": cmd.now,
    }
    return [_event(state, "split.accepted", payload)]


def _decide_finish_split(state: Account, cmd: FinishSplit) -> list[NewEvent]:
    split = state.splits.get(cmd.out_order_no)
    if split is None:
        raise StateError(f"no split {cmd.out_order_no}")
    if split.status == SPLIT_FINISHED:
        return []
    held = state.held[split.transaction_id]
    unfrozen = held.frozen_fen if split.finish and not held.finished else 0
    payload = {
        "out_order_no": cmd.out_order_no,
        "amount_fen": split.amount_fen,
        "unfrozen_fen": unfrozen,
        "at": cmd.now,
    }
    return [_event(state, "split.finished", payload)]


def _decide_finish_order(state: Account, cmd: FinishOrder) -> list[NewEvent]:
    existing = state.splits.get(cmd.out_order_no)
    if existing is not None:
        if existing.transaction_id != cmd.transaction_id or existing.receivers:
            raise invalid_request("商户分账单号重复 (out_order_no was used for another request)")
        return []
    held = _held(state, cmd.transaction_id)
    if not held.profit_sharing:
        raise invalid_request("该笔订单不需要分账 (the order was placed without settle_info.profit_sharing=true)")
    if held.finished:
        raise invalid_request("分账已完结 (this order's profit sharing is finished already)")
    if held.splits >= MAX_SPLITS:
        raise invalid_request(f"分账次数超过限制 (at most {MAX_SPLITS} split requests per order)")
    payload = {
        "out_order_no": cmd.out_order_no,
        "order_id": cmd.order_id,
        "transaction_id": cmd.transaction_id,
        "description": cmd.description,
        "unfrozen_fen": held.frozen_fen,
        "at": cmd.now,
    }
    return [_event(state, "split.order_finished", payload)]


def _decide_return(state: Account, cmd: RequestReturn) -> list[NewEvent]:
    existing = state.returns.get(cmd.out_return_no)
    if existing is not None:
        if (existing.amount_fen, existing.return_mchid) != (cmd.amount_fen, cmd.return_mchid) or (
            cmd.out_order_no not in (None, existing.out_order_no)
        ):
            raise invalid_request("商户回退单号重复 (out_return_no was used with other terms)")
        return []
    split = state.splits.get(cmd.out_order_no) if cmd.out_order_no else None
    if split is None and cmd.order_id:
        split = state.split_by_order_id(cmd.order_id)
    if split is None or not split.receivers:
        raise resource_not_exists("分账单不存在 (no split of this sub_mchid has this out_order_no or order_id)")
    if cmd.order_id is not None and cmd.order_id != split.order_id:
        raise invalid_request("order_id 与 out_order_no 不是同一分账单 (order_id and out_order_no differ)")
    if split.status != SPLIT_FINISHED:
        raise invalid_request("分账单未完成，不能回退 (the split is still PROCESSING: return after it FINISHED)")
    given = split.given_to(cmd.return_mchid)
    if given == 0:
        raise invalid_request(
            f"回退方 {cmd.return_mchid} 不是该分账单的分账接收方 (it received nothing from this split)"
        )
    returned = split.returned.get(cmd.return_mchid, 0)
    if returned + cmd.amount_fen > given:
        raise invalid_request(
            f"回退金额超过分账金额 ({given} fen split to {cmd.return_mchid}, {returned} returned, "
            f"{cmd.amount_fen} asked)"
        )
    if sum(1 for r in state.returns.values() if r.out_order_no == split.out_order_no) >= MAX_RETURNS:
        raise invalid_request(f"回退次数超过限制 (at most {MAX_RETURNS} returns per split)")
    payload = {
        "out_return_no": cmd.out_return_no,
        "return_id": cmd.return_id,
        "out_order_no": split.out_order_no,
        "order_id": split.order_id,
        "transaction_id": split.transaction_id,
        "return_mchid": cmd.return_mchid,
        "amount_fen": cmd.amount_fen,
        "description": cmd.description,
        "at": cmd.now,
    }
    return [_event(state, "return.requested", payload)]


def _decide_complete_return(state: Account, cmd: CompleteReturn) -> list[NewEvent]:
    ret = state.returns.get(cmd.out_return_no)
    if ret is None:
        raise StateError(f"no return {cmd.out_return_no}")
    if ret.result != RETURN_PROCESSING:
        return []
    payload = {"out_return_no": cmd.out_return_no, "fail_reason": cmd.fail_reason, "at": cmd.now}
    return [_event(state, "return.succeeded" if cmd.ok else "return.failed", payload)]


def _decide_hold_refund(state: Account, cmd: HoldRefund) -> list[NewEvent]:
    existing = state.refunds.get(cmd.out_refund_no)
    if existing is not None:
        if (existing.transaction_id, existing.amount_fen) != (cmd.transaction_id, cmd.amount_fen):
            raise invalid_request("订单金额或退款金额与之前请求不一致 (out_refund_no reused with other amounts)")
        if existing.released:
            raise invalid_request("退款单已关闭 (this out_refund_no gave its money back: refund under a new number)")
        return []
    held = _held(state, cmd.transaction_id)
    if cmd.amount_fen > held.total_fen - held.refunded_fen:
        raise invalid_request(
            f"申请退款金额超过订单可退金额 ({held.total_fen - held.refunded_fen} fen left, {cmd.amount_fen} asked)"
        )
    from_frozen = min(held.frozen_fen, cmd.amount_fen)
    from_available = cmd.amount_fen - from_frozen
    if from_available and held.in_flight:
        raise rule_limit("申请退款金额大于剩余未分账金额，请等待分账完成后再试 (a split of this order is PROCESSING)")
    if from_available > state.available_fen:
        raise not_enough(
            f"余额不足 ({held.frozen_fen} fen frozen for this order and {state.available_fen} fen available, "
            f"{cmd.amount_fen} asked)"
        )
    payload = {
        "out_refund_no": cmd.out_refund_no,
        "transaction_id": cmd.transaction_id,
        "amount_fen": cmd.amount_fen,
        "from_frozen_fen": from_frozen,
        "from_available_fen": from_available,
        "at": cmd.now,
    }
    return [_event(state, "refund.held", payload)]


def _decide_withdraw(state: Account, cmd: Withdraw) -> list[NewEvent]:
    existing = state.withdrawals.get(cmd.out_request_no)
    if existing is not None:
        if existing.terms != cmd.terms:
            differing = differing_terms(existing.terms, cmd.terms)
            raise invalid_request(f"商户提现单号重复，但参数不一致 (out_request_no was used with other {differing})")
        return []
    # Every fen a seller earns lands in BASIC: the OPERATION and FEES accounts are empty in the sandbox.
    available = state.available_fen if cmd.account_type == "BASIC" else 0
    if cmd.amount_fen > available:
        raise not_enough(f"可用余额不足 ({available} fen available in {cmd.account_type}, {cmd.amount_fen} asked)")
    payload = {
        "out_request_no": cmd.out_request_no,
        "withdraw_id": cmd.withdraw_id,
        "amount_fen": cmd.amount_fen,
        "remark": cmd.remark,
        "bank_memo": cmd.bank_memo,
        "account_type": cmd.account_type,
        "notify_url": cmd.notify_url,
        "terms": cmd.terms,
        "at": cmd.now,
    }
    return [_event(state, "withdraw.accepted", payload)]


WITHDRAW_TRANSITIONS: dict[str, set[str]] = {
    WITHDRAW_CREATED: {WITHDRAW_SUCCESS, WITHDRAW_FAIL},
    WITHDRAW_SUCCESS: {WITHDRAW_REFUND},
    WITHDRAW_FAIL: set(),
    WITHDRAW_REFUND: set(),
}


def _decide_withdrawal_change(state: Account, cmd: SettleWithdrawal | ReturnWithdrawal) -> list[NewEvent]:
    withdrawal = state.withdrawals.get(cmd.out_request_no)
    if withdrawal is None:
        raise StateError(f"no withdrawal {cmd.out_request_no}")
    status = cmd.status if isinstance(cmd, SettleWithdrawal) else WITHDRAW_REFUND
    if withdrawal.status == status:
        return []
    if status not in WITHDRAW_TRANSITIONS[withdrawal.status]:
        raise StateError(f"a {withdrawal.status} withdrawal cannot become {status}")
    reason = cmd.reason
    if status == WITHDRAW_FAIL:
        reason = reason or WITHDRAW_FAIL_REASON
    payload = {"out_request_no": cmd.out_request_no, "status": status, "reason": reason, "at": cmd.now}
    return [_event(state, "withdraw.changed", payload)]


def decide_account(state: Account, cmd: AccountCommand) -> Sequence[NewEvent]:
    if isinstance(cmd, CreditPayment):
        if cmd.transaction_id in state.held:
            return []
        payload = {
            "transaction_id": cmd.transaction_id,
            "out_trade_no": cmd.out_trade_no,
            "total_fen": cmd.total_fen,
            "profit_sharing": cmd.profit_sharing,
            "at": cmd.now,
        }
        return [_event(state, "account.paid", payload)]
    if isinstance(cmd, RequestSplit):
        return _decide_split(state, cmd)
    if isinstance(cmd, FinishSplit):
        return _decide_finish_split(state, cmd)
    if isinstance(cmd, FinishOrder):
        return _decide_finish_order(state, cmd)
    if isinstance(cmd, Receive):
        return [_event(state, "account.received", {"cause": cmd.cause, "amount_fen": cmd.amount_fen, "at": cmd.now})]
    if isinstance(cmd, PayOut):
        if cmd.amount_fen > state.available_fen:
            raise not_enough(f"可用余额不足 ({state.available_fen} fen available, {cmd.amount_fen} asked)")
        return [_event(state, "account.paid_out", {"cause": cmd.cause, "amount_fen": cmd.amount_fen, "at": cmd.now})]
    if isinstance(cmd, RequestReturn):
        return _decide_return(state, cmd)
    if isinstance(cmd, CompleteReturn):
        return _decide_complete_return(state, cmd)
    if isinstance(cmd, HoldRefund):
        return _decide_hold_refund(state, cmd)
    if isinstance(cmd, ReleaseRefund):
        hold = state.refunds.get(cmd.out_refund_no)
        if hold is None or hold.released:
            return []
        return [_event(state, "refund.released", {"out_refund_no": cmd.out_refund_no, "at": cmd.now})]
    if isinstance(cmd, Withdraw):
        return _decide_withdraw(state, cmd)
    return _decide_withdrawal_change(state, cmd)


# --- evolution ---------------------------------------------------------------------------------------------------


def _with_held(
    state: Account, held: Held, *, available_fen: int | None = None, pending_fen: int | None = None
) -> Account:
    return replace(
        state,
        held={**state.held, held.transaction_id: held},
        available_fen=state.available_fen if available_fen is None else available_fen,
        pending_fen=state.pending_fen if pending_fen is None else pending_fen,
    )


def _apply(state: Account, type_: str, p: dict[str, Any]) -> Account:
    if type_ == "account.paid":
        total = int(p["total_fen"])
        frozen = total if p["profit_sharing"] else 0
        held = Held(p["transaction_id"], p["out_trade_no"], total, bool(p["profit_sharing"]), frozen_fen=frozen)
        return _with_held(
            state, held, pending_fen=state.pending_fen + frozen, available_fen=state.available_fen + total - frozen
        )
    if type_ == "split.accepted":
        amount = int(p["amount_fen"])
        h = state.held[p["transaction_id"]]
        held = replace(
            h,
            frozen_fen=h.frozen_fen - amount,
            split_fen=h.split_fen + amount,
            splits=h.splits + 1,
            in_flight=h.in_flight + 1,
        )
        split = Split(
            out_order_no=p["out_order_no"],
            order_id=p["order_id"],
            transaction_id=p["transaction_id"],
            receivers=tuple(p["receivers"]),
            finish=bool(p["finish"]),
            status=SPLIT_PROCESSING,
            created_at=p["at"],
            terms=p["terms"],
        )
        return replace(_with_held(state, held), splits={**state.splits, split.out_order_no: split})
    if type_ == "split.finished":
        split = state.splits[p["out_order_no"]]
        h = state.held[split.transaction_id]
        unfrozen = int(p["unfrozen_fen"])
        held = replace(
            h, in_flight=h.in_flight - 1, frozen_fen=h.frozen_fen - unfrozen, finished=h.finished or split.finish
        )
        done = replace(
            split,
            status=SPLIT_FINISHED,
            finished_at=p["at"],
            finish_amount=unfrozen if split.finish else None,
        )
        return replace(
            _with_held(
                state,
                held,
                pending_fen=state.pending_fen - int(p["amount_fen"]) - unfrozen,
                available_fen=state.available_fen + unfrozen,
            ),
            splits={**state.splits, done.out_order_no: done},
        )
    if type_ == "split.order_finished":
        h = state.held[p["transaction_id"]]
        unfrozen = int(p["unfrozen_fen"])
        held = replace(h, frozen_fen=h.frozen_fen - unfrozen, finished=True, splits=h.splits + 1)
        record = Split(
            out_order_no=p["out_order_no"],
            order_id=p["order_id"],
            transaction_id=p["transaction_id"],
            receivers=(),
            finish=True,
            status=SPLIT_FINISHED,
            created_at=p["at"],
            terms={},
            finished_at=p["at"],
            finish_amount=unfrozen,
            finish_description=p.get("description"),
        )
        return replace(
            _with_held(
                state, held, pending_fen=state.pending_fen - unfrozen, available_fen=state.available_fen + unfrozen
            ),
            splits={**state.splits, record.out_order_no: record},
        )
    if type_ == "account.received":
        return replace(state, available_fen=state.available_fen + int(p["amount_fen"]))
    if type_ == "account.paid_out":
        return replace(state, available_fen=state.available_fen - int(p["amount_fen"]))
    if type_ == "return.requested":
        ret = Return(
            out_return_no=p["out_return_no"],
            return_id=p["return_id"],
            out_order_no=p["out_order_no"],
            order_id=p["order_id"],
            transaction_id=p["transaction_id"],
            return_mchid=p["return_mchid"],
            amount_fen=int(p["amount_fen"]),
            description=p["description"],
            result=RETURN_PROCESSING,
            created_at=p["at"],
        )
        split = state.splits[ret.out_order_no]
        returned = {**split.returned, ret.return_mchid: split.returned.get(ret.return_mchid, 0) + ret.amount_fen}
        return replace(
            state,
            returns={**state.returns, ret.out_return_no: ret},
            splits={**state.splits, split.out_order_no: replace(split, returned=returned)},
        )
    if type_ in ("return.succeeded", "return.failed"):
        ret = state.returns[p["out_return_no"]]
        ok = type_ == "return.succeeded"
        ended = replace(
            ret, result=RETURN_SUCCESS if ok else RETURN_FAILED, fail_reason=p.get("fail_reason"), finished_at=p["at"]
        )
        state = replace(state, returns={**state.returns, ended.out_return_no: ended})
        if ok:
            return replace(state, available_fen=state.available_fen + ret.amount_fen)
        split = state.splits[ret.out_order_no]
        returned = {**split.returned, ret.return_mchid: split.returned.get(ret.return_mchid, 0) - ret.amount_fen}
        return replace(state, splits={**state.splits, split.out_order_no: replace(split, returned=returned)})
    if type_ == "refund.held":
        h = state.held[p["transaction_id"]]
        frozen, available = int(p["from_frozen_fen"]), int(p["from_available_fen"])
        hold = RefundHold(p["out_refund_no"], p["transaction_id"], int(p["amount_fen"]), frozen, available)
        held = replace(h, frozen_fen=h.frozen_fen - frozen, refunded_fen=h.refunded_fen + hold.amount_fen)
        return replace(
            _with_held(
                state, held, pending_fen=state.pending_fen - frozen, available_fen=state.available_fen - available
            ),
            refunds={**state.refunds, hold.out_refund_no: hold},
        )
    if type_ == "refund.released":
        hold = state.refunds[p["out_refund_no"]]
        h = state.held[hold.transaction_id]
        # Frozen money goes back to the frozen funds while the order can still be split, else to available.
        back_frozen = 0 if h.finished else hold.from_frozen_fen
        back_available = hold.amount_fen - back_frozen
        held = replace(h, frozen_fen=h.frozen_fen + back_frozen, refunded_fen=h.refunded_fen - hold.amount_fen)
        return replace(
            _with_held(
                state,
                held,
                pending_fen=state.pending_fen + back_frozen,
                available_fen=state.available_fen + back_available,
            ),
            refunds={**state.refunds, hold.out_refund_no: replace(hold, released=True)},
        )
    if type_ == "withdraw.accepted":
        amount = int(p["amount_fen"])
        withdrawal = Withdrawal(
            out_request_no=p["out_request_no"],
            withdraw_id=p["withdraw_id"],
            amount_fen=amount,
            remark=p.get("remark"),
            bank_memo=p.get("bank_memo"),
            account_type=p["account_type"],
            notify_url=p.get("notify_url"),
            terms=p["terms"],
            status=WITHDRAW_CREATED,
            created_at=p["at"],
            updated_at=p["at"],
        )
        return replace(
            state,
            available_fen=state.available_fen - amount,
            withdrawn_fen=state.withdrawn_fen + amount,
            withdrawals={**state.withdrawals, withdrawal.out_request_no: withdrawal},
        )
    if type_ == "withdraw.changed":
        withdrawal = state.withdrawals[p["out_request_no"]]
        changed = replace(withdrawal, status=p["status"], reason=p.get("reason"), updated_at=p["at"])
        state = replace(state, withdrawals={**state.withdrawals, changed.out_request_no: changed})
        if p["status"] in (WITHDRAW_FAIL, WITHDRAW_REFUND):
            amount = withdrawal.amount_fen
            return replace(
                state, available_fen=state.available_fen + amount, withdrawn_fen=state.withdrawn_fen - amount
            )
        return state
    return state


def evolve_account(state: Account, event: RecordedEvent) -> Account:
    return _apply(state, event.type, event.payload)


ACCOUNT: Aggregate[Account, AccountCommand] = Aggregate(
    name="wechat.account", initial=Account, evolve=evolve_account, decide=decide_account
)
