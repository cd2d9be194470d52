"""Through the gateway alone: both audiences sign in, see the same item with their own purchasability and payment
methods, and check out — the app with Alipay, the mini-program with WeChat Pay — until the order is paid."""

from __future__ import annotations

import uuid

from tests.integration.flows.test_checkout_flow import wechat_seller_item
from tests.integration.gateway.conftest import GatewayClient
from tests.integration.listing.conftest import ListingClient
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import eventually


async def test_a_session_belongs_to_one_audience_and_the_first_login_creates_the_user(gateway: GatewayClient) -> None:
    mp = await gateway.mp_login()
    app = await gateway.app_login()
    assert mp.user_id != app.user_id
    again = await gateway.mp_login(openid=mp.openid)  # the same WeChat user signs in again: the same user
    assert again.user_id == mp.user_id and again.token != mp.token
    assert (await gateway.request("GET", "/mp/v1/orders", token=mp.token)).status == 200
    for path, token in (("/app/v1/orders", mp.token), ("/mp/v1/orders", app.token), ("/mp/v1/orders", None)):
        reply = await gateway.request("GET", path, token=token)
        assert reply.status == 401 and reply.body["error"]["code"] == "unauthenticated", (path, reply.body)
        assert reply.headers["traceparent"].split("-")[1] == reply.body["error"]["trace_id"]
    forged = mp.token[:-2] + ("AA" if not mp.token.endswith("AA") else "BB")
    assert (await gateway.request("GET", "/mp/v1/orders", token=forged)).status == 401
    # One person, both audiences: signing in to the app with the mini-program session links the two.
    issued = await gateway.sandbox("/sandbox/alipay/auth-codes", {})
    linked = await gateway.ok("POST", "/app/v1/session", body={"auth_code": issued["auth_code"], "mp_token": mp.token})
    assert linked["user"] == {"id": mp.user_id, "channel": "app"}
    again_app = await gateway.app_login(alipay_user_id=issued["user_id"])
    assert again_app.user_id == mp.user_id
    taken = await gateway.sandbox("/sandbox/alipay/auth-codes", {"user_id": app.alipay_user_id})
    moved = await gateway.request(
        "POST", "/app/v1/session", body={"auth_code": taken["auth_code"], "mp_token": mp.token}
    )
    assert moved.status == 409 and moved.body["error"]["code"] == "identity_linked_elsewhere"
    used = await gateway.sandbox("/sandbox/wechat/login-codes", {})
    assert (await gateway.request("POST", "/mp/v1/session", body={"code": used["code"]})).status == 201
    reused = await gateway.request("POST", "/mp/v1/session", body={"code": used["code"]})
    assert reused.status == 401 and reused.body["error"]["details"]["errcode"] == 40163  # a code works once


async def test_both_audiences_see_the_same_item_with_their_own_purchasability(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient
) -> None:
    plain_seller = await listing.seller()
    plain = await listing.item(plain_seller, title=f"旧书 {uuid.uuid4().hex[:6]}")
    wechat = await wechat_seller_item(listing, payments)
    for item, mp_ok in ((plain, False), (wechat, True)):
        app_card = await gateway.ok("GET", f"/app/v1/items/{item['id']}")
        mp_card = await gateway.ok("GET", f"/mp/v1/items/{item['id']}")
        assert app_card["id"] == mp_card["id"] and app_card["title"] == mp_card["title"]
        assert app_card["purchasable"] and app_card["payment_methods"] == ["alipay", "alipay_password_free"]
        assert mp_card["payment_methods"] == ["wechat_pay"]
        assert mp_card["purchasable"] is mp_ok
        assert mp_card["unpurchasable_reason"] == (None if mp_ok else "seller_not_accepting_wechat_pay")
    page = await eventually(
        lambda: gateway.ok("GET", "/mp/v1/catalog", params={"seller_id": plain_seller}),
        until=lambda p: len(p["items"]) == 1,
        what="the item in the catalog",
    )
    assert page["items"][0]["id"] == plain["id"] and page["items"][0]["purchasable"] is False
    mp = await gateway.mp_login()
    refused = await gateway.request("POST", "/mp/v1/orders", token=mp.token, key="k1", body={"item_id": plain["id"]})
    assert refused.status == 422 and refused.body["error"]["code"] == "seller_not_accepting_wechat_pay"
    assert (await gateway.ok("GET", f"/app/v1/items/{plain['id']}"))["status"] == "on_sale"  # nothing reserved
    wrong = await gateway.request(
        "POST", "/mp/v1/orders", token=mp.token, key="k2", body={"item_id": wechat["id"], "payment_method": "alipay"}
    )
    assert wrong.status == 422 and wrong.body["error"]["code"] == "payment_method_not_available_in_channel"


async def test_an_app_checkout_pays_with_alipay_and_replays_under_its_key(
    gateway: GatewayClient, listing: ListingClient
) -> None:
    item = await listing.item(await listing.seller(), price_fen=12_300)
    buyer = await gateway.app_login()
    body = {"item_id": item["id"], "payment_method": "alipay"}
    first = await gateway.request("POST", "/app/v1/orders", token=buyer.token, key="checkout-1", body=body)
    assert first.status == 201, first.body
    order, payment = first.body["order"], first.body["payment"]
    assert order["status"] == "pending_payment" and order["buyer_id"] == buyer.user_id
    assert payment["method"] == "alipay" and payment["amount_fen"] == 12_300 and payment["alipay_order_string"]
    replay = await gateway.request("POST", "/app/v1/orders", token=buyer.token, key="checkout-1", body=body)
    assert (replay.status, replay.body) == (201, first.body) and replay.headers.get("Idempotent-Replayed") == "true"
    other = await gateway.request(
        "POST",
        "/app/v1/orders",
        token=buyer.token,
        key="checkout-1",
        body=body | {"payment_method": "alipay_password_free"},
    )
    assert other.status == 409 and other.body["error"]["code"] == "idempotency_key_reused"
    paid = await gateway.sandbox(
        "/sandbox/alipay/pay", {"order_string": payment["alipay_order_string"], "user_id": buyer.alipay_user_id}
    )
    assert paid["result"] == "ok"
    done = await eventually(
        lambda: gateway.ok("GET", f"/app/v1/orders/{order['id']}", buyer),
        until=lambda o: o["status"] == "paid",
        what="the order paid",
    )
    assert done["amount_fen"] == 12_300
    stranger = await gateway.app_login()
    hidden = await gateway.request("GET", f"/app/v1/orders/{order['id']}", token=stranger.token)
    assert hidden.status == 404 and hidden.body["error"]["code"] == "not_found"
    mine = await gateway.ok("GET", "/app/v1/orders", buyer)
    assert [o["id"] for o in mine["items"]] == [order["id"]]


async def test_a_mini_program_checkout_answers_wx_request_payment_and_pays_with_wechat(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient
) -> None:
    item = await wechat_seller_item(listing, payments)
    buyer = await gateway.mp_login()
    reply = await gateway.request("POST", "/mp/v1/orders", token=buyer.token, key="mp-1", body={"item_id": item["id"]})
    assert reply.status == 201, reply.body
    order, payment = reply.body["order"], reply.body["payment"]
    assert order["channel"] == "mp" and payment["method"] == "wechat_pay" and payment["status"] == "requires_action"
    params = payment["wechat_request_payment"]
    assert params["signType"] == "RSA" and params["package"].startswith("prepay_id=") and params["paySign"]
    prepay_id = params["package"].removeprefix("prepay_id=")
    await gateway.sandbox("/sandbox/wechat/pay", {"prepay_id": prepay_id, "openid": buyer.openid})
    paid = await eventually(
        lambda: gateway.ok("GET", f"/mp/v1/orders/{order['id']}", buyer),
        until=lambda o: o["status"] == "paid",
        what="the order paid",
    )
    assert paid["payment_method"] == "wechat_pay"
    sold = await eventually(  # listing marks the item sold from the paid order, a moment after
        lambda: gateway.ok("GET", f"/mp/v1/items/{item['id']}"), until=lambda i: i["status"] == "sold", what="sold"
    )
    assert sold["purchasable"] is False and sold["unpurchasable_reason"] == "item_not_available"
