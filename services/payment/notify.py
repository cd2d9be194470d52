"""Provider notifications (`/notify/wechatpay`, `/notify/alipay`, the only routes open without the internal token).

Each is verified (signature, WeChat's timestamp window, AES-GCM tag), checked against the stored payment (merchant,
app, amount), applied idempotently and answered in the provider's exact format. Every verified notification is kept
with its body and what became of it; of a request that does not verify (anyone can send one) only a bounded summary
is kept: its size, the headers that matter (truncated) and why it was refused. Bodies over NOTIFY_MAX_BYTES (a real
notification is a few KB) are refused with 413 before they are read further. Anything that does not verify or does
not match is refused and never applied.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from opentelemetry import trace

from services.payment.domain import AmountMismatch
from services.payment.keys import PAYMENTS
from services.payment.usecases import ALIPAY_PAID, Payments, wire_time
from shared.errors import AppError, NotFound
from shared.http.inputs import storable
from shared.money import yuan_to_fen
from shared.protocols import alipay as ap
from shared.protocols import wechatpay as wp
from shared.telemetry import context_from_carrier

log = logging.getLogger("services.payment.notify")
_WECHAT_HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature-Type")
_SUMMARY_HEADERS = (*_WECHAT_HEADERS, "Content-Type", "Content-Length", "User-Agent")
NOTIFY_MAX_BYTES = 64 * 1024
_SUMMARY_VALUE_CHARS = 128
_SUMMARY_REASON_CHARS = 300


class TooLarge(Exception):
    """The body is over NOTIFY_MAX_BYTES."""


async def _read_body(request: web.Request) -> bytes:
    """The body, read no further than NOTIFY_MAX_BYTES."""
    if request.content_length is not None and request.content_length > NOTIFY_MAX_BYTES:
        raise TooLarge(f"Content-Length {request.content_length}")
    body = bytearray()
    async for chunk in request.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) > NOTIFY_MAX_BYTES:
            raise TooLarge(f"more than {NOTIFY_MAX_BYTES} bytes")
    return bytes(body)


async def _audit_unverified(payments: Payments, provider: str, request: web.Request, size: int, reason: str) -> None:
    """What we keep of a request that did not verify: bounded whatever the sender put in it, and never its body."""
    headers = {
        name: storable(request.headers[name][:_SUMMARY_VALUE_CHARS])
        for name in _SUMMARY_HEADERS
        if name in request.headers
    }
    await payments.store.record_notification(
        {
            "_id": uuid.uuid4().hex,
            "provider": provider,
            "key": None,
            "received_at": datetime.now(UTC),
            "headers": headers,
            "size": size,
            "verified": False,
            "outcome": "refused",
            "error": storable(reason[:_SUMMARY_REASON_CHARS]),
        }
    )


class Refused(Exception):
    """A verified notification that does not match what we hold: logged and refused, never applied."""


async def _link_to_checkout(payments: Payments, payment_id: str) -> None:
    """Link this notification's span to the trace that created the payment, to walk from one to the other."""
    entries = await payments.streams.read(payment_id)
    if not entries or not entries[0].trace:
        return
    checkout = trace.get_current_span(context_from_carrier(entries[0].trace)).get_span_context()
    if checkout.is_valid:
        trace.get_current_span().add_link(checkout, {"fishbridge.link": "checkout"})


async def _audit(
    payments: Payments,
    provider: str,
    key: str | None,
    body: bytes,
    headers: dict[str, str],
    verified: bool,
    outcome: str,
    error: str | None = None,
) -> None:
    await payments.store.record_notification(
        {
            "_id": uuid.uuid4().hex,
            "provider": provider,
            "key": key,
            "received_at": datetime.now(UTC),
            # Header values that were not UTF-8 arrive surrogate-escaped, which BSON cannot carry.
            "headers": {name: storable(value) for name, value in headers.items()},
            "body": body.decode("utf-8", errors="replace"),
            "verified": verified,
            "outcome": outcome,
            "error": None if error is None else storable(error),
        }
    )


async def _payment_for(payments: Payments, out_trade_no: str) -> Any:
    try:
        return await payments.payment(out_trade_no)  # our out_trade_no is the payment id
    except NotFound:
        raise Refused(f"unknown out_trade_no {out_trade_no}") from None


# ------------------------------------------------------------------------------------------------------- WeChat


def _number(res: dict[str, Any], box: str, name: str) -> int:
    """An integer inside a verified resource (`amount.total`); anything else is refused, never a crash."""
    inner = res.get(box)
    value = inner.get(name) if isinstance(inner, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"{box}.{name} is not an integer: {value!r}")
    return value


def _text(res: dict[str, Any], name: str) -> str | None:
    value = res.get(name)
    return value if isinstance(value, str) else None


def _wechat_fail(status: int, message: str) -> web.Response:
    return web.json_response({"code": "FAIL", "message": message}, status=status)


async def _apply_wechat(payments: Payments, note: wp.Notification) -> str:
    res = note.resource
    if res.get("mchid") != payments.wechat.mchid:
        raise Refused(f"mchid {res.get('mchid')!r} is not ours")
    out_trade_no = str(res.get("out_trade_no", ""))
    payment = await _payment_for(payments, out_trade_no)
    await _link_to_checkout(payments, payment.payment_id)
    if note.event_type == "TRANSACTION.SUCCESS":
        if res.get("appid") != payments.wechat.appid:
            raise Refused(f"appid {res.get('appid')!r} is not ours")
        if res.get("trade_state") != "SUCCESS":
            return f"ignored trade_state {res.get('trade_state')}"
        amount = _number(res, "amount", "total")
        transaction_id = _text(res, "transaction_id")
        if not transaction_id:
            raise Refused("no transaction_id")
        paid_at = wire_time(_text(res, "success_time"), datetime.now(UTC))
        await payments.record_success(payment.payment_id, transaction_id, amount, paid_at, "notification")
        return "payment succeeded"
    if note.event_type.startswith("REFUND."):
        refund_id = str(res.get("out_refund_no", ""))
        refund = payment.refunds.get(refund_id)
        if refund is None:
            raise Refused(f"unknown out_refund_no {refund_id}")
        if _number(res, "amount", "refund") != refund.amount_fen:
            raise Refused("refund amount differs from ours")
        await payments.apply_wechat_refund(payment.payment_id, refund_id, res)
        return f"refund {res.get('refund_status')}"
    return f"ignored event {note.event_type}"


async def wechat_notify(request: web.Request) -> web.Response:
    payments = request.app[PAYMENTS]
    try:
        body = await _read_body(request)
    except TooLarge as exc:
        log.warning("refused a WeChat notification that is too large: %s", exc)
        await _audit_unverified(payments, "wechatpay", request, request.content_length or -1, f"too large: {exc}")
        return _wechat_fail(413, "body too large")
    headers = {name: request.headers.get(name, "") for name in _WECHAT_HEADERS}
    try:
        note = payments.wechat.verify_notification(request.headers, body)
    except wp.WechatPayError as exc:
        log.warning("refused a WeChat notification that does not verify: %s", exc)
        await _audit_unverified(payments, "wechatpay", request, len(body), str(exc))
        return _wechat_fail(401, "verification failed")
    key = str(note.resource.get("out_refund_no") or note.resource.get("out_trade_no") or "")
    try:
        outcome = await _apply_wechat(payments, note)
    except (Refused, AmountMismatch) as exc:
        log.error("refused a verified WeChat notification %s: %s", note.id, exc)
        await _audit(payments, "wechatpay", key, body, headers, True, "refused", str(exc))
        return _wechat_fail(400, "rejected")
    await _audit(payments, "wechatpay", key, body, headers, True, outcome)
    return web.Response(status=204)


# ------------------------------------------------------------------------------------------------------- Alipay


def _field(form: dict[str, str], name: str) -> str:
    """A field a verified Alipay notification must carry; without it the notification is refused, never a crash."""
    value = form.get(name)
    if not value:
        raise Refused(f"no {name}")
    return value


async def _apply_alipay(payments: Payments, form: dict[str, str]) -> str:
    if form.get("app_id") != payments.alipay.app_id:
        raise Refused(f"app_id {form.get('app_id')!r} is not ours")
    kind = form.get("notify_type")
    if kind in ("dut_user_sign", "dut_user_unsign"):
        agreement_id = form.get("external_agreement_no", "")
        try:
            agreement = await payments.agreement(agreement_id)
        except NotFound:
            raise Refused(f"unknown external_agreement_no {agreement_id}") from None
        if kind == "dut_user_sign":
            await payments.agreement_signed(
                agreement.agreement_id, _field(form, "agreement_no"), _field(form, "alipay_user_id")
            )
            return "agreement signed"
        await payments.agreement_unsigned(agreement.agreement_id)
        return "agreement unsigned"
    if kind != "trade_status_sync":
        return f"ignored notify_type {kind}"
    if form.get("seller_id") != payments.alipay.seller_id:
        raise Refused(f"seller_id {form.get('seller_id')!r} is not ours")
    payment = await _payment_for(payments, form.get("out_trade_no", ""))
    await _link_to_checkout(payments, payment.payment_id)
    if yuan_to_fen(form.get("total_amount", "")) != payment.amount_fen:
        raise Refused("total_amount differs from the payment")
    if form.get("out_biz_no"):
        refund = payment.refunds.get(form["out_biz_no"])
        if refund is None:
            raise Refused(f"unknown out_biz_no {form['out_biz_no']}")
        await payments.query_alipay_refund(payment, refund)
        return "refund confirmed"
    status = form.get("trade_status")
    if status in ALIPAY_PAID:
        paid_at = wire_time(form.get("gmt_payment"), datetime.now(UTC))
        trade_no = _field(form, "trade_no")
        await payments.record_success(payment.payment_id, trade_no, payment.amount_fen, paid_at, "notification")
        return "payment succeeded"
    if status == "TRADE_CLOSED":
        await payments.close(payment.payment_id, "provider_closed")
        return "payment closed"
    return f"ignored trade_status {status}"


async def alipay_notify(request: web.Request) -> web.Response:
    payments = request.app[PAYMENTS]
    try:
        body = await _read_body(request)
    except TooLarge as exc:
        log.warning("refused an Alipay notification that is too large: %s", exc)
        await _audit_unverified(payments, "alipay", request, request.content_length or -1, f"too large: {exc}")
        return web.Response(text="fail", status=413)
    try:
        form = ap.parse_form(body)
        payments.alipay.verify_notification(form)
    except (ap.AlipayError, ValueError) as exc:
        log.warning("refused an Alipay notification that does not verify: %s", exc)
        await _audit_unverified(payments, "alipay", request, len(body), str(exc))
        return web.Response(text="fail")
    key = form.get("out_biz_no") or form.get("out_trade_no") or form.get("agreement_no")
    try:
        outcome = await _apply_alipay(payments, form)
    except (Refused, AmountMismatch, AppError, ValueError) as exc:
        log.error("refused a verified Alipay notification %s: %s", form.get("notify_id"), exc)
        await _audit(payments, "alipay", key, body, {}, True, "refused", str(exc))
        return web.Response(text="fail")
    await _audit(payments, "alipay", key, body, {}, True, outcome)
    # Alipay retries until the body is exactly "success".
    return web.Response(text="success")
