"""WeChat Pay notifications to the wallet (`/notify/wechatpay`, open without the internal token): withdrawal
changes (MCHWITHDRAW.CHANGE). Each is verified (signature, timestamp window, AES-GCM tag) before anything is read
from it, matched to a withdrawal by its `out_request_no`, and applied idempotently; anything else is refused.
Polling (`Wallet.follow`) reaches the same result when a notification never comes."""

from __future__ import annotations

import logging

from aiohttp import web

from services.wallet.keys import STORE, WALLET
from shared.protocols import wechatpay as wp

log = logging.getLogger("wallet.notify")
NOTIFY_MAX_BYTES = 64 * 1024


def _fail(status: int, message: str) -> web.Response:
    return web.json_response({"code": "FAIL", "message": message}, status=status)


async def wechat_notify(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > NOTIFY_MAX_BYTES:
        return _fail(413, "body too large")
    body = await request.content.read(NOTIFY_MAX_BYTES + 1)
    if len(body) > NOTIFY_MAX_BYTES:
        return _fail(413, "body too large")
    wallet = request.app[WALLET]
    try:
        note = wallet.wechat.verify_notification(request.headers, body)
    except (wp.WechatPayError, ValueError, KeyError) as exc:
        log.warning("wechatpay notification refused: %s", exc)
        return _fail(401, "verification failed")
    resource = note.resource
    out_request_no = str(resource.get("out_request_no", ""))
    withdrawal_id = await request.app[STORE].withdrawal_by_out_request_no(out_request_no) if out_request_no else None
    if not note.event_type.startswith("MCHWITHDRAW") or withdrawal_id is None:
        log.warning("wechatpay notification %s (%s) names nothing of ours", note.id, note.event_type)
        return _fail(404, "unknown withdrawal")
    await wallet.follow(withdrawal_id, resource)
    return web.Response(status=204)
