"""Listing's use cases: each runs a command on one stream, projects the result, and applies its follow-ups.

A follow-up that touches a second stream (an order closing releases its item) is keyed by a command id derived from
the order, so running it again (from the consumer of our own events, or the sweeper after a crash) changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.listing.domain import (
    ITEM,
    SHOP,
    ChangeLevel,
    DraftItem,
    EditItem,
    Item,
    ItemCommand,
    ItemFields,
    ItemNotAvailable,
    NewItemFields,
    NoShop,
    OpenShop,
    PublishItem,
    ReleaseItem,
    ReserveItem,
    SellItem,
    SetCollection,
    Shop,
    ShopCommand,
    TakeBackItem,
    WithdrawItem,
    legacy_shop_id_for,
    shop_id_for,
)
from services.listing.orders import (
    ORDER,
    AutoConfirm,
    CancelOrder,
    CloseRefund,
    CompleteRefund,
    ConfirmReceipt,
    CreateOrder,
    ExpireOrder,
    OpenRefund,
    Order,
    OrderCommand,
    RecordPayment,
    RecordPaymentClosed,
    RecordPaymentStarted,
    ShipOrder,
)
from services.listing.settings import ListingSettings
from services.listing.shares import (
    SHARE,
    VIEW,
    CodeTaken,
    CreateShare,
    RecordView,
    Share,
    ShareStats,
    attribution,
    counts_as_view,
    stats,
    stream_of,
)
from services.listing.store import ListingStore
from shared.channels import check_payment_method, check_seller_accepts, policy
from shared.clock import Clock, SystemClock
from shared.errors import NotFound, Unavailable
from shared.events import Channel, PaymentMethod
from shared.ids import new_id
from shared.share_codes import new_code, normalize
from shared.streams import Cause, Outcome, Streams, StreamStore, execute, load, reproject_any

log = logging.getLogger("services.listing")


ITEM_MOVES = ("order.closed", "order.paid", "order.refunded")
SHARE_CODE_DRAWS = 8


class Listing:
    def __init__(
        self, streams: StreamStore, store: ListingStore, settings: ListingSettings, clock: Clock | None = None
    ) -> None:
        self.streams = streams
        self.store = store
        self.settings = settings
        self.clock = clock or SystemClock()
        seq_of = store.projected_seq
        self.shops = Streams(streams, SHOP, store.project_shop, seq_of, prefix="shp_", missing="no such shop")
        self.items = Streams(streams, ITEM, store.project_item, seq_of, prefix="itm_", missing="no such item")
        self.orders = Streams(streams, ORDER, store.project_order, seq_of, prefix="ord_", missing="no such order")
        self.shares = Streams(streams, SHARE, store.project_share, seq_of, prefix="shr_", missing="no such share")

    async def _shop(self, stream_id: str, command: ShopCommand, cause: Cause | None = None) -> Shop:
        return (await self.shops.run(stream_id, command, cause)).state

    async def _item(
        self, item_id: str, command: ItemCommand, command_id: str | None = None, *, new_stream: bool = False
    ) -> Outcome[Item]:
        cause = Cause(command_id=command_id) if command_id else None
        return await self.items.run(item_id, command, cause, new_stream=new_stream)

    async def _order(
        self, order_id: str, command: OrderCommand, cause: Cause | None = None, *, new_stream: bool = False
    ) -> Order:
        outcome = await self.orders.run(order_id, command, cause, new_stream=new_stream)
        # Only a step that moves the item needs the follow-up here; the consumer of our own events and the sweeper
        # repeat it after a crash.
        if outcome.entry is not None and any(e.type in ITEM_MOVES for e in outcome.entry.events):
            await self.settle_item(outcome.state)
        return outcome.state

    # ------------------------------------------------------------------------------------------------- shops

    async def open_shop(self, seller_id: str, name: str) -> Shop:
        shop_id, _ = await self._seller_shop(seller_id)
        return await self._shop(shop_id, OpenShop(seller_id=seller_id, name=name))

    async def _seller_shop(self, seller_id: str) -> tuple[str, Shop]:
        """The seller's shop stream and its state: the derived id, or the legacy id of a shop opened before it
        (an empty shop at the derived id if there is neither)."""
        shop, _ = await self.shops.load(shop_id_for(seller_id))
        if shop.exists:
            return shop_id_for(seller_id), shop
        legacy, _ = await self.shops.load(legacy_shop_id_for(seller_id))
        if legacy.exists:
            return legacy_shop_id_for(seller_id), legacy
        return shop_id_for(seller_id), shop

    async def shop_of(self, seller_id: str) -> Shop:
        _, shop = await self._seller_shop(seller_id)
        if not shop.exists:
            raise NotFound("this seller has no shop")
        return shop

    async def shop(self, shop_id: str) -> Shop:
        return await self.shops.get(shop_id)

    async def change_level(self, shop_id: str, level: int) -> Shop:
        return await self._shop(shop_id, ChangeLevel(level=level))

    async def set_collection(self, shop_id: str, status: str, cause: Cause) -> Shop:
        return await self._shop(shop_id, SetCollection.model_validate({"status": status}), cause)

    # ------------------------------------------------------------------------------------------------- items

    async def draft_item(self, seller_id: str, fields: NewItemFields) -> Item:
        _, shop = await self._seller_shop(seller_id)
        if not shop.exists:
            raise NoShop("open a shop before listing items")
        item_id = new_id("itm")
        command = DraftItem(item_id=item_id, shop_id=shop.shop_id, seller_id=seller_id, fields=fields)
        return (await self._item(item_id, command, new_stream=True)).state

    async def edit_item(self, item_id: str, seller_id: str, fields: ItemFields) -> Item:
        return (await self._item(item_id, EditItem(seller_id=seller_id, fields=fields))).state

    async def publish_item(self, item_id: str, seller_id: str) -> Item:
        return (await self._item(item_id, PublishItem(seller_id=seller_id))).state

    async def withdraw_item(self, item_id: str, seller_id: str) -> Item:
        return (await self._item(item_id, WithdrawItem(seller_id=seller_id))).state

    async def item(self, item_id: str) -> Item:
        return await self.items.get(item_id)

    # ------------------------------------------------------------------------------------------------ orders

    async def place_order(
        self,
        item_id: str,
        buyer_id: str,
        channel: Channel,
        method: PaymentMethod,
        request_id: str | None,
        share_code: str | None = None,
    ) -> Order:
        """Reserve the item (one winner among concurrent buyers), then open the order for it (recording the share
        the buyer came through, if any)."""
        check_payment_method(channel, method)
        shared_by = await self._attribution(share_code, item_id, buyer_id) if share_code else (None, None)
        if policy(channel).requires_seller_wechat_collection:
            item = await self.item(item_id)
            shop, _ = await self.shops.load(item.shop_id)
            check_seller_accepts(channel, shop.wechat_collection == "active")
        order_id = new_id("ord")
        # The item is part of the key: the same request id on another item is another reservation.
        key = f"reserve:{item_id}:{buyer_id}:{request_id}" if request_id else None
        reserved = await self.items.run_unprojected(
            item_id, ReserveItem(order_id=order_id, buyer_id=buyer_id), Cause(command_id=key) if key else None
        )
        # The item's projection is written while the order is opened: the request waits for one write, not two.
        projected = asyncio.ensure_future(self.items.project_outcome(item_id, reserved))
        try:
            return await self._open_order(item_id, buyer_id, channel, method, order_id, reserved, shared_by)
        finally:
            await projected

    async def _open_order(
        self,
        item_id: str,
        buyer_id: str,
        channel: Channel,
        method: PaymentMethod,
        order_id: str,
        reserved: Outcome[Item],
        shared_by: tuple[str | None, str | None] = (None, None),
    ) -> Order:
        held = reserved.state
        if reserved.already_applied and reserved.entry is not None:
            # A retried request: its first reservation decides the order. If that order was never written (a crash
            # between the two appends) and the item has since been released, or taken by someone else, the retry
            # must not open an order for an item that is no longer held for it.
            order_id = reserved.entry.events[0].payload["order_id"]
            first, seq = await self.orders.load(order_id)
            if seq:
                return first
            if held.status != "reserved" or held.order_id != order_id:
                raise ItemNotAvailable("the item is not available", details={"status": held.status})
        expires_at = (held.reserved_at or self.clock.now()) + timedelta(seconds=self.settings.order_payment_timeout_s)
        create = CreateOrder(
            order_id=order_id,
            item_id=item_id,
            item_title=held.title,
            item_price_fen=held.price_fen,
            shop_id=held.shop_id,
            seller_id=held.seller_id,
            buyer_id=buyer_id,
            channel=channel,
            payment_method=method,
            expires_at=expires_at,
            share_code=shared_by[0],
            sharer_id=shared_by[1],
        )
        cause = Cause(command_id=f"create:{order_id}", causation_id=order_id)
        # A new order's id was made up just now; a retry's comes from its first reservation and may exist.
        return await self._order(order_id, create, cause, new_stream=not reserved.already_applied)

    async def order(self, order_id: str) -> Order:
        return await self.orders.get(order_id)

    async def cancel(self, order_id: str, buyer_id: str) -> Order:
        return await self._order(order_id, CancelOrder(buyer_id=buyer_id))

    async def ship(self, order_id: str, seller_id: str, carrier: str, tracking_no: str) -> Order:
        command = ShipOrder(
            seller_id=seller_id,
            carrier=carrier,
            tracking_no=tracking_no,
            now=self.clock.now(),
            auto_confirm_after_s=self.settings.auto_confirm_after_s,
        )
        return await self._order(order_id, command)

    async def confirm_receipt(self, order_id: str, buyer_id: str) -> Order:
        return await self._order(order_id, ConfirmReceipt(buyer_id=buyer_id))

    async def record_payment(self, order_id: str, command: RecordPayment, cause: Cause) -> Order:
        return await self._order(order_id, command, cause)

    async def record_payment_started(self, order_id: str, payment_id: str, cause: Cause) -> Order:
        return await self._order(order_id, RecordPaymentStarted(payment_id=payment_id), cause)

    async def record_payment_closed(self, order_id: str, payment_id: str, reason: str, cause: Cause) -> Order:
        return await self._order(order_id, RecordPaymentClosed(payment_id=payment_id, reason=reason), cause)

    async def open_refund(self, order_id: str, refund_id: str, cause: Cause) -> Order:
        return await self._order(order_id, OpenRefund(refund_id=refund_id, now=self.clock.now()), cause)

    async def close_refund(self, order_id: str, refund_id: str, cause: Cause) -> Order:
        return await self._order(order_id, CloseRefund(refund_id=refund_id, now=self.clock.now()), cause)

    async def complete_refund(self, order_id: str, refund_id: str, amount_fen: int, cause: Cause) -> Order:
        command = CompleteRefund(refund_id=refund_id, amount_fen=amount_fen, now=self.clock.now())
        return await self._order(order_id, command, cause)

    async def settle_item(self, order: Order) -> None:
        """Bring the item in line with its order: closed → back on sale, paid → sold, refunded in full → off sale."""
        if not order.exists:
            return
        if order.status == "closed":
            await self._item(order.item_id, ReleaseItem(order_id=order.order_id), f"release:{order.order_id}")
        elif order.status in ("paid", "shipped", "completed", "refunding"):
            await self._item(order.item_id, SellItem(order_id=order.order_id), f"sell:{order.order_id}")
        elif order.status == "refunded" and order.refunded_fen >= order.amount_fen:
            await self._item(order.item_id, TakeBackItem(order_id=order.order_id), f"take-back:{order.order_id}")

    # ------------------------------------------------------------------------------------------------ shares

    async def share_item(self, item_id: str, sharer_id: str, channel: Channel) -> tuple[Share, Item]:
        """A share of an item on sale (or reserved, which may come back) under a fresh code; the unique first
        append decides a collision, and the loser draws again."""
        item = await self.item(item_id)
        if item.status == "draft":
            raise NotFound("no such item")  # a draft is the seller's alone, and not shared
        if item.status not in ("on_sale", "reserved"):
            raise ItemNotAvailable("the item is not on sale", details={"status": item.status})
        for _ in range(SHARE_CODE_DRAWS):
            command = CreateShare(
                code=new_code(),
                item_id=item.item_id,
                shop_id=item.shop_id,
                seller_id=item.seller_id,
                sharer_id=sharer_id,
                channel=channel,
            )
            try:
                outcome = await self.shares.run(stream_of(command.code), command, new_stream=True)
            except CodeTaken:
                log.warning("share code collision on %s: drawing again", command.code)
                continue
            return outcome.state, item
        raise Unavailable("no free share code was drawn")  # eight collisions in a row: the code space is full

    async def share(self, code: str) -> Share:
        """The share of a code typed in any letter case (NotFound for a code that cannot be one, or is unknown)."""
        normal = normalize(code)
        if normal is None:
            raise NotFound("no such share")
        return await self.shares.get(stream_of(normal))

    async def view_share(self, code: str, channel: Channel, viewer_id: str | None) -> tuple[Share, Item, Shop | None]:
        """Resolve a share for a viewer, and record the view (an event the stats consumer counts) unless the viewer
        is the sharer. Answers the share, its item (whatever its status now) and the sharer's shop, if any."""
        share = await self.share(code)
        view = asyncio.ensure_future(self._record_view(share, channel, viewer_id))
        try:
            item, (_, sharer_shop) = await asyncio.gather(self.item(share.item_id), self._seller_shop(share.sharer_id))
        finally:
            await view
        return share, item, sharer_shop if sharer_shop.exists else None

    async def _record_view(self, share: Share, channel: Channel, viewer_id: str | None) -> None:
        if counts_as_view(share, viewer_id):
            command = RecordView(share=share, channel=channel, viewer_id=viewer_id)
            await execute(self.streams, VIEW, new_id("shv"), command, new_stream=True)

    async def _attribution(self, share_code: str, item_id: str, buyer_id: str) -> tuple[str, str | None]:
        normal = normalize(share_code)
        share = None
        if normal is not None:
            share, _ = await load(self.streams, SHARE, stream_of(normal))
        return attribution(share, share_code, item_id, buyer_id)

    async def share_stats(self, item_id: str, seller_id: str) -> ShareStats:
        """What an item's shares brought, for its seller only (another seller's item is not found)."""
        item = await self.item(item_id)
        if item.seller_id != seller_id:
            raise NotFound("no such item")
        facts, sharers = await asyncio.gather(self.store.share_facts_of(item_id), self.store.sharers_of(item_id))
        return stats(item_id, facts, sharers)

    # ------------------------------------------------------------------------------------------------ timers

    async def sweep(self) -> dict[str, int]:
        """One pass of the timers: expire unpaid orders, auto-confirm shipped ones, release orphaned reservations.
        Each step is idempotent, so a pass interrupted half-way is finished by the next one."""
        now = self.clock.now()
        batch = self.settings.sweep_batch
        done = {"expired": 0, "auto_confirmed": 0, "repaired": 0}
        grace_s, backstop_s = self.settings.order_expiry_grace_s, self.settings.order_payment_backstop_s
        expire = ExpireOrder(now=now, grace_s=grace_s, backstop_s=backstop_s)
        due = await self.store.due_expiries(
            now - timedelta(seconds=grace_s), now - timedelta(seconds=backstop_s), batch
        )
        for order_id in due:
            done["expired"] += await self._timer(order_id, expire, "closed")
        for order_id in await self.store.due_auto_confirms(now, batch):
            done["auto_confirmed"] += await self._timer(order_id, AutoConfirm(now=now), "completed")
        orphan_cutoff = now - timedelta(seconds=self.settings.orphan_reservation_s)
        for item_id, order_id in await self.store.stale_reservations(orphan_cutoff, batch):
            done["repaired"] += await self._repair_reservation(item_id, order_id)
        return done

    async def _timer(self, order_id: str, command: OrderCommand, expect: str) -> int:
        try:
            return int((await self._order(order_id, command)).status == expect)
        except Exception:
            log.exception("timer on order %s failed; the next sweep retries it", order_id)
            return 0

    async def _repair_reservation(self, item_id: str, order_id: str) -> int:
        projected = await self.store.order(order_id)
        if projected is not None and projected.get("status") == "pending_payment":
            return 0
        order, seq = await self.orders.load(order_id)
        if seq == 0:
            # The reservation's order was never written (a crash between the two appends): release the item.
            outcome = await self._item(item_id, ReleaseItem(order_id=order_id), f"release:{order_id}")
            return int(outcome.entry is not None and not outcome.already_applied)
        await self.store.project_order(order, seq)
        await self.settle_item(order)
        return 0

    async def reproject(self, aggregate_id: str, seq: int) -> None:
        """Rewrite the projection of one aggregate from its stream if it is behind `seq` (heals a projection write
        lost to a crash); a projection already there costs one lookup."""
        await reproject_any((self.shops, self.items, self.orders, self.shares), aggregate_id, seq)
