"""Each method end to end against the sandbox: from creating the payment to payment.succeeded on the bus."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from shared.ids import new_id
from shared.protocols import wechatpay as wp
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import eventually
from tests.support.providers import APPID, KEYS

MERCHANT_PUBLIC = wp.load_certificate((KEYS / "TEST_ONLY_wechatpay_merchant_cert.pem").read_bytes()).public_key()


def succeeded_for(seen: list[Any], payment_id: str) -> list[Any]:
    return [e for e in seen if e.type == "payment.succeeded" and e.payload["payment_id"] == payment_id]


async def test_wechat_pay_from_prepay_to_payment_succeeded(payments: PaymentClient, watch: Any) -> None:
    seen = await watch("payment.succeeded.v1")
    openid = await payments.openid()
    payment = await payments.create(payments.order("wechat_pay", openid=openid))
    assert payment["status"] == "requires_action" and payment["out_trade_no"] == payment["id"]
    params = payment["wechat_request_payment"]
    assert params["appId"] == APPID and params["signType"] == "RSA"
    # The paySign verifies with the merchant certificate, as WeChat's client checks it.
    assert wp.verify_request_payment(params, app_id=APPID, public_key=MERCHANT_PUBLIC)  # type: ignore[arg-type]
    paid = await payments.wechat_pay(payment, openid)
    assert paid.status == 200, paid.body
    events = await eventually(lambda: _seen(seen, payment["id"]), until=bool, what="payment.succeeded")
    assert events[0].payload["amount_fen"] == 35_000 and events[0].payload["provider"] == "wechatpay"
    assert events[0].payload["order_id"] == payment["order_id"] and events[0].payload["provider_trade_no"]
    assert (await payments.payment(payment["id"]))["status"] == "succeeded"
    [note] = await payments.notifications(payment["id"])
    assert note["verified"] and note["outcome"] == "payment succeeded" and note["body"]


async def test_creating_twice_for_one_order_returns_the_same_payment(payments: PaymentClient) -> None:
    order = payments.order("wechat_pay", openid=await payments.openid())
    first = await payments.create(order)
    again = await payments.create(order)
    assert again["id"] == first["id"] and again["wechat_request_payment"] == first["wechat_request_payment"]
    other = await payments.call("POST", "/payments", {**order, "amount_fen": 1})
    assert other.status == 409 and other.body["error"]["code"] == "payment_exists"


async def test_alipay_app_payment_from_order_string_to_payment_succeeded(payments: PaymentClient, watch: Any) -> None:
    seen = await watch("payment.succeeded.v1")
    payment = await payments.create(payments.order("alipay", amount_fen=12_345))
    assert payment["status"] == "requires_action" and "sign=" in payment["alipay_order_string"]
    paid = await payments.sandbox_post(
        "/sandbox/alipay/pay", {"order_string": payment["alipay_order_string"], "user_id": "2088100000000001"}
    )
    assert paid.status == 200, paid.body
    events = await eventually(lambda: _seen(seen, payment["id"]), until=bool, what="payment.succeeded")
    assert events[0].payload["provider_trade_no"] == paid.body["trade_no"]
    assert events[0].payload["method"] == "alipay" and events[0].payload["amount_fen"] == 12_345


async def sign_agreement(payments: PaymentClient, buyer_id: str, user_id: str) -> dict[str, Any]:
    agreement = await payments.ok("POST", "/agreements", {"buyer_id": buyer_id, "alipay_user_id": user_id}, 201)
    assert agreement["status"] == "pending" and agreement["sign_url"].startswith(payments.sandbox.url)
    signed = await payments.sandbox_post(
        "/sandbox/alipay/agreements/sign", {"sign_url": agreement["sign_url"], "user_id": user_id}
    )
    assert signed.status == 200, signed.body
    active: dict[str, Any] = await eventually(
        lambda: payments.ok("GET", f"/agreements/{agreement['id']}", buyer_id=buyer_id),
        until=lambda a: a["status"] == "active",
        what="agreement signed",
    )
    assert active["agreement_no"] == signed.body["agreement_no"]
    return active


async def test_password_free_pays_synchronously_within_the_agreement(payments: PaymentClient, watch: Any) -> None:
    seen = await watch("payment.succeeded.v1")
    order = payments.order("alipay_password_free", amount_fen=9_900)
    agreement = await sign_agreement(payments, order["buyer_id"], "2088100000000002")
    listed = await payments.ok("GET", "/agreements", buyer_id=order["buyer_id"])
    assert [a["id"] for a in listed["items"]] == [agreement["id"]]
    payment = await payments.create({**order, "agreement_id": agreement["id"]})
    assert payment["status"] == "succeeded" and payment["provider_trade_no"]
    await eventually(lambda: _seen(seen, payment["id"]), until=bool, what="payment.succeeded")


async def test_password_free_over_the_limit_or_unsigned_is_refused_and_charges_nothing(
    payments: PaymentClient,
) -> None:
    order = payments.order("alipay_password_free", amount_fen=50_001)
    agreement = await sign_agreement(payments, order["buyer_id"], "2088100000000003")
    over = await payments.call("POST", "/payments", {**order, "agreement_id": agreement["id"]})
    assert over.status == 422 and over.body["error"]["code"] == "limit_exceeded"
    unsigned = await payments.ok("DELETE", f"/agreements/{agreement['id']}", buyer_id=order["buyer_id"])
    assert unsigned["status"] == "unsigned"
    small = {**order, "amount_fen": 100, "agreement_id": agreement["id"]}
    refused = await payments.call("POST", "/payments", small)
    assert refused.status == 422 and refused.body["error"]["code"] == "agreement_not_active"
    # Nothing was created, so nothing was charged.
    assert (await payments.call("GET", "/payments", order_id=order["order_id"])).status == 404
    stranger = await payments.call("POST", "/payments", {**small, "buyer_id": "usr_someone_else"})
    assert stranger.body["error"]["code"] == "agreement_not_active"


async def test_a_method_outside_its_channel_is_refused(payments: PaymentClient) -> None:
    reply = await payments.call("POST", "/payments", {**payments.order("alipay"), "channel": "mp"})
    assert reply.status == 422 and reply.body["error"]["code"] == "payment_method_not_available_in_channel"
    reply = await payments.call("POST", "/payments", {**payments.order("wechat_pay", openid="o1"), "channel": "app"})
    assert reply.status == 422 and reply.body["error"]["code"] == "payment_method_not_available_in_channel"


async def test_bad_input_is_422_and_the_internal_token_is_required(payments: PaymentClient) -> None:
    for bad in (
        {"amount_fen": 0},
        {"amount_fen": "100"},
        {"amount_fen": 1.5},
        {"expires_at": "tomorrow"},
        {"method": "cash"},
        {"surprise": True},
    ):
        reply = await payments.call("POST", "/payments", {**payments.order("alipay"), **bad})
        assert reply.status == 422, (bad, reply.body)
    async with payments.http.post(f"{payments.process.url}/internal/v1/payments", json={}) as resp:
        assert resp.status == 401


async def _seen(seen: list[Any], payment_id: str) -> list[Any]:
    return succeeded_for(seen, payment_id)


async def test_two_identical_agreement_requests_with_one_idempotency_key_give_one_agreement(
    payments: PaymentClient,
) -> None:
    buyer_id, key = new_id("usr"), uuid.uuid4().hex
    body = {"buyer_id": buyer_id, "alipay_user_id": "2088100000000031"}
    first, again = await asyncio.gather(*(payments.post_with_key("/agreements", body, key) for _ in range(2)))
    assert first.status == again.status == 201, (first.body, again.body)
    assert first.body["id"] == again.body["id"] and first.body["sign_url"] == again.body["sign_url"]
    listed = await payments.ok("GET", "/agreements", buyer_id=buyer_id)
    assert [a["id"] for a in listed["items"]] == [first.body["id"]]
    other = await payments.post_with_key("/agreements", {**body, "alipay_user_id": "2088100000000032"}, key)
    assert other.status == 409 and other.body["error"]["code"] == "idempotency_key_reused"
    fresh = await payments.ok("POST", "/agreements", body, 201)
    assert fresh["id"] != first.body["id"]  # without a key every request is a new agreement, as before


async def test_password_free_debits_over_the_daily_limit_are_refused_before_alipay_is_asked(
    payments: PaymentClient,
) -> None:
    buyer_id = new_id("usr")
    agreement = await sign_agreement(payments, buyer_id, "2088100000000041")
    for _ in range(4):  # 4 × the 500-yuan single limit reach the 2,000-yuan daily limit
        order = {**payments.order("alipay_password_free", amount_fen=50_000), "buyer_id": buyer_id}
        paid = await payments.create({**order, "agreement_id": agreement["id"]})
        assert paid["status"] == "succeeded"
    over = {**payments.order("alipay_password_free", amount_fen=100), "buyer_id": buyer_id}
    refused = await payments.call("POST", "/payments", {**over, "agreement_id": agreement["id"]})
    assert refused.status == 422 and refused.body["error"]["code"] == "limit_exceeded"
    assert refused.body["error"]["details"]["spent_fen"] == 200_000
    # Refused here, not by Alipay: no payment was created, nothing was asked of Alipay.
    assert (await payments.call("GET", "/payments", order_id=over["order_id"])).status == 404


async def test_unsigning_while_alipay_is_down_is_a_503_and_the_agreement_stays_active(payments: PaymentClient) -> None:
    buyer_id = new_id("usr")
    agreement = await sign_agreement(payments, buyer_id, "2088100000000031")
    await payments.fault(target="alipay.user.agreement.unsign", action="error_5xx", times=None)
    down = await payments.call("DELETE", f"/agreements/{agreement['id']}", buyer_id=buyer_id)
    assert down.status == 503 and down.body["error"]["code"] == "provider_unavailable", down.body
    still = await payments.ok("GET", f"/agreements/{agreement['id']}", buyer_id=buyer_id)
    assert still["status"] == "active"
    await payments.clear_faults()
    unsigned = await payments.ok("DELETE", f"/agreements/{agreement['id']}", buyer_id=buyer_id)
    assert unsigned["status"] == "unsigned"
