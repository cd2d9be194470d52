"""Provider notifications as the real providers send them: stored, sent, and retried on their documented schedules
(scaled by `time_scale`) until the merchant answers with the provider's success format."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel

from services.sandbox.faults import FaultRegistry
from shared.clock import Clock, SystemClock
from shared.ids import new_id
from shared.mongo import Database

log = logging.getLogger("sandbox.notifier")

Provider = Literal["wechat", "alipay"]

# Delays between attempts after the first (payments.md / domain.md): WeChat 15 retries over 24h4m;
# Alipay re-sends 3 times at once, then at 4m, 10m, 10m, 1h, 2h, 6h, 15h (docs/providers.md §8: the newer official
# wording adds the 3 immediate re-sends before the older 8-notifications-within-25h schedule).
SCHEDULES_S: dict[str, tuple[float, ...]] = {
    "wechat": (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600),
    "alipay": (0, 0, 0, 240, 600, 600, 3600, 7200, 21600, 54000),
}

COLLECTION = "notifications"

# Re-signs a body at send time: returns the headers that carry a fresh timestamp, nonce and signature.
Signer = Callable[[bytes], dict[str, str]]


class Attempt(BaseModel):
    at: datetime
    status: int | None
    body: str
    error: str | None = None


class Notification(BaseModel):
    id: str
    provider: Provider
    topic: str  # e.g. TRANSACTION.SUCCESS, REFUND.SUCCESS, trade_status_sync, dut_user_sign
    key: str  # what it is about (out_trade_no, out_refund_no, agreement no): tests find notifications by it
    url: str
    body: str
    headers: dict[str, str]
    state: Literal["pending", "held", "delivered", "exhausted", "dropped"]
    # WeChat signs every attempt afresh (its timestamp must be within 5 minutes of the merchant's clock);
    # a notification whose signature was corrupted on purpose keeps its stored headers.
    resign: bool = False
    next_at: datetime
    attempts: list[Attempt] = []
    created_at: datetime


def succeeded(provider: str, status: int, body: str) -> bool:
    """WeChat: any 2xx (200 or 204). Alipay: a 2xx whose body is exactly `success` (no whitespace, no case change)."""
    if provider == "alipay":
        return 200 <= status < 300 and body == "success"
    return 200 <= status < 300


class Notifier:
    def __init__(
        self, db: Database, faults: FaultRegistry, *, time_scale: float, timeout_s: float, clock: Clock | None = None
    ) -> None:
        self.collection = db[COLLECTION]
        self.faults = faults
        self.time_scale = time_scale
        self.timeout_s = timeout_s
        self.clock = clock or SystemClock()
        self.wake = asyncio.Event()
        self.signers: dict[str, Signer] = {}

    def register_signer(self, provider: Provider, signer: Signer) -> None:
        self.signers[provider] = signer

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("state", 1), ("next_at", 1)], name="due")
        await self.collection.create_index([("key", 1), ("created_at", 1)], name="by_key")

    async def enqueue(
        self,
        provider: Provider,
        *,
        topic: str,
        key: str,
        url: str,
        body: str,
        headers: Mapping[str, str],
        fault_attrs: dict[str, str] | None = None,
        resign: bool = False,
    ) -> list[str]:
        """Store the notification for delivery, applying any `<provider>.notify` fault; returns the stored ids."""
        now = self.clock.now()
        fault = self.faults.take(f"{provider}.notify", {"topic": topic, "key": key, **(fault_attrs or {})})
        state: Literal["pending", "held", "delivered", "exhausted", "dropped"] = "pending"
        next_at = now
        copies = 1
        if fault is not None:
            log.info("notification fault %s on %s %s", fault.action, topic, key)
            if fault.action == "drop":
                state = "dropped"
            elif fault.action == "delay":
                next_at = now + timedelta(seconds=fault.delay_s)
            elif fault.action == "duplicate":
                copies = 2
            elif fault.action == "out_of_order":
                state = "held"
        ids = []
        for _ in range(copies):
            doc = Notification(
                id=new_id("evt"),
                provider=provider,
                topic=topic,
                key=key,
                url=url,
                body=body,
                headers=dict(headers),
                state=state,
                resign=resign,
                next_at=next_at,
                created_at=now,
            ).model_dump()
            doc["_id"] = doc["id"]
            await self.collection.insert_one(doc)
            ids.append(doc["id"])
        self.wake.set()
        return ids

    async def find(self, key: str) -> list[Notification]:
        cursor = self.collection.find({"key": key}).sort("created_at", 1)
        return [Notification.model_validate(doc) async for doc in cursor]

    async def run(self, stop: asyncio.Event, idle_s: float = 1.0) -> None:
        """Deliver what is due; then sleep until the next retry is due, an enqueue wakes it, or `idle_s` passed (the
        only polling left: an idle sandbox asks its database once a second, not twenty times)."""
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                self.wake.clear()
                due, soonest = await self._due()
                for doc in due:
                    await self._attempt(session, doc)
                if due:
                    continue
                wait = idle_s if soonest is None else (soonest - self.clock.now()).total_seconds()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=min(idle_s, max(wait, 0.001)))
                except TimeoutError:
                    pass

    async def _due(self) -> tuple[list[Notification], datetime | None]:
        """Up to 100 pending notifications due now (the oldest first), and when the next of the rest is due. The
        query is the equality on `state` alone: FerretDB would filter and sort a range in Go over the same rows."""
        now = self.clock.now()
        pending = [Notification.model_validate(doc) async for doc in self.collection.find({"state": "pending"})]
        pending.sort(key=lambda n: n.next_at)
        due = [n for n in pending if n.next_at <= now][:100]
        later = [n.next_at for n in pending if n.next_at > now]
        return due, (later[0] if later else None)

    async def _attempt(self, session: aiohttp.ClientSession, n: Notification) -> None:
        now = self.clock.now()
        status: int | None = None
        text = ""
        error = None
        body = n.body.encode()
        headers = n.headers
        signer = self.signers.get(n.provider)
        if n.resign and signer is not None and n.attempts:
            headers = {**headers, **signer(body)}
        try:
            async with session.post(n.url, data=body, headers=headers) as resp:
                status = resp.status
                text = (await resp.text())[:500]
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        attempts = [*n.attempts, Attempt(at=now, status=status, body=text, error=error)]
        update: dict[str, Any] = {"attempts": [a.model_dump() for a in attempts]}
        if status is not None and succeeded(n.provider, status, text):
            update["state"] = "delivered"
            await self._release_held(n.provider)
        else:
            schedule = SCHEDULES_S[n.provider]
            retry = len(attempts) - 1
            if retry >= len(schedule):
                update["state"] = "exhausted"
            else:
                update["next_at"] = now + timedelta(seconds=schedule[retry] * self.time_scale)
        await self.collection.update_one({"_id": n.id}, {"$set": update})

    async def _release_held(self, provider: str) -> None:
        """An out-of-order notification goes out right after a later one has been delivered."""
        await self.collection.update_many(
            {"provider": provider, "state": "held"}, {"$set": {"state": "pending", "next_at": datetime.now(UTC)}}
        )
        self.wake.set()
