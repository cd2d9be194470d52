"""WeChat's JSON shapes of transactions, refunds and transfer bills, for API answers and notification resources."""

from __future__ import annotations

from typing import Any

from services.sandbox.wechat import domain as d

# Paid from the buyer's WeChat balance: WeChat reports bank_type OTHERS and refunds to 支付用户零钱.
BANK_TYPE = "OTHERS"
USER_RECEIVED_ACCOUNT = "支付用户零钱"


def transaction(state: d.Transaction) -> dict[str, Any]:
    """The query answer, also the decrypted TRANSACTION.SUCCESS resource."""
    order = state.order
    assert order is not None
    trade_state = state.trade_state
    view: dict[str, Any] = {
        "appid": order.appid,
        "mchid": order.mchid,
        "out_trade_no": order.out_trade_no,
        "trade_state": trade_state,
        "trade_state_desc": d.TRADE_STATE_DESC[trade_state],
        "amount": {"total": order.total_fen, "currency": "CNY", "payer_currency": "CNY"},
        "payer": {},
        "promotion_detail": [],
    }
    if state.paid_at is not None and state.transaction_id is not None:
        view.update(
            {
                "transaction_id": state.transaction_id,
                "trade_type": "JSAPI",
                "bank_type": BANK_TYPE,
                "success_time": d.wire_time(state.paid_at),
                "payer": {"openid": order.openid},
            }
        )
        view["amount"]["payer_total"] = order.total_fen
        if order.attach is not None:
            view["attach"] = order.attach
    return _partner_transaction(order, view) if order.partner else view


def _partner_transaction(order: d.Order, view: dict[str, Any]) -> dict[str, Any]:
    """A partner order names the platform (sp_appid, sp_mchid), the seller (sub_mchid) and payer.sp_openid."""
    partner: dict[str, Any] = {"sp_appid": order.appid, "sp_mchid": order.mchid, "sub_mchid": order.sub_mchid}
    partner.update({k: v for k, v in view.items() if k not in ("appid", "mchid", "payer")})
    partner["payer"] = {"sp_openid": view["payer"]["openid"]} if view["payer"] else {}
    partner["settle_info"] = {"profit_sharing": bool(order.profit_sharing)}
    return partner


def refund(state: d.Transaction, refund: d.Refund) -> dict[str, Any]:
    """The answer of the refund request and of the refund query."""
    order = state.order
    assert order is not None and state.transaction_id is not None
    view: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": state.transaction_id,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": USER_RECEIVED_ACCOUNT,
        "create_time": d.wire_time(refund.created_at),
        "status": refund.status,
        "funds_account": refund.funds_account or "AVAILABLE",
        "amount": {
            "total": refund.total_fen,
            "refund": refund.amount_fen,
            "from": [],
            "payer_total": refund.total_fen,
            "payer_refund": refund.amount_fen,
            "settlement_refund": refund.amount_fen,
            "settlement_total": refund.total_fen,
            "discount_refund": 0,
            "currency": "CNY",
            "refund_fee": 0,
        },
        "promotion_detail": [],
    }
    if refund.success_time is not None:
        view["success_time"] = d.wire_time(refund.success_time)
    return view


def refund_notification(state: d.Transaction, refund: d.Refund) -> dict[str, Any]:
    order = state.order
    assert order is not None and state.transaction_id is not None
    merchant = {"sp_mchid": order.mchid, "sub_mchid": order.sub_mchid} if order.partner else {"mchid": order.mchid}
    view: dict[str, Any] = {
        **merchant,
        "out_trade_no": order.out_trade_no,
        "transaction_id": state.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund.status,
        "user_received_account": USER_RECEIVED_ACCOUNT,
        "amount": {
            "total": refund.total_fen,
            "refund": refund.amount_fen,
            "payer_total": refund.total_fen,
            "payer_refund": refund.amount_fen,
        },
    }
    if order.partner:
        view["refund_account"] = refund.refund_account or "REFUND_SOURCE_SUB_MERCHANT"
    if refund.success_time is not None:
        view["success_time"] = d.wire_time(refund.success_time)
    return view


def _ecommerce_refund_amount(refund: d.Refund) -> dict[str, Any]:
    return {
        "refund": refund.amount_fen,
        "from": [],
        "payer_refund": refund.amount_fen,
        "discount_refund": 0,
        "currency": "CNY",
        "advance": 0,
    }


def ecommerce_refund_created(refund: d.Refund) -> dict[str, Any]:
    """The answer of /v3/ecommerce/refunds/apply: accepted only, the outcome comes by query or notification."""
    return {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "create_time": d.wire_time(refund.created_at),
        "amount": _ecommerce_refund_amount(refund),
        "promotion_detail": [],
        "refund_account": refund.refund_account or "REFUND_SOURCE_SUB_MERCHANT",
    }


def ecommerce_refund(state: d.Transaction, refund: d.Refund) -> dict[str, Any]:
    """The answer of the e-commerce refund queries."""
    order = state.order
    assert order is not None and state.transaction_id is not None
    view: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": state.transaction_id,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": USER_RECEIVED_ACCOUNT,
        "create_time": d.wire_time(refund.created_at),
        "status": refund.status,
        "amount": _ecommerce_refund_amount(refund),
        "promotion_detail": [],
        "refund_account": refund.refund_account or "REFUND_SOURCE_SUB_MERCHANT",
        "funds_account": refund.funds_account or ("UNSETTLED" if order.profit_sharing else "AVAILABLE"),
    }
    if refund.success_time is not None:
        view["success_time"] = d.wire_time(refund.success_time)
    return view


def split(sub_mchid: str, split: d.Split) -> dict[str, Any]:
    """A profit-sharing order (分账单) or a finish-order, as the request answers and the query shows it."""
    receivers: list[dict[str, Any]] = []
    for r in split.receivers:
        receiver: dict[str, Any] = {
            "receiver_mchid": r["receiver_account"],
            "type": r["type"],
            "receiver_account": r["receiver_account"],
            "amount": r["amount"],
            "description": r["description"],
            "result": "SUCCESS" if split.status == d.SPLIT_FINISHED else "PENDING",
            "detail_id": split.order_id + f"{len(receivers):02d}",
        }
        if split.finished_at is not None:
            receiver["finish_time"] = d.wire_time(split.finished_at)
        receivers.append(receiver)
    view: dict[str, Any] = {
        "sub_mchid": sub_mchid,
        "transaction_id": split.transaction_id,
        "out_order_no": split.out_order_no,
        "order_id": split.order_id,
        "status": split.status,
        "receivers": receivers,
    }
    if split.finish_amount is not None:
        view["finish_amount"] = split.finish_amount
        view["finish_description"] = split.finish_description or "分账完结"
    return view


def profitsharing_return(sub_mchid: str, ret: d.Return) -> dict[str, Any]:
    view: dict[str, Any] = {
        "sub_mchid": sub_mchid,
        "order_id": ret.order_id,
        "out_order_no": ret.out_order_no,
        "out_return_no": ret.out_return_no,
        "return_mchid": ret.return_mchid,
        "amount": ret.amount_fen,
        "return_no": ret.return_id,
        "result": ret.result,
        "description": ret.description,
    }
    if ret.fail_reason is not None:
        view["fail_reason"] = ret.fail_reason
    if ret.finished_at is not None:
        view["finish_time"] = d.wire_time(ret.finished_at)
    return view


def withdrawal(sp_mchid: str, sub_mchid: str, w: d.Withdrawal, sub_merchant: dict[str, Any]) -> dict[str, Any]:
    """The withdrawal queries, also the MCHWITHDRAW.CHANGE resource; the bank account is the sub-merchant's
    settlement card, its number shown by its last 4 digits."""
    settlement = sub_merchant.get("settlement") or {}
    view: dict[str, Any] = {
        "sub_mchid": sub_mchid,
        "sp_mchid": sp_mchid,
        "status": w.status,
        "withdraw_id": w.withdraw_id,
        "out_request_no": w.out_request_no,
        "amount": w.amount_fen,
        "create_time": d.wire_time(w.created_at),
        "update_time": d.wire_time(w.updated_at),
        "reason": w.reason or "",
        "remark": w.remark or "",
        "bank_memo": w.bank_memo or "",
        "account_type": w.account_type,
        "account_number": str(settlement.get("account_number_last4", "")),
        "account_bank": str(settlement.get("account_bank", "")),
        "bank_name": str(settlement.get("bank_name", "")),
    }
    return view


def account(mchid: str, state: d.Account) -> dict[str, Any]:
    """Test-only: every balance of one merchant account, for tests and reconciliation to compare."""
    return {
        "mchid": mchid,
        **state.balances(),
        "frozen": {tx: h.frozen_fen for tx, h in state.held.items() if h.frozen_fen},
        "transactions": {
            tx: {
                "out_trade_no": h.out_trade_no,
                "total_fen": h.total_fen,
                "profit_sharing": h.profit_sharing,
                "frozen_fen": h.frozen_fen,
                "split_fen": h.split_fen,
                "refunded_fen": h.refunded_fen,
                "finished": h.finished,
            }
            for tx, h in state.held.items()
        },
    }


def transfer_created(transfer: d.Transfer) -> dict[str, Any]:
    bill = transfer.bill
    assert bill is not None and transfer.created_at is not None
    view = {
        "out_bill_no": bill.out_bill_no,
        "transfer_bill_no": transfer.transfer_bill_no,
        "create_time": d.wire_time(transfer.created_at),
        "state": transfer.state,
    }
    if transfer.state == d.WAIT_USER_CONFIRM and transfer.package_info is not None:
        view["package_info"] = transfer.package_info
    return view


def transfer(transfer: d.Transfer) -> dict[str, Any]:
    """The answer of the transfer-bill queries."""
    bill = transfer.bill
    assert bill is not None and transfer.created_at is not None and transfer.updated_at is not None
    view: dict[str, Any] = {
        "mch_id": bill.mchid,
        "out_bill_no": bill.out_bill_no,
        "transfer_bill_no": transfer.transfer_bill_no,
        "appid": bill.appid,
        "state": transfer.state,
        "transfer_amount": bill.amount_fen,
        "transfer_remark": bill.remark,
        "openid": bill.openid,
        "create_time": d.wire_time(transfer.created_at),
        "update_time": d.wire_time(transfer.updated_at),
    }
    if transfer.fail_reason is not None:
        view["fail_reason"] = transfer.fail_reason
    return view


# The MCHTRANSFER.BILL.FINISHED resource: the query's fields without appid and transfer_remark, in this order.
TRANSFER_NOTIFICATION_FIELDS = (
    "out_bill_no",
    "transfer_bill_no",
    "state",
    "mch_id",
    "transfer_amount",
    "openid",
    "create_time",
    "update_time",
    "fail_reason",
)


def transfer_notification(state: d.Transfer) -> dict[str, Any]:
    view = transfer(state)
    return {k: view[k] for k in TRANSFER_NOTIFICATION_FIELDS if k in view}
