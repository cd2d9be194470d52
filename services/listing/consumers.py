"""Events listing reacts to, each handler idempotent: its effect's command id is derived from the event id.

Listing also consumes its own events: they heal a projection or a follow-up (an order's item) that a crash between
two writes left behind, and they make every event listing emits routable even when no other service is deployed.
"""

from __future__ import annotations

from services.listing.domain import ITEM, SHOP
from services.listing.orders import ORDER, PaymentMismatch, RecordPayment
from services.listing.shares import SHARE, VIEW, fact_of
from services.listing.usecases import ITEM_MOVES, Listing
from shared.bus import Handler, PermanentFailure, cause_of, idempotent
from shared.events import Envelope
from shared.events.payment import PaymentClosed, PaymentCreated, PaymentSucceeded
from shared.events.refund import RefundClosed, RefundCompleted, RefundRequested
from shared.events.wallet import CollectionActivated, WalletInvited
from shared.mongo import Database
from shared.streams import own_event_types

OWN_EVENTS = own_event_types(SHOP, ITEM, ORDER, SHARE, VIEW)
# Events the share stats count (issue 18): views, and orders placed or paid through a share. Counted here, by the
# consumer, never in the request that caused them: each event is one fact keyed by its event id.
COUNTED = ("order.created", "order.paid", *VIEW.events)


def handlers(listing: Listing, db: Database, name: str) -> dict[str, Handler]:
    async def payment_succeeded(envelope: Envelope) -> None:
        p = PaymentSucceeded.model_validate(envelope.payload)
        command = RecordPayment(payment_id=p.payment_id, amount_fen=p.amount_fen, method=p.method)
        try:
            await listing.record_payment(p.order_id, command, cause_of(name, envelope))
        except PaymentMismatch as exc:
            # Money that does not fit the order (another amount): a person must look; retrying changes nothing. An
            # order not found yet is retried like any other failure, and parked only if it never appears.
            raise PermanentFailure(f"{exc.code}: {exc.message} {exc.details}") from exc

    async def payment_created(envelope: Envelope) -> None:
        p = PaymentCreated.model_validate(envelope.payload)
        await listing.record_payment_started(p.order_id, p.payment_id, cause_of(name, envelope))

    async def payment_closed(envelope: Envelope) -> None:
        p = PaymentClosed.model_validate(envelope.payload)
        await listing.record_payment_closed(p.order_id, p.payment_id, p.reason, cause_of(name, envelope))

    async def refund_requested(envelope: Envelope) -> None:
        p = RefundRequested.model_validate(envelope.payload)
        await listing.open_refund(p.order_id, p.refund_id, cause_of(name, envelope))

    async def refund_closed(envelope: Envelope) -> None:
        p = RefundClosed.model_validate(envelope.payload)
        await listing.close_refund(p.order_id, p.refund_id, cause_of(name, envelope))

    async def refund_completed(envelope: Envelope) -> None:
        p = RefundCompleted.model_validate(envelope.payload)
        await listing.complete_refund(p.order_id, p.refund_id, p.amount_fen, cause_of(name, envelope))

    async def invited(envelope: Envelope) -> None:
        p = WalletInvited.model_validate(envelope.payload)
        await listing.set_collection(p.shop_id, "invited", cause_of(name, envelope))

    async def activated(envelope: Envelope) -> None:
        p = CollectionActivated.model_validate(envelope.payload)
        await listing.set_collection(p.shop_id, "active", cause_of(name, envelope))

    async def own(envelope: Envelope) -> None:
        if envelope.producer != name:
            return  # another deployment's listing (a second environment on one broker): not our streams
        if envelope.type not in VIEW.events:  # a view's one-entry stream has no projection
            await listing.reproject(envelope.aggregate_id, envelope.seq)
        if envelope.type in ITEM_MOVES:
            await listing.settle_item(await listing.order(envelope.aggregate_id))
        fact = fact_of(envelope.type, envelope.payload) if envelope.type in COUNTED else None
        if fact is not None:
            await listing.store.record_fact(envelope.event_id, *fact, envelope.occurred_at)

    table: dict[str, Handler] = {
        "payment.created.v1": payment_created,
        "payment.succeeded.v1": payment_succeeded,
        "payment.closed.v1": payment_closed,
        "refund.requested.v1": refund_requested,
        "refund.closed.v1": refund_closed,
        "refund.completed.v1": refund_completed,
        "wallet.invited.v1": invited,
        "wallet.collection_activated.v1": activated,
    }
    table |= {f"{event_type}.v1": own for event_type in OWN_EVENTS}
    wrapped = {key: idempotent(db, name, handler) for key, handler in table.items()}
    # Re-projecting is idempotent by itself (a redelivery costs one lookup of the projection's seq); an inbox row
    # would cost a lookup and a write on every delivery. The events that also settle an item keep their inbox.
    # A counted event's fact is keyed by its event id, so it needs no inbox either.
    wrapped |= {f"{event_type}.v1": own for event_type in OWN_EVENTS if event_type not in ITEM_MOVES}
    return wrapped
