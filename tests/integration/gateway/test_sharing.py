"""Sharing across the two audiences, through the gateway alone (issue 18): a share made in the app opens in the
mini-program and leads to a WeChat Pay checkout attributed to the sharer; a share made in the mini-program opens in
the app and leads to an Alipay checkout; the seller's stats, counted from events, show both. The share's mini-program
code comes from the sandbox's getwxacodeunlimit and decodes to the share's scene; an access token that expired is
refreshed once and the call retried."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from tests.integration.gateway.conftest import (
    SANDBOX_APP_SECRET,
    GatewayClient,
    Login,
    publish_item,
    shop_of,
    wechat_seller,
)
from tests.integration.listing.conftest import ListingClient
from tests.integration.payment.conftest import PaymentClient
from tests.support.infra import eventually
from tests.support.providers import APPID
from tests.support.qr import decode_qr


async def share(gateway: GatewayClient, who: Login, item_id: str) -> dict[str, Any]:
    made: dict[str, Any] = await gateway.ok("POST", f"/{who.audience}/v1/items/{item_id}/shares", who)
    return made


async def image(gateway: GatewayClient, url: str) -> tuple[int, bytes, dict[str, str]]:
    async with gateway.http.get(gateway.url + url) as resp:
        return resp.status, await resp.read(), dict(resp.headers)


async def stats(gateway: GatewayClient, seller: Login, item_id: str, until: Any) -> dict[str, Any]:
    found: dict[str, Any] = await eventually(
        lambda: gateway.ok("GET", f"/app/v1/shop/items/{item_id}/shares/stats", seller),
        until=until,
        what="the share stats",
    )
    return found


async def test_shares_cross_the_audiences_and_their_orders_are_attributed_to_the_sharers(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient
) -> None:
    seller = await wechat_seller(gateway, listing, payments)
    title = f"九成新 Kindle {uuid.uuid4().hex[:6]}"
    kindle = await publish_item(gateway, seller, title=title, price_fen=26_800)
    lamp = await publish_item(gateway, seller, title=f"台灯 {uuid.uuid4().hex[:6]}", price_fen=5_000)

    # An app user shares the Kindle.
    app_sharer = await gateway.app_login()
    made = await share(gateway, app_sharer, kindle["id"])
    code = made["code"]
    assert len(code) == 9 and not set(code) & set("01OIL")
    assert made["mp_path"] == f"pages/s/index?scene={code}" and len(made["mp_path"]) <= 32
    assert made["app_url"] == f"fishbridge://s/{code}"
    assert title[:20] in made["text"] and "¥268.00" in made["text"] and made["app_url"] in made["text"]
    assert made["mp_code_url"] == f"/app/v1/shares/{code}/mp-code" and made["created_at"]

    # Its mini-program code: a PNG from WeChat's getwxacodeunlimit (the sandbox) holding the share's page and scene.
    status, png, headers = await image(gateway, made["mp_code_url"])
    assert status == 200 and headers["Content-Type"] == "image/png" and png.startswith(b"\x89PNG")
    [content] = decode_qr(png)
    assert content == f"https://mp.weixin.qq.com/a/{APPID}/pages/s/index?scene={code}&env_version=release"
    again = await image(gateway, f"/mp/v1/shares/{code.lower()}/mp-code")
    assert again[:2] == (200, png)  # kept per share: the same image, from either audience, in any case
    stored = await gateway.db["share_images"].find_one({"_id": code})
    assert stored is not None and bytes(stored["png"]) == png

    # A mini-program user scans it: the code resolves (in any case) to the mp card, purchasable with WeChat Pay.
    mp_buyer = await gateway.mp_login()
    opened = await gateway.ok("GET", f"/mp/v1/shares/{code.lower()}", mp_buyer)
    assert opened["code"] == code and opened["sharer"] == {"shop_name": None}
    card = opened["item"]
    assert (card["id"], card["purchasable"], card["payment_methods"]) == (kindle["id"], True, ["wechat_pay"])
    anonymous = await gateway.ok("GET", f"/mp/v1/shares/{code[:3]}-{code[3:6]}-{code[6:]}")  # read aloud, no session
    assert anonymous["item"]["id"] == kindle["id"]
    await gateway.ok("GET", f"/app/v1/shares/{code}", app_sharer)  # the sharer's own look is not a view
    bought = await gateway.request(
        "POST",
        "/mp/v1/orders",
        token=mp_buyer.token,
        key=uuid.uuid4().hex,
        body={"item_id": kindle["id"], "share_code": code.lower()},
    )
    assert bought.status == 201, bought.body
    order = bought.body["order"]
    assert (order["share_code"], order["sharer_id"], order["channel"]) == (code, app_sharer.user_id, "mp")
    package = bought.body["payment"]["wechat_request_payment"]["package"]
    await gateway.sandbox(
        "/sandbox/wechat/pay", {"prepay_id": package.removeprefix("prepay_id="), "openid": mp_buyer.openid}
    )
    paid = await eventually(
        lambda: gateway.ok("GET", f"/mp/v1/orders/{order['id']}", mp_buyer),
        until=lambda o: o["status"] == "paid",
        what="the WeChat order paid",
    )
    assert paid["sharer_id"] == app_sharer.user_id

    # A mini-program user with a shop of their own shares the lamp; an app user opens it and pays with Alipay.
    mp_sharer = await gateway.mp_login()
    issued = await gateway.sandbox("/sandbox/alipay/auth-codes", {})
    app_twin = await gateway.ok(
        "POST", "/app/v1/session", body={"auth_code": issued["auth_code"], "mp_token": mp_sharer.token}
    )
    sharer_in_app = Login(app_twin["token"], app_twin["user"]["id"], "app")
    shop = await shop_of(gateway, sharer_in_app)
    lamp_share = await share(gateway, mp_sharer, lamp["id"])
    assert lamp_share["mp_code_url"].startswith("/mp/v1/shares/")
    app_buyer = await gateway.app_login()
    seen = await gateway.ok("GET", f"/app/v1/shares/{lamp_share['code']}", app_buyer)
    assert seen["sharer"] == {"shop_name": shop["name"]}
    assert seen["item"]["payment_methods"] == ["alipay", "alipay_password_free"] and seen["item"]["purchasable"]
    checkout = await gateway.request(
        "POST",
        "/app/v1/orders",
        token=app_buyer.token,
        key=uuid.uuid4().hex,
        body={"item_id": lamp["id"], "payment_method": "alipay", "share_code": lamp_share["code"]},
    )
    assert checkout.status == 201, checkout.body
    assert checkout.body["order"]["sharer_id"] == mp_sharer.user_id
    await gateway.sandbox(
        "/sandbox/alipay/pay",
        {"order_string": checkout.body["payment"]["alipay_order_string"], "user_id": app_buyer.alipay_user_id},
    )

    # The seller's stats, counted by listing's consumer from the events: both shares, their views and orders.
    kindle_stats = await stats(gateway, seller, kindle["id"], lambda s: s["paid_orders"] == 1 and s["views"] == 2)
    assert (kindle_stats["views"], kindle_stats["orders"], kindle_stats["shares"]) == (2, 1, 1)
    assert kindle_stats["sharers"] == [{"user_id": app_sharer.user_id, "views": 2, "orders": 1, "paid_orders": 1}]
    lamp_stats = await stats(gateway, seller, lamp["id"], lambda s: s["paid_orders"] == 1)
    assert lamp_stats["sharers"] == [{"user_id": mp_sharer.user_id, "views": 1, "orders": 1, "paid_orders": 1}]

    # Stats are the seller's alone, and the app's; the sold item's share still resolves and says so.
    for who, path, expected in (
        (app_buyer, f"/app/v1/shop/items/{kindle['id']}/shares/stats", (404, "not_found")),
        (mp_buyer, f"/mp/v1/shop/items/{kindle['id']}/shares/stats", (403, "not_available_in_channel")),
    ):
        reply = await gateway.request("GET", path, token=who.token)
        assert (reply.status, reply.body["error"]["code"]) == expected, reply.body
    sold = await eventually(
        lambda: gateway.ok("GET", f"/mp/v1/shares/{code}"),
        until=lambda s: s["item"]["status"] == "sold",
        what="the shared item sold",
    )
    assert sold["item"]["purchasable"] is False and sold["item"]["unpurchasable_reason"] == "item_not_available"


async def test_unknown_codes_and_codes_of_other_items_are_refused(
    gateway: GatewayClient, listing: ListingClient
) -> None:
    seller = await gateway.app_login()
    await shop_of(gateway, seller)
    item = await publish_item(gateway, seller)
    other = await publish_item(gateway, seller)
    user = await gateway.mp_login()
    made = await share(gateway, user, item["id"])
    for code in ("ZZZZZZZZZ", "OOOOOOOOO", "abc", made["code"] + "2"):
        reply = await gateway.request("GET", f"/mp/v1/shares/{code}")
        assert (reply.status, reply.body["error"]["code"]) == (404, "not_found"), (code, reply.body)
        assert (await image(gateway, f"/mp/v1/shares/{code}/mp-code"))[0] == 404
    buyer = await gateway.app_login()
    wrong = await gateway.request(
        "POST",
        "/app/v1/orders",
        token=buyer.token,
        key=uuid.uuid4().hex,
        body={"item_id": other["id"], "payment_method": "alipay", "share_code": made["code"]},
    )
    assert (wrong.status, wrong.body["error"]["code"]) == (422, "invalid_share_code"), wrong.body
    assert (await gateway.ok("GET", f"/app/v1/items/{other['id']}"))["status"] == "on_sale"  # nothing reserved
    # A withdrawn item cannot be shared, and its earlier share resolves and says so.
    await gateway.ok("POST", f"/app/v1/shop/items/{item['id']}/withdraw", seller)
    refused = await gateway.request("POST", f"/mp/v1/items/{item['id']}/shares", token=user.token)
    assert (refused.status, refused.body["error"]["code"]) == (409, "item_not_available"), refused.body
    withdrawn = await gateway.ok("GET", f"/app/v1/shares/{made['code']}")
    assert withdrawn["item"]["status"] == "withdrawn" and withdrawn["item"]["purchasable"] is False


async def test_an_expired_access_token_is_refreshed_once_and_the_code_fetched(
    gateway: GatewayClient, listing: ListingClient
) -> None:
    seller = await gateway.app_login()
    await shop_of(gateway, seller)
    item = await publish_item(gateway, seller)
    user = await gateway.app_login()
    first = await share(gateway, user, item["id"])
    assert (await image(gateway, first["mp_code_url"]))[0] == 200  # the gateway holds a token now
    async with aiohttp.ClientSession() as http:
        ask = {"grant_type": "client_credential", "appid": APPID, "secret": SANDBOX_APP_SECRET}
        async with http.post(f"{gateway.sandbox_url}/cgi-bin/stable_token", json=ask) as resp:
            held = (await resp.json(content_type=None))["access_token"]  # stable: the token the gateway holds
        async with http.post(f"{gateway.sandbox_url}/sandbox/wechat/access-tokens/{held}/expire") as resp:
            assert resp.status == 200, await resp.text()
        second = await share(gateway, user, item["id"])
        status, png, _ = await image(gateway, second["mp_code_url"])
        assert status == 200, png
        [content] = decode_qr(png)
        assert content.endswith(f"?scene={second['code']}&env_version=release")
        async with http.post(f"{gateway.sandbox_url}/cgi-bin/stable_token", json=ask) as resp:
            now_held = (await resp.json(content_type=None))["access_token"]
        assert now_held != held  # the gateway asked for a new token (once) and retried with it
