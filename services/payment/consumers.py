"""Events payment reacts to, each handler idempotent (its effect keyed by a command id derived from the event id).

Payment also consumes its own events: internal ones (payment.created, payment.refund_requested, ...) are then routable,
and each one re-projects its aggregate, healing a projection write lost to a crash.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from services.payment.domain import AGREEMENT, PAYMENT
from services.payment.usecases import Payments
from shared.bus import Handler, PermanentFailure, cause_of, idempotent
from shared.errors import Conflict, InvalidState, NotFound
from shared.events import Envelope
from shared.events.listing import OrderClosed
from shared.events.refund import RefundApproved
from shared.events.wallet import CollectionActivated
from shared.mongo import Database
from shared.streams import own_event_types

M = TypeVar("M", bound=BaseModel)

OWN_EVENTS = own_event_types(PAYMENT, AGREEMENT)


class NotYetApplicable(Exception):
    """The event arrived before what it depends on (a payment not created, or not succeeded, yet): an ordinary
    exception, so the consumer retries it with back-off and parks it in the DLQ with this reason if it never fits."""


def _payload(model: type[M], envelope: Envelope) -> M:
    try:
        return model.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentFailure(f"invalid {envelope.type} payload: {exc.error_count()} errors") from exc


def handlers(payments: Payments, db: Database, name: str) -> dict[str, Handler]:
    async def order_closed(envelope: Envelope) -> None:
        # Recorded on the payment's stream whether or not the payment exists yet: never dropped.
        p = _payload(OrderClosed, envelope)
        await payments.close_for_order(p.order_id, p.reason, cause_of(name, envelope))

    async def refund_approved(envelope: Envelope) -> None:
        p = _payload(RefundApproved, envelope)
        try:
            await payments.request_refund(p.payment_id, p.refund_id, p.amount_fen, cause_of(name, envelope))
        except (NotFound, InvalidState) as exc:
            # The payment may be created, or its success recorded, a moment later (events and notifications cross):
            # retried with back-off, parked with this reason if it never comes.
            raise NotYetApplicable(f"{exc.code}: {exc.message} {exc.details}") from exc
        except Conflict as exc:
            # The same refund id with another amount: retrying cannot change that.
            raise PermanentFailure(f"{exc.code}: {exc.message} {exc.details}") from exc

    async def collection_activated(envelope: Envelope) -> None:
        p = _payload(CollectionActivated, envelope)
        if p.sub_mchid is None:
            raise PermanentFailure("wallet.collection_activated without a sub_mchid: no WeChat payee to record")
        await payments.store.record_payee(p.seller_id, p.sub_mchid, p.account_id)

    async def own(envelope: Envelope) -> None:
        if envelope.producer == name:
            await payments.reproject(envelope.aggregate_id, envelope.seq)

    table: dict[str, Handler] = {
        "order.closed.v1": order_closed,
        "refund.approved.v1": refund_approved,
        "wallet.collection_activated.v1": collection_activated,
    }
    wrapped = {key: idempotent(db, name, handler) for key, handler in table.items()}
    # Re-projecting is idempotent by itself (a redelivery costs one lookup of the projection's seq): no inbox row,
    # which would cost a lookup and a write on every delivery.
    return wrapped | {f"{event_type}.v1": own for event_type in OWN_EVENTS}
