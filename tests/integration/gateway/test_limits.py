"""Rate limits and body size limits of a gateway process of its own (low limits, so the suite's gateway keeps its
budget): per client on login, per user and per client on checkout, per user on withdrawals — 429 `rate_limited`
with `Retry-After`, before any service is asked; a body over the limit is 413 before it is read."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from services.channel_gateway.sessions import Tokens
from shared.ids import new_id
from shared.mongo import Client
from tests.integration.gateway.conftest import GatewayClient, gateway_env
from tests.support.processes import ServiceProcess


@pytest.fixture(scope="module")
async def limited(gateway: GatewayClient, mongo_client: Client, log_dir: Path) -> AsyncIterator[GatewayClient]:
    run = uuid.uuid4().hex[:8]
    service, db_name = f"gateway-limited-{run}", f"t_{run}_gateway"
    limits = {
        "LOGIN_PER_CLIENT": "3",
        "CHECKOUT_PER_USER": "2",
        "CHECKOUT_PER_CLIENT": "100",
        "WITHDRAWALS_PER_USER": "1",
        "SHARE_RESOLVES_PER_CLIENT": "4",
        "SHARES_PER_USER": "1",
        "RATE_WINDOW_S": "3600",
        "MAX_BODY_BYTES": "2048",
    }
    env = gateway_env(service, db_name, gateway.sandbox_url, gateway.services, **limits)
    process = ServiceProcess("services.channel_gateway", env, log_dir)
    try:
        await process.start()
        async with aiohttp.ClientSession() as http:
            yield GatewayClient(
                process=process,
                http=http,
                sandbox_url=gateway.sandbox_url,
                db=mongo_client[db_name],
                name=service,
                services=gateway.services,
            )
    finally:
        process.stop()
        await mongo_client.drop_database(db_name)


async def test_logins_checkouts_and_withdrawals_are_rate_limited_and_bodies_are_size_limited(
    limited: GatewayClient,
) -> None:
    logins = [await limited.app_login() for _ in range(3)]
    issued = await limited.sandbox("/sandbox/alipay/auth-codes", {})
    refused = await limited.request("POST", "/app/v1/session", body={"auth_code": issued["auth_code"]})
    assert refused.status == 429 and refused.body["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert refused.body["error"]["details"]["rule"] == "login_per_client"
    buyer = logins[0]
    for n in range(2):  # unknown items: refused by listing, yet counted — a flood costs its sender either way
        reply = await limited.request(
            "POST", "/app/v1/orders", token=buyer.token, key=f"c{n}", body={"item_id": f"itm_missing{n}"}
        )
        assert reply.status == 404, reply.body
    third = await limited.request("POST", "/app/v1/orders", token=buyer.token, key="c3", body={"item_id": "itm_x"})
    assert third.status == 429 and third.body["error"]["details"]["rule"] == "checkout_per_user"
    assert int(third.headers["Retry-After"]) >= 1
    other = await limited.request("POST", "/app/v1/orders", token=logins[1].token, key="c1", body={"item_id": "itm_y"})
    assert other.status == 404  # another user has a budget of their own
    body = {"amount_fen": 1_000, "bank_card_id": "card_none"}
    first = await limited.request("POST", "/app/v1/wallet/withdrawals", token=buyer.token, key="w1", body=body)
    assert first.status != 429
    second = await limited.request("POST", "/app/v1/wallet/withdrawals", token=buyer.token, key="w2", body=body)
    assert second.status == 429 and second.body["error"]["details"]["rule"] == "withdrawals_per_user"

    # A body over the limit is refused before it is read, and opens no shop.
    big = await limited.request("POST", "/app/v1/shop", token=logins[2].token, body={"name": "店" * 2048})
    assert big.status == 413 and big.body["error"]["code"] == "payload_too_large"
    assert big.body["error"]["details"] == {"max_bytes": 2048}
    assert (await limited.request("GET", "/app/v1/shop", token=logins[2].token)).status == 404


async def test_resolving_share_codes_and_making_shares_are_rate_limited(limited: GatewayClient) -> None:
    """Codes are unguessable (44.6 bits); the resolve limit per client is what keeps anyone from trying many."""
    for n in range(4):  # unknown or malformed codes cost the client as much as real ones
        code = ("ZZZZZZZZ" + "23456789"[n]) if n % 2 else f"not-a-code-{n}"
        assert (await limited.request("GET", f"/mp/v1/shares/{code}")).status == 404
    refused = await limited.request("GET", "/app/v1/shares/ZZZZZZZZZ")
    assert refused.status == 429 and refused.body["error"]["details"]["rule"] == "share_resolves_per_client"
    image = await limited.request("GET", "/mp/v1/shares/ZZZZZZZZZ/mp-code")
    assert image.status == 429  # the image counts against the same budget
    # (Logins are used up by the test above: a session made as the gateway makes them.)
    secret = gateway_env("", "", "", {})["SESSION_SECRET"].encode()
    token, _ = Tokens(secret, 600).issue(new_id("usr"), "mp")
    first = await limited.request("POST", "/mp/v1/items/itm_missing/shares", token=token)
    assert first.status == 404
    second = await limited.request("POST", "/mp/v1/items/itm_missing/shares", token=token)
    assert second.status == 429 and second.body["error"]["details"]["rule"] == "shares_per_user"
