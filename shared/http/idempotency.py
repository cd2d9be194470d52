"""Idempotency-Key for HTTP commands: the first result is stored under a unique key and replayed; the same key
with another body is 409 idempotency_key_reused; a key whose request died mid-way is taken over after a lease."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from shared.clock import Clock, SystemClock, utc
from shared.errors import AppError, Conflict, ValidationFailed
from shared.http.inputs import is_storable_text
from shared.mongo import Database, is_duplicate_key

COLLECTION = "idempotency_keys"
HEADER = "Idempotency-Key"


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


MAX_GENERATIONS = 100
"""Takeovers of one key before it is refused for good: each needs a lease to run out, so this is never reached by
retries of one request, only by a command that crashes its process every time."""


class IdempotencyStore:
    """One document per attempt ("generation") at a key, `<scope>:<key>#<n>` (the number always written, so no key
    that itself ends in `#<n>` can be mistaken for another key's generation).

    A generation is written by the request that inserted it and by nobody else, so FerretDB's non-atomic updates
    never race. Who runs a command is decided only by unique-key inserts: the first request inserts generation 1;
    a retry that finds the latest generation released (its command failed) or `running` past its lease (its process
    died mid-request) inserts the next generation, and of concurrent retries exactly one such insert succeeds.

    `lease_s` must be longer than any command takes: a command still running when its lease ends can be run a
    second time by a retry (the commands under a key are themselves idempotent, so that costs time, not money)."""

    def __init__(self, db: Database, *, lease_s: float = 60.0, clock: Clock | None = None) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self.collection = db[COLLECTION]
        self.lease = timedelta(seconds=lease_s)
        self.clock: Clock = clock or SystemClock()

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("created_at", 1)], name="created_at")

    async def run(
        self,
        request: web.Request,
        scope: str,
        compute: Callable[[], Awaitable[web.Response]],
        *,
        required: bool = True,
    ) -> web.Response:
        """Run `compute` once per (scope, key). `scope` is the caller's identity, so keys never collide across users.
        Results with a status below 500 are stored and replayed (marked `Idempotent-Replayed: true`); a 5xx or an
        exception releases the key so the client's retry runs the command again, and so does a crash once the
        lease of the crashed attempt has run out."""
        key = request.headers.get(HEADER)
        if key is None:
            if required:
                raise ValidationFailed("Idempotency-Key header is required", details={HEADER: "missing"})
            return await compute()
        if not 1 <= len(key) <= 255:
            raise ValidationFailed("Idempotency-Key must be 1 to 255 characters", details={HEADER: "bad length"})
        if not is_storable_text(key):  # bytes that were not UTF-8 arrive surrogate-escaped; BSON cannot hold them
            raise ValidationFailed("Idempotency-Key must be UTF-8 text", details={HEADER: "not UTF-8 text"})
        base = f"{scope}:{key}"
        fp = fingerprint(request.method, request.path, await request.read())
        doc_id = await self._claim(base, fp, 1)
        while doc_id is None:
            latest, generation = await self._latest(base)
            if latest is None:  # only if generation 1 was removed by hand: start over
                doc_id = await self._claim(base, fp, 1)
                continue
            if latest["state"] != "released" and latest["fingerprint"] != fp:
                raise Conflict("this Idempotency-Key was used with a different request", code="idempotency_key_reused")
            if latest["state"] == "done":
                return _replay(latest)
            if latest["state"] == "running" and utc(latest["lease_until"]) > self.clock.now():
                raise Conflict("a request with this Idempotency-Key is still in progress", code="request_in_progress")
            if generation >= MAX_GENERATIONS:
                raise Conflict("this Idempotency-Key failed too often; use a new one", code="request_in_progress")
            # Released, or running past its lease (the process that held it died): the next generation is free to
            # whichever retry inserts it first. One that loses reads again and finds the winner's generation.
            doc_id = await self._claim(base, fp, generation + 1)
        return await self._compute(doc_id, compute)

    async def _compute(self, doc_id: str, compute: Callable[[], Awaitable[web.Response]]) -> web.Response:
        try:
            response = await compute()
        except AppError as exc:
            if exc.status >= 500:
                await self._release(doc_id)
                raise
            body: dict[str, Any] = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
            await self._store(doc_id, exc.status, body)
            raise
        except BaseException:
            await self._release(doc_id)
            raise
        if response.status >= 500:
            await self._release(doc_id)
            return response
        text = response.text if isinstance(response, web.Response) and response.text is not None else "null"
        await self._store(doc_id, response.status, json.loads(text))
        return response

    async def _claim(self, base: str, fp: str, generation: int) -> str | None:
        """The id of the generation this request now holds, or None if another request inserted it first."""
        doc_id = _generation_id(base, generation)
        now = self.clock.now()
        try:
            await self.collection.insert_one(
                {
                    "_id": doc_id,
                    "generation": generation,
                    "fingerprint": fp,
                    "state": "running",
                    "created_at": now,
                    "lease_until": now + self.lease,
                }
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            return None
        return doc_id

    async def _latest(self, base: str) -> tuple[dict[str, Any] | None, int]:
        """The newest generation at `base` and its number, by keyed reads only (takeovers are rare, so few)."""
        latest = await self.collection.find_one({"_id": _generation_id(base, 1)})
        if latest is None:
            return None, 0
        generation = 1
        while generation < MAX_GENERATIONS:
            following = await self.collection.find_one({"_id": _generation_id(base, generation + 1)})
            if following is None:
                break
            latest, generation = following, generation + 1
        return latest, generation

    async def _store(self, doc_id: str, status: int, body: Any) -> None:
        await self.collection.update_one(
            {"_id": doc_id}, {"$set": {"state": "done", "status": status, "body": body, "done_at": self.clock.now()}}
        )

    async def _release(self, doc_id: str) -> None:
        await self.collection.update_one({"_id": doc_id}, {"$set": {"state": "released"}})


def _generation_id(base: str, generation: int) -> str:
    return f"{base}#{generation}"


def _replay(doc: dict[str, Any]) -> web.Response:
    response = web.json_response(doc["body"], status=int(doc["status"]))
    response.headers["Idempotent-Replayed"] = "true"
    return response
