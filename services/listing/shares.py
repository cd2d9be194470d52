"""Shares of items (issue 18): pure state machines for a share and for one view of it.

A share is a stream `shr_<code>` with one entry: the first append at seq 1 owns the code, so a collision is decided
by the unique `(stream_id, seq)` insert and the loser draws another code. A view is its own one-entry stream
(`shv_…`): counting views never contends on a popular share, and each view is an event the stats consumer counts.
Imports nothing from aiohttp, motor or aio_pika.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from shared.aggregate import Aggregate, NewEvent, RecordedEvent
from shared.errors import AppError, Conflict
from shared.events import Channel
from shared.events.listing import ShareCreated, ShareViewed

STREAM_PREFIX = "shr_"
FactKind = Literal["view", "order", "paid"]


class CodeTaken(Conflict):
    """Another share drew this code first (about one in 2^44.6 / n for the n-th code): draw again."""


class InvalidShareCode(AppError):
    status, code = 422, "invalid_share_code"


def stream_of(code: str) -> str:
    return STREAM_PREFIX + code


class Share(BaseModel):
    code: str = ""
    item_id: str = ""
    shop_id: str = ""
    seller_id: str = ""
    sharer_id: str = ""
    channel: Channel = "app"
    created_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return bool(self.code)


class CreateShare(BaseModel):
    code: str
    item_id: str
    shop_id: str
    seller_id: str
    sharer_id: str
    channel: Channel


def decide_share(state: Share, command: CreateShare) -> list[NewEvent]:
    if state.exists:
        raise CodeTaken("share code taken", details={"code": command.code})
    return [NewEvent.of(ShareCreated(**command.model_dump()))]


def evolve_share(state: Share, event: RecordedEvent) -> Share:
    if event.type == "share.created":
        return Share.model_validate({**event.payload, "created_at": event.occurred_at})
    return state


SHARE: Aggregate[Share, CreateShare] = Aggregate(
    name="share", initial=Share, evolve=evolve_share, decide=decide_share, events=("share.created",)
)


class View(BaseModel):
    viewed: bool = False


class RecordView(BaseModel):
    share: Share
    channel: Channel
    viewer_id: str | None = None


def decide_view(state: View, command: RecordView) -> list[NewEvent]:
    if state.viewed:
        return []
    s = command.share
    event = ShareViewed(
        code=s.code,
        item_id=s.item_id,
        seller_id=s.seller_id,
        sharer_id=s.sharer_id,
        channel=command.channel,
        viewer_id=command.viewer_id,
    )
    return [NewEvent.of(event)]


def evolve_view(state: View, event: RecordedEvent) -> View:
    return View(viewed=True) if event.type == "share.viewed" else state


VIEW: Aggregate[View, RecordView] = Aggregate(
    name="share_view", initial=View, evolve=evolve_view, decide=decide_view, events=("share.viewed",)
)


def counts_as_view(share: Share, viewer_id: str | None) -> bool:
    """A sharer opening their own share is not a view the share brought."""
    return viewer_id != share.sharer_id


def attribution(share: Share | None, code: str, item_id: str, buyer_id: str) -> tuple[str, str | None]:
    """The share code and the sharer an order records: the share must be of the ordered item; a buyer who bought
    through their own share is recorded with the code but credits no sharer."""
    if share is None or not share.exists or share.item_id != item_id:
        raise InvalidShareCode("this share code is not a share of this item", details={"share_code": code})
    return share.code, None if share.sharer_id == buyer_id else share.sharer_id


def fact_of(event_type: str, payload: dict[str, Any]) -> tuple[FactKind, str, str] | None:
    """What an event adds to the share stats, as (kind, item_id, sharer_id), or None if it adds nothing."""
    if event_type == "share.viewed":
        return "view", payload["item_id"], payload["sharer_id"]
    if event_type in ("order.created", "order.paid") and payload.get("sharer_id"):
        return ("order" if event_type == "order.created" else "paid"), payload["item_id"], payload["sharer_id"]
    return None


class SharerStats(BaseModel):
    user_id: str
    views: int = 0
    orders: int = 0
    paid_orders: int = 0


class ShareStats(BaseModel):
    item_id: str
    views: int = 0
    orders: int = 0
    paid_orders: int = 0
    shares: int = 0
    sharers: list[SharerStats]


def stats(item_id: str, facts: Iterable[dict[str, Any]], sharer_ids: Iterable[str] = ()) -> ShareStats:
    """Totals and per-sharer counts from the facts the consumer recorded (one per event), most views first; every
    sharer of the item is listed, also one whose shares brought nothing yet."""
    sharer_ids = list(sharer_ids)
    per: dict[str, Counter[str]] = {user: Counter() for user in sharer_ids}
    for fact in facts:
        per.setdefault(fact["sharer_id"], Counter())[fact["kind"]] += 1
    sharers = [
        SharerStats(user_id=user, views=c["view"], orders=c["order"], paid_orders=c["paid"]) for user, c in per.items()
    ]
    sharers.sort(key=lambda s: (-s.views, -s.orders, s.user_id))
    return ShareStats(
        item_id=item_id,
        views=sum(s.views for s in sharers),
        orders=sum(s.orders for s in sharers),
        paid_orders=sum(s.paid_orders for s in sharers),
        shares=len(sharer_ids),
        sharers=sharers,
    )
