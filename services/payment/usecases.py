"""Payment's use cases: create and advance payments at the providers, apply what providers report, refunds, agreements
and the reconciler. Every provider number is in the stream before the first call that uses it."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from services.payment.domain import (
    AGREEMENT,
    OPEN,
    ORDER_CLOSED,
    PAYMENT,
    Agreement,
    AgreementCommand,
    ClosePayment,
    CreatePayment,
    Payment,
    PaymentCommand,
    PaymentTerms,
    RecordFailure,
    RecordOrderClosed,
    RecordOrderString,
    RecordPrepay,
    RecordRefundAbnormal,
    RecordRefundAccepted,
    RecordRefundFailed,
    RecordRefundSucceeded,
    RecordSigned,
    RecordSuccess,
    RecordUnsigned,
    Refund,
    ReleaseCharge,
    RequestAgreement,
    RequestRefund,
    ReserveCharge,
    SuccessSource,
    beijing_day,
    check_agreement,
    check_payer,
    debits_agreement,
    legacy_payment_id_for,
    order_closed_refund_id,
    payment_id_for,
)
from services.payment.port import (
    AgreementProvider,
    AgreementSigned,
    AgreementUnsigned,
    Ignored,
    Notice,
    NotificationRefused,
    PaymentClosed,
    PaymentPaid,
    PaymentProvider,
    ProviderMisconfigured,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    Providers,
    ProviderUnavailable,
    RefundChanged,
)
from services.payment.settings import PaymentSettings
from services.payment.store import PaymentStore
from shared.channels import check_payment_method
from shared.clock import Clock, SystemClock
from shared.errors import AppError, Conflict, NotFound, Unavailable
from shared.http.metrics import REGISTRY
from shared.ids import derived_id, new_id
from shared.streams import Cause, Outcome, Streams, StreamStore, reproject_any

log = logging.getLogger("services.payment")


class Payments:
    """The use cases. Each payment's provider is reached through the port (`providers.of(payment)`), whose
    normalised answers are all they read."""

    def __init__(
        self,
        streams: StreamStore,
        store: PaymentStore,
        providers: Providers,
        agreements: AgreementProvider,
        settings: PaymentSettings,
        clock: Clock | None = None,
    ) -> None:
        self.streams = streams
        self.store = store
        self.providers = providers
        self.agreements = agreements
        self.settings = settings
        self.clock = clock or SystemClock()
        seq_of = store.projected_seq
        self.payment_streams = Streams(
            streams, PAYMENT, store.project_payment, seq_of, prefix="pay_", missing="no such payment"
        )
        self.agreement_streams = Streams(
            streams, AGREEMENT, store.project_agreement, seq_of, prefix="agr_", missing="no such agreement"
        )

    async def _pay(self, payment_id: str, command: PaymentCommand, cause: Cause | None = None) -> Payment:
        return (await self.payment_streams.run(payment_id, command, cause)).state

    async def _agree(self, agreement_id: str, command: AgreementCommand, cause: Cause | None = None) -> Agreement:
        return (await self.agreement_streams.run(agreement_id, command, cause)).state

    async def payment(self, payment_id: str) -> Payment:
        return await self.payment_streams.get(payment_id)

    async def agreement(self, agreement_id: str) -> Agreement:
        return await self.agreement_streams.get(agreement_id)

    async def payment_id_of(self, order_id: str) -> str:
        """The stream of an order's payment: the derived id, or the legacy id of a payment (or order close) recorded
        before ids were derived with `shared.ids`; the derived id when there is neither. No new stream is ever made
        under a legacy id, so this read cannot race with a writer choosing the other one."""
        current = payment_id_for(order_id)
        if (await self.payment_streams.load(current))[1]:
            return current
        legacy = legacy_payment_id_for(order_id)
        if (await self.payment_streams.load(legacy))[1]:
            return legacy
        return current

    async def payment_of_order(self, order_id: str) -> Payment:
        return await self.payment(await self.payment_id_of(order_id))

    # ---------------------------------------------------------------------------------------------- payments

    async def create(self, req: PaymentTerms) -> Payment:
        """The payment of an order (the same one again when asked twice), advanced as far as the provider allows."""
        check_payment_method(req.channel, req.method)
        check_payer(req)
        agreement_no = None
        if debits_agreement(req.method) and req.agreement_id:
            agreement, _ = await self.agreement_streams.load(req.agreement_id)
            agreement_no = check_agreement(agreement, req.buyer_id, req.amount_fen)
        sub_mchid = None
        if req.method == "wechat_pay":
            # Mini-program buyers pay the seller's own e-commerce sub-merchant (docs/providers.md §2).
            sub_mchid = await self.store.sub_mchid_of(req.seller_id)
            if sub_mchid is None:
                raise Conflict(
                    "the seller has not activated WeChat collection (no sub-merchant known yet)",
                    code="wechat_collection_not_active",
                    details={"seller_id": req.seller_id},
                )
        payment_id = await self.payment_id_of(req.order_id)
        if req.agreement_id and agreement_no:
            # Counted against the daily limit on the agreement's own stream, before Alipay is asked (once per payment).
            reserve = ReserveCharge(payment_id=payment_id, amount_fen=req.amount_fen, day=beijing_day(self.clock.now()))
            await self._agree(req.agreement_id, reserve)
        command = CreatePayment(
            payment_id=payment_id, agreement_no=agreement_no, sub_mchid=sub_mchid, **req.model_dump()
        )
        return await self.advance(await self._pay(payment_id, command))

    async def _release_charge(self, p: Payment) -> None:
        """A password-free debit that was never made stops counting against its agreement's daily limit."""
        if p.debits_agreement and p.agreement_id and p.status in ("failed", "closed"):
            await self._agree(p.agreement_id, ReleaseCharge(payment_id=p.payment_id))

    async def advance(self, p: Payment) -> Payment:
        """Take the provider step a payment still `processing` waits for: prepay, order string, or the charge."""
        if p.status != "processing" or p.order_closed:
            return p  # a payment whose order closed takes no provider step: the reconciler closes it instead
        try:
            start = await self.providers.of(p).start(p)
        except ProviderUnavailable as exc:
            log.warning("payment %s waits for its provider: %s", p.payment_id, exc)
            return p  # still processing: the next request or the reconciler asks again, with the same numbers
        except ProviderRejected as exc:
            if exc.code == "already_paid":
                return await self._record_if_paid(p)
            failed = await self._pay(p.payment_id, RecordFailure(code=exc.code, message=str(exc)))
            await self._release_charge(failed)
            return failed
        if start.charged is not None:
            return await self._record_found(p, start.charged, "charge")
        if start.order_string is not None:
            return await self._pay(p.payment_id, RecordOrderString(order_string=start.order_string))
        assert start.prepay_id is not None and start.request_payment is not None
        command = RecordPrepay(prepay_id=start.prepay_id, request_payment=start.request_payment)
        return await self._pay(p.payment_id, command)

    async def _record_found(self, p: Payment, found: ProviderPayment, source: SuccessSource) -> Payment:
        """Record the success of a payment the provider reports paid."""
        assert found.trade_no is not None and found.amount_fen is not None
        paid_at = found.paid_at or self.clock.now()
        return await self.record_success(p.payment_id, found.trade_no, found.amount_fen, paid_at, source)

    async def record_success(
        self, payment_id: str, trade_no: str, amount_fen: int, paid_at: datetime, source: SuccessSource
    ) -> Payment:
        command = RecordSuccess(provider_trade_no=trade_no, amount_fen=amount_fen, paid_at=paid_at, source=source)
        outcome = await self._pay_outcome(payment_id, command)
        return await self._refund_if_order_closed(outcome)

    async def close(self, payment_id: str, reason: str) -> Payment:
        return await self._pay(payment_id, ClosePayment(reason=reason))

    async def close_for_order(self, order_id: str, reason: str, cause: Cause) -> Payment:
        """The order closed: record it on the payment's stream (also before the payment exists, so a later create is
        refused), close an open payment at the provider, and give back money already taken."""
        payment_id = await self.payment_id_of(order_id)
        command = RecordOrderClosed(payment_id=payment_id, order_id=order_id, reason=reason)
        outcome = await self._pay_outcome(payment_id, command, cause)
        p = outcome.state
        if not p.exists:
            log.info("order %s closed before its payment %s was created: a create is refused", order_id, payment_id)
            return p
        if p.status == "succeeded":
            return await self._refund_if_order_closed(outcome)
        if p.status in OPEN:
            try:
                return await self._close_unpaid(p, ORDER_CLOSED)
            except (ProviderUnavailable, ProviderRejected) as exc:
                # The close is recorded (durable): the reconciler closes it at the provider once it answers.
                log.warning("payment %s: closing at the provider failed, the reconciler retries: %s", payment_id, exc)
        return p

    async def _pay_outcome(
        self, payment_id: str, command: PaymentCommand, cause: Cause | None = None
    ) -> Outcome[Payment]:
        return await self.payment_streams.run(payment_id, command, cause)

    async def _refund_if_order_closed(self, outcome: Outcome[Payment]) -> Payment:
        """Money taken for an order that is closed goes back by itself: send the refund the domain just requested (or
        one still waiting to be sent); the reconciler resends it if this attempt gets no answer."""
        p = outcome.state
        refund = p.refunds.get(order_closed_refund_id(p.payment_id)) if p.exists else None
        if refund is None or refund.status != "requested":
            return p
        decided = outcome.entry is not None and not outcome.already_applied
        if decided and any(e.type == "payment.refund_requested" for e in outcome.entry.events):  # type: ignore[union-attr]
            log.error(
                "payment %s of order %s succeeded although its order closed (%s): refunding %d fen in full as %s",
                p.payment_id,
                p.order_id,
                p.order_closed_reason,
                refund.amount_fen,
                refund.refund_id,
            )
            REGISTRY.inc(
                "payment_order_closed_refunds_total",
                "Payments that succeeded for a closed order and were refunded in full",
                {"provider": p.provider},
            )
        try:
            return await self.send_refund(p, refund)
        except Exception:
            log.exception("refund %s of %s: sending failed, the reconciler retries", refund.refund_id, p.payment_id)
            return p

    def _deadline(self, p: Payment) -> datetime:
        """When an unpaid payment is closed at the provider: its order's payment deadline plus the grace."""
        assert p.expires_at is not None
        return p.expires_at + timedelta(seconds=self.settings.close_grace_s)

    async def _close_unpaid(self, p: Payment, reason: str) -> Payment:
        """Close an open payment at its provider, then record `payment.closed`. A payment found paid is recorded as
        succeeded instead; an Alipay order string the buyer has not opened yet stays payable until its time_expire, so
        that one stays open (and reconciled) until then."""
        found = await self._close_at_provider(p)
        if found == "paid":
            return await self.payment(p.payment_id)
        if found == "payable":
            log.info(
                "payment %s: Alipay has no trade yet and the order string is payable until %s",
                p.payment_id,
                p.expires_at,
            )
            return p
        closed = await self._pay(p.payment_id, ClosePayment(reason=reason))
        await self._release_charge(closed)
        return closed

    async def _close_at_provider(self, p: Payment) -> Literal["closed", "paid", "payable"]:
        """`closed` once the provider will take no payment for it, `paid` if it turned out paid (and is now recorded
        so), `payable` if nothing can close it yet. ProviderUnavailable when the provider gives no answer."""
        provider = self.providers.of(p)
        try:
            await provider.close(p)
        except ProviderRejected as exc:
            if exc.code == "not_found":
                return "closed"  # the provider never had it, and no provider step is taken past this point
            if exc.code == "not_opened":
                # No trade until the buyer opens what they were given (Alipay's cashier): until its expiry it can still
                # be paid, and no close can stop it.
                return "payable" if self.clock.now() < self._deadline(p) else "closed"
            if exc.code in ("already_paid", "invalid_state"):
                after = await self._record_if_paid(p)
                if after.status == "succeeded":
                    return "paid"
                found = (await provider.query(p)).state
                if found == "closed":
                    return "closed"
                raise ProviderUnavailable(
                    f"close refused with {exc.provider_code} for a trade that is {found}"
                ) from exc
            raise
        return "closed"

    async def _record_if_paid(self, p: Payment) -> Payment:
        """Ask the provider once and record a success it reports (no further provider step from here)."""
        found = await self.providers.of(p).query(p)
        if found.state == "paid":
            return await self._record_found(p, found, "query")
        return await self.payment(p.payment_id)

    async def reconcile_payment(self, payment_id: str) -> Payment:
        """Ask the provider about an open payment: record a payment a notification never brought, close one past its
        deadline or whose order closed, and retry a provider step that never got an answer."""
        p = await self.payment(payment_id)
        if p.status not in OPEN:
            return p
        try:
            after = await self._reconcile_open(p)
        except (ProviderUnavailable, ProviderRejected) as exc:
            log.warning("payment %s: the provider gave no usable answer, asking later: %s", payment_id, exc)
            await self._check_payment_later(p, backoff=True)
            return p
        except ProviderMisconfigured:
            # Logged at CRITICAL by the client: the payment waits, backing off, until an operator fixes the keys.
            await self._check_payment_later(p, backoff=True)
            raise
        if after.status in OPEN:
            await self._check_payment_later(after, backoff=after.status == "processing" and not after.order_closed)
        return after

    async def _reconcile_open(self, p: Payment) -> Payment:
        found = await self.providers.of(p).query(p)
        if found.state == "paid":
            return await self._record_found(p, found, "query")
        if found.state == "closed":
            return await self.close(p.payment_id, ORDER_CLOSED if p.order_closed else "provider_closed")
        if p.order_closed:
            return await self._close_unpaid(p, ORDER_CLOSED)
        if self.clock.now() >= self._deadline(p):
            return await self._close_unpaid(p, "expired")
        return await self.advance(p)

    async def _check_payment_later(self, p: Payment, *, backoff: bool) -> None:
        """The next look at an open payment: after `reconcile_after_s` (doubling while its provider gives no answer),
        and never later than its deadline, when it must be closed."""
        now = self.clock.now()
        deadline = self._deadline(p)
        await self.store.check_later(
            p.payment_id,
            "check_at",
            now,
            self.settings.reconcile_after_s,
            backoff_max_s=self.settings.reconcile_backoff_max_s if backoff else None,
            not_after=deadline if deadline > now else None,
        )

    # ----------------------------------------------------------------------------------------------- refunds

    async def request_refund(self, payment_id: str, refund_id: str, amount_fen: int, cause: Cause) -> Payment:
        p = await self._pay(payment_id, RequestRefund(refund_id=refund_id, amount_fen=amount_fen), cause)
        refund = p.refunds[refund_id]
        if refund.status == "requested":
            return await self.send_refund(p, refund)
        return p

    async def send_refund(self, p: Payment, refund: Refund) -> Payment:
        """Ask the provider to refund (again: the same out_refund_no / out_request_no never refunds twice). Without a
        definite answer, or refused for now (balance short, rate limited), the refund stays open for the reconciler."""
        try:
            result = await self.providers.of(p).refund(p, refund)
        except ProviderUnavailable as exc:
            log.warning("refund %s waits for its provider: %s", refund.refund_id, exc)
            return p
        except ProviderRejected as exc:
            log.error("refund %s of %s refused by the provider: %s", refund.refund_id, p.payment_id, exc)
            return await self._pay(p.payment_id, RecordRefundFailed(refund_id=refund.refund_id, reason=str(exc)))
        if result.state != "unknown":
            return await self._apply_refund(p.payment_id, refund.refund_id, result)
        # Refunded before (our earlier attempt), or not settled yet: confirm with a query.
        try:
            return await self.query_refund(p, refund)
        except (ProviderUnavailable, ProviderRejected) as exc:
            log.warning("refund %s: the confirming query failed, the reconciler asks again: %s", refund.refund_id, exc)
            return p

    async def query_refund(self, p: Payment, refund: Refund) -> Payment:
        """Record what the provider shows of a refund. One it does not show yet stays open: the reconciler asks again
        later (never a new refund call from here, which could answer "not settled" again, and again)."""
        result = await self.providers.of(p).query_refund(p, refund)
        if result.state == "unknown":
            log.warning(
                "refund %s of %s: its provider does not show it yet, asking later", refund.refund_id, p.payment_id
            )
            return p
        return await self._apply_refund(p.payment_id, refund.refund_id, result)

    async def _apply_refund(self, payment_id: str, refund_id: str, result: ProviderRefund) -> Payment:
        command: PaymentCommand
        if result.state == "succeeded":
            at = result.refunded_at or self.clock.now()
            command = RecordRefundSucceeded(
                refund_id=refund_id, provider_refund_id=result.provider_refund_id, refunded_at=at
            )
        elif result.state == "processing":
            command = RecordRefundAccepted(refund_id=refund_id, provider_refund_id=result.provider_refund_id)
        elif result.state == "abnormal":
            # Not terminal: the buyer's card failed; the refund is retried by hand or through the provider's
            # abnormal-refund API. We keep asking, and report it once it ends.
            log.error("refund %s of %s is abnormal at its provider: needs a person", refund_id, payment_id)
            command = RecordRefundAbnormal(refund_id=refund_id, provider_refund_id=result.provider_refund_id)
        elif result.state == "failed":
            command = RecordRefundFailed(refund_id=refund_id, reason=result.reason or "provider_refund_failed")
        else:
            raise ProviderUnavailable(result.reason or "the provider reports a refund state we do not know")
        return await self._pay(payment_id, command)

    async def reconcile_refunds(self, payment_id: str) -> Payment:
        p = await self.payment(payment_id)
        for refund in p.open_refunds:
            try:
                if refund.status == "requested":
                    p = await self.send_refund(p, refund)
                else:
                    p = await self.query_refund(p, refund)
            except (ProviderUnavailable, ProviderRejected, ProviderMisconfigured) as exc:
                log.warning("refund %s: reconcile failed, later again: %s", refund.refund_id, exc)
        if p.open_refunds:
            # Each pass that leaves refunds open waits twice as long as the last (reset once the payment changes).
            await self.store.check_later(
                p.payment_id,
                "refund_check_at",
                self.clock.now(),
                self.settings.reconcile_after_s,
                backoff_max_s=self.settings.reconcile_backoff_max_s,
            )
        return p

    async def reconcile(self) -> dict[str, int]:
        """One pass of the reconciler over payments and refunds still open."""
        now = self.clock.now()
        done = {"payments": 0, "refunds": 0}
        for payment_id in await self.store.payments_due(now, self.settings.reconcile_batch):
            try:
                await self.reconcile_payment(payment_id)
                done["payments"] += 1
            except Exception:
                log.exception("reconciling payment %s failed; the next pass retries", payment_id)
        for payment_id in await self.store.refunds_due(now, self.settings.reconcile_batch):
            try:
                await self.reconcile_refunds(payment_id)
                done["refunds"] += 1
            except Exception:
                log.exception("reconciling refunds of %s failed; the next pass retries", payment_id)
        return done

    # -------------------------------------------------------------------------------------------- agreements

    async def request_agreement(
        self, buyer_id: str, alipay_user_id: str, idempotency_key: str | None = None
    ) -> Agreement:
        """A new agreement to sign; with an Idempotency-Key its id derives from (buyer, key), so a retried request
        lands on the same stream and gets the same agreement."""
        agreement_id = derived_id("agr", buyer_id, idempotency_key) if idempotency_key else new_id("agr")
        sign_url = self.agreements.sign_url(agreement_id)
        command = RequestAgreement(
            agreement_id=agreement_id, buyer_id=buyer_id, alipay_user_id=alipay_user_id, sign_url=sign_url
        )
        return await self._agree(agreement_id, command)

    async def agreement_signed(self, agreement_id: str, agreement_no: str, alipay_user_id: str) -> Agreement:
        command = RecordSigned(
            agreement_no=agreement_no,
            alipay_user_id=alipay_user_id,
            single_limit_fen=self.settings.alipay_withholding_single_limit_fen,
            daily_limit_fen=self.settings.alipay_withholding_daily_limit_fen,
        )
        return await self._agree(agreement_id, command)

    async def agreement_unsigned(self, agreement_id: str) -> Agreement:
        return await self._agree(agreement_id, RecordUnsigned())

    async def unsign(self, agreement_id: str, buyer_id: str) -> Agreement:
        agreement = await self.agreement(agreement_id)
        if agreement.buyer_id != buyer_id:
            raise NotFound("no such agreement")
        if agreement.status == "active" and agreement.agreement_no:
            try:
                await self.agreements.unsign(agreement.agreement_no)
            except ProviderUnavailable as exc:
                # Still signed at Alipay as far as we know: say so, and let the buyer try again.
                raise Unavailable(
                    "Alipay did not answer; the agreement is still active, try again",
                    code="provider_unavailable",
                    details={"agreement_id": agreement_id},
                ) from exc
            except ProviderRejected as exc:
                raise AppError(
                    "Alipay refused to unsign the agreement",
                    code="provider_rejected",
                    status=502,
                    details={"provider_code": exc.provider_code},
                ) from exc
        return await self._agree(agreement_id, RecordUnsigned())

    async def reproject(self, aggregate_id: str, seq: int) -> None:
        """Rewrite a projection that is behind `seq` from its stream (heals a write lost to a crash)."""
        await reproject_any((self.payment_streams, self.agreement_streams), aggregate_id, seq)

    # ----------------------------------------------------------------------------------------- notifications

    def provider(self, name: str) -> PaymentProvider:
        """The adapter that verifies and reads the notifications `name` sends."""
        return self.providers[name]

    async def record_notification(self, doc: dict[str, Any]) -> None:
        """Keep what a provider sent (or, of a request that did not verify, a summary) and what became of it."""
        await self.store.record_notification(doc)

    async def checkout_trace(self, payment_id: str) -> dict[str, str] | None:
        """The trace context the payment was created under, if it was recorded."""
        entries = await self.streams.read(payment_id)
        return entries[0].trace if entries and entries[0].trace else None

    async def notified_payment(self, notice: Notice) -> Payment | None:
        """The payment a notification is about (None for one about no payment); NotificationRefused if it is not
        ours, or the trade's amount it states is not the payment's."""
        if isinstance(notice, AgreementSigned | AgreementUnsigned) or notice.out_trade_no is None:
            return None
        try:
            payment = await self.payment(notice.out_trade_no)  # our out_trade_no is the payment id
        except NotFound:
            raise NotificationRefused(f"unknown out_trade_no {notice.out_trade_no}") from None
        stated = None if isinstance(notice, PaymentPaid) else notice.trade_amount_fen
        if stated is not None and stated != payment.amount_fen:
            raise NotificationRefused("total_amount differs from the payment")
        if isinstance(notice, PaymentPaid) and payment.provider == "wechatpay" and notice.payee != payment.sub_mchid:
            # Paid to another sub-merchant than the seller's: not the payment we asked for.
            raise NotificationRefused(f"sub_mchid {notice.payee!r} is not this payment's seller")
        return payment

    async def apply_notice(self, notice: Notice, payment: Payment | None) -> str:
        """Apply what a verified notification reports about `payment` (from `notified_payment`); what became of it, for
        the audit. A notification that does not match what we hold raises NotificationRefused and changes nothing."""
        if isinstance(notice, AgreementSigned | AgreementUnsigned):
            try:
                agreement = await self.agreement(notice.agreement_id)
            except NotFound:
                raise NotificationRefused(f"unknown external_agreement_no {notice.agreement_id}") from None
            if isinstance(notice, AgreementUnsigned):
                await self.agreement_unsigned(agreement.agreement_id)
                return "agreement unsigned"
            await self.agreement_signed(agreement.agreement_id, notice.agreement_no, notice.alipay_user_id)
            return "agreement signed"
        if isinstance(notice, Ignored):
            return notice.outcome
        assert payment is not None, "a notification about a payment is applied to the payment it is about"
        if isinstance(notice, PaymentPaid):
            paid_at = notice.paid_at or self.clock.now()
            await self.record_success(payment.payment_id, notice.trade_no, notice.amount_fen, paid_at, "notification")
            return "payment succeeded"
        if isinstance(notice, PaymentClosed):
            await self.close(payment.payment_id, "provider_closed")
            return "payment closed"
        return await self._apply_refund_notice(notice, payment)

    async def _apply_refund_notice(self, notice: RefundChanged, payment: Payment) -> str:
        refund = payment.refunds.get(notice.out_refund_no)
        if refund is None:
            raise NotificationRefused(f"unknown out_refund_no {notice.out_refund_no}")
        if notice.refund_amount_fen is not None and notice.refund_amount_fen != refund.amount_fen:
            raise NotificationRefused("refund amount differs from ours")
        if notice.refund is None:
            await self.query_refund(payment, refund)  # the notification only says it changed: ask what it is now
        else:
            await self._apply_refund(payment.payment_id, refund.refund_id, notice.refund)
        return notice.outcome
