"""Events payment reacts to, each handler idempotent (its effect keyed by a command id derived from the event id).

Payment also consumes its own events: internal ones (payment.created, payment.refund_requested, ...) are then routable,
and each one re-projects its aggregate, healing a projection write lost to a crash.
"""

from __future__ import annotations

from services.payment.commands import Payments
from shared.bus import Handler, PermanentFailure, cause_of, idempotent
from shared.errors import InvalidState, NotFound
from shared.events import Envelope
from shared.events.listing import OrderClosed
from shared.events.refund import RefundApproved
from shared.mongo import Database

OWN_EVENTS = (
    "payment.created",
    "payment.action_required",
    "payment.succeeded",
    "payment.failed",
    "payment.closed",
    "payment.refund_requested",
    "payment.refund_processing",
    "payment.refund_abnormal",
    "payment.refunded",
    "payment.refund_failed",
    "agreement.requested",
    "agreement.signed",
    "agreement.unsigned",
)


def handlers(payments: Payments, db: Database, name: str) -> dict[str, Handler]:
    async def order_closed(envelope: Envelope) -> None:
        p = OrderClosed.model_validate(envelope.payload)
        await payments.close_for_order(p.order_id, cause_of(name, envelope))

    async def refund_approved(envelope: Envelope) -> None:
        p = RefundApproved.model_validate(envelope.payload)
        try:
            await payments.request_refund(p.payment_id, p.refund_id, p.amount_fen, cause_of(name, envelope))
        except (NotFound, InvalidState) as exc:
            # No such payment, or one that never succeeded: nothing to refund, and retrying will not change that.
            raise PermanentFailure(f"{exc.code}: {exc.message}") from exc

    async def own(envelope: Envelope) -> None:
        if envelope.producer == name:
            await payments.reproject(envelope.aggregate_id, envelope.seq)

    table: dict[str, Handler] = {"order.closed.v1": order_closed, "refund.approved.v1": refund_approved}
    table |= {f"{event_type}.v1": own for event_type in OWN_EVENTS}
    return {key: idempotent(db, name, handler) for key, handler in table.items()}
