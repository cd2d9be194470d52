"""The collection's queries of the wallet's database: projections of shops, invitations, batches, onboarding and
payees, the candidates of an invitation batch, the applications due a look, and the ciphertext of each submission."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from services.wallet.collection_domain import (
    OPEN_STATUSES,
    Batch,
    Invitation,
    Onboarding,
    Payee,
    ShopCopy,
    invitation_stream,
    onboarding_stream,
)
from shared.mongo import Collection, Database, is_duplicate_key
from shared.projections import project, projected_seq


class CollectionStore:
    def __init__(self, db: Database, *, poll_after_s: float) -> None:
        self.shops: Collection = db["collection_shops"]
        self.invitations: Collection = db["collection_invitations"]
        self.batches: Collection = db["invitation_batches"]
        self.onboarding: Collection = db["collection_onboarding"]
        self.payees: Collection = db["collection_payees"]
        # The body sent for each out_request_no (its sensitive fields WeChat's ciphertext, never clear): the same
        # number is only ever sent with the same content. Its first insert decides which request's body that is.
        self.submissions: Collection = db["collection_submissions"]
        self.poll_after = timedelta(seconds=poll_after_s)

    async def ensure_indexes(self) -> None:
        # Set only on opened shops not yet invited: one equality per level reads only the shops a batch may invite.
        await self.shops.create_index([("candidate_level", 1)], name="candidates")
        await self.invitations.create_index([("batch_id", 1)], name="batch")
        await self.onboarding.create_index([("status", 1), ("check_at", 1)], name="open_onboarding")

    # --- projections ------------------------------------------------------------------------------------------------

    async def project_shop(self, shop: ShopCopy, seq: int) -> None:
        invited = bool(shop.seller_id) and await self.is_invited(shop.seller_id)
        doc = shop.model_dump()
        doc["invited"] = invited
        doc["candidate_level"] = shop.level if shop.opened and not invited else None
        await project(self.shops, shop.shop_id, seq, doc)

    async def is_invited(self, seller_id: str) -> bool:
        return await self.invitations.find_one({"_id": invitation_stream(seller_id)}, projection={"_id": 1}) is not None

    async def project_invitation(self, invitation: Invitation, seq: int) -> None:
        if not invitation.exists:
            return
        await project(self.invitations, invitation.invitation_id, seq, invitation.model_dump())
        await self.mark_invited(invitation.shop_id)

    async def mark_invited(self, shop_id: str) -> None:
        """The shop is no candidate any more (a cache: a lost write only makes a later batch try, and lose, again)."""
        await self.shops.update_one({"_id": shop_id}, {"$set": {"invited": True, "candidate_level": None}})

    async def project_batch(self, batch: Batch, seq: int) -> None:
        if batch.exists:
            await project(self.batches, batch.batch_id, seq, batch.model_dump())

    async def project_onboarding(self, state: Onboarding, seq: int) -> None:
        if not state.exists:
            return
        doc = {
            "seller_id": state.seller_id,
            "status": state.status,
            "attempt": state.attempt,
            "out_request_no": state.out_request_no,
            "provider_state": state.provider_state,
            "sub_mchid": state.sub_mchid if state.status == "active" else None,
            # When `poll` should look next: a while after the last change, while the application is open.
            "check_at": (state.updated_at + self.poll_after) if state.status in OPEN_STATUSES and state.updated_at
            else None,
            "misses": 0,
        }  # fmt: skip
        await project(self.onboarding, onboarding_stream(state.seller_id), seq, doc)

    async def project_payee(self, state: Payee, seq: int) -> None:
        if state.exists:
            await project(self.payees, f"pye_{state.seller_id}", seq, state.model_dump())

    async def projected_seq(self, stream_id: str) -> int:
        collection = {
            "shp_": self.shops,
            "inv_": self.invitations,
            "bat_": self.batches,
            "onb_": self.onboarding,
            "pye_": self.payees,
        }[stream_id[:4]]
        return await projected_seq(collection, stream_id)

    # --- queries ----------------------------------------------------------------------------------------------------

    async def candidates(self, level: int) -> list[dict[str, Any]]:
        """The opened, not yet invited shops of one level (sorted by the caller): `{candidate_level: level}`."""
        cursor = self.shops.find(
            {"candidate_level": level}, projection={"_id": 1, "seller_id": 1, "level": 1, "opened_at": 1}
        )
        return [doc async for doc in cursor]

    async def invited_by(self, batch_id: str) -> list[str]:
        """The sellers a batch invited (so a batch run again after a crash counts what it did already)."""
        cursor = self.invitations.find({"batch_id": batch_id}, projection={"seller_id": 1})
        return [doc["seller_id"] async for doc in cursor]

    async def invitations_of_batch(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """Each seller a batch invited → its invitation's shop and level (one query, by `batch_id`)."""
        cursor = self.invitations.find({"batch_id": batch_id}, projection={"seller_id": 1, "shop_id": 1, "level": 1})
        return {doc["seller_id"]: {"shop_id": doc.get("shop_id"), "level": doc.get("level")} async for doc in cursor}

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Open applications whose look is due: one query per open status (an equality on `open_onboarding`'s
        leading field), the `check_at` range evaluated on that status's applications only."""
        found: list[str] = []
        for status in OPEN_STATUSES:
            if len(found) >= limit:
                break
            cursor = self.onboarding.find(
                {"status": status, "check_at": {"$lte": now}}, projection={"seller_id": 1}
            ).limit(limit - len(found))
            found.extend([doc["seller_id"] async for doc in cursor])
        return found

    async def check_later(self, seller_id: str, now: datetime, base_s: float, max_s: float) -> datetime:
        """Scheduling hint only: ask again `base_s` from now, doubling with each look that changed nothing (a new
        projection resets it), at most `max_s`."""
        doc_id = onboarding_stream(seller_id)
        doc = await self.onboarding.find_one({"_id": doc_id}, projection={"misses": 1})
        misses = int(doc.get("misses", 0)) if doc else 0
        at = now + timedelta(seconds=min(max_s, base_s * 2 ** min(misses, 30)))
        await self.onboarding.update_one({"_id": doc_id}, {"$set": {"check_at": at, "misses": misses + 1}})
        return at

    async def keep_submission(self, out_request_no: str, doc: dict[str, Any]) -> dict[str, Any]:
        """The submission stored for `out_request_no`: `doc` if this insert is the first, else the one already there."""
        try:
            await self.submissions.insert_one({**doc, "_id": out_request_no})
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            found = await self.submissions.find_one({"_id": out_request_no})
            assert found is not None
            return found
        return {**doc, "_id": out_request_no}

    async def submission(self, out_request_no: str) -> dict[str, Any] | None:
        return await self.submissions.find_one({"_id": out_request_no})
