"""WeChat collection: the wallet's copy of shops and levels, invitation batches, onboarding as a WeChat Pay
e-commerce sub-merchant (二级商户进件, followed by polling), the settlement card, and the sellers' payee identities
(sub_mchid, Alipay royalty receiver). Pure rules in `collection_domain`, queries in `collection_store`.

Clear sensitive values (name, ID number, mobile, card number) exist only in the request being handled: they are
encrypted for WeChat at once, and only masks and WeChat's ciphertext are kept. Nothing here logs them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.wallet.collection_domain import (
    BATCH,
    INVITATION,
    MAX_LEVEL,
    MAY_APPLY,
    ONBOARDING,
    PAYEE,
    SHOP,
    ActivationRequest,
    Batch,
    CompleteBatch,
    Invitation,
    Invite,
    MarkRefused,
    MarkSubmitted,
    Observe,
    Onboarding,
    Payee,
    PayeeBound,
    PayeeRefused,
    ProviderRefusal,
    RecordLevel,
    RecordOpened,
    RecordSettlementChange,
    RequestOnboarding,
    RequestPayee,
    ShopCopy,
    StartBatch,
    applyment_body,
    applyment_number,
    invitation_stream,
    mask_card,
    mask_name,
    onboarding_stream,
    payee_attempt,
    payee_number,
    pick_candidates,
    refuse_activation,
)
from services.wallet.collection_store import CollectionStore
from services.wallet.settings import WalletSettings
from shared.bus import Handler, PermanentFailure, cause_of, idempotent
from shared.clock import Clock, SystemClock
from shared.errors import Conflict, InvalidState, NotFound, Unavailable
from shared.events import Envelope
from shared.events.listing import ShopLevelChanged, ShopOpened
from shared.http.idempotency import IdempotencyStore
from shared.mongo import Database
from shared.providers.alipay import AlipayClient
from shared.providers.errors import ProviderRejected, ProviderUnavailable
from shared.providers.wechatpay import WechatPayClient
from shared.streams import Cause, Streams, StreamStore

log = logging.getLogger("services.wallet.collection")
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _payload(model: type[M], envelope: Envelope) -> M:
    try:
        return model.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentFailure(f"invalid {envelope.type} payload: {exc.error_count()} errors") from exc


class ShopUnknown(Exception):
    """An invitation or application names a shop the wallet has not seen open yet."""


class Collection:
    def __init__(
        self,
        streams: StreamStore,
        db: Database,
        wechat: WechatPayClient,
        alipay: AlipayClient,
        settings: WalletSettings,
        clock: Clock | None = None,
    ) -> None:
        self.streams = streams
        self.db = db
        self.wechat = wechat
        self.alipay = alipay
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.store = CollectionStore(db, poll_after_s=settings.poll_after_s)
        # Replays of `POST /invitation-batches` under one Idempotency-Key.
        self.idempotency = IdempotencyStore(db, clock=self.clock)
        s = self.store
        self.shops = Streams(streams, SHOP, s.project_shop, s.projected_seq, prefix="shp_", missing="no such shop")
        self.invitations = Streams(
            streams, INVITATION, s.project_invitation, s.projected_seq, prefix="inv_", missing="not invited"
        )
        self.batches = Streams(
            streams, BATCH, s.project_batch, s.projected_seq, prefix="bat_", missing="no such invitation batch"
        )
        self.onboarding = Streams(
            streams, ONBOARDING, s.project_onboarding, s.projected_seq, prefix="onb_", missing="no application"
        )
        self.payees = Streams(
            streams, PAYEE, s.project_payee, s.projected_seq, prefix="pye_", missing="no Alipay account bound"
        )
        self.kinds: list[Streams[Any, Any]] = [
            self.shops,
            self.invitations,
            self.batches,
            self.onboarding,
            self.payees,
        ]

    async def ensure_indexes(self) -> None:
        await self.store.ensure_indexes()
        await self.idempotency.ensure_indexes()

    # --- listing's shops ---------------------------------------------------------------------------------------------

    def handlers(self, name: str) -> dict[str, Handler]:
        async def shop_opened(envelope: Envelope) -> None:
            p = _payload(ShopOpened, envelope)
            command = RecordOpened(
                shop_id=p.shop_id,
                seller_id=p.seller_id,
                name=p.name,
                level=p.level,
                opened_at=envelope.occurred_at,
                source_seq=envelope.seq,
            )
            await self.shops.run(p.shop_id, command, cause_of(name, envelope))

        async def level_changed(envelope: Envelope) -> None:
            # Recorded even when the opening has not arrived yet (the later of the two by listing's seq wins).
            p = _payload(ShopLevelChanged, envelope)
            command = RecordLevel(shop_id=p.shop_id, seller_id=p.seller_id, level=p.new_level, source_seq=envelope.seq)
            await self.shops.run(p.shop_id, command, cause_of(name, envelope))

        table: dict[str, Handler] = {"shop.opened.v1": shop_opened, "shop.level_changed.v1": level_changed}
        return {key: idempotent(self.db, name, handler) for key, handler in table.items()}

    async def shop(self, shop_id: str) -> ShopCopy:
        state, _ = await self.shops.load(shop_id)
        return state

    # --- invitation batches -----------------------------------------------------------------------------------------

    async def run_batch(self, batch_id: str, min_level: int, max_count: int) -> Batch:
        """Invite up to `max_count` shops of level ≥ `min_level` not invited yet, the highest level first, then the
        oldest. Each seller is invited once, by whichever batch appends first to their invitation stream; a batch run
        again (same id) counts what it invited before and completes the same way."""
        started = await self.batches.run(
            batch_id,
            StartBatch(batch_id=batch_id, min_level=min_level, max_count=max_count),
            Cause(f"{batch_id}:start"),
        )
        batch = started.state
        if batch.status == "completed":
            return batch
        won: list[str] = list(dict.fromkeys(await self.store.invited_by(batch_id)))
        for level in range(MAX_LEVEL, batch.min_level - 1, -1):
            if len(won) >= batch.max_count:
                break
            queue = [d for d in pick_candidates(await self.store.candidates(level)) if d["seller_id"] not in won]
            while queue and len(won) < batch.max_count:
                chunk, queue = queue[: batch.max_count - len(won)], queue[batch.max_count - len(won) :]
                results = await asyncio.gather(*(self._invite(batch_id, doc) for doc in chunk))
                won.extend(seller for seller in results if seller is not None)
        done = await self.batches.run(
            batch_id, CompleteBatch(batch_id=batch_id, seller_ids=won[: batch.max_count]), Cause(f"{batch_id}:done")
        )
        return done.state

    async def _invite(self, batch_id: str, shop: dict[str, Any]) -> str | None:
        """The seller if this batch invited them (now, or in an earlier run of it), None if another batch had."""
        seller_id = str(shop["seller_id"])
        invite = Invite(
            invitation_id=invitation_stream(seller_id),
            batch_id=batch_id,
            seller_id=seller_id,
            shop_id=str(shop["_id"]),
            level=int(shop["level"]),
        )
        # Won or lost, the projection written after it takes the shop off the candidates.
        outcome = await self.invitations.run(invite.invitation_id, invite, Cause(f"{batch_id}:invite:{seller_id}"))
        return seller_id if outcome.state.batch_id == batch_id else None

    async def batch(self, batch_id: str) -> Batch:
        if not batch_id.startswith("bat_"):
            raise NotFound("no such invitation batch")
        return await self.batches.get(batch_id)

    async def invitation(self, seller_id: str) -> Invitation:
        state, _ = await self.invitations.load(invitation_stream(seller_id))
        return state

    # --- onboarding ---------------------------------------------------------------------------------------------------

    async def application(self, seller_id: str) -> Onboarding:
        state, _ = await self.onboarding.load(onboarding_stream(seller_id))
        return state

    async def activate(self, seller_id: str, request: ActivationRequest) -> Onboarding:
        """Apply for WeChat collection (an invited seller only), or send again the application under way that WeChat
        has not answered yet (its number and content as first sent: the new request's fields are not used)."""
        invitation = await self.invitation(seller_id)
        if not invitation.exists:
            raise Conflict("the seller has not been invited to WeChat collection", code="not_invited")
        state = await self.application(seller_id)
        refuse_activation(state)
        if state.status in MAY_APPLY:
            state = await self._request(seller_id, invitation, state, request)
        return await self._submit(state)

    async def _request(
        self, seller_id: str, invitation: Invitation, state: Onboarding, request: ActivationRequest
    ) -> Onboarding:
        attempt = state.attempt + 1
        out_request_no = applyment_number(seller_id, attempt)
        shop = await self.shop(invitation.shop_id)
        store_name = shop.name or (request.merchant_shortname or "")
        if not store_name:
            raise InvalidState("the seller's shop is not known yet", code="shop_unknown")
        body, serial = self._encrypted(request, out_request_no, store_name)
        # Of concurrent requests for one attempt, the first insert's body (and its masks) is the attempt's.
        kept = await self.store.keep_submission(
            out_request_no,
            {
                "seller_id": seller_id,
                "attempt": attempt,
                "body": body,
                "serial": serial,
                "masked": request.masked(),
                "at": self.clock.now(),
            },
        )
        command = RequestOnboarding(
            seller_id=seller_id,
            shop_id=invitation.shop_id,
            attempt=attempt,
            out_request_no=out_request_no,
            organization_type=str(kept["body"]["organization_type"]),
            merchant_shortname=str(kept["body"]["merchant_shortname"]),
            masked=kept["masked"],
        )
        outcome = await self.onboarding.run(onboarding_stream(seller_id), command, Cause(f"{out_request_no}:request"))
        return outcome.state

    def _encrypted(
        self, request: ActivationRequest, out_request_no: str, store_name: str
    ) -> tuple[dict[str, Any], str]:
        """The body, every sensitive field encrypted under one key (built again if WeChat's key changed meanwhile)."""
        for _ in range(3):
            serials: set[str] = set()
            body = applyment_body(request, out_request_no, store_name, self._encryptor(serials))
            if len(serials) == 1:
                return body, serials.pop()
        raise Unavailable("WeChat Pay's encryption key keeps changing; try again", code="provider_unavailable")

    def _encryptor(self, serials: set[str]) -> Callable[[str], str]:
        def encrypt(text: str) -> str:
            ciphertext, serial = self.wechat.encrypt(text)
            serials.add(serial)
            return ciphertext

        return encrypt

    async def _submit(self, state: Onboarding) -> Onboarding:
        """Send the current attempt's stored submission (same number, same content); record the answer."""
        if state.status != "requested" or state.out_request_no is None:
            return state
        stream = onboarding_stream(state.seller_id)
        number = state.out_request_no
        submission = await self.store.submission(number)
        if submission is None:
            raise RuntimeError(f"{number}: no stored submission")  # never: it is stored before it is requested
        try:
            answer = await self._with_retries(
                lambda: self.wechat.submit_applyment(submission["body"], submission["serial"])
            )
        except ProviderRejected as exc:
            refused = MarkRefused(out_request_no=number, provider_code=exc.provider_code, message=exc.message)
            await self.onboarding.run(stream, refused, Cause(f"{number}:refused"))
            raise ProviderRefusal(
                f"WeChat Pay refused the application: {exc.message}",
                details={"provider_code": exc.provider_code, "message": exc.message},
            ) from None
        except ProviderUnavailable:
            # Recorded as requested: `poll` sends it again, with the same number and content.
            log.warning("applyment %s: WeChat Pay did not answer; it is sent again later", number)
            return state
        applyment_id = str(answer.get("applyment_id", ""))
        if not applyment_id:
            return state  # an answer without the id: the query will tell
        outcome = await self.onboarding.run(
            stream, MarkSubmitted(out_request_no=number, applyment_id=applyment_id), Cause(f"{number}:submitted")
        )
        return outcome.state

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.settings.provider_attempts):
            try:
                return await call()
            except ProviderUnavailable:
                if attempt + 1 >= self.settings.provider_attempts:
                    raise
                await asyncio.sleep(self.settings.provider_retry_delay_s)
        raise AssertionError("unreachable")

    async def refresh(self, seller_id: str) -> tuple[Onboarding, bool]:
        """Follow the seller's open application now: send it again if WeChat never answered, else ask its state.
        (state, whether the look changed anything)."""
        state, changed, _ = await self._look(seller_id)
        return state, changed

    async def _look(self, seller_id: str) -> tuple[Onboarding, bool, bool]:
        """(state, whether anything changed, whether this look is the one that activated collection)."""
        state = await self.application(seller_id)
        if state.status == "requested":
            after = await self._submit_quietly(state)
            return after, after != state, False
        if state.status != "applying" or state.out_request_no is None:
            return state, False, False
        answer = await self.wechat.query_applyment(state.out_request_no)
        # No command id: whether an answer changes anything is decided on the state (concurrent looks at one answer
        # append once: the loser decides again after the winner and finds nothing new).
        outcome = await self.onboarding.run(
            onboarding_stream(seller_id), Observe(out_request_no=state.out_request_no, answer=answer)
        )
        entry = outcome.entry
        activated = entry is not None and any(e.type == "wallet.collection_activated" for e in entry.events)
        return outcome.state, entry is not None, activated

    async def _submit_quietly(self, state: Onboarding) -> Onboarding:
        try:
            return await self._submit(state)
        except ProviderRefusal:
            return await self.application(state.seller_id)

    async def poll(self) -> dict[str, int]:
        """The leased job: every open application whose look is due, asked about (or sent again); one whose look
        changed nothing is asked again later and later (`poll_after_s` doubling up to `retry_backoff_max_s`)."""
        counts = {"checked": 0, "changed": 0, "activated": 0, "unavailable": 0, "refused": 0}
        now = self.clock.now()
        for seller_id in await self.store.due(now, self.settings.worker_batch):
            counts["checked"] += 1
            changed = False
            try:
                _, changed, activated = await self._look(seller_id)
                counts["activated"] += activated
            except ProviderUnavailable as exc:
                counts["unavailable"] += 1
                log.info("onboarding of %s: no answer from WeChat Pay (%s)", seller_id, exc)
            except ProviderRejected as exc:
                counts["refused"] += 1
                log.warning("onboarding of %s: WeChat Pay refused the query: %s", seller_id, exc)
            if changed:
                counts["changed"] += 1  # the new projection scheduled the next look
            else:
                await self.store.check_later(
                    seller_id, now, self.settings.poll_after_s, self.settings.retry_backoff_max_s
                )
        return counts

    async def sub_mchid_of(self, seller_id: str) -> str | None:
        state = await self.application(seller_id)
        return state.sub_mchid if state.activated else None

    # --- the settlement card ------------------------------------------------------------------------------------------

    async def _active(self, seller_id: str) -> Onboarding:
        state = await self.application(seller_id)
        if not state.activated or state.sub_mchid is None:
            raise InvalidState("WeChat collection is not active", code="not_active")
        return state

    async def change_settlement_card(
        self, seller_id: str, *, account_bank: str, bank_address_code: str, account_number: str, account_name: str
    ) -> tuple[Onboarding, str]:
        state = await self._active(seller_id)
        assert state.sub_mchid is not None
        try:
            answer = await self.wechat.modify_settlement(
                state.sub_mchid,
                account_type="ACCOUNT_TYPE_PRIVATE",
                account_bank=account_bank,
                bank_address_code=bank_address_code,
                account_number=account_number,
                account_name=account_name,
            )
        except ProviderRejected as exc:
            raise ProviderRefusal(
                f"WeChat Pay refused the card change: {exc.message}",
                details={"provider_code": exc.provider_code, "message": exc.message},
            ) from None
        except ProviderUnavailable as exc:
            raise Unavailable("WeChat Pay did not answer; try again", code="provider_unavailable") from exc
        application_no = str(answer.get("application_no", ""))
        if not application_no:
            raise Unavailable("WeChat Pay's answer had no application_no", code="provider_unavailable")
        change = RecordSettlementChange(
            application_no=application_no, account_bank=account_bank, account_number_masked=mask_card(account_number)
        )
        outcome = await self.onboarding.run(
            onboarding_stream(seller_id), change, Cause(f"settlement:{seller_id}:{application_no}")
        )
        return outcome.state, application_no

    async def settlement_card(self, seller_id: str) -> dict[str, Any]:
        state = await self._active(seller_id)
        assert state.sub_mchid is not None
        try:
            card = await self.wechat.settlement(state.sub_mchid)
            change = None
            if state.settlement_application_no is not None:
                change = await self.wechat.settlement_application(state.sub_mchid, state.settlement_application_no)
        except ProviderRejected as exc:
            raise ProviderRefusal(
                f"WeChat Pay refused: {exc.message}",
                details={"provider_code": exc.provider_code, "message": exc.message},
            ) from None
        except ProviderUnavailable as exc:
            raise Unavailable("WeChat Pay did not answer; try again", code="provider_unavailable") from exc
        return {"card": card, "change": change, "application_no": state.settlement_application_no}

    # --- the Alipay payee ---------------------------------------------------------------------------------------------

    async def payee(self, seller_id: str) -> Payee:
        state, _ = await self.payees.load(f"pye_{seller_id}")
        return state

    async def bind_alipay(self, seller_id: str, alipay_user_id: str, name: str | None) -> Payee:
        """Bind the seller's Alipay account as a royalty receiver (once per account: a retry reuses its number)."""
        stream = f"pye_{seller_id}"
        state = await self.payee(seller_id)
        attempt, known = payee_attempt(state, alipay_user_id)
        if known and state.status == "bound":
            return state
        number = state.out_request_no if known and state.out_request_no else payee_number(seller_id, attempt)
        if not known:
            request = RequestPayee(
                seller_id=seller_id,
                alipay_user_id=alipay_user_id,
                attempt=attempt,
                out_request_no=number,
                name_masked=mask_name(name) if name else None,
            )
            state = (await self.payees.run(stream, request, Cause(f"{number}:request"))).state
            if state.out_request_no != number or state.alipay_user_id != alipay_user_id:
                raise Conflict("another change of the Alipay account is under way; try again", code="conflict")
        try:
            await self._with_retries(lambda: self.alipay.bind_receivers(number, [(alipay_user_id, name)]))
        except ProviderRejected as exc:
            refused = PayeeRefused(out_request_no=number, provider_code=exc.provider_code, message=exc.message)
            await self.payees.run(stream, refused, Cause(f"{number}:refused"))
            raise ProviderRefusal(
                f"Alipay refused the account: {exc.message}",
                details={"provider_code": exc.provider_code, "message": exc.message},
            ) from None
        except ProviderUnavailable as exc:
            raise Unavailable(
                "Alipay did not answer; send the same request again", code="provider_unavailable"
            ) from exc
        return (await self.payees.run(stream, PayeeBound(out_request_no=number), Cause(f"{number}:bound"))).state

    async def alipay_account_of(self, seller_id: str) -> str | None:
        return (await self.payee(seller_id)).bound_user_id
