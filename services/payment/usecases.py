"""Payment's use cases: create and advance payments at the providers, apply what providers report, refunds, agreements
and the reconciler. Every provider number is in the stream before the first call that uses it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

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
    beijing_day,
    check_agreement,
    derived_id,
    order_closed_refund_id,
    payment_id_for,
)
from services.payment.providers import Alipay, ProviderRejected, ProviderUnavailable, WechatPay, with_retries
from services.payment.settings import PaymentSettings
from services.payment.store import PaymentStore
from shared.channels import check_payment_method
from shared.clock import Clock, SystemClock
from shared.errors import AppError, NotFound, Unavailable, ValidationFailed
from shared.http.metrics import REGISTRY
from shared.ids import new_id
from shared.money import yuan_to_fen
from shared.protocols.alipay import AlipayMalformed, parse_timestamp
from shared.streams import Cause, Outcome, StreamStore, execute_projected, load

log = logging.getLogger("services.payment")
T = TypeVar("T")

LIMIT_CODES = {
    "ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED",
    "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR",
    "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR",
    "ACQ.CYCLE_PAY_TOTAL_FEE_EXCEED",
    "ACQ.CYCLE_PAY_TOTAL_TIMES_EXCEED",
}
AGREEMENT_CODES = {"ACQ.AGREEMENT_NOT_EXIST", "ACQ.AGREEMENT_INVALID", "ACQ.AGREEMENT_ERROR"}
ALIPAY_PAID = ("TRADE_SUCCESS", "TRADE_FINISHED")


def failure_code(provider_code: str) -> str:
    """Our stable code for a provider's refusal of a charge."""
    if provider_code in LIMIT_CODES:
        return "limit_exceeded"
    if provider_code in AGREEMENT_CODES:
        return "agreement_not_active"
    if provider_code.endswith("BALANCE_NOT_ENOUGH"):
        return "payment_declined"
    return "provider_rejected"


def wire_time(text: str | None, default: datetime) -> datetime:
    """Alipay's "yyyy-MM-dd HH:mm:ss" (Beijing time) or WeChat's RFC 3339, as an aware datetime."""
    if not text:
        return default
    try:
        return parse_timestamp(text[:19])
    except AlipayMalformed:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return default
    return parsed if parsed.tzinfo is not None else default


class Payments:
    def __init__(
        self,
        streams: StreamStore,
        store: PaymentStore,
        wechat: WechatPay,
        alipay: Alipay,
        settings: PaymentSettings,
        clock: Clock | None = None,
    ) -> None:
        self.streams = streams
        self.store = store
        self.wechat = wechat
        self.alipay = alipay
        self.settings = settings
        self.clock = clock or SystemClock()
        base = settings.public_base_url.rstrip("/")
        self.wechat_notify_url = f"{base}/notify/wechatpay"
        self.alipay_notify_url = f"{base}/notify/alipay"

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        result: T = await with_retries(self.settings.provider_attempts, self.settings.provider_retry_delay_s, call)
        return result

    async def _pay(self, payment_id: str, command: PaymentCommand, cause: Cause | None = None) -> Payment:
        outcome = await execute_projected(self.streams, PAYMENT, payment_id, command, self.store.project_payment, cause)
        return outcome.state

    async def _agree(self, agreement_id: str, command: AgreementCommand, cause: Cause | None = None) -> Agreement:
        outcome = await execute_projected(
            self.streams, AGREEMENT, agreement_id, command, self.store.project_agreement, cause
        )
        return outcome.state

    async def payment(self, payment_id: str) -> Payment:
        payment, _ = await load(self.streams, PAYMENT, payment_id)
        if not payment.exists:
            raise NotFound("no such payment")
        return payment

    async def agreement(self, agreement_id: str) -> Agreement:
        agreement, _ = await load(self.streams, AGREEMENT, agreement_id)
        if not agreement.exists:
            raise NotFound("no such agreement")
        return agreement

    # ---------------------------------------------------------------------------------------------- payments

    async def create(self, req: PaymentTerms) -> Payment:
        """The payment of an order (the same one again when asked twice), advanced as far as the provider allows."""
        check_payment_method(req.channel, req.method)
        agreement_no = None
        if req.method == "wechat_pay" and not req.openid:
            raise ValidationFailed("a WeChat payment needs the buyer's openid", details={"openid": "required"})
        if req.method == "alipay_password_free":
            if not req.agreement_id:
                raise ValidationFailed(
                    "a password-free payment needs an agreement", details={"agreement_id": "required"}
                )
            agreement, _ = await load(self.streams, AGREEMENT, req.agreement_id)
            agreement_no = check_agreement(agreement, req.buyer_id, req.amount_fen)
        payment_id = payment_id_for(req.order_id)
        if req.agreement_id and agreement_no:
            # Counted against the daily limit on the agreement's own stream, before Alipay is asked (once per payment).
            reserve = ReserveCharge(payment_id=payment_id, amount_fen=req.amount_fen, day=beijing_day(self.clock.now()))
            await self._agree(req.agreement_id, reserve)
        command = CreatePayment(payment_id=payment_id, agreement_no=agreement_no, **req.model_dump())
        return await self.advance(await self._pay(payment_id, command))

    async def _release_charge(self, p: Payment) -> None:
        """A password-free debit that was never made stops counting against its agreement's daily limit."""
        if p.method == "alipay_password_free" and p.agreement_id and p.status in ("failed", "closed"):
            await self._agree(p.agreement_id, ReleaseCharge(payment_id=p.payment_id))

    async def advance(self, p: Payment) -> Payment:
        """Take the provider step a payment still `processing` waits for: prepay, order string, or the charge."""
        if p.status != "processing" or p.order_closed:
            return p  # a payment whose order closed takes no provider step: the reconciler closes it instead
        try:
            if p.method == "wechat_pay":
                prepay_id = await self._retry(lambda: self.wechat.jsapi(p, self.wechat_notify_url))
                params = self.wechat.request_payment(prepay_id)
                return await self._pay(p.payment_id, RecordPrepay(prepay_id=prepay_id, request_payment=params))
            if p.method == "alipay":
                order_string = self.alipay.app_order_string(p, self.alipay_notify_url)
                return await self._pay(p.payment_id, RecordOrderString(order_string=order_string))
            answer = await self._retry(lambda: self.alipay.pay_with_agreement(p, self.alipay_notify_url))
        except ProviderUnavailable as exc:
            log.warning("payment %s waits for its provider: %s", p.payment_id, exc)
            return p  # still processing: the next request or the reconciler asks again, with the same numbers
        except ProviderRejected as exc:
            if exc.code in ("ORDERPAID", "ACQ.TRADE_HAS_SUCCESS"):
                return await self._record_if_paid(p)
            failed = await self._pay(p.payment_id, RecordFailure(code=failure_code(exc.code), message=str(exc)))
            await self._release_charge(failed)
            return failed
        return await self.record_success(
            p.payment_id,
            answer["trade_no"],
            yuan_to_fen(answer["total_amount"]),
            wire_time(answer.get("gmt_payment"), self.clock.now()),
            "charge",
        )

    async def record_success(
        self, payment_id: str, trade_no: str, amount_fen: int, paid_at: datetime, source: Any
    ) -> Payment:
        command = RecordSuccess(provider_trade_no=trade_no, amount_fen=amount_fen, paid_at=paid_at, source=source)
        outcome = await self._pay_outcome(payment_id, command)
        return await self._refund_if_order_closed(outcome)

    async def close(self, payment_id: str, reason: str) -> Payment:
        return await self._pay(payment_id, ClosePayment(reason=reason))

    async def close_for_order(self, order_id: str, reason: str, cause: Cause) -> Payment:
        """The order closed: record it on the payment's stream (also before the payment exists, so a later create is
        refused), close an open payment at the provider, and give back money already taken."""
        payment_id = payment_id_for(order_id)
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
        return await execute_projected(self.streams, PAYMENT, payment_id, command, self.store.project_payment, cause)

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
        try:
            if p.provider == "wechatpay":
                await self._retry(lambda: self.wechat.close(p.out_trade_no))
            else:
                await self._retry(lambda: self.alipay.close(p.out_trade_no))
        except ProviderRejected as exc:
            if exc.code in ("ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS"):
                return "closed"  # WeChat never had it, and no prepay is asked for a payment past this point
            if exc.code == "ACQ.TRADE_NOT_EXIST":
                # Alipay creates an app-pay trade only when the buyer opens the cashier: until time_expire the order
                # string can still be paid, and no close can stop it.
                if p.method == "alipay" and p.order_string and self.clock.now() < self._deadline(p):
                    return "payable"
                return "closed"
            if exc.code in ("ORDERPAID", "ACQ.TRADE_STATUS_ERROR"):
                after = await self._record_if_paid(p)
                if after.status == "succeeded":
                    return "paid"
                found, _ = await self._provider_state(p)
                if found == "closed":
                    return "closed"
                raise ProviderUnavailable(f"close refused with {exc.code} for a trade that is {found}") from exc
            raise
        return "closed"

    async def _record_if_paid(self, p: Payment) -> Payment:
        """Ask the provider once and record a success it reports (no further provider step from here)."""
        found, details = await self._provider_state(p)
        if found == "paid":
            return await self.record_success(
                p.payment_id, details["trade_no"], details["amount_fen"], details["paid_at"], "query"
            )
        return await self.payment(p.payment_id)

    async def _provider_state(self, p: Payment) -> tuple[str, dict[str, Any]]:
        """What the provider says: ("paid", details), ("closed", {}), ("open", {}) or ("missing", {})."""
        if p.provider == "wechatpay":
            try:
                trade = await self.wechat.query(p.out_trade_no)
            except ProviderRejected as exc:
                if exc.code in ("ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS"):
                    return "missing", {}
                raise
            state = trade.get("trade_state")
            if state in ("SUCCESS", "REFUND"):
                return "paid", {
                    "trade_no": trade["transaction_id"],
                    "amount_fen": int(trade["amount"]["total"]),
                    "paid_at": wire_time(trade.get("success_time"), self.clock.now()),
                }
            return ("closed" if state in ("CLOSED", "REVOKED", "PAYERROR") else "open"), {}
        answer = await self.alipay.query(p.out_trade_no)
        if answer is None:
            return "missing", {}
        status = answer.get("trade_status")
        if status in ALIPAY_PAID:
            return "paid", {
                "trade_no": answer["trade_no"],
                "amount_fen": yuan_to_fen(answer["total_amount"]),
                "paid_at": wire_time(answer.get("send_pay_date"), self.clock.now()),
            }
        return ("closed" if status == "TRADE_CLOSED" else "open"), {}

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
        if after.status in OPEN:
            await self._check_payment_later(after, backoff=after.status == "processing" and not after.order_closed)
        return after

    async def _reconcile_open(self, p: Payment) -> Payment:
        found, details = await self._provider_state(p)
        if found == "paid":
            return await self.record_success(
                p.payment_id, details["trade_no"], details["amount_fen"], details["paid_at"], "query"
            )
        if found == "closed":
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
            if p.provider == "wechatpay":
                answer = await self._retry(lambda: self.wechat.refund(p, refund, self.wechat_notify_url))
                return await self.apply_wechat_refund(p.payment_id, refund.refund_id, answer)
            answer = await self._retry(lambda: self.alipay.refund(p.out_trade_no, refund))
        except ProviderUnavailable as exc:
            log.warning("refund %s waits for its provider: %s", refund.refund_id, exc)
            return p
        except ProviderRejected as exc:
            log.error("refund %s of %s refused by the provider: %s", refund.refund_id, p.payment_id, exc)
            return await self._pay(p.payment_id, RecordRefundFailed(refund_id=refund.refund_id, reason=str(exc)))
        if answer.get("fund_change") == "Y":
            at = wire_time(answer.get("gmt_refund_pay"), self.clock.now())
            return await self._pay(
                p.payment_id,
                RecordRefundSucceeded(
                    refund_id=refund.refund_id, provider_refund_id=answer.get("trade_no"), refunded_at=at
                ),
            )
        # fund_change N: this out_request_no was refunded before (our earlier attempt), or is not settled yet: confirm
        # with a query.
        try:
            return await self.query_alipay_refund(p, refund)
        except (ProviderUnavailable, ProviderRejected) as exc:
            log.warning("refund %s: the confirming query failed, the reconciler asks again: %s", refund.refund_id, exc)
            return p

    async def query_alipay_refund(self, p: Payment, refund: Refund) -> Payment:
        """Record an Alipay refund the query shows. One it does not show yet stays open: the reconciler asks again
        later (never a new refund call from here, which could answer fund_change N again, and again)."""
        answer = await self.alipay.refund_query(p.out_trade_no, refund.out_refund_no)
        if answer.get("refund_status") == "REFUND_SUCCESS" or answer.get("refund_amount"):
            at = wire_time(answer.get("gmt_refund_pay"), self.clock.now())
            return await self._pay(
                p.payment_id,
                RecordRefundSucceeded(
                    refund_id=refund.refund_id, provider_refund_id=answer.get("trade_no"), refunded_at=at
                ),
            )
        log.warning("refund %s of %s: Alipay does not show it yet, asking later", refund.refund_id, p.payment_id)
        return p

    async def apply_wechat_refund(self, payment_id: str, refund_id: str, answer: dict[str, Any]) -> Payment:
        status = answer.get("status") or answer.get("refund_status")
        provider_id = answer.get("refund_id")
        command: PaymentCommand
        if status == "SUCCESS":
            at = wire_time(answer.get("success_time"), self.clock.now())
            command = RecordRefundSucceeded(refund_id=refund_id, provider_refund_id=provider_id, refunded_at=at)
        elif status == "PROCESSING":
            command = RecordRefundAccepted(refund_id=refund_id, provider_refund_id=provider_id)
        elif status == "ABNORMAL":
            # Not terminal: the buyer's card failed; the refund is retried by hand or through WeChat's abnormal-refund
            # API. We keep asking, and report it once it ends.
            log.error("refund %s of %s is ABNORMAL at WeChat: needs a person", refund_id, payment_id)
            command = RecordRefundAbnormal(refund_id=refund_id, provider_refund_id=provider_id)
        elif status == "CLOSED":
            command = RecordRefundFailed(refund_id=refund_id, reason="wechat_refund_closed")
        else:
            raise ProviderUnavailable(f"unknown refund status {status!r}")
        return await self._pay(payment_id, command)

    async def reconcile_refunds(self, payment_id: str) -> Payment:
        p = await self.payment(payment_id)
        for refund in p.open_refunds:
            try:
                if refund.status == "requested":
                    p = await self.send_refund(p, refund)
                elif p.provider == "wechatpay":
                    answer = await self.wechat.query_refund(refund.out_refund_no)
                    p = await self.apply_wechat_refund(p.payment_id, refund.refund_id, answer)
                else:
                    p = await self.query_alipay_refund(p, refund)
            except (ProviderUnavailable, ProviderRejected) as exc:
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
        sign_url = self.alipay.agreement_sign_url(agreement_id, self.alipay_notify_url)
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
            no = agreement.agreement_no
            try:
                await self._retry(lambda: self.alipay.unsign(no, self.alipay_notify_url))
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
                    details={"provider_code": exc.code},
                ) from exc
        return await self._agree(agreement_id, RecordUnsigned())

    async def reproject(self, aggregate_id: str, seq: int) -> None:
        """Rewrite a projection that is behind `seq` from its stream (heals a write lost to a crash)."""
        if await self.store.projected_seq(aggregate_id) >= seq:
            return
        if aggregate_id.startswith("pay_"):
            payment, seq = await load(self.streams, PAYMENT, aggregate_id)
            if seq:
                await self.store.project_payment(payment, seq)
        elif aggregate_id.startswith("agr_"):
            agreement, seq = await load(self.streams, AGREEMENT, aggregate_id)
            if seq:
                await self.store.project_agreement(agreement, seq)
