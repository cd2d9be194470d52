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
    return view


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
    view: dict[str, Any] = {
        "mchid": order.mchid,
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
    if refund.success_time is not None:
        view["success_time"] = d.wire_time(refund.success_time)
    return view


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
