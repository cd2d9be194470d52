"""The sandbox in the OpenID regime (alipay_user_id_mode=open_id) and in public-key-certificate mode
(alipay_sign_mode=cert), each a process of its own, driven by hand and by python-alipay-sdk (AliPay / DCAliPay)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from alipay import DCAliPay

from shared.mongo import Client
from shared.protocols import alipay as ap
from shared.protocols import alipay_cert as ac
from tests.integration.sandbox.alipay_support import (
    APP_ID,
    KEYS,
    AlipayClient,
    app_pay,
    dedicated_sandbox,
    form,
    fresh,
    notifications_to,
    notify_path,
    pem,
    user_id,
    withholding_pay,
    withholding_sign,
)
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.test_alipay_crosscheck import beijing_sdk_clock, sdk

__all__ = ["beijing_sdk_clock"]  # the fixture, shared with the cross-check tests

ROOT_PEM = (KEYS / "TEST_ONLY_alipay_root_cert.crt").read_text()
APP_CERT_PEM = (KEYS / "TEST_ONLY_alipay_app_cert.crt").read_text()
ALIPAY_CERT_PEM = (KEYS / "TEST_ONLY_alipay_cert.crt").read_text()
CERT_SNS = {"app_cert_sn": ac.cert_sn(APP_CERT_PEM), "alipay_root_cert_sn": ac.root_cert_sn(ROOT_PEM)}
ALIPAY_CERT_KEY = ac.cert_public_key(ALIPAY_CERT_PEM)
OPEN_ID_RE = r"^0[0-9A-Za-z]{43,63}$"


@pytest.fixture(scope="module")
async def openid(mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    async with dedicated_sandbox(mongo_client, merchant, log_dir, alipay_user_id_mode="open_id") as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
async def certmode(mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    async with dedicated_sandbox(mongo_client, merchant, log_dir, alipay_sign_mode="cert") as sandbox:
        yield sandbox


# --- OpenID -----------------------------------------------------------------------------------------------------------


async def test_in_open_id_mode_the_buyer_is_an_open_id_from_oauth_to_refund_notification(
    openid: Sandbox, merchant: Merchant
) -> None:
    alipay = AlipayClient(openid)
    issued = await alipay.auth_code()
    open_id = issued["open_id"]
    assert re.fullmatch(OPEN_ID_RE, open_id) and open_id.startswith("07")
    token = await alipay.api(
        "alipay.system.oauth.token", extra={"grant_type": "authorization_code", "code": issued["auth_code"]}
    )
    assert token["open_id"] == open_id and "user_id" not in token and "alipay_user_id" not in token

    out_trade_no, path = fresh("ord"), notify_path()
    order = alipay.order_string(app_pay(out_trade_no, "8.80"), notify_url=merchant.url + path)
    status, paid = await alipay.post("/sandbox/alipay/pay", {"order_string": order, "open_id": open_id})
    assert status == 200, paid
    (received,) = await notifications_to(merchant, path)
    fields = form(received)
    assert fields["buyer_open_id"] == open_id and "buyer_id" not in fields

    query = await alipay.api("alipay.trade.query", {"out_trade_no": out_trade_no})
    assert query["buyer_open_id"] == open_id and "buyer_user_id" not in query
    refund = await alipay.api(
        "alipay.trade.refund", {"out_trade_no": out_trade_no, "refund_amount": "1.00", "out_request_no": "r1"}
    )
    assert refund["buyer_open_id"] == open_id and "buyer_user_id" not in refund
    (_, refunded) = await notifications_to(merchant, path, count=2)
    assert form(refunded)["buyer_open_id"] == open_id

    # The same user id always has the same open id in this app.
    again = await alipay.auth_code(issued["user_id"])
    assert again["open_id"] == open_id


async def test_in_open_id_mode_an_agreement_names_its_user_by_alipay_open_id(
    openid: Sandbox, merchant: Merchant
) -> None:
    alipay = AlipayClient(openid)
    open_id = (await alipay.auth_code())["open_id"]
    path = notify_path()
    biz = withholding_sign()
    status, signed = await alipay.post(
        "/sandbox/alipay/agreements/sign",
        {"sign_url": alipay.sign_url(biz, notify_url=merchant.url + path), "open_id": open_id},
    )
    assert status == 200, signed
    (received,) = await notifications_to(merchant, path)
    fields = form(received)
    assert fields["notify_type"] == "dut_user_sign" and fields["alipay_open_id"] == open_id
    assert "alipay_user_id" not in fields

    by_open_id = await alipay.api(
        "alipay.user.agreement.query",
        {
            "alipay_open_id": open_id,
            "personal_product_code": biz["personal_product_code"],
            "sign_scene": biz["sign_scene"],
            "external_agreement_no": biz["external_agreement_no"],
        },
    )
    assert by_open_id["agreement_no"] == signed["agreement_no"]
    assert by_open_id["principal_open_id"] == open_id and "principal_id" not in by_open_id

    out_trade_no, pay_path = fresh("ord"), notify_path()
    paid = await alipay.api(
        "alipay.trade.pay",
        withholding_pay(out_trade_no, "3.00", signed["agreement_no"]),
        notify_url=merchant.url + pay_path,
    )
    assert paid["buyer_open_id"] == open_id and "buyer_user_id" not in paid
    (notice,) = await notifications_to(merchant, pay_path)
    assert form(notice)["buyer_open_id"] == open_id


# --- certificate mode -------------------------------------------------------------------------------------------------


async def test_in_cert_mode_requests_need_the_right_cert_sns_and_answers_carry_alipay_cert_sn(
    certmode: Sandbox,
) -> None:
    method = "alipay.trade.query"
    plain = AlipayClient(certmode)
    missing = (await plain.call(method, {"out_trade_no": fresh("ord")})).verified()
    assert (missing["code"], missing["sub_code"]) == ("40002", "isv.missing-app-cert-sn")
    no_root = AlipayClient(certmode, {"app_cert_sn": CERT_SNS["app_cert_sn"]})
    assert (await no_root.api(method, {"out_trade_no": "x"}))["sub_code"] == "isv.missing-alipay-root-cert-sn"
    wrong_app = AlipayClient(certmode, {**CERT_SNS, "app_cert_sn": "0" * 32})
    assert (await wrong_app.api(method, {"out_trade_no": "x"}))["sub_code"] == "isv.app-cert-not-exist"
    wrong_root = AlipayClient(certmode, {**CERT_SNS, "alipay_root_cert_sn": CERT_SNS["alipay_root_cert_sn"] + "_1"})
    assert (await wrong_root.api(method, {"out_trade_no": "x"}))["sub_code"] == "isv.invalid-alipay-root-cert-sn"

    alipay = AlipayClient(certmode, CERT_SNS)
    out_trade_no = fresh("ord")
    status, paid = await alipay.pay(alipay.order_string(app_pay(out_trade_no, "2.00")), user_id())
    assert status == 200, paid
    answer = await alipay.call(method, {"out_trade_no": out_trade_no})
    body = json.loads(answer.text)
    assert body["alipay_cert_sn"] == ac.cert_sn(ALIPAY_CERT_PEM)
    assert list(body) == ["alipay_trade_query_response", "alipay_cert_sn", "sign"]
    # The answer verifies with the key of the Alipay public-key certificate.
    response = ap.verify_response(answer.text, method, ALIPAY_CERT_KEY)
    assert (response["code"], response["trade_status"]) == ("10000", "TRADE_SUCCESS")

    status, refused = await plain.pay(plain.order_string(app_pay(fresh("ord"), "2.00")), user_id())
    assert (status, refused["error"]["details"]["sub_code"]) == (400, "isv.missing-app-cert-sn")


async def test_alipaycert_download_serves_the_certificate_an_answer_names(certmode: Sandbox) -> None:
    alipay = AlipayClient(certmode, CERT_SNS)
    sn = ac.cert_sn(ALIPAY_CERT_PEM)
    downloaded = await alipay.api("alipay.open.app.alipaycert.download", {"alipay_cert_sn": sn})
    content = base64.b64decode(downloaded["alipay_cert_content"]).decode()
    assert ac.cert_sn(content) == sn and content == ALIPAY_CERT_PEM
    unknown = await alipay.api("alipay.open.app.alipaycert.download", {"alipay_cert_sn": "1" * 32})
    assert unknown["sub_code"] == "isv.alipay-cert-not-exist"


def dc_sdk(sandbox: Sandbox) -> DCAliPay:
    client = DCAliPay(
        appid=APP_ID,
        app_private_key_string=pem("TEST_ONLY_alipay_app_private.pem"),
        app_public_key_cert_string=APP_CERT_PEM,
        alipay_public_key_cert_string=ALIPAY_CERT_PEM,
        alipay_root_cert_string=ROOT_PEM,
        sign_type="RSA2",
    )
    client._gateway = f"{sandbox.url}/gateway.do"  # the SDK has no public setting for the gateway URL
    return client


@pytest.mark.usefixtures("beijing_sdk_clock")
async def test_dcalipay_requests_are_accepted_in_cert_mode_and_verify_our_answers(
    certmode: Sandbox, merchant: Merchant
) -> None:
    client = dc_sdk(certmode)
    assert (client.app_cert_sn, client.alipay_root_cert_sn) == (
        CERT_SNS["app_cert_sn"],
        CERT_SNS["alipay_root_cert_sn"],
    )
    out_trade_no, path = fresh("ord"), notify_path()
    order = client.api_alipay_trade_app_pay(
        subject="旧书", out_trade_no=out_trade_no, total_amount="15.00", notify_url=merchant.url + path
    )
    status, paid = await AlipayClient(certmode).pay(order, user_id())
    assert status == 200, paid
    (received,) = await notifications_to(merchant, path)
    data = ap.parse_form(received.body)
    signature = data.pop("sign")
    assert client.verify(data, signature)

    query = await asyncio.to_thread(client.api_alipay_trade_query, out_trade_no=out_trade_no)
    assert (query["trade_status"], query["trade_no"]) == ("TRADE_SUCCESS", paid["trade_no"])
    refund = await asyncio.to_thread(
        client.api_alipay_trade_refund, "5.00", out_trade_no=out_trade_no, out_request_no="dc-1"
    )
    assert (refund["code"], refund["fund_change"]) == ("10000", "Y")
    download = client.api_alipay_open_app_alipaycert_download(ac.cert_sn(ALIPAY_CERT_PEM))
    got = await asyncio.to_thread(
        client._verify_and_return_sync_response,
        await _get(certmode, download),
        "alipay_open_app_alipaycert_download_response",
    )
    assert base64.b64decode(got["alipay_cert_content"]).decode() == ALIPAY_CERT_PEM


@pytest.mark.usefixtures("beijing_sdk_clock")
async def test_python_alipay_sdk_royalty_calls_in_both_modes(certmode: Sandbox, sandbox: Sandbox) -> None:
    for target, client, ours in (
        (certmode, dc_sdk(certmode), AlipayClient(certmode, CERT_SNS)),
        (sandbox, sdk(sandbox), AlipayClient(sandbox)),
    ):
        seller = user_id()
        bind = await asyncio.to_thread(
            client.server_api,
            "alipay.trade.royalty.relation.bind",
            {"out_request_no": fresh("b")[:32], "receiver_list": [{"type": "userId", "account": seller}]},
        )
        assert bind["result_code"] == "SUCCESS", (target.url, bind)
        out_trade_no = fresh("ord")
        status, paid = await ours.pay(
            ours.order_string(app_pay(out_trade_no, "10.00", extend_params={"royalty_freeze": "true"})), user_id()
        )
        assert status == 200, paid
        settle = await asyncio.to_thread(
            client.server_api,
            "alipay.trade.order.settle",
            {
                "out_request_no": fresh("s")[:32],
                "trade_no": paid["trade_no"],
                "royalty_parameters": [{"trans_in_type": "userId", "trans_in": seller, "amount": "3.00"}],
            },
        )
        assert settle["code"] == "10000" and settle["settle_no"]
        query = await asyncio.to_thread(
            client.server_api, "alipay.trade.order.settle.query", {"settle_no": settle["settle_no"]}
        )
        assert query["royalty_detail_list"][0]["amount"] == "3.00"


async def _get(sandbox: Sandbox, query_string: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sandbox.url}/gateway.do?{query_string}") as resp:
            return await resp.text()
