"""The provider port's adapters: WeChat Pay v3 and Alipay, each wrapping its HTTP client (shared/providers/, which
keeps the wire details) and turning raw answers, refusal codes and notifications into the port's models.

The functions that read answers are pure (a verified answer dict in, a normalised result out), so each provider's
vocabulary is tested without I/O in tests/unit/payment/test_adapters.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from services.payment.domain import Payment, Refund
from services.payment.port import (
    AgreementSigned,
    AgreementUnsigned,
    Ignored,
    Notice,
    NotificationRefused,
    NotificationUnverified,
    PaymentClosed,
    PaymentPaid,
    PaymentStart,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundChanged,
    RejectionCode,
    VerifiedNotification,
    provider_time,
)
from shared.events.payment import Provider
from shared.money import yuan_to_fen
from shared.protocols import alipay as ap
from shared.protocols import wechatpay as wp
from shared.providers.alipay import AlipayClient, buyer_of
from shared.providers.wechatpay import WechatPayClient

T = TypeVar("T")
log = logging.getLogger("services.payment.adapters")


async def with_retries(attempts: int, delay_s: float, call: Callable[[], Awaitable[T]]) -> T:
    """Run `call()` up to `attempts` times while the provider gives no definite answer (or asks us to come back),
    waiting longer each time. ProviderMisconfigured is never retried: no attempt can fix our credentials."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except ProviderUnavailable as exc:
            if attempt == attempts:
                raise
            log.warning("provider unavailable (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(delay_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


class _Retrying:
    """Calls that send a provider number are retried, with the same number, while the provider gives no answer."""

    def __init__(self, attempts: int, retry_delay_s: float) -> None:
        self.attempts = attempts
        self.retry_delay_s = retry_delay_s

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        result: T = await with_retries(self.attempts, self.retry_delay_s, call)
        return result


def _text(res: Mapping[str, Any], name: str) -> str | None:
    value = res.get(name)
    return value if isinstance(value, str) else None


# ------------------------------------------------------------------------------------------------------- WeChat

WECHAT_START: dict[str, RejectionCode] = {"ORDERPAID": "already_paid"}
WECHAT_CLOSE: dict[str, RejectionCode] = {
    "ORDER_NOT_EXIST": "not_found",
    "RESOURCE_NOT_EXISTS": "not_found",
    "ORDERPAID": "already_paid",
}
WECHAT_MISSING = ("ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS")
_WECHAT_REFUND_STATES = {"SUCCESS": "succeeded", "PROCESSING": "processing", "ABNORMAL": "abnormal", "CLOSED": "failed"}


def wechat_payment(trade: Mapping[str, Any]) -> ProviderPayment:
    """A WeChat transaction (query answer): SUCCESS and REFUND (moved to refund) were paid."""
    state = trade.get("trade_state")
    if state in ("SUCCESS", "REFUND"):
        return ProviderPayment(
            state="paid",
            trade_no=trade["transaction_id"],
            amount_fen=int(trade["amount"]["total"]),
            paid_at=provider_time(trade.get("success_time")),
        )
    return ProviderPayment(state="closed" if state in ("CLOSED", "REVOKED", "PAYERROR") else "open")


def wechat_refund(answer: Mapping[str, Any]) -> ProviderRefund:
    """A WeChat refund (refund or query answer, or a refund notification's resource). ABNORMAL is not terminal (the
    buyer's card failed: retried by hand or through the abnormal-refund API); CLOSED is final. A status we do not
    know is `unknown`, with the status in `reason`."""
    status = answer.get("status") or answer.get("refund_status")
    provider_id = answer.get("refund_id")
    if status == "SUCCESS":
        return ProviderRefund(
            state="succeeded", provider_refund_id=provider_id, refunded_at=provider_time(answer.get("success_time"))
        )
    if status == "PROCESSING":
        return ProviderRefund(state="processing", provider_refund_id=provider_id)
    if status == "ABNORMAL":
        return ProviderRefund(state="abnormal", provider_refund_id=provider_id)
    if status == "CLOSED":
        return ProviderRefund(state="failed", reason="wechat_refund_closed")
    return ProviderRefund(state="unknown", reason=f"unknown refund status {status!r}")


def _known(result: ProviderRefund) -> ProviderRefund:
    """WeChat always says where a refund is: a status we cannot read is no answer."""
    if result.state == "unknown":
        raise ProviderUnavailable(result.reason)
    return result


def _number(res: Mapping[str, Any], box: str, name: str) -> int:
    """An integer inside a verified resource (`amount.total`); anything else is refused, never a crash."""
    inner = res.get(box)
    value = inner.get(name) if isinstance(inner, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotificationRefused(f"{box}.{name} is not an integer: {value!r}")
    return value


def read_wechat_notification(note: VerifiedNotification, mchid: str, appid: str) -> Notice:
    """The fact a verified WeChat notification reports (`payload`: its event_type and decrypted resource)."""
    res: dict[str, Any] = note.payload["resource"]
    event_type: str = note.payload["event_type"]
    # Partner (e-commerce) notifications name the platform as sp_mchid / sp_appid and the seller as sub_mchid.
    if res.get("sp_mchid") != mchid:
        raise NotificationRefused(f"sp_mchid {res.get('sp_mchid')!r} is not ours")
    out_trade_no = str(res.get("out_trade_no", ""))
    if event_type == "TRANSACTION.SUCCESS":
        if res.get("sp_appid") != appid:
            raise NotificationRefused(f"sp_appid {res.get('sp_appid')!r} is not ours")
        if res.get("trade_state") != "SUCCESS":
            return Ignored(outcome=f"ignored trade_state {res.get('trade_state')}", out_trade_no=out_trade_no)
        amount = _number(res, "amount", "total")
        transaction_id = _text(res, "transaction_id")
        if not transaction_id:
            raise NotificationRefused("no transaction_id")
        return PaymentPaid(
            out_trade_no=out_trade_no,
            trade_no=transaction_id,
            amount_fen=amount,
            paid_at=provider_time(_text(res, "success_time")),
            payee=_text(res, "sub_mchid"),
        )
    if event_type.startswith("REFUND."):
        # Only what the resource says in the expected types: a malformed field is refused or left out, never a crash.
        readable = {
            "refund_status": res.get("refund_status"),
            "refund_id": _text(res, "refund_id"),
            "success_time": _text(res, "success_time"),
        }
        said = wechat_refund(readable)
        return RefundChanged(
            out_trade_no=out_trade_no,
            out_refund_no=str(res.get("out_refund_no", "")),
            outcome=f"refund {res.get('refund_status')}",
            refund_amount_fen=_number(res, "amount", "refund"),
            # A status we cannot read (or none) is no answer: the refund is queried instead, and the notification
            # answered, never refused with a 5xx for a field it lacks.
            refund=None if said.state == "unknown" else said,
        )
    return Ignored(outcome=f"ignored event {event_type}", out_trade_no=out_trade_no)


class WechatPayAdapter(_Retrying):
    """WeChat Pay v3 as e-commerce platform: mini-program (partner JSAPI) payments to the seller's sub-merchant, frozen
    for profit sharing, and e-commerce refunds (docs/providers.md §2, §3)."""

    name: Provider = "wechatpay"

    def __init__(self, client: WechatPayClient, notify_url: str, attempts: int, retry_delay_s: float) -> None:
        super().__init__(attempts, retry_delay_s)
        self.client = client
        self.notify_url = notify_url

    @staticmethod
    def _payee(payment: Payment) -> str:
        if not payment.sub_mchid:
            raise ProviderRejected("NO_SUB_MCHID", "a WeChat payment names the seller's sub-merchant", 400)
        return payment.sub_mchid

    async def start(self, payment: Payment) -> PaymentStart:
        assert payment.expires_at is not None and payment.openid
        sub_mchid, openid, expires_at = self._payee(payment), payment.openid, payment.expires_at
        try:
            prepay_id = await self._retry(
                lambda: self.client.partner_jsapi(
                    sub_mchid=sub_mchid,
                    out_trade_no=payment.out_trade_no,
                    description=payment.description,
                    amount_fen=payment.amount_fen,
                    sp_openid=openid,
                    notify_url=self.notify_url,
                    expires_at=expires_at,
                    profit_sharing=True,
                )
            )
        except ProviderRejected as exc:
            raise exc.as_(WECHAT_START) from exc
        return PaymentStart(prepay_id=prepay_id, request_payment=self.client.request_payment(prepay_id))

    async def query(self, payment: Payment) -> ProviderPayment:
        try:
            trade = await self.client.partner_query(payment.out_trade_no, self._payee(payment))
        except ProviderRejected as exc:
            if exc.provider_code in WECHAT_MISSING:
                return ProviderPayment(state="missing")
            raise exc.as_({}) from exc
        return wechat_payment(trade)

    async def close(self, payment: Payment) -> None:
        sub_mchid = self._payee(payment)
        try:
            await self._retry(lambda: self.client.partner_close(payment.out_trade_no, sub_mchid))
        except ProviderRejected as exc:
            raise exc.as_(WECHAT_CLOSE) from exc
        # The close answers 204 for any number, even one WeChat never saw or already closed (docs/providers.md §8):
        # only the order's state says whether it is closed, or was paid meanwhile.
        after = await self.query(payment)
        if after.state == "paid":
            raise ProviderRejected("ORDERPAID", "paid before it closed", 400, "already_paid")
        if after.state == "open":
            raise ProviderUnavailable("closed at WeChat but the order still reads open: asked again later")

    async def refund(self, payment: Payment, refund: Refund) -> ProviderRefund:
        sub_mchid = self._payee(payment)
        try:
            answer = await self._retry(
                lambda: self.client.refund(
                    sub_mchid=sub_mchid,
                    out_trade_no=payment.out_trade_no,
                    out_refund_no=refund.out_refund_no,
                    refund_fen=refund.amount_fen,
                    total_fen=payment.amount_fen,
                    notify_url=self.notify_url,
                )
            )
        except ProviderRejected as exc:
            raise exc.as_({}) from exc
        if "status" not in answer and answer.get("refund_id"):
            # /v3/ecommerce/refunds/apply answers no status: accepted, its outcome comes by notification or query
            # (docs/providers.md §3).
            return ProviderRefund(state="processing", provider_refund_id=str(answer["refund_id"]))
        return _known(wechat_refund(answer))

    async def query_refund(self, payment: Payment, refund: Refund) -> ProviderRefund:
        try:
            answer = await self.client.query_refund(refund.out_refund_no, self._payee(payment))
        except ProviderRejected as exc:
            raise exc.as_({}) from exc
        return _known(wechat_refund(answer))

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> VerifiedNotification:
        try:
            note = self.client.verify_notification(headers, body)
        except wp.WechatPayError as exc:
            raise NotificationUnverified(str(exc)) from exc
        key = str(note.resource.get("out_refund_no") or note.resource.get("out_trade_no") or "")
        return VerifiedNotification(
            id=note.id, key=key, payload={"event_type": note.event_type, "resource": note.resource}
        )

    def read_notification(self, note: VerifiedNotification) -> Notice:
        return read_wechat_notification(note, self.client.mchid, self.client.appid)


# ------------------------------------------------------------------------------------------------------- Alipay

LIMIT_CODES = {
    "ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED",
    "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR",
    "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR",
    "ACQ.CYCLE_PAY_TOTAL_FEE_EXCEED",
    "ACQ.CYCLE_PAY_TOTAL_TIMES_EXCEED",
}
AGREEMENT_CODES = {"ACQ.AGREEMENT_NOT_EXIST", "ACQ.AGREEMENT_INVALID", "ACQ.AGREEMENT_ERROR"}
ALIPAY_PAID = ("TRADE_SUCCESS", "TRADE_FINISHED")
ALIPAY_CLOSE: dict[str, RejectionCode] = {"ACQ.TRADE_STATUS_ERROR": "invalid_state"}


def alipay_charge_code(provider_code: str) -> RejectionCode:
    """Our code for Alipay's refusal of a payment (an app-pay trade or a password-free charge)."""
    if provider_code == "ACQ.TRADE_HAS_SUCCESS":
        return "already_paid"
    if provider_code in LIMIT_CODES:
        return "limit_exceeded"
    if provider_code in AGREEMENT_CODES:
        return "agreement_not_active"
    if provider_code.endswith("BALANCE_NOT_ENOUGH"):
        return "payment_declined"
    return "provider_rejected"


def alipay_payment(trade: Mapping[str, Any] | None) -> ProviderPayment:
    """An Alipay trade (query answer; None when Alipay holds none)."""
    if trade is None:
        return ProviderPayment(state="missing")
    status = trade.get("trade_status")
    if status in ALIPAY_PAID:
        return ProviderPayment(
            state="paid",
            trade_no=trade["trade_no"],
            amount_fen=yuan_to_fen(trade["total_amount"]),
            paid_at=provider_time(trade.get("send_pay_date")),
        )
    return ProviderPayment(state="closed" if status == "TRADE_CLOSED" else "open")


def alipay_charge(answer: Mapping[str, Any]) -> ProviderPayment:
    """A password-free charge's answer (code 10000): the money is taken."""
    return ProviderPayment(
        state="paid",
        trade_no=answer["trade_no"],
        amount_fen=yuan_to_fen(answer["total_amount"]),
        paid_at=provider_time(answer.get("gmt_payment")),
    )


def alipay_refund(answer: Mapping[str, Any]) -> ProviderRefund:
    """A refund's answer. fund_change N: this out_request_no was refunded before (an earlier attempt of ours), or is
    not settled yet — only a query tells."""
    if answer.get("fund_change") == "Y":
        return ProviderRefund(
            state="succeeded",
            provider_refund_id=answer.get("trade_no"),
            refunded_at=provider_time(answer.get("gmt_refund_pay")),
        )
    return ProviderRefund(state="unknown")


def alipay_refund_query(answer: Mapping[str, Any]) -> ProviderRefund:
    """A refund query's answer: one that shows the refund means it succeeded; otherwise Alipay does not show it yet."""
    if answer.get("refund_status") == "REFUND_SUCCESS" or answer.get("refund_amount"):
        return ProviderRefund(
            state="succeeded",
            provider_refund_id=answer.get("trade_no"),
            refunded_at=provider_time(answer.get("gmt_refund_pay")),
        )
    return ProviderRefund(state="unknown")


def _field(form: Mapping[str, str], name: str) -> str:
    """A field a verified Alipay notification must carry; without it the notification is refused, never a crash."""
    value = form.get(name)
    if not value:
        raise NotificationRefused(f"no {name}")
    return value


def read_alipay_notification(note: VerifiedNotification, app_id: str, seller_id: str) -> Notice:
    """The fact a verified Alipay notification reports (`payload`: its form)."""
    form: dict[str, str] = note.payload
    if form.get("app_id") != app_id:
        raise NotificationRefused(f"app_id {form.get('app_id')!r} is not ours")
    kind = form.get("notify_type")
    if kind in ("dut_user_sign", "dut_user_unsign"):
        agreement_id = form.get("external_agreement_no", "")
        if kind == "dut_user_unsign":
            return AgreementUnsigned(agreement_id=agreement_id)
        return AgreementSigned(
            agreement_id=agreement_id,
            agreement_no=_field(form, "agreement_no"),
            # Apps under the OpenID regime name the user by alipay_open_id instead (docs/providers.md §8).
            alipay_user_id=form.get("alipay_open_id") or _field(form, "alipay_user_id"),
        )
    if kind != "trade_status_sync":
        return Ignored(outcome=f"ignored notify_type {kind}")
    if form.get("seller_id") != seller_id:
        raise NotificationRefused(f"seller_id {form.get('seller_id')!r} is not ours")
    out_trade_no = form.get("out_trade_no", "")
    try:
        amount_fen = yuan_to_fen(form.get("total_amount", ""))
    except ValueError as exc:
        raise NotificationRefused(f"total_amount: {exc}") from None
    if form.get("out_biz_no"):
        # A refund's notification says little: what became of it comes from a query.
        return RefundChanged(
            out_trade_no=out_trade_no,
            out_refund_no=form["out_biz_no"],
            outcome="refund confirmed",
            trade_amount_fen=amount_fen,
        )
    status = form.get("trade_status")
    if status in ALIPAY_PAID:
        return PaymentPaid(
            out_trade_no=out_trade_no,
            trade_no=_field(form, "trade_no"),
            amount_fen=amount_fen,
            paid_at=provider_time(form.get("gmt_payment")),
            payer=buyer_of(form),
        )
    if status == "TRADE_CLOSED":
        return PaymentClosed(out_trade_no=out_trade_no, trade_amount_fen=amount_fen)
    return Ignored(outcome=f"ignored trade_status {status}", out_trade_no=out_trade_no, trade_amount_fen=amount_fen)


class AlipayAdapter(_Retrying):
    """Alipay: app payments (an order string the app SDK opens), password-free charges over a signed agreement, and
    the agreements themselves."""

    name: Provider = "alipay"

    def __init__(self, client: AlipayClient, notify_url: str, attempts: int, retry_delay_s: float) -> None:
        super().__init__(attempts, retry_delay_s)
        self.client = client
        self.notify_url = notify_url

    async def start(self, payment: Payment) -> PaymentStart:
        assert payment.expires_at is not None
        if payment.method == "alipay":
            # Signed here, no call: Alipay creates the trade once the buyer opens the cashier. Frozen for royalty: the
            # seller's part is settled to the seller's own account later (docs/providers.md §7).
            order_string = self.client.app_order_string(
                out_trade_no=payment.out_trade_no,
                amount_fen=payment.amount_fen,
                subject=payment.description,
                expires_at=payment.expires_at,
                notify_url=self.notify_url,
            )
            return PaymentStart(order_string=order_string)
        assert payment.agreement_no is not None
        agreement_no = payment.agreement_no
        try:
            answer = await self._retry(
                lambda: self.client.pay_with_agreement(
                    out_trade_no=payment.out_trade_no,
                    amount_fen=payment.amount_fen,
                    subject=payment.description,
                    agreement_no=agreement_no,
                    notify_url=self.notify_url,
                )
            )
        except ProviderRejected as exc:
            code = alipay_charge_code(exc.provider_code)
            raise ProviderRejected(exc.provider_code, exc.message, exc.status, code) from exc
        return PaymentStart(charged=alipay_charge(answer))

    async def query(self, payment: Payment) -> ProviderPayment:
        try:
            trade = await self.client.query(payment.out_trade_no)
        except ProviderRejected as exc:
            raise exc.as_({}) from exc
        return alipay_payment(trade)

    async def close(self, payment: Payment) -> None:
        try:
            await self._retry(lambda: self.client.close(payment.out_trade_no))
        except ProviderRejected as exc:
            if exc.provider_code == "ACQ.TRADE_NOT_EXIST":
                # No trade: for an order string the buyer has not opened yet, one can still appear until time_expire.
                code: RejectionCode = "not_opened" if payment.order_string else "not_found"
                raise ProviderRejected(exc.provider_code, exc.message, exc.status, code) from exc
            raise exc.as_(ALIPAY_CLOSE) from exc

    async def refund(self, payment: Payment, refund: Refund) -> ProviderRefund:
        try:
            answer = await self._retry(
                lambda: self.client.refund(payment.out_trade_no, refund.out_refund_no, refund.amount_fen)
            )
        except ProviderRejected as exc:
            raise exc.as_({}) from exc
        return alipay_refund(answer)

    async def query_refund(self, payment: Payment, refund: Refund) -> ProviderRefund:
        try:
            answer = await self.client.refund_query(payment.out_trade_no, refund.out_refund_no)
        except ProviderRejected as exc:
            raise exc.as_({}) from exc
        return alipay_refund_query(answer)

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> VerifiedNotification:
        try:
            form = ap.parse_form(body)
            self.client.verify_notification(form)
        except (ap.AlipayError, ValueError) as exc:
            raise NotificationUnverified(str(exc)) from exc
        key = form.get("out_biz_no") or form.get("out_trade_no") or form.get("agreement_no")
        return VerifiedNotification(id=form.get("notify_id"), key=key, payload=form)

    def read_notification(self, note: VerifiedNotification) -> Notice:
        return read_alipay_notification(note, self.client.app_id, self.client.seller_id)

    def sign_url(self, agreement_id: str) -> str:
        return self.client.agreement_sign_url(agreement_id, self.notify_url)

    async def unsign(self, agreement_no: str) -> None:
        try:
            await self._retry(lambda: self.client.unsign(agreement_no, self.notify_url))
        except ProviderRejected as exc:
            raise exc.as_({}) from exc
