"""The one place that imports motor: client factory, readiness ping and duplicate-key detection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

if TYPE_CHECKING:
    Database = AsyncIOMotorDatabase[dict[str, Any]]
    Collection = AsyncIOMotorCollection[dict[str, Any]]
    Client = AsyncIOMotorClient[dict[str, Any]]
else:  # motor's classes are not subscriptable at run time
    Database = AsyncIOMotorDatabase
    Collection = AsyncIOMotorCollection
    Client = AsyncIOMotorClient

__all__ = [
    "Client",
    "Collection",
    "Database",
    "DuplicateKeyError",
    "drop_index_if_present",
    "is_duplicate_key",
    "make_client",
    "ping",
]


def make_client(url: str, **kwargs: Any) -> Client:
    """One pooled client per process. tz_aware: datetimes come back as aware UTC, like the ones we write."""
    opts: dict[str, Any] = {
        "tz_aware": True,
        "serverSelectionTimeoutMS": 5_000,
        "connectTimeoutMS": 5_000,
        "maxPoolSize": 50,
        "appname": kwargs.pop("appname", "fishbridge"),
    }
    opts.update(kwargs)
    return AsyncIOMotorClient(url, **opts)


async def ping(db: Database) -> None:
    await db.command("ping")


_INDEX_OR_COLLECTION_NOT_FOUND = (26, 27)  # NamespaceNotFound, IndexNotFound (MongoDB 7 and FerretDB alike)


async def drop_index_if_present(collection: Collection, name: str) -> None:
    """Drop an index an earlier version declared under `name`; nothing if it is not there. Replicas starting at once
    may both try: the one that finds it gone already is done too."""
    try:
        await collection.drop_index(name)
    except OperationFailure as exc:
        if exc.code not in _INDEX_OR_COLLECTION_NOT_FOUND:
            raise


def is_duplicate_key(exc: BaseException) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors", [])
        return bool(errors) and all(e.get("code") == 11000 for e in errors)
    return False
