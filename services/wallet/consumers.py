"""Events the wallet reacts to, each handler idempotent: its stream effect keyed by a command id derived from the
event id, and every books transfer by an id derived from the causing fact (flows.py), so a redelivery changes
nothing. An event that arrives before what it depends on raises NotYetApplicable: retried with back-off, parked
with that reason if it never fits, never dropped.

The wallet also consumes its own events: each re-projects its aggregate, healing a projection write lost to a crash.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.wallet.collection import Collection
from services.wallet.usecases import Wallet
from shared.bus import Handler, PermanentFailure, cause_of, idempotent
from shared.errors import Conflict
from shared.events import Envelope
from shared.events.listing import OrderCompleted
from shared.events.payment import PaymentRefunded, PaymentSucceeded
from shared.mongo import Database
from shared.streams import Streams, own_event_types, reproject_any

M = TypeVar("M", bound=BaseModel)


def _payload(model: type[M], envelope: Envelope) -> M:
    try:
        return model.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentFailure(f"invalid {envelope.type} payload: {exc.error_count()} errors") from exc


def handlers(wallet: Wallet, collection: Collection, db: Database, name: str) -> dict[str, Handler]:
    async def payment_succeeded(envelope: Envelope) -> None:
        try:
            await wallet.hold(_payload(PaymentSucceeded, envelope), cause_of(name, envelope))
        except Conflict as exc:
            raise PermanentFailure(f"{exc.code}: {exc.message}") from exc

    async def payment_refunded(envelope: Envelope) -> None:
        try:
            await wallet.refund(_payload(PaymentRefunded, envelope), cause_of(name, envelope))
        except Conflict as exc:
            raise PermanentFailure(f"{exc.code}: {exc.message}") from exc

    async def order_completed(envelope: Envelope) -> None:
        await wallet.complete(_payload(OrderCompleted, envelope), cause_of(name, envelope))

    kinds: list[Streams[Any, Any]] = [*wallet.kinds, *collection.kinds]

    async def own(envelope: Envelope) -> None:
        if envelope.producer == name:
            await reproject_any(kinds, envelope.aggregate_id, envelope.seq)

    table: dict[str, Handler] = {
        "payment.succeeded.v1": payment_succeeded,
        "payment.refunded.v1": payment_refunded,
        "order.completed.v1": order_completed,
    }
    wrapped = {key: idempotent(db, name, handler) for key, handler in table.items()}
    own_types = own_event_types(*(kind.aggregate for kind in kinds))
    return wrapped | collection.handlers(name) | {f"{event_type}.v1": own for event_type in own_types}
