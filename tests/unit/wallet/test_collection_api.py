"""The collection's internal routes over the in-memory database and the fake providers: bodies validated into 4xx
JSON errors, batches replayed under one Idempotency-Key, answers with masked fields only, each seller's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from services.wallet.collection_api import COLLECTION, add_collection_routes
from shared.http.app import create_app, internal_auth_middleware
from tests.unit.wallet.collection_fakes import World, activation, id_number, world

TOKEN = "unit-test-internal-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def api() -> AsyncIterator[tuple[TestClient[Any, Any], World]]:
    w = await world()
    app = create_app("wallet", middlewares=[internal_auth_middleware(TOKEN)])
    app[COLLECTION] = w.collection
    add_collection_routes(app)
    async with TestClient(TestServer(app)) as client:
        yield client, w


async def _call(client: TestClient[Any, Any], method: str, path: str, body: Any = None, **headers: str) -> Any:
    resp = await client.request(method, f"/internal/v1{path}", json=body, headers={**AUTH, **headers})
    return resp.status, await resp.json(), resp.headers


async def test_a_batch_replayed_under_its_idempotency_key_invites_nobody_twice(
    api: tuple[TestClient[Any, Any], World],
) -> None:
    client, w = api
    for level in (5, 6, 7):
        await w.open_shop(level)
    status, first, _ = await _call(client, "POST", "/invitation-batches", {"max_count": 2}, **{"Idempotency-Key": "k1"})
    assert status == 201 and first["invited_count"] == 2 and first["min_level"] == 5
    # The highest levels first, each with its shop and the level it was invited at.
    assert [x["level"] for x in first["invited"]] == [7, 6]
    assert [x["seller_id"] for x in first["invited"]] == first["seller_ids"] and all(
        x["shop_id"] for x in first["invited"]
    )
    status, again, headers = await _call(
        client, "POST", "/invitation-batches", {"max_count": 2}, **{"Idempotency-Key": "k1"}
    )
    assert status == 201 and again == first and headers["Idempotent-Replayed"] == "true"
    assert len(await w.events("wallet.invited")) == 2
    status, got, _ = await _call(client, "GET", f"/invitation-batches/{first['id']}")
    assert status == 200 and got == first
    status, error, _ = await _call(client, "POST", "/invitation-batches", {"max_count": 3}, **{"Idempotency-Key": "k1"})
    assert status == 409 and error["error"]["code"] == "idempotency_key_reused"


async def test_batch_bodies_and_unknown_batches(api: tuple[TestClient[Any, Any], World]) -> None:
    client, _ = api
    status, error, _ = await _call(client, "POST", "/invitation-batches", {"max_count": 0})
    assert (
        status == 422
        and set(error["error"]) >= {"code", "message", "details"}
        and "max_count" in error["error"]["details"]
    )
    status, error, _ = await _call(client, "POST", "/invitation-batches", {"max_count": 1_000_000})
    assert status == 422
    status, error, _ = await _call(client, "GET", "/invitation-batches/bat_NOPE")
    assert status == 404 and error["error"]["code"] == "not_found"


async def test_the_collection_status_goes_from_not_invited_to_active_with_masked_fields(
    api: tuple[TestClient[Any, Any], World],
) -> None:
    client, w = api
    seller, shop = await w.open_shop(8)
    status, view, _ = await _call(client, "GET", f"/sellers/{seller}/collection")
    assert status == 200 and view["status"] == "not_invited" and view["invitation"] is None

    status, error, _ = await _call(client, "POST", f"/sellers/{seller}/collection/activation", activation())
    assert status == 409 and error["error"]["code"] == "not_invited"

    await _call(client, "POST", "/invitation-batches", {"max_count": 10})
    status, view, _ = await _call(client, "GET", f"/sellers/{seller}/collection")
    assert view["status"] == "invited" and view["invitation"]["shop_id"] == shop and view["invitation"]["level"] == 8

    status, view, _ = await _call(client, "POST", f"/sellers/{seller}/collection/activation", activation())
    assert status == 202, view
    assert view["status"] == "applying" and view["application"]["provider_state"] is None
    assert view["application"]["applicant"] == {
        "real_name": "张*",
        "id_card_number": id_number()[:4] + "**********" + id_number()[-4:],
        "mobile": "138****8000",
        "bank_card": {"account_bank": "招商银行", "bank_address_code": "110000", "account_number": "****0002"},
    }
    number = view["application"]["out_request_no"]
    w.wechat.decide(number, "REJECTED", "身份证号码校验位错误")
    status, view, _ = await _call(client, "POST", f"/sellers/{seller}/collection/refresh")
    assert view["status"] == "rejected" and view["application"]["reject_reason"] == "身份证号码校验位错误"

    status, view, _ = await _call(client, "POST", f"/sellers/{seller}/collection/activation", activation())
    assert status == 202 and view["application"]["attempt"] == 2
    w.wechat.decide(view["application"]["out_request_no"], "FINISH")
    status, view, _ = await _call(client, "POST", f"/sellers/{seller}/collection/refresh")
    assert view["status"] == "active" and view["sub_mchid"] and view["account_id"] == f"acc_{seller}.wechat_available"
    status, error, _ = await _call(client, "POST", f"/sellers/{seller}/collection/activation", activation())
    assert status == 409 and error["error"]["code"] == "already_active"

    # Another seller sees nothing of this one.
    other, _ = await w.open_shop(1)
    status, view, _ = await _call(client, "GET", f"/sellers/{other}/collection")
    assert view["status"] == "not_invited" and view["application"] is None


async def test_invalid_activation_bodies_are_422_without_their_values(api: tuple[TestClient[Any, Any], World]) -> None:
    client, w = api
    seller, _ = await w.open_shop(8)
    await _call(client, "POST", "/invitation-batches", {"max_count": 10})
    bad = activation(id_card_number=id_number()[:17] + ("0" if id_number()[17] != "0" else "1"), mobile="23800138000")
    status, error, _ = await _call(client, "POST", f"/sellers/{seller}/collection/activation", bad)
    assert status == 422 and error["error"]["code"] == "validation_error"
    assert {"id_card_number", "mobile"} <= set(error["error"]["details"])
    assert bad["id_card_number"] not in str(error) and "23800138000" not in str(error)
    status, error, _ = await _call(client, "POST", "/sellers/bad%20id/collection/activation", activation())
    assert status == 422
    assert w.wechat.calls == []


async def test_the_alipay_account_route(api: tuple[TestClient[Any, Any], World]) -> None:
    client, w = api
    seller = "usr_payee"
    status, view, _ = await _call(client, "GET", f"/sellers/{seller}/alipay-account")
    assert status == 200 and view["alipay_user_id"] is None and view["status"] == "none"
    status, error, _ = await _call(client, "PUT", f"/sellers/{seller}/alipay-account", {"alipay_user_id": "2088123"})
    assert status == 422 and "alipay_user_id" in error["error"]["details"]
    body = {"alipay_user_id": "2088101122334455", "name": "张三"}
    status, view, _ = await _call(client, "PUT", f"/sellers/{seller}/alipay-account", body)
    assert status == 200 and view["alipay_user_id"] == "2088101122334455" and view["name"] == "张*"
    assert await w.collection.alipay_account_of(seller) == "2088101122334455"


async def test_the_settlement_card_needs_active_collection(api: tuple[TestClient[Any, Any], World]) -> None:
    client, w = api
    seller, _ = await w.open_shop(8)
    card = {"account_bank": "工商银行", "bank_address_code": "110000", "account_number": "6222020200112233445",
            "account_name": "张三"}  # fmt: skip
    status, error, _ = await _call(client, "POST", f"/sellers/{seller}/settlement-card", card)
    assert status == 409 and error["error"]["code"] == "not_active"
    status, error, _ = await _call(client, "GET", f"/sellers/{seller}/settlement-card")
    assert status == 409 and error["error"]["code"] == "not_active"
    assert w.wechat.calls == []
