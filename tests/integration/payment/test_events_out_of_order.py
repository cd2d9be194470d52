"""Events that arrive before what they depend on (issue 10, item 10): retried with back-off, applied once they fit,
parked in the DLQ with their reason if they never do; never acked as done without their effect."""

from __future__ import annotations

import re
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


async def retried(payments: PaymentClient, routing_key: str) -> float:
    """How many deliveries of `routing_key` payment's consumer has sent back for a retry (its /metrics)."""
    async with payments.http.get(f"{payments.process.url}/metrics") as resp:
        text = await resp.text()
    pattern = re.compile(r'^events_retried_total\{[^}]*event="' + re.escape(routing_key) + r'"[^}]*\} (\S+)$', re.M)
    return sum(float(v) for v in pattern.findall(text))


async def test_a_refund_approved_before_the_payment_succeeded_is_applied_once_it_does(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch("payment.refunded.v1")
    openid = await payments.openid()
    order = payments.order("wechat_pay", openid=openid)
    pid = payment_id_for(order["order_id"])
    # The buyer pays, but WeChat's notification is lost: payment does not know of the success yet.
    await payments.fault(target="wechat.notify", action="drop", match={"key": pid})
    payment = await payments.create(order)
    assert (await payments.wechat_pay(payment, openid)).status == 200
    before = await retried(payments, "refund.approved.v1")
    refund_id = await payments.approve_refund(payment, 35_000)
    # refund.approved overtook the success it depends on: it is sent back for a retry, not acked, not parked.
    await eventually(
        lambda: retried(payments, "refund.approved.v1"), until=lambda n: n > before, what="refund.approved retried"
    )
    assert (await payments.ok("POST", f"/payments/{pid}/reconcile"))["status"] == "succeeded"
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
