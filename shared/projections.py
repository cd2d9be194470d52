"""Read models: write the projection of an aggregate after an append, never going back to an older seq."""

from __future__ import annotations

from typing import Any

from shared.mongo import Collection, is_duplicate_key


async def project(collection: Collection, doc_id: str, seq: int, doc: dict[str, Any]) -> None:
    """Replace `doc_id` with `doc` at stream position `seq`, unless a newer one is already there.

    The check and the write are two operations (FerretDB has no atomic conditional update), so a projection can briefly
    lag; the projections are caches, rebuilt from the streams whenever it matters.
    """
    doc = {**doc, "_id": doc_id, "seq": seq}
    for _ in range(3):
        current = await collection.find_one({"_id": doc_id}, projection={"seq": 1})
        if current is not None and int(current.get("seq", 0)) >= seq:
            return
        try:
            await collection.replace_one({"_id": doc_id}, doc, upsert=True)
            return
        except Exception as exc:
            if not is_duplicate_key(exc):  # two first writers upserting at once: look again
                raise


async def projected_seq(collection: Collection, doc_id: str) -> int:
    """The stream position a projection was written at (0 if it is missing)."""
    doc = await collection.find_one({"_id": doc_id}, projection={"seq": 1})
    return int(doc.get("seq", 0)) if doc else 0
