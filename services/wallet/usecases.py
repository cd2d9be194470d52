"""The wallet's use cases: escrow per payment and its settlement at the provider, withdrawals, the provider
worker that finishes what a request or an event could not, and the seller's summary.

Every provider step has its number minted once and stored on its stream before the first call (a settlement's
`out_request_no`, a withdrawal's `out_request_no`), and every retry sends the same number, so a provider that
answered but whose answer was lost does the step once. A step that does not succeed inline is left to the worker
(`work`), which retries it with back-off and flags it for operators after `attention_after_attempts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from services.wallet import flows
from services.wallet.books import Books
from services.wallet.collection import Collection
from services.wallet.escrow import (
    ESCROW,
    AbandonSettlement,
    CompleteSettlement,
    Escrow,
    Hold,
    RecordAttempt,
    Refund,
    StartSettlement,
    escrow_id,
)
from services.wallet.ledger import CreateTransfer, InsufficientFunds
from services.wallet.settings import WalletSettings
from services.wallet.store import WalletStore
from services.wallet.withdrawals import (
    QUOTA,
    WITHDRAWAL,
    Attempted,
    BankReturn,
    Fail,
    Release,
    Request,
    Reserve,
    Submitted,
    Succeed,
    Withdrawal,
    quota_id,
)
from shared.aggregate import Cause
from shared.bus import PermanentFailure
from shared.clock import Clock, SystemClock
from shared.errors import AppError, Conflict, InvalidState, NotFound, ValidationFailed
from shared.events.listing import OrderCompleted
from shared.events.payment import PaymentRefunded, PaymentSucceeded
from shared.ids import new_id
from shared.providers.alipay import AlipayClient, Royalty
from shared.providers.errors import ProviderBusy, ProviderMisconfigured, ProviderRejected, ProviderUnavailable
from shared.providers.wechatpay import WechatPayClient
from shared.streams import Streams, StreamStore

log = logging.getLogger("wallet")
T = TypeVar("T")
CHINA = timedelta(hours=8)


class CollectionNotActive(AppError):
    status, code = 409, "wechat_collection_not_active"


class NotYetApplicable(Exception):
    """An event that arrived before what it depends on (a refund or a completion before the payment's hold): an
    ordinary exception, so the consumer retries it with back-off and parks it with this reason if it never fits."""


# What a provider answers when the frozen funds cannot cover a settlement (a refund it made is not booked yet).
SHORT_OF_FROZEN_FUNDS = frozenset({"NOT_ENOUGH", "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR"})


def _short_of_frozen_funds(exc: Exception) -> bool:
    return getattr(exc, "provider_code", None) in SHORT_OF_FROZEN_FUNDS


class StillProcessing(Exception):
    """The provider accepted the step and is still at it: asked again later."""


def china_day(at: datetime) -> str:
    """The calendar day in China (UTC+8), which a daily withdrawal limit counts in."""
    return (at + CHINA).strftime("%Y%m%d")


class Wallet:
    def __init__(
        self,
        streams: StreamStore,
        store: WalletStore,
        books: Books,
        collection: Collection,
        wechat: WechatPayClient,
        alipay: AlipayClient,
        settings: WalletSettings,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.books = books
        self.collection = collection
        self.wechat = wechat
        self.alipay = alipay
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._locks: dict[str, asyncio.Lock] = {}
        self.notify_url = f"{settings.wallet_public_base_url.rstrip('/')}/notify/wechatpay"
        self.escrows = Streams(
            streams, ESCROW, store.project_escrow, store.projected_seq, prefix="esc_", missing="no such escrow"
        )
        self.withdrawals = Streams(
            streams,
            WITHDRAWAL,
            store.project_withdrawal,
            store.projected_seq,
            prefix="wdr_",
            missing="no such withdrawal",
        )
        self.quotas = Streams(
            streams, QUOTA, store.project_quota, store.projected_seq, prefix="wdq_", missing="no such quota"
        )

    @property
    def kinds(self) -> list[Streams[Any, Any]]:
        return [self.escrows, self.withdrawals, self.quotas, self.books.accounts, self.books.transfers]

    # ------------------------------------------------------------------------------------------ provider calls

    async def _attempt(self, step: Callable[[], Awaitable[T]]) -> T:
        """A provider step, tried `provider_attempts` times while the provider gives no definite answer."""
        for attempt in range(self.settings.provider_attempts):
            try:
                return await step()
            except ProviderUnavailable:
                if attempt + 1 == self.settings.provider_attempts:
                    raise
                await asyncio.sleep(self.settings.provider_retry_delay_s * (attempt + 1))
        raise AssertionError("unreachable")

    def _retry_at(self, attempts: int) -> datetime:
        wait = min(self.settings.retry_backoff_max_s, self.settings.worker_interval_s * 2 ** min(attempts, 20))
        return self.clock.now() + timedelta(seconds=wait)

    # ------------------------------------------------------------------------------------------------- escrow

    async def hold(self, p: PaymentSucceeded, cause: Cause | None) -> Escrow:
        """`payment.succeeded`: the buyer's money, frozen at the provider for the order, in the books."""
        command = Hold(
            payment_id=p.payment_id,
            order_id=p.order_id,
            seller_id=p.seller_id,
            provider=p.provider,
            amount_fen=p.amount_fen,
            sub_mchid=p.sub_mchid,
            trade_no=p.provider_trade_no,
        )
        escrow = (await self.escrows.run(escrow_id(p.payment_id), command, cause)).state
        await self.books.make(flows.hold(p.payment_id, p.order_id, p.seller_id, escrow.provider, escrow.amount_fen))
        return escrow

    async def _held(self, payment_id: str) -> Escrow:
        escrow, _ = await self.escrows.load(escrow_id(payment_id))
        if not escrow.exists:
            raise NotYetApplicable(f"no hold for payment {payment_id} yet")
        # A hold whose books' transfer a crash cut short is completed before anything builds on it.
        await self.books.make(
            flows.hold(payment_id, escrow.order_id, escrow.seller_id, escrow.provider, escrow.amount_fen)
        )
        return escrow

    async def refund(self, p: PaymentRefunded, cause: Cause | None) -> Escrow:
        """`payment.refunded`: the refunded part leaves the hold (or, after settlement, the seller's part)."""
        held = await self._held(p.payment_id)
        if held.status == "settled" and held.provider == "alipay" and p.refund_id not in held.refunds:
            # Once settled, the seller's part is in the seller's own Alipay account: a refund must take it back
            # (refund_royalty_parameters), else Alipay pays it out of the platform's account. Payment does not ask for
            # that (refunds come while the money is held, issue 16): parked with this reason for operators.
            raise PermanentFailure(
                f"Alipay refund {p.refund_id} after settlement of {p.payment_id}: the royalty was not taken back"
            )
        try:
            escrow = (
                await self.escrows.run(
                    escrow_id(p.payment_id), Refund(refund_id=p.refund_id, amount_fen=p.amount_fen), cause
                )
            ).state
        except InvalidState as exc:
            # A settlement still at the provider: applied once it is done (retried by the consumer).
            raise NotYetApplicable(f"{exc.message} {exc.details}") from exc
        await self._refund_transfer(escrow, p.refund_id)
        if escrow.completed and escrow.status == "held":
            escrow = await self.resettle(p.payment_id)  # the refund the provider was short of is booked now
        return escrow

    async def _refund_transfer(self, escrow: Escrow, refund_id: str) -> None:
        entry = await self._refund_event(escrow, refund_id)
        transfer = flows.refund_release(
            refund_id,
            escrow.order_id,
            escrow.seller_id,
            escrow.provider,
            escrow.refunds[refund_id],
            after_settlement=bool(entry.get("after_settlement")),
        )
        t = await self.books.make(transfer)
        if t.status == "voided":
            # The provider refunded money the books do not show where it was taken from: operators must look.
            log.error("refund %s of %s could not be drawn in the books: %s", refund_id, escrow.payment_id, t)
            raise InsufficientFunds(f"refund {refund_id}: the books hold less than the provider refunded")

    async def _refund_event(self, escrow: Escrow, refund_id: str) -> dict[str, Any]:
        for entry in await self.escrows.store.read(escrow_id(escrow.payment_id)):
            for event in entry.events:
                if event.type == "wallet.escrow_refunded" and event.payload["refund_id"] == refund_id:
                    return event.payload
        raise InvalidState(f"no refund {refund_id} on escrow {escrow.payment_id}")

    async def complete(self, p: OrderCompleted, cause: Cause | None) -> Escrow:
        """`order.completed`: settle what is left of the hold (the number minted here once), then try the provider."""
        await self._held(p.payment_id)
        command = StartSettlement(
            out_request_no=new_id("stl"),
            fee_bp=self.settings.platform_fee_bp,
            fee_cap_fen=self.settings.platform_fee_cap_fen,
        )
        await self.escrows.run(escrow_id(p.payment_id), command, cause)
        return await self.settle(p.payment_id)

    def _settlement_transfers(self, escrow: Escrow) -> list[CreateTransfer]:
        s = escrow.settlement
        assert s is not None
        return flows.settlement(
            s.out_request_no, escrow.order_id, escrow.seller_id, escrow.provider, s.fee_fen, s.seller_fen
        )

    async def settle(self, payment_id: str) -> Escrow:
        """One try of a started settlement at the provider: the books reserve the fee and the seller's part first
        (pending), post them once the provider has done it, and the attempt is recorded when it has not."""
        escrow = await self.escrows.get(escrow_id(payment_id))
        if escrow.status == "settled":
            for t in self._settlement_transfers(escrow) if escrow.settlement else []:
                await self.books.make(t)  # posted once the provider settled (a crash may have cut this short)
            return escrow
        if escrow.status != "settling":
            return escrow
        transfers = self._settlement_transfers(escrow)
        for t in transfers:
            made = await self.books.make(t, post=False)
            if made.status == "voided":
                raise InvalidState(f"settlement of {payment_id}: the hold does not cover it ({made.void_reason})")
        try:
            status = await self._attempt(lambda: self._provider_settle(escrow))
        except (ProviderUnavailable, ProviderRejected) as exc:
            if _short_of_frozen_funds(exc):
                return await self._abandon(escrow, transfers, f"{type(exc).__name__}: {exc}")
            return await self._settlement_not_done(escrow, exc)
        except (ProviderMisconfigured, StillProcessing, CollectionNotActive) as exc:
            return await self._settlement_not_done(escrow, exc)
        # The provider has moved the money: the books first, then the escrow says so (a crash in between posts again
        # on the next try, which the provider answers with the same result for the same number).
        for t in transfers:
            await self.books.post(t.transfer_id)
        return (await self.escrows.run(escrow_id(payment_id), CompleteSettlement(provider_status=status))).state

    async def _settlement_not_done(self, escrow: Escrow, exc: Exception) -> Escrow:
        assert escrow.settlement is not None
        reason = f"{type(exc).__name__}: {exc}"
        command = RecordAttempt(
            reason=reason,
            retry_at=self._retry_at(escrow.settlement.attempts),
            attention_after=self.settings.attention_after_attempts,
        )
        escrow = (await self.escrows.run(escrow_id(escrow.payment_id), command)).state
        attempts = escrow.settlement.attempts if escrow.settlement else 0
        log.warning("settlement of %s not done yet (attempt %d): %s", escrow.payment_id, attempts, reason)
        return escrow

    async def _abandon(self, escrow: Escrow, transfers: list[CreateTransfer], reason: str) -> Escrow:
        """The provider holds less frozen than the settlement asked for: a refund it made is not booked yet. The
        settlement's reservations are voided and the escrow is held again, to be settled anew once the refund is
        booked (`refund`), or by the worker after `retry_at`."""
        command = AbandonSettlement(reason=reason, retry_at=self._retry_at(escrow.abandoned))
        escrow = (await self.escrows.run(escrow_id(escrow.payment_id), command)).state
        for t in transfers:
            await self.books.void(t.transfer_id, "settlement_refused")
        log.warning("settlement of %s abandoned: %s", escrow.payment_id, reason)
        return escrow

    async def resettle(self, payment_id: str) -> Escrow:
        """Settle anew, under a new number, an escrow whose order completed and whose settlement was refused."""
        escrow = await self.escrows.get(escrow_id(payment_id))
        if not (escrow.completed and escrow.status == "held"):
            return escrow
        command = StartSettlement(
            out_request_no=new_id("stl"),
            fee_bp=self.settings.platform_fee_bp,
            fee_cap_fen=self.settings.platform_fee_cap_fen,
        )
        await self.escrows.run(escrow_id(payment_id), command)
        return await self.settle(payment_id)

    async def _provider_settle(self, escrow: Escrow) -> str:
        s = escrow.settlement
        assert s is not None
        if escrow.provider == "wechatpay":
            if escrow.sub_mchid is None:
                raise CollectionNotActive("a WeChat payment without the seller's sub_mchid cannot be profit-shared")
            if s.fee_fen:
                answer = await self.wechat.profit_share(
                    sub_mchid=escrow.sub_mchid,
                    transaction_id=escrow.trade_no,
                    out_order_no=s.out_request_no,
                    amount_fen=s.fee_fen,
                    description="平台服务费",
                    finish=True,
                )
            else:
                answer = await self.wechat.finish_profit_sharing(
                    sub_mchid=escrow.sub_mchid,
                    transaction_id=escrow.trade_no,
                    out_order_no=s.out_request_no,
                    description="订单完成，解冻给卖家",
                )
            status = str(answer.get("status") or "PROCESSING")
            if status == "PROCESSING":
                answer = await self.wechat.query_profit_share(
                    sub_mchid=escrow.sub_mchid, transaction_id=escrow.trade_no, out_order_no=s.out_request_no
                )
                status = str(answer.get("status") or "PROCESSING")
            if status == "CLOSED":
                raise ProviderRejected("CLOSED", str(answer.get("close_reason") or "the split was closed"))
            if status != "FINISHED":
                raise StillProcessing(f"profit sharing {s.out_request_no} is {status}")
            return status
        royalties: list[Royalty] = []
        if s.seller_fen:
            account = await self.collection.alipay_account_of(escrow.seller_id)
            if account is None:
                raise CollectionNotActive(f"seller {escrow.seller_id} has bound no Alipay account to settle to")
            royalties.append(Royalty(trans_in=account, amount_fen=s.seller_fen, desc="订单货款结算"))
        await self.alipay.settle(
            out_request_no=s.out_request_no, trade_no=escrow.trade_no, royalties=royalties, finish=True
        )
        return "SUCCESS"

    # ------------------------------------------------------------------------------------------- withdrawals

    async def withdraw(self, seller_id: str, amount_fen: int) -> Withdrawal:
        """Reserve the amount in the books (never more than available, whatever races it), check the provider's
        balance, then ask the provider to pay it out to the settlement card under a number minted once."""
        st = self.settings
        if not st.withdrawal_min_fen <= amount_fen <= st.withdrawal_max_fen:
            raise ValidationFailed(
                "the amount is outside the per-withdrawal limits",
                details={"min_fen": st.withdrawal_min_fen, "max_fen": st.withdrawal_max_fen, "asked_fen": amount_fen},
            )
        fee = flows.withdrawal_fee(amount_fen, rate_bp=st.withdrawal_fee_bp, minimum_fen=st.withdrawal_fee_min_fen)
        if fee >= amount_fen:
            raise ValidationFailed("the amount does not cover the withdrawal fee", details={"fee_fen": fee})
        sub_mchid = await self.collection.sub_mchid_of(seller_id)
        if sub_mchid is None:
            raise CollectionNotActive("WeChat collection is not active: there is no WeChat balance to withdraw")
        # Cheap refusal before anything is written (the books decide for real below).
        account = await self.books.account(flows.released(seller_id, "wechatpay"))
        if account.available_fen < amount_fen:
            raise InsufficientFunds(
                "the WeChat balance does not cover this withdrawal",
                details={"available_fen": account.available_fen, "asked_fen": amount_fen},
            )
        # One seller's withdrawals reserve one at a time in this process: the streams still decide every race (and
        # across replicas), but 50 requests at once no longer collide 50 ways on the quota and the balance.
        async with self._seller_lock(seller_id):
            withdrawal_id = await self._reserve_withdrawal(seller_id, sub_mchid, amount_fen, fee)
        w = await self.submit(withdrawal_id, check_balance=True)
        if w.status == "failed" and w.reason == "insufficient_funds":
            available = (await self.books.account(flows.released(seller_id, "wechatpay"))).available_fen
            raise InsufficientFunds(
                "the WeChat balance does not cover this withdrawal", details={"available_fen": available}
            )
        return w

    @contextlib.asynccontextmanager
    async def _seller_lock(self, seller_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(seller_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and self._locks.get(seller_id) is lock:
                del self._locks[seller_id]

    async def _reserve_withdrawal(self, seller_id: str, sub_mchid: str, amount_fen: int, fee: int) -> str:
        """The day's quota, the withdrawal's stream, and its amount reserved in the books (voided if short)."""
        withdrawal_id = new_id("wdr")
        day = china_day(self.clock.now())
        reserve = Reserve(
            seller_id=seller_id,
            day=day,
            withdrawal_id=withdrawal_id,
            amount_fen=amount_fen,
            limit_fen=self.settings.withdrawal_daily_limit_fen,
        )
        await self.quotas.run(quota_id(seller_id, day), reserve)
        request = Request(
            withdrawal_id=withdrawal_id,
            seller_id=seller_id,
            sub_mchid=sub_mchid,
            amount_fen=amount_fen,
            fee_fen=fee,
            day=day,
            handover_at=self.clock.now() + timedelta(seconds=self.settings.withdrawal_handover_s),
        )
        w = (await self.withdrawals.run(withdrawal_id, request, new_stream=True)).state
        t = await self.books.make(flows.withdrawal(withdrawal_id, seller_id, amount_fen), post=False)
        if t.status == "voided":
            await self._fail(w, "insufficient_funds")
        return withdrawal_id

    async def submit(self, withdrawal_id: str, *, check_balance: bool = False) -> Withdrawal:
        """Hand a requested withdrawal to the provider (again, with the same number, until it takes it) — never
        before the books hold its amount (reserved here, idempotently: a crash after the request is met again)."""
        w = await self.withdrawals.get(withdrawal_id)
        if w.status != "requested":
            return w
        t = await self.books.make(flows.withdrawal(withdrawal_id, w.seller_id, w.amount_fen), post=False)
        if t.status == "voided":
            return await self._fail(w, "insufficient_funds")
        try:
            if check_balance:
                balance = await self._attempt(lambda: self.wechat.balance(w.sub_mchid))
                if int(balance.get("available_amount", 0)) < w.amount_fen:
                    if (await self._fail(w, "insufficient_funds_at_provider", unsent=True)).status != "failed":
                        return await self.withdrawals.get(withdrawal_id)  # another submitter got it there
                    raise InsufficientFunds(
                        "the provider's balance does not cover this withdrawal",
                        details={"provider_available_fen": int(balance.get("available_amount", 0))},
                        code="insufficient_funds_at_provider",
                    )
            answer = await self._attempt(
                lambda: self.wechat.withdraw(
                    sub_mchid=w.sub_mchid,
                    out_request_no=w.out_request_no,
                    amount_fen=w.amount_fen,
                    remark="闲鱼余额提现",
                    notify_url=self.notify_url,
                )
            )
        except ProviderRejected as exc:
            await self._fail(w, f"{exc.provider_code}: {exc.message}")
            return await self.withdrawals.get(withdrawal_id)
        except ProviderBusy as exc:
            if exc.provider_code != "NOT_ENOUGH":
                return await self._withdrawal_not_done(w, exc)
            # The provider's balance no longer covers it (a refund it made since the books reserved the amount):
            # nothing was withdrawn, so the withdrawal fails and gives its amount and quota back.
            return await self._fail(w, f"insufficient_funds_at_provider: {exc}")
        except (ProviderUnavailable, ProviderMisconfigured) as exc:
            return await self._withdrawal_not_done(w, exc)
        w = (await self.withdrawals.run(withdrawal_id, Submitted(withdraw_id=answer.get("withdraw_id")))).state
        await self._poll_later(w)
        return w

    async def _withdrawal_not_done(self, w: Withdrawal, exc: Exception) -> Withdrawal:
        command = Attempted(
            reason=f"{type(exc).__name__}: {exc}",
            retry_at=self._retry_at(w.attempts),
            attention_after=self.settings.attention_after_attempts,
        )
        return (await self.withdrawals.run(w.withdrawal_id, command)).state

    async def _poll_later(self, w: Withdrawal) -> None:
        """A submitted withdrawal is asked about after `poll_after_s` unless its notification comes first."""
        at = self.clock.now() + timedelta(seconds=self.settings.poll_after_s)
        await self.store.withdrawals.update_one({"_id": w.withdrawal_id}, {"$set": {"retry_at": at}})

    async def _fail(self, w: Withdrawal, reason: str, *, unsent: bool = False) -> Withdrawal:
        """The books first (the reservation voided), then the withdrawal says so, then the day's quota is given back:
        whoever sees it failed sees the balance restored; a crash in between is finished by the next report.

        `unsent`: this caller refused it before sending it, and someone else may have sent it meanwhile, so the
        withdrawal's stream decides first (failed only while still requested) and the books follow."""
        if w.status in ("succeeded", "returned"):
            raise InvalidState("the withdrawal succeeded", details={"withdrawal_id": w.withdrawal_id})
        if unsent:
            w = (await self.withdrawals.run(w.withdrawal_id, Fail(reason=reason, unsent=True))).state
            if w.status != "failed":
                return w
            return await self._give_back(w, reason)
        await self.books.void(flows.withdrawal(w.withdrawal_id, w.seller_id, w.amount_fen).transfer_id, reason[:64])
        w = (await self.withdrawals.run(w.withdrawal_id, Fail(reason=reason))).state
        await self.quotas.run(quota_id(w.seller_id, w.day), Release(withdrawal_id=w.withdrawal_id))
        return w

    async def _give_back(self, w: Withdrawal, reason: str) -> Withdrawal:
        """A failed withdrawal's reservation voided and its quota released (both idempotent)."""
        await self.books.void(flows.withdrawal(w.withdrawal_id, w.seller_id, w.amount_fen).transfer_id, reason[:64])
        await self.quotas.run(quota_id(w.seller_id, w.day), Release(withdrawal_id=w.withdrawal_id))
        return w

    async def follow(self, withdrawal_id: str, resource: dict[str, Any] | None = None) -> Withdrawal:
        """Bring a withdrawal to what the provider says of it (a notification's resource, or a query)."""
        w = await self.withdrawals.get(withdrawal_id)
        if w.status == "requested":
            return await self.submit(withdrawal_id)
        if w.status == "failed":  # a crash between the failure and the books (an unsent one) is finished here
            return await self._give_back(w, w.reason or "failed")
        if w.status == "returned":
            return w
        if resource is None:
            try:
                resource = await self.wechat.query_withdrawal(w.out_request_no, w.sub_mchid)
            except (ProviderUnavailable, ProviderRejected, ProviderMisconfigured) as exc:
                return await self._withdrawal_not_done(w, exc)
        if (
            int(resource.get("amount", w.amount_fen)) != w.amount_fen
            or resource.get("sub_mchid", w.sub_mchid) != w.sub_mchid
        ):
            log.error("withdrawal %s: the provider reports other terms: %s", withdrawal_id, resource)
            raise Conflict("the provider reports this withdrawal with other terms", code="provider_mismatch")
        status = str(resource.get("status", ""))
        transfer_id = flows.withdrawal(w.withdrawal_id, w.seller_id, w.amount_fen).transfer_id
        if status in ("SUCCESS", "REFUND"):
            if w.status == "submitted":
                await self.books.post(transfer_id)
                w = (await self.withdrawals.run(withdrawal_id, Succeed())).state
            await self.books.post(transfer_id)  # a crash after the event and before the post: posted now
            if status == "REFUND":
                await self.books.make(flows.bank_return(w.withdrawal_id, w.seller_id, w.amount_fen))
                w = (
                    await self.withdrawals.run(
                        withdrawal_id, BankReturn(reason=str(resource.get("reason") or "bank return"))
                    )
                ).state
            return w
        if status in ("FAIL", "CLOSE"):
            return await self._fail(w, str(resource.get("reason") or status))
        if w.status == "succeeded":
            return w
        # Still at the provider (CREATE_SUCCESS, INIT, …): ask again later.
        await self._poll_later(w)
        return w

    async def withdrawal_of(self, seller_id: str, withdrawal_id: str) -> Withdrawal:
        w, _ = await self.withdrawals.load(withdrawal_id) if withdrawal_id.startswith("wdr_") else (Withdrawal(), 0)
        if not w.exists or w.seller_id != seller_id:
            raise NotFound("no such withdrawal")
        return w

    # ------------------------------------------------------------------------------------------------ worker

    async def work(self) -> dict[str, int]:
        """The leased provider worker: settlements and withdrawals whose provider step is due, and the sweeper."""
        now = self.clock.now()
        batch = self.settings.worker_batch
        settled = submitted = 0
        for esc in await self.store.settlements_due(now, batch):
            try:
                escrow = await self.settle(esc.removeprefix("esc_"))
                settled += escrow.status == "settled"
            except Exception:
                log.exception("settlement %s", esc)
        for esc in await self.store.resettlements_due(now, batch):
            try:
                escrow = await self.resettle(esc.removeprefix("esc_"))
                settled += escrow.status == "settled"
            except Exception:
                log.exception("settlement %s", esc)
        for wid in await self.store.withdrawals_due(now, batch):
            try:
                w = await self.follow(wid)
                submitted += w.status != "requested"
            except Exception:
                log.exception("withdrawal %s", wid)
        swept = await self.books.sweep(batch)
        return {"settled": settled, "withdrawals_followed": submitted, "transfers_swept": swept}

    # ----------------------------------------------------------------------------------------------- reading

    async def summary(self, seller_id: str) -> dict[str, Any]:
        names = {
            "wechat_frozen": flows.frozen(seller_id, "wechatpay"),
            "wechat_available": flows.released(seller_id, "wechatpay"),
            "alipay_frozen": flows.frozen(seller_id, "alipay"),
            "alipay_settled": flows.released(seller_id, "alipay"),
        }
        accounts = dict(zip(names, await asyncio.gather(*(self.books.account(a) for a in names.values())), strict=True))
        wechat_available = accounts["wechat_available"]
        return {
            "seller_id": seller_id,
            "sub_mchid": await self.collection.sub_mchid_of(seller_id),
            "wechat": {
                "frozen_fen": accounts["wechat_frozen"].posted_fen,
                "available_fen": wechat_available.available_fen,
                "withdrawing_fen": wechat_available.pending_debit_fen,
                "balance_fen": wechat_available.posted_fen,
            },
            "alipay": {
                "frozen_fen": accounts["alipay_frozen"].posted_fen,
                "settled_fen": accounts["alipay_settled"].posted_fen,
            },
            "accounts": {name: a.account_id for name, a in accounts.items()},
        }
