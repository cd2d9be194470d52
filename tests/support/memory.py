"""In-memory stand-ins for the motor database and the bus, for use-case tests that need no infrastructure.

`MemoryDatabase` implements the subset of motor's `AsyncIOMotorDatabase`/`AsyncIOMotorCollection` API that the
shared library and the services' stores call, and nothing more: anything else raises, so a store that starts using a
new query fails loudly here instead of passing on invented semantics. Documents go in and out through BSON, so values
come back as the real driver returns them (tuples as lists, datetimes as aware UTC cut to milliseconds).
Every operation yields to the event loop once before it runs, so concurrent writers interleave as they do against a
server, while each operation itself is atomic (as a single-document write is).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import bson
from bson.codec_options import CodecOptions
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

from shared.bus import Handler
from shared.events import Envelope
from shared.mongo import Database

__all__ = ["MemoryBus", "MemoryCollection", "MemoryCursor", "MemoryDatabase", "as_database"]

_CODEC: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True, tzinfo=dt.UTC)
_MISSING = object()


def _bson(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `doc` as it would be after a round trip through the server."""
    return bson.decode(bson.encode(doc), codec_options=_CODEC)


@dataclass(frozen=True)
class InsertOneResult:
    inserted_id: Any
    acknowledged: bool = True


@dataclass(frozen=True)
class UpdateResult:
    matched_count: int
    modified_count: int
    upserted_id: Any = None
    acknowledged: bool = True


@dataclass(frozen=True)
class DeleteResult:
    deleted_count: int
    acknowledged: bool = True


def _check_keys(value: Any) -> None:
    """FerretDB refuses a document key holding a '.' or starting with '$' (MongoDB 7 stores them, so code that
    writes one works there and breaks here): so does this stand-in."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if "." in key or key.startswith("$"):
                message = f"invalid key: \"{key}\" (key must not contain '.' sign or start with '$')"
                raise WriteError(message, 2, {"index": 0, "code": 2, "errmsg": message})
            _check_keys(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            _check_keys(inner)


# ------------------------------------------------------------------------------------------------ comparing values


# BSON's comparison order of types (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/).
def _rank(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, bool):
        return 8
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, Mapping):
        return 4
    if isinstance(value, list):
        return 5
    if isinstance(value, bytes):
        return 6
    if isinstance(value, bson.ObjectId):
        return 7
    if isinstance(value, dt.datetime):
        return 9
    raise NotImplementedError(f"MemoryDatabase cannot compare a {type(value).__name__}")


def _equal(a: Any, b: Any) -> bool:
    if _rank(a) != _rank(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping):
        return list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _sort_key(value: Any) -> tuple[Any, ...]:
    """A key that orders values as the server's sort does (a missing field sorts as null)."""
    if value is _MISSING:
        value = None
    rank = _rank(value)
    if isinstance(value, list):
        return (rank, tuple(_sort_key(v) for v in value))
    if isinstance(value, Mapping):
        return (rank, tuple((k, _sort_key(v)) for k, v in value.items()))
    return (rank, value if value is not None else 0)


def _compare(op: str, field: Any, bound: Any) -> bool:
    """`$lt` and friends: only between values of one type bracket, as the server's query bracketing does."""
    if field is _MISSING or _rank(field) != _rank(bound) or isinstance(field, list | Mapping):
        return False
    if op == "$lt":
        return bool(field < bound)
    if op == "$lte":
        return bool(field <= bound)
    if op == "$gt":
        return bool(field > bound)
    return bool(field >= bound)


# ------------------------------------------------------------------------------------------------------- filters


def _values(doc: Any, path: Sequence[str]) -> list[Any]:
    """The values a dotted path reaches, as a query sees them: into sub-documents, across array elements, and a
    terminal array both as itself and as its elements. Empty if the path reaches nothing."""
    if not path:
        if isinstance(doc, list):
            return [doc, *doc]
        return [doc]
    head, rest = path[0], path[1:]
    if isinstance(doc, Mapping):
        return _values(doc[head], rest) if head in doc else []
    if isinstance(doc, list):
        if head.isdigit():
            index = int(head)
            return _values(doc[index], rest) if index < len(doc) else []
        return [v for element in doc if isinstance(element, Mapping) for v in _values(element, path)]
    return []


def _eq_any(values: list[Any], wanted: Any) -> bool:
    if wanted is None and not values:
        return True  # null matches a missing field
    return any(_equal(v, wanted) for v in values)


def _field_matches(values: list[Any], condition: Any) -> bool:
    if not (isinstance(condition, Mapping) and condition and all(str(k).startswith("$") for k in condition)):
        return _eq_any(values, condition)
    for op, arg in condition.items():
        if op == "$in":
            ok = any(_eq_any(values, a) for a in arg)
        elif op == "$nin":
            ok = not any(_eq_any(values, a) for a in arg)
        elif op in ("$lt", "$lte", "$gt", "$gte"):
            ok = any(_compare(op, v, arg) for v in values)
        elif op == "$all":
            ok = all(_eq_any(values, a) for a in arg)
        else:
            raise NotImplementedError(f"MemoryDatabase does not implement the query operator {op}")
        if not ok:
            return False
    return True


def _matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for key, condition in query.items():
        if key == "$and":
            ok = all(_matches(doc, q) for q in condition)
        elif key == "$or":
            ok = any(_matches(doc, q) for q in condition)
        elif key.startswith("$"):
            raise NotImplementedError(f"MemoryDatabase does not implement the query operator {key}")
        else:
            ok = _field_matches(_values(doc, key.split(".")), condition)
        if not ok:
            return False
    return True


def _project(doc: dict[str, Any], projection: Mapping[str, Any] | None) -> dict[str, Any]:
    if not projection:
        return doc
    if any("." in key for key in projection):
        raise NotImplementedError("MemoryDatabase projects top-level fields only")
    if any(projection.values()):
        keep = {k for k, v in projection.items() if v} | ({"_id"} if projection.get("_id", 1) else set())
        return {k: v for k, v in doc.items() if k in keep}
    drop = {k for k, v in projection.items() if not v}
    return {k: v for k, v in doc.items() if k not in drop}


# ------------------------------------------------------------------------------------------------------- cursors


class MemoryCursor:
    """What `find` returns: `.sort()` and `.limit()` chain before iterating with `async for`, as on motor's cursor."""

    def __init__(self, collection: MemoryCollection, query: Mapping[str, Any], projection: Mapping[str, Any] | None):
        self._collection = collection
        self._query = _bson(query)
        self._projection = projection
        self._sort: list[tuple[str, int]] = []
        self._limit = 0
        self._results: list[dict[str, Any]] | None = None

    def sort(self, keys: str | Sequence[tuple[str, int]], direction: int = 1) -> MemoryCursor:
        self._sort = [(keys, direction)] if isinstance(keys, str) else [(k, int(d)) for k, d in keys]
        return self

    def limit(self, limit: int) -> MemoryCursor:
        self._limit = limit
        return self

    async def close(self) -> None:
        self._results = []

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        if self._results is None:
            await asyncio.sleep(0)
            docs = [d for d in self._collection._docs.values() if _matches(d, self._query)]
            for field, direction in reversed(self._sort):  # stable sorts, the last key first
                docs.sort(key=_by(field), reverse=direction < 0)
            if self._limit:
                docs = docs[: self._limit]
            self._results = [_bson(_project(d, self._projection)) for d in docs]
        while self._results:
            yield self._results.pop(0)


def _by(field: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    return lambda doc: _sort_key(_first(doc, field))


def _first(doc: Mapping[str, Any], path: str) -> Any:
    found = _values(doc, path.split("."))
    return found[0] if found else _MISSING


# --------------------------------------------------------------------------------------------------- collections


@dataclass(frozen=True)
class _Unique:
    name: str
    fields: tuple[str, ...]

    def key(self, doc: Mapping[str, Any]) -> tuple[Any, ...]:
        # A missing field is indexed as null, so two documents without it collide, as on the server.
        return tuple(_hashable(_first(doc, f)) for f in self.fields)


def _hashable(value: Any) -> Any:
    if value is _MISSING:
        return None
    if isinstance(value, list):
        return ("[]", tuple(_hashable(v) for v in value))
    if isinstance(value, Mapping):
        return ("{}", tuple((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, bool):
        return ("bool", value)
    return value


class MemoryCollection:
    def __init__(self, database: MemoryDatabase, name: str) -> None:
        self.database = database
        self.name = name
        self._docs: dict[Any, dict[str, Any]] = {}
        self._unique: dict[str, _Unique] = {}
        self._indexes: set[str] = set()

    @property
    def full_name(self) -> str:
        return f"{self.database.name}.{self.name}"

    def _duplicate(self, index: str, key: Any) -> DuplicateKeyError:
        message = f"E11000 duplicate key error collection: {self.full_name} index: {index} dup key: {key!r}"
        return DuplicateKeyError(message, 11000, {"code": 11000, "errmsg": message})

    def _check(self, doc: Mapping[str, Any], replacing: Any = _MISSING) -> None:
        """WriteError for a key FerretDB refuses (a '.' in it, or a leading '$'), at any depth; DuplicateKeyError if
        `doc` (taking the place of the document with `_id` `replacing`) breaks a unique index, `_id` included."""
        _check_keys(doc)
        doc_id = _hashable(doc["_id"])
        if doc_id != replacing and doc_id in self._docs:
            raise self._duplicate("_id_", doc["_id"])
        for index in self._unique.values():
            key = index.key(doc)
            if any(index.key(other) == key for other_id, other in self._docs.items() if other_id != replacing):
                raise self._duplicate(index.name, key)

    def _find(self, query: Mapping[str, Any]) -> dict[str, Any] | None:
        query = _bson(query)
        return next((d for d in self._docs.values() if _matches(d, query)), None)

    async def create_index(self, keys: str | Sequence[tuple[str, int]], *, unique: bool = False, **kwargs: Any) -> str:
        await asyncio.sleep(0)
        fields = (keys,) if isinstance(keys, str) else tuple(k for k, _ in keys)
        name = kwargs.pop("name", None) or "_".join(f"{f}_1" for f in fields)
        if kwargs:
            raise NotImplementedError(f"MemoryDatabase does not implement index options {sorted(kwargs)}")
        if unique:
            index = _Unique(name, fields)
            seen: set[Any] = set()
            for doc in self._docs.values():
                key = index.key(doc)
                if key in seen:
                    raise self._duplicate(name, key)
                seen.add(key)
            self._unique[name] = index
        self._indexes.add(name)
        return name

    async def drop_index(self, name: str) -> None:
        """As the server does: the index goes (a unique one stops refusing keys); an unknown name is IndexNotFound."""
        await asyncio.sleep(0)
        if name not in self._indexes:
            raise OperationFailure(f"index not found with name [{name}]", 27, {"code": 27, "codeName": "IndexNotFound"})
        self._indexes.discard(name)
        self._unique.pop(name, None)

    async def insert_one(self, document: dict[str, Any]) -> InsertOneResult:
        await asyncio.sleep(0)
        if "_id" not in document:
            document["_id"] = bson.ObjectId()  # as pymongo does, on the caller's document
        doc = _bson(document)
        self._check(doc)
        self._docs[_hashable(doc["_id"])] = doc
        return InsertOneResult(doc["_id"])

    async def insert_many(self, documents: Iterable[dict[str, Any]]) -> list[InsertOneResult]:
        return [await self.insert_one(d) for d in documents]

    async def find_one(
        self, filter: Mapping[str, Any] | None = None, projection: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        doc = self._find(filter or {})
        return None if doc is None else _bson(_project(doc, projection))

    def find(
        self, filter: Mapping[str, Any] | None = None, projection: Mapping[str, Any] | None = None
    ) -> MemoryCursor:
        return MemoryCursor(self, filter or {}, projection)

    async def update_one(self, filter: Mapping[str, Any], update: Mapping[str, Any]) -> UpdateResult:
        await asyncio.sleep(0)
        if set(update) - {"$set"}:
            raise NotImplementedError(f"MemoryDatabase does not implement the update {sorted(update)}")
        doc = self._find(filter)
        if doc is None:
            return UpdateResult(0, 0)
        changed = _bson(doc)
        for path, value in _bson(update["$set"]).items():
            *parents, last = path.split(".")
            target = changed
            for part in parents:
                target = target.setdefault(part, {})
            target[last] = value
        if "_id" in update["$set"] and not _equal(changed["_id"], doc["_id"]):
            raise NotImplementedError("MemoryDatabase cannot change an _id")
        self._check(changed, replacing=_hashable(doc["_id"]))
        self._docs[_hashable(doc["_id"])] = changed
        return UpdateResult(1, int(changed != doc))

    async def update_many(self, filter: Mapping[str, Any], update: Mapping[str, Any]) -> UpdateResult:
        """`update_one` of each matching document, by its `_id`."""
        ids = [doc["_id"] for doc in self._docs.values() if _matches(doc, filter)]
        matched = modified = 0
        for doc_id in ids:
            result = await self.update_one({"_id": doc_id}, update)
            matched += result.matched_count
            modified += result.modified_count
        return UpdateResult(matched, modified)

    async def replace_one(
        self, filter: Mapping[str, Any], replacement: Mapping[str, Any], upsert: bool = False
    ) -> UpdateResult:
        await asyncio.sleep(0)
        doc = self._find(filter)
        new = _bson(replacement)
        if doc is None:
            if not upsert:
                return UpdateResult(0, 0)
            if "_id" not in new:
                ids = [v for k, v in _bson(filter).items() if k == "_id" and not isinstance(v, Mapping)]
                new = {"_id": ids[0] if ids else bson.ObjectId(), **new}
            self._check(new)
            self._docs[_hashable(new["_id"])] = new
            return UpdateResult(0, 0, upserted_id=new["_id"])
        new.setdefault("_id", doc["_id"])
        if not _equal(new["_id"], doc["_id"]):
            raise NotImplementedError("MemoryDatabase cannot change an _id")
        new = {"_id": new.pop("_id"), **new}
        self._check(new, replacing=_hashable(doc["_id"]))
        self._docs[_hashable(doc["_id"])] = new
        return UpdateResult(1, int(new != doc))

    async def delete_one(self, filter: Mapping[str, Any]) -> DeleteResult:
        await asyncio.sleep(0)
        doc = self._find(filter)
        if doc is None:
            return DeleteResult(0)
        del self._docs[_hashable(doc["_id"])]
        return DeleteResult(1)


class MemoryDatabase:
    """One database: collections are created on first use, as on the server."""

    _names = itertools.count(1)

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"memory_{next(self._names)}"
        self._collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        if name not in self._collections:
            self._collections[name] = MemoryCollection(self, name)
        return self._collections[name]


def as_database(db: MemoryDatabase) -> Database:
    """The memory database typed as the motor one the stores take."""
    return cast(Database, db)


# ------------------------------------------------------------------------------------------------------------ bus


class MemoryBus:
    """Stands in for `shared.bus.Bus` on the relay's side and for a `Consumer` on the other: `publish` records each
    envelope (through JSON, as the wire carries it); `deliver` hands envelopes to a handler table by routing key."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []

    async def publish(self, envelope: Envelope, *, timeout_s: float = 10.0) -> None:
        self.published.append(Envelope.model_validate_json(envelope.model_dump_json()))

    def of_type(self, event_type: str) -> list[Envelope]:
        return [e for e in self.published if e.type == event_type]

    async def deliver(self, handlers: Mapping[str, Handler], envelopes: Iterable[Envelope] | None = None) -> int:
        """Run the handler of each envelope (every one published, unless given), in order, as a consumer bound to
        the table's routing keys would; envelopes no handler is bound to never reach it. How many were handled."""
        handled = 0
        for envelope in list(self.published if envelopes is None else envelopes):
            handler = handlers.get(envelope.routing_key)
            if handler is not None:
                await handler(envelope)
                handled += 1
        return handled
