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

from aiohttp import web
from opentelemetry import trace

from services.payment.domain import AmountMismatch
from services.payment.keys import PAYMENTS
from services.payment.port import NotificationRefused, NotificationUnverified, VerifiedNotification
from services.payment.usecases import Payments
from shared.errors import AppError
from shared.http.inputs import first_unstorable, storable
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
    await payments.record_notification(
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


async def _link_to_checkout(payments: Payments, payment_id: str) -> None:
    """Link this notification's span to the trace that created the payment, to walk from one to the other."""
    carrier = await payments.checkout_trace(payment_id)
    if carrier is None:
        return
    checkout = trace.get_current_span(context_from_carrier(carrier)).get_span_context()
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
    await payments.record_notification(
        {
            "_id": uuid.uuid4().hex,
            "provider": provider,
            "key": None if key is None else storable(key),
            "received_at": datetime.now(UTC),
            # Header values that were not UTF-8 arrive surrogate-escaped, which BSON cannot carry.
            "headers": {name: storable(value) for name, value in headers.items()},
            "body": storable(body.decode("utf-8", errors="replace")),
            "verified": verified,
            "outcome": outcome,
            "error": None if error is None else storable(error),
        }
    )


async def _apply(payments: Payments, provider: str, note: VerifiedNotification) -> str:
    """Read the verified notification through its provider's adapter and apply the fact it reports."""
    # Signed is not sane: text no database can carry (a NUL, which PostgreSQL's jsonb refuses) is never queried for.
    found = first_unstorable({"id": note.id, "key": note.key, "payload": note.payload})
    if found is not None:
        raise NotificationRefused(f"{found[0]} {found[1]}")
    notice = payments.provider(provider).read_notification(note)
    payment = await payments.notified_payment(notice)
    if payment is not None:
        await _link_to_checkout(payments, payment.payment_id)
    return await payments.apply_notice(notice, payment)


# ------------------------------------------------------------------------------------------------------- WeChat


def _wechat_fail(status: int, message: str) -> web.Response:
    return web.json_response({"code": "FAIL", "message": message}, status=status)


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
        note = payments.provider("wechatpay").verify_notification(request.headers, body)
    except NotificationUnverified as exc:
        log.warning("refused a WeChat notification that does not verify: %s", exc)
        await _audit_unverified(payments, "wechatpay", request, len(body), str(exc))
        return _wechat_fail(401, "verification failed")
    try:
        outcome = await _apply(payments, "wechatpay", note)
    except (NotificationRefused, AmountMismatch) as exc:
        log.error("refused a verified WeChat notification %s: %s", note.id, exc)
        await _audit(payments, "wechatpay", note.key, body, headers, True, "refused", str(exc))
        return _wechat_fail(400, "rejected")
    await _audit(payments, "wechatpay", note.key, body, headers, True, outcome)
    return web.Response(status=204)


# ------------------------------------------------------------------------------------------------------- Alipay


async def alipay_notify(request: web.Request) -> web.Response:
    payments = request.app[PAYMENTS]
    try:
        body = await _read_body(request)
    except TooLarge as exc:
        log.warning("refused an Alipay notification that is too large: %s", exc)
        await _audit_unverified(payments, "alipay", request, request.content_length or -1, f"too large: {exc}")
        return web.Response(text="fail", status=413)
    try:
        note = payments.provider("alipay").verify_notification(request.headers, body)
    except NotificationUnverified as exc:
        log.warning("refused an Alipay notification that does not verify: %s", exc)
        await _audit_unverified(payments, "alipay", request, len(body), str(exc))
        return web.Response(text="fail")
    try:
        outcome = await _apply(payments, "alipay", note)
    except (NotificationRefused, AmountMismatch, AppError, ValueError) as exc:
        log.error("refused a verified Alipay notification %s: %s", note.id, exc)
        await _audit(payments, "alipay", note.key, body, {}, True, "refused", str(exc))
        return web.Response(text="fail")
    await _audit(payments, "alipay", note.key, body, {}, True, outcome)
    # Alipay retries until the body is exactly "success".
    return web.Response(text="success")
