"""WeChat Pay callbacks: the envelope, its resource AES-GCM-encrypted under the APIv3 key, platform-signed, queued."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from services.sandbox.wechat import domain as d
from services.sandbox.wechat import views
from services.sandbox.wechat.runtime import Wechat
from shared.protocols import wechatpay as wp

log = logging.getLogger("sandbox.wechat")

REFUND_SUMMARY = {d.SUCCESS: "退款成功", d.ABNORMAL: "退款异常", d.CLOSED: "退款关闭"}


async def send(
    wechat: Wechat,
    *,
    event_type: str,
    summary: str,
    original_type: str,
    resource: dict[str, Any],
    key: str,
    url: str | None,
    attrs: dict[str, str],
) -> None:
    """Encrypt, sign and queue one notification; nothing is sent when there is nowhere to send it."""
    if not url:
        return
    now = wechat.now()
    body = wp.build_notification_body(
        event_id=wechat.ids.event_id(),
        create_time=d.wire_time(now),
        event_type=event_type,
        summary=summary,
        original_type=original_type,
        resource=resource,
        apiv3_key=wechat.apiv3_key,
        nonce=wp.new_nonce(wp.AES_NONCE_BYTES),
        associated_data=original_type,
    )
    nonce = wp.new_nonce()
    timestamp = int(now.timestamp())
    signing = wechat.keys.signing_key("notification")
    headers = wp.sign_response(
        body,
        private_key=signing.private_key,
        serial_no=signing.serial,
        timestamp=timestamp,
        nonce=nonce,
    )
    # Taken here, before the notifier consults the registry: it would consume a corrupt_signature rule unapplied.
    fault = wechat.faults.take(
        "wechat.notify", {"topic": event_type, "key": key, **attrs}, actions={"corrupt_signature"}
    )
    if fault is not None:
        log.info("fault corrupt_signature on notification %s %s", event_type, key)
        headers[wp.HEADER_SIGNATURE] = wechat.wrong_signature(wp.response_message(timestamp, nonce, body))
    headers["Content-Type"] = "application/json"
    await wechat.notifier.enqueue(
        "wechat",
        topic=event_type,
        key=key,
        url=url,
        body=body.decode("utf-8"),
        headers=headers,
        fault_attrs=attrs,
        resign=fault is None,
    )


def signer(wechat: Wechat) -> Callable[[bytes], dict[str, str]]:
    """Headers for a retry: WeChat signs each delivery attempt with the time it is sent."""

    def sign(body: bytes) -> dict[str, str]:
        key = wechat.keys.signing_key("notification")
        return wp.sign_response(
            body,
            private_key=key.private_key,
            serial_no=key.serial,
            timestamp=int(wechat.now().timestamp()),
            nonce=wp.new_nonce(),
        )

    return sign


async def transaction_paid(wechat: Wechat, state: d.Transaction) -> None:
    order = state.order
    assert order is not None
    await send(
        wechat,
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=views.transaction(state),
        key=order.out_trade_no,
        url=order.notify_url,
        attrs={"out_trade_no": order.out_trade_no},
    )


async def refund_settled(wechat: Wechat, state: d.Transaction, refund: d.Refund) -> None:
    """REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED to the refund's notify_url, else the merchant's default."""
    order = state.order
    assert order is not None
    await send(
        wechat,
        event_type=f"REFUND.{refund.status}",
        summary=REFUND_SUMMARY[refund.status],
        original_type="refund",
        resource=views.refund_notification(state, refund),
        key=refund.out_refund_no,
        url=refund.notify_url or wechat.settings.default_notify_url or None,
        attrs={"out_trade_no": order.out_trade_no, "out_refund_no": refund.out_refund_no},
    )


async def transfer_finished(wechat: Wechat, transfer: d.Transfer) -> None:
    bill = transfer.bill
    assert bill is not None
    await send(
        wechat,
        event_type="MCHTRANSFER.BILL.FINISHED",
        summary="商家转账单据终态通知",
        original_type="mch_payment",
        resource=views.transfer_notification(transfer),
        key=bill.out_bill_no,
        url=bill.notify_url,
        attrs={"out_bill_no": bill.out_bill_no},
    )


WITHDRAW_SUMMARY = {
    d.WITHDRAW_SUCCESS: "提现成功",
    d.WITHDRAW_FAIL: "提现失败",
    d.WITHDRAW_REFUND: "提现退票",
    d.WITHDRAW_CREATED: "提现受理成功",
}


async def withdrawal_changed(wechat: Wechat, resource: dict[str, Any], withdrawal: d.Withdrawal) -> None:
    """MCHWITHDRAW.CHANGE to the withdrawal's notify_url (none if it gave none)."""
    await send(
        wechat,
        event_type="MCHWITHDRAW.CHANGE",
        summary=WITHDRAW_SUMMARY.get(withdrawal.status, "提现状态变更"),
        original_type="mch_withdraw",
        resource=resource,
        key=withdrawal.out_request_no,
        url=withdrawal.notify_url,
        attrs={"out_request_no": withdrawal.out_request_no},
    )
