"""Events that arrive before what they depend on (issue 10, item 10): retried with back-off, applied once they fit,
parked in the DLQ with their reason if they never do; never acked as done without their effect."""

from __future__ import annotations

from typing import Any

import aio_pika

from services.payment.domain import payment_id_for
from shared.ids import new_id
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import AMQP_URL, eventually


async def dead_letters(payments: PaymentClient) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(f"{payments.name}.events.dlq")
        parked = []
        # Unacked, so they go back to the queue (for a person) when the connection closes.
        while (message := await queue.get(no_ack=False, fail=False)) is not None and len(parked) < 500:
            parked.append(message)
        return parked


async def test_a_refund_approved_before_the_payment_succeeded_is_applied_once_it_does(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch("payment.refunded.v1")
    openid = await payments.openid()
    order = payments.order("wechat_pay", openid=openid)
    pid = payment_id_for(order["order_id"])
    # WeChat's notification is late: refund.approved overtakes the success it depends on.
    await payments.fault(target="wechat.notify", action="delay", delay_s=0.3, match={"key": pid})
    payment = await payments.create(order)
    assert (await payments.wechat_pay(payment, openid)).status == 200
    refund_id = await payments.approve_refund(payment, 35_000)
    events = await eventually(
        lambda: _refunded(seen, refund_id), until=bool, what="refund applied after the success", timeout_s=30
    )
    assert events[0].payload["amount_fen"] == 35_000


async def test_a_refund_approved_for_a_payment_that_never_comes_is_parked_with_its_reason(
    payments: PaymentClient,
) -> None:
    missing = payment_id_for(new_id("ord"))
    refund_id = await payments.approve_refund(
        {"order_id": "ord_x", "buyer_id": "usr_b", "seller_id": "usr_s", "id": missing}, 100
    )

    async def parked() -> list[dict[str, Any]]:
        return [dict(m.headers) for m in await dead_letters(payments) if refund_id.encode() in m.body]

    [headers] = await eventually(parked, until=bool, what="refund.approved in the DLQ", timeout_s=30)
    # Retried first (a payment may be created a moment later), then parked with why.
    assert int(headers["x-fishbridge-attempt"]) >= 2 and "not_found" in str(headers["x-fishbridge-error"])


async def _refunded(seen: list[Any], refund_id: str) -> list[Any]:
    return [e for e in seen if e.payload.get("refund_id") == refund_id]
