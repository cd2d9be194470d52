"""Idempotency-Key for HTTP commands: the first result is stored under a unique key and replayed; the same key
with another body is 409 idempotency_key_reused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from shared.errors import AppError, Conflict, ValidationFailed
from shared.mongo import Database, is_duplicate_key

COLLECTION = "idempotency_keys"
HEADER = "Idempotency-Key"


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyStore:
    def __init__(self, db: Database) -> None:
        self.collection = db[COLLECTION]

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
        exception releases the key so the client's retry runs the command again."""
        key = request.headers.get(HEADER)
        if key is None:
            if required:
                raise ValidationFailed("Idempotency-Key header is required", details={HEADER: "missing"})
            return await compute()
        if not 1 <= len(key) <= 255:
            raise ValidationFailed("Idempotency-Key must be 1 to 255 characters", details={HEADER: "bad length"})
        doc_id = f"{scope}:{key}"
        fp = fingerprint(request.method, request.path, await request.read())
        try:
            await self.collection.insert_one(
                {"_id": doc_id, "fingerprint": fp, "state": "running", "created_at": datetime.now(UTC)}
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            return await self._replay(doc_id, fp)
        try:
            response = await compute()
        except AppError as exc:
            if exc.status >= 500:
                await self.collection.delete_one({"_id": doc_id})
                raise
            body: dict[str, Any] = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
            await self._store(doc_id, exc.status, body)
            raise
        except BaseException:
            await self.collection.delete_one({"_id": doc_id})
            raise
        if response.status >= 500:
            await self.collection.delete_one({"_id": doc_id})
            return response
        text = response.text if isinstance(response, web.Response) and response.text is not None else "null"
        await self._store(doc_id, response.status, json.loads(text))
        return response

    async def _store(self, doc_id: str, status: int, body: Any) -> None:
        await self.collection.update_one(
            {"_id": doc_id}, {"$set": {"state": "done", "status": status, "body": body, "done_at": datetime.now(UTC)}}
        )

    async def _replay(self, doc_id: str, fp: str) -> web.Response:
        doc = await self.collection.find_one({"_id": doc_id})
        if doc is None:  # released by a failed first attempt between our insert and this read
            raise Conflict("the first request with this key failed; retry", code="request_in_progress")
        if doc["fingerprint"] != fp:
            raise Conflict("this Idempotency-Key was used with a different request", code="idempotency_key_reused")
        if doc["state"] != "done":
            raise Conflict("a request with this Idempotency-Key is still in progress", code="request_in_progress")
        response = web.json_response(doc["body"], status=int(doc["status"]))
        response.headers["Idempotent-Replayed"] = "true"
        return response
