"""Read models: write the projection of an aggregate after an append, never going back to an older seq."""

from __future__ import annotations

from typing import Any

from shared.mongo import Collection, is_duplicate_key


async def project(collection: Collection, doc_id: str, seq: int, doc: dict[str, Any]) -> None:
    """Replace `doc_id` with `doc` at stream position `seq`, unless one at `seq` or later is already there.

    One write: a replace of the document at an older seq, or an insert where there is none; a document at `seq` or
    later does not match, so the upsert tries to insert its `_id` and the unique `_id` index refuses — the newer one
    stays. (FerretDB has no atomic conditional update: two writers racing can briefly leave the older one; the
    projections are caches, rebuilt from the streams whenever it matters.)
    """
    doc = {**doc, "_id": doc_id, "seq": seq}
    try:
        await collection.replace_one({"_id": doc_id, "seq": {"$lt": seq}}, doc, upsert=True)
    except Exception as exc:
        if not is_duplicate_key(exc):
            raise


async def projected_seq(collection: Collection, doc_id: str) -> int:
    """The stream position a projection was written at (0 if it is missing)."""
    doc = await collection.find_one({"_id": doc_id}, projection={"seq": 1})
    return int(doc.get("seq", 0)) if doc else 0
