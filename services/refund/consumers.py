"""Events refund reacts to, each idempotent (its effect keyed by a command id derived from the event id): listing's
order facts and payment's refund answers. One that arrives before what it depends on (a shipment before the order's
payment, a refund answer before the order) raises NotYetApplicable: retried with back-off, parked if it never fits."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from services.refund.domain import AFTER_SALE, OrderState, RecordOrder, RecordRefunded, RecordRefundFailed
from services.refund.usecases import Refunds
from shared.bus import Handler, PermanentFailure, cause_of, idempotent
from shared.errors import InvalidState
from shared.events import Envelope
from shared.events.listing import OrderClosed, OrderCompleted, OrderPaid, OrderRefunded, OrderShipped
from shared.events.payment import PaymentRefunded, PaymentRefundFailed
from shared.mongo import Database
from shared.streams import own_event_types

M = TypeVar("M", bound=BaseModel)


class NotYetApplicable(Exception):
    """Retried by the consumer with back-off; parked with this reason if it never fits."""


def _payload(model: type[M], envelope: Envelope) -> M:
    try:
        return model.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentFailure(f"invalid {envelope.type} payload: {exc.error_count()} errors") from exc


def handlers(refunds: Refunds, db: Database, name: str) -> dict[str, Handler]:
    async def guarded(step: Awaitable[None]) -> None:
        try:
            await step
        except InvalidState as exc:
            raise NotYetApplicable(f"{exc.code}: {exc.message}") from exc

    async def order_paid(envelope: Envelope) -> None:
        p = _payload(OrderPaid, envelope)
        command = RecordOrder(**p.model_dump(include={"order_id", "buyer_id", "seller_id", "channel", "payment_method",
                                                      "payment_id", "amount_fen"}), state="paid")  # fmt: skip
        await guarded(refunds.record_order(command, cause_of(name, envelope)))

    def order_state(
        model: type[OrderShipped | OrderCompleted | OrderClosed | OrderRefunded], state: OrderState
    ) -> Handler:
        async def handle(envelope: Envelope) -> None:
            p = _payload(model, envelope)
            command = RecordOrder(order_id=p.order_id, buyer_id=p.buyer_id, seller_id=p.seller_id, state=state)
            await guarded(refunds.record_order(command, cause_of(name, envelope)))

        return handle

    async def payment_refunded(envelope: Envelope) -> None:
        p = _payload(PaymentRefunded, envelope)
        command = RecordRefunded(
            refund_id=p.refund_id,
            amount_fen=p.amount_fen,
            provider_refund_id=p.provider_refund_id,
            now=refunds.now(),
        )
        await guarded(refunds.refunded(p.order_id, command, cause_of(name, envelope)))

    async def payment_refund_failed(envelope: Envelope) -> None:
        p = _payload(PaymentRefundFailed, envelope)
        command = RecordRefundFailed(
            refund_id=p.refund_id, reason=p.reason, now=refunds.now(), durations=refunds.settings.durations()
        )
        await guarded(refunds.refund_failed(p.order_id, command, cause_of(name, envelope)))

    async def own(envelope: Envelope) -> None:
        if envelope.producer == name:
            await refunds.reproject(envelope.aggregate_id, envelope.seq)

    table: dict[str, Handler] = {
        "order.paid.v1": order_paid,
        "order.shipped.v1": order_state(OrderShipped, "shipped"),
        "order.completed.v1": order_state(OrderCompleted, "completed"),
        "order.closed.v1": order_state(OrderClosed, "closed"),
        "order.refunded.v1": order_state(OrderRefunded, "refunded"),
        "payment.refunded.v1": payment_refunded,
        "payment.refund_failed.v1": payment_refund_failed,
    }
    wrapped = {key: idempotent(db, name, handler) for key, handler in table.items()}
    return wrapped | {f"{event_type}.v1": own for event_type in own_event_types(AFTER_SALE)}
