"""Refund's use cases: cases on the after-sale stream of their order, the commands of buyers, sellers and the
platform, what listing and payment tell us, and the timers."""

from __future__ import annotations

import logging
from datetime import datetime

from services.refund.domain import (
    AFTER_SALE,
    AfterSale,
    Case,
    Command,
    Durations,
    Expire,
    RecordOrder,
    RecordRefunded,
    RecordRefundFailed,
    after_sale_id,
)
from services.refund.settings import RefundSettings
from services.refund.store import RefundStore
from shared.aggregate import Cause
from shared.clock import Clock, SystemClock
from shared.errors import NotFound
from shared.streams import Streams, StreamStore

log = logging.getLogger("refund")


class Refunds:
    def __init__(
        self, streams: StreamStore, store: RefundStore, settings: RefundSettings, clock: Clock | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.after_sales = Streams(
            streams, AFTER_SALE, store.project, store.projected_seq, prefix="aso_", missing="no such order"
        )

    def now(self) -> datetime:
        return self.clock.now()

    def durations(self) -> Durations:
        return self.settings.durations()

    async def run(self, order_id: str, command: Command, cause: Cause | None = None) -> AfterSale:
        return (await self.after_sales.run(after_sale_id(order_id), command, cause)).state

    async def order_of(self, refund_id: str) -> str:
        doc = await self.store.case_doc(refund_id) if refund_id.startswith("rfd_") else None
        if doc is None:
            raise NotFound("no such refund case")
        return str(doc["order_id"])

    async def act(self, refund_id: str, command: Command) -> Case:
        """A command on a case (its order's stream found through the case's projection)."""
        state = await self.run(await self.order_of(refund_id), command)
        return state.case(refund_id)

    async def case(self, refund_id: str, user_id: str | None) -> tuple[Case, AfterSale]:
        """The case and its order; NotFound unless `user_id` is its buyer or seller (None: the platform)."""
        state, _ = await self.after_sales.load(after_sale_id(await self.order_of(refund_id)))
        case = state.case(refund_id)
        assert state.order is not None
        if user_id is not None and user_id not in (state.order.buyer_id, state.order.seller_id):
            raise NotFound("no such refund case")
        return case, state

    async def record_order(self, command: RecordOrder, cause: Cause | None) -> None:
        await self.run(command.order_id, command, cause)

    async def refunded(self, order_id: str, command: RecordRefunded, cause: Cause | None) -> None:
        await self.run(order_id, command, cause)

    async def refund_failed(self, order_id: str, command: RecordRefundFailed, cause: Cause | None) -> None:
        await self.run(order_id, command, cause)

    async def sweep(self) -> dict[str, int]:
        """Every case whose timer is due: auto-agree, close unescalated or unshipped, auto-refund, retry a refund."""
        now = self.now()
        fired = 0
        for doc in await self.store.due(now, self.settings.sweep_batch):
            command = Expire(refund_id=doc["_id"], now=now, durations=self.durations())
            try:
                outcome = await self.after_sales.run(after_sale_id(doc["order_id"]), command)
                fired += outcome.entry is not None
            except Exception:
                log.exception("timer of case %s", doc["_id"])
        return {"timers_fired": fired}

    async def reproject(self, stream_id: str, seq: int) -> None:
        await self.after_sales.reproject(stream_id, seq)
