"""Notifications as providers really send them: duplicated, out of order, lost, forged, tampered, stale, with the
wrong amount; and a notification racing the reconciler. Only what verifies and matches is applied, exactly once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.protocols import alipay as ap
from shared.protocols import wechatpay as wp
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import eventually
from tests.support.providers import ALIPAY_APP_ID, ALIPAY_SELLER_ID, APIV3_KEY, APPID, KEYS, MCHID

PLATFORM_PRIVATE = wp.load_private_key((KEYS / "TEST_ONLY_wechatpay_platform_private.pem").read_bytes())
PLATFORM_SERIAL = wp.certificate_serial_no(
    wp.load_certificate((KEYS / "TEST_ONLY_wechatpay_platform_cert.pem").read_bytes())
)
ALIPAY_PLATFORM_PRIVATE = ap.load_private_key((KEYS / "TEST_ONLY_alipay_platform_private.pem").read_bytes())
WRONG_PRIVATE = wp.load_private_key((KEYS / "TEST_ONLY_alipay_app_private.pem").read_bytes())


def succeeded(seen: list[Any], payment_id: str) -> list[Any]:
    return [e for e in seen if e.type == "payment.succeeded" and e.payload["payment_id"] == payment_id]


async def paid_wechat(payments: PaymentClient, **fault: Any) -> dict[str, Any]:
    """A WeChat payment the buyer pays, with an optional fault on its notification."""
    openid = await payments.openid()
    order = payments.order("wechat_pay", openid=openid)
    from services.payment.domain import payment_id_for

    if fault:
        await payments.fault(target="wechat.notify", match={"key": payment_id_for(order["order_id"])}, **fault)
    payment = await payments.create(order)
    reply = await payments.wechat_pay(payment, openid)
    assert reply.status == 200, reply.body
    return payment


def wechat_notification(
    payment: dict[str, Any],
    *,
    amount: int | None = None,
    key: Any = PLATFORM_PRIVATE,
    timestamp: int | None = None,
    mchid: str = MCHID,
) -> tuple[bytes, dict[str, str]]:
    resource = {
        "sp_mchid": mchid,
        "sp_appid": APPID,
        "sub_mchid": payment["sub_mchid"],
        "out_trade_no": payment["out_trade_no"],
        "transaction_id": f"42000{uuid.uuid4().int % 10**20:020d}",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "attach": "",
        "success_time": datetime.now(UTC).isoformat(timespec="seconds"),
        "payer": {"sp_openid": "oX"},
        "amount": {
            "total": payment["amount_fen"] if amount is None else amount,
            "payer_total": 1,
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }
    body = wp.build_notification_body(
        event_id=str(uuid.uuid4()),
        create_time=datetime.now(UTC).isoformat(),
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=resource,
        apiv3_key=APIV3_KEY,
        nonce=uuid.uuid4().hex[:12],
        associated_data="transaction",
    )
    headers = wp.sign_response(
        body,
        private_key=key,
        serial_no=PLATFORM_SERIAL,
        timestamp=timestamp or int(time.time()),
        nonce=uuid.uuid4().hex,
    )
    return body, {**headers, "Content-Type": "application/json"}


async def post_wechat(payments: PaymentClient, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with payments.http.post(f"{payments.process.url}/notify/wechatpay", data=body, headers=headers) as resp:
        return resp.status, await resp.text()


async def test_duplicate_notifications_give_one_payment_succeeded(payments: PaymentClient, watch: Any) -> None:
    seen = await watch("payment.succeeded.v1", "payment.closed.v1")
    payment = await paid_wechat(payments, action="duplicate")
    await eventually(
        lambda: payments.notifications(payment["id"]), until=lambda n: len(n) >= 2, what="both copies received"
    )
    await eventually(lambda: _async(succeeded(seen, payment["id"])), until=bool, what="payment.succeeded")
    assert (await payments.event_types(payment["id"])).count("payment.succeeded") == 1
    assert len({e.event_id for e in succeeded(seen, payment["id"])}) == 1  # one fact (delivery is at least once)


async def test_notifications_out_of_order_each_apply_once(payments: PaymentClient, watch: Any) -> None:
    seen = await watch("payment.succeeded.v1")
    held = await paid_wechat(payments, action="out_of_order")
    overtaking = await paid_wechat(payments)
    for payment in (held, overtaking):
        await eventually(lambda p=payment: _async(succeeded(seen, p["id"])), until=bool, what="payment.succeeded")
    # The held notification arrives after the one that overtook it (the reconciler may have applied it first).
    first = await eventually(lambda: payments.notifications(held["id"]), until=bool, what="held notification")
    second = await payments.notifications(overtaking["id"])
    assert second and first[0]["received_at"] > second[0]["received_at"]
    assert (await payments.event_types(held["id"])).count("payment.succeeded") == 1


async def test_a_lost_notification_is_made_good_by_the_reconciler(payments: PaymentClient, watch: Any) -> None:
    seen = await watch("payment.succeeded.v1")
    payment = await paid_wechat(payments, action="drop")
    events = await eventually(
        lambda: _async(succeeded(seen, payment["id"])),
        until=bool,
        timeout_s=20,
        what="payment.succeeded from the reconciler's query",
    )
    assert events[0].payload["source"] == "query"
    assert await payments.notifications(payment["id"]) == []


async def test_a_lost_alipay_notification_is_made_good_by_the_reconciler(payments: PaymentClient) -> None:
    payment = await payments.create(payments.order("alipay"))
    await payments.fault(target="alipay.notify", action="drop", match={"key": payment["id"]})
    paid = await payments.sandbox_post(
        "/sandbox/alipay/pay", {"order_string": payment["alipay_order_string"], "user_id": "2088100000000009"}
    )
    assert paid.status == 200
    done = await eventually(
        lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="succeeded by query"
    )
    assert done["provider_trade_no"] == paid.body["trade_no"]


async def test_forged_tampered_stale_and_foreign_wechat_notifications_are_refused(payments: PaymentClient) -> None:
    payment = await payments.create(payments.order("wechat_pay", openid=await payments.openid()))
    forged = wechat_notification(payment, key=WRONG_PRIVATE)
    body, headers = wechat_notification(payment)
    tampered = (body.replace(b'"summary"', b'"summary" ', 1), headers)
    stale = wechat_notification(payment, timestamp=int(time.time()) - 600)
    foreign = wechat_notification(payment, mchid="1900009999")
    for what, (b, h), expected in (
        ("forged", forged, 401),
        ("tampered", tampered, 401),
        ("stale", stale, 401),
        ("foreign merchant", foreign, 400),
    ):
        status, text = await post_wechat(payments, b, h)
        assert status == expected, (what, status, text)
        assert json.loads(text)["code"] == "FAIL"
    assert (await payments.payment(payment["id"]))["status"] == "requires_action"
    assert "payment.succeeded" not in await payments.event_types(payment["id"])
    audit = [doc async for doc in payments.db["notifications"].find({"provider": "wechatpay", "outcome": "refused"})]
    assert len(audit) >= 4 and {d["verified"] for d in audit} == {True, False}


async def test_a_wechat_notification_with_another_amount_is_refused(payments: PaymentClient) -> None:
    payment = await payments.create(payments.order("wechat_pay", openid=await payments.openid()))
    status, _ = await post_wechat(payments, *wechat_notification(payment, amount=payment["amount_fen"] - 1))
    assert status == 400
    assert (await payments.payment(payment["id"]))["status"] == "requires_action"
    [note] = await payments.notifications(payment["id"])
    assert note["verified"] and note["outcome"] == "refused" and "amount" in note["error"]
    # The genuine amount, signed by WeChat, is applied.
    status, _ = await post_wechat(payments, *wechat_notification(payment))
    assert status == 204 and (await payments.payment(payment["id"]))["status"] == "succeeded"


async def test_forged_and_mismatched_alipay_notifications_are_refused(payments: PaymentClient) -> None:
    payment = await payments.create(payments.order("alipay", amount_fen=5_000))
    fields = {
        "notify_type": "trade_status_sync",
        "notify_id": uuid.uuid4().hex,
        "notify_time": "2026-11-25 10:00:00",
        "app_id": ALIPAY_APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2026112522001400001",
        "out_trade_no": payment["id"],
        "seller_id": ALIPAY_SELLER_ID,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "50.00",
        "gmt_payment": "2026-11-25 10:00:00",
    }

    async def post(form: dict[str, str]) -> str:
        async with payments.http.post(
            f"{payments.process.url}/notify/alipay",
            data=ap.encode_params(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as resp:
            assert resp.status == 200
            return await resp.text()

    assert await post(ap.sign_notification(fields, WRONG_PRIVATE)) == "fail"
    assert await post(ap.sign_notification({**fields, "total_amount": "49.99"}, ALIPAY_PLATFORM_PRIVATE)) == "fail"
    assert await post(ap.sign_notification({**fields, "seller_id": "2088999"}, ALIPAY_PLATFORM_PRIVATE)) == "fail"
    assert await post(ap.sign_notification({**fields, "app_id": "2021999"}, ALIPAY_PLATFORM_PRIVATE)) == "fail"
    signed = ap.sign_notification(fields, ALIPAY_PLATFORM_PRIVATE)
    assert await post({**signed, "total_amount": "0.01"}) == "fail"  # tampered after signing
    assert (await payments.payment(payment["id"]))["status"] == "requires_action"
    assert await post(signed) == "success"
    assert (await payments.payment(payment["id"]))["status"] == "succeeded"


async def test_notification_and_reconciler_racing_give_one_payment_succeeded(
    payments: PaymentClient, watch: Any
) -> None:
    seen = await watch("payment.succeeded.v1")
    openid = await payments.openid()
    payment = await payments.create(payments.order("wechat_pay", openid=openid))
    # The buyer pays while WeChat's notification is held back: the reconciler finds the payment by query ...
    await payments.fault(target="wechat.notify", action="delay", delay_s=2, match={"key": payment["id"]})
    reply = await payments.wechat_pay(payment, openid)
    assert reply.status == 200, reply.body
    # ... while the same notification also arrives many times at once.
    body, headers = wechat_notification(payment)
    notified = [post_wechat(payments, body, headers) for _ in range(10)]
    queried = [payments.call("POST", f"/payments/{payment['id']}/reconcile") for _ in range(10)]
    results = await asyncio.gather(*notified, *queried)
    assert {status for status, _ in results[:10]} == {204}
    assert {r.status for r in results[10:]} == {200}  # type: ignore[union-attr]
    await eventually(
        lambda: payments.notifications(payment["id"]),
        until=lambda n: len(n) >= 11,
        what="the provider's own (delayed) notification too",
    )
    assert (await payments.event_types(payment["id"])).count("payment.succeeded") == 1
    await eventually(lambda: _async(succeeded(seen, payment["id"])), until=bool, what="on the bus")
    await asyncio.sleep(0.5)  # a second publication, if any, has time to arrive
    stream = [
        (e["seq"], [ev["type"] for ev in e["events"]], [ev["event_id"] for ev in e["events"]], e.get("command_id"))
        async for e in payments.db["stream_entries"].find({"stream_id": payment["id"]}).sort("seq", 1)
    ]
    on_bus = [(e.event_id, e.payload.get("source"), e.payload.get("provider_trade_no")) for e in seen]
    # One fact on the bus: delivery is at least once (a relay may publish an entry again before its confirm is
    # recorded), and consumers apply an event once by its id, so what must be one is the event id.
    assert len({e.event_id for e in succeeded(seen, payment["id"])}) == 1, (stream, on_bus)


async def _async(value: Any) -> Any:
    return value


# ------------------------------------------------------------------- unauthenticated traffic (issue 10, item 17)


async def test_an_unverified_notification_keeps_only_a_bounded_summary(payments: PaymentClient) -> None:
    marker = uuid.uuid4().hex
    junk = json.dumps({"marker": marker, "pad": "x" * 60_000}).encode()
    headers = {
        "Content-Type": "application/json",
        "Wechatpay-Timestamp": str(int(time.time())),
        "Wechatpay-Nonce": marker + "n" * 5_000,
        "Wechatpay-Serial": "X" * 5_000,
        "Wechatpay-Signature": "c2ln" * 1_000,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    status, text = await post_wechat(payments, junk, headers)
    assert status == 401 and json.loads(text)["code"] == "FAIL"
    async with payments.http.post(
        f"{payments.process.url}/notify/alipay", data={"sign": "x", "pad": marker + "y" * 60_000}
    ) as resp:
        assert (resp.status, await resp.text()) == (200, "fail")
    refused = [
        doc
        async for doc in payments.db["notifications"].find({"verified": False})
        if marker in str(doc.get("headers", {}).get("Wechatpay-Nonce", "")) or doc.get("size", 0) > 60_000
    ]
    assert {d["provider"] for d in refused} >= {"wechatpay", "alipay"}
    for doc in refused:
        assert "body" not in doc and doc["size"] > 60_000 and doc["outcome"] == "refused" and doc["error"]
        assert all(len(v) <= 128 for v in doc["headers"].values()) and len(doc["error"]) <= 300
        assert marker not in json.dumps(doc, default=str).replace(doc["headers"].get("Wechatpay-Nonce", ""), "")


async def test_a_notification_body_over_64_kib_is_refused_with_413_in_the_providers_format(
    payments: PaymentClient,
) -> None:
    payment = await payments.create(payments.order("wechat_pay", openid=await payments.openid()))
    body, headers = wechat_notification(payment)
    big = body[:-1] + b',"pad":"' + b"x" * (64 * 1024) + b'"}'
    status, text = await post_wechat(payments, big, headers)
    assert status == 413 and json.loads(text)["code"] == "FAIL"
    async with payments.http.post(f"{payments.process.url}/notify/alipay", data={"pad": "y" * (64 * 1024)}) as resp:
        assert (resp.status, await resp.text()) == (413, "fail")
    # A real (small) notification still goes through.
    assert (await post_wechat(payments, body, headers))[0] == 204
    await eventually(lambda: payments.payment(payment["id"]), until=lambda p: p["status"] == "succeeded", what="paid")
