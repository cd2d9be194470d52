"""The sandbox against python-alipay-sdk: it accepts the SDK's signed requests; the SDK verifies its answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import alipay as alipay_sdk
import pytest
from alipay import AliPay
from alipay.exceptions import AliPayValidationError

from shared.protocols import alipay as ap
from tests.integration.sandbox.alipay_support import (
    APP_ID,
    AlipayClient,
    fresh,
    notifications_to,
    notify_path,
    pem,
    user_id,
    withholding_pay,
)
from tests.integration.sandbox.conftest import Merchant, Sandbox


class _BeijingDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(ap.SHANGHAI).replace(tzinfo=None)


@pytest.fixture
def beijing_sdk_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The SDK stamps requests with the host's local wall clock; Alipay reads them as Beijing time. This host runs on
    # UTC, so the SDK is given the clock of a host in Asia/Shanghai, as production deployments in China have.
    monkeypatch.setattr(alipay_sdk, "datetime", _BeijingDatetime)
    yield


def sdk(sandbox: Sandbox, *, private_key: str = "TEST_ONLY_alipay_app_private.pem") -> AliPay:
    client = AliPay(
        appid=APP_ID,
        app_notify_url=None,
        app_private_key_string=pem(private_key),
        alipay_public_key_string=pem("TEST_ONLY_alipay_platform_public.pem"),
        sign_type="RSA2",
    )
    client._gateway = f"{sandbox.url}/gateway.do"  # the SDK has no public setting for the gateway URL
    return client


@pytest.mark.usefixtures("beijing_sdk_clock")
async def test_sdk_query_refund_and_refund_query_are_accepted_and_verified(sandbox: Sandbox) -> None:
    client = sdk(sandbox)
    out_trade_no = fresh("ord")
    trade_no, buyer = await AlipayClient(sandbox).paid(out_trade_no, "66.60")

    query = await asyncio.to_thread(client.api_alipay_trade_query, out_trade_no=out_trade_no)
    assert (query["trade_status"], query["trade_no"], query["buyer_user_id"]) == ("TRADE_SUCCESS", trade_no, buyer)

    refund = await asyncio.to_thread(
        client.api_alipay_trade_refund, "6.60", out_trade_no=out_trade_no, out_request_no="sdk-1"
    )
    assert (refund["code"], refund["fund_change"], refund["refund_fee"]) == ("10000", "Y", "6.60")
    found = await asyncio.to_thread(client.api_alipay_trade_fastpay_refund_query, "sdk-1", out_trade_no=out_trade_no)
    assert (found["refund_status"], found["refund_amount"]) == ("REFUND_SUCCESS", "6.60")


@pytest.mark.usefixtures("beijing_sdk_clock")
async def test_an_sdk_order_string_pays_and_its_notification_verifies_with_the_sdk(
    sandbox: Sandbox, merchant: Merchant
) -> None:
    client = sdk(sandbox)
    out_trade_no, path = fresh("ord"), notify_path()
    order = client.api_alipay_trade_app_pay(
        subject="旧相机 & 镜头", out_trade_no=out_trade_no, total_amount="1288.00", notify_url=merchant.url + path
    )
    status, paid = await AlipayClient(sandbox).pay(order, user_id())
    assert status == 200, paid

    (received,) = await notifications_to(merchant, path)
    data = ap.parse_form(received.body)
    signature = data.pop("sign")
    assert client.verify(data, signature)
    assert (data["trade_status"], data["total_amount"]) == ("TRADE_SUCCESS", "1288.00")


@pytest.mark.usefixtures("beijing_sdk_clock")
async def test_sdk_server_api_calls_for_close_withholding_payouts_and_oauth(sandbox: Sandbox) -> None:
    client = sdk(sandbox)
    ours = AlipayClient(sandbox)

    missing = await asyncio.to_thread(client.api_alipay_trade_close, out_trade_no=fresh("ord"))
    assert missing["sub_code"] == "ACQ.TRADE_NOT_EXIST"

    agreement_no = await ours.signed_agreement()
    out_trade_no = fresh("ord")
    # api_alipay_trade_pay insists on a bar_code/wave_code scene; withholding goes through server_api.
    paid = await asyncio.to_thread(
        client.server_api, "alipay.trade.pay", withholding_pay(out_trade_no, "9.90", agreement_no)
    )
    assert (paid["code"], paid["out_trade_no"]) == ("10000", out_trade_no)

    transfer = {
        "out_biz_no": fresh("wdr"),
        "trans_amount": "12.00",
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "鱼桥提现",
        "payee_info": {"identity": user_id(), "identity_type": "ALIPAY_USER_ID"},
    }
    sent = await asyncio.to_thread(client.server_api, "alipay.fund.trans.uni.transfer", transfer)
    assert sent["status"] == "SUCCESS"

    uid = user_id()
    code = (await ours.auth_code(uid))["auth_code"]
    token = await asyncio.to_thread(
        client.server_api, "alipay.system.oauth.token", grant_type="authorization_code", code=code
    )
    assert token["user_id"] == uid


@pytest.mark.usefixtures("beijing_sdk_clock")
async def test_the_sdk_rejects_a_corrupt_response_signature_and_the_sandbox_rejects_the_wrong_key(
    sandbox: Sandbox,
) -> None:
    out_trade_no = fresh("ord")
    await AlipayClient(sandbox).paid(out_trade_no, "1.00")
    await sandbox.fault(target="alipay.trade.query", action="corrupt_signature", match={"out_trade_no": out_trade_no})
    with pytest.raises(AliPayValidationError):
        await asyncio.to_thread(sdk(sandbox).api_alipay_trade_query, out_trade_no=out_trade_no)

    wrong = sdk(sandbox, private_key="TEST_ONLY_alipay_platform_private.pem")
    refused = await asyncio.to_thread(wrong.api_alipay_trade_query, out_trade_no=out_trade_no)
    assert (refused["code"], refused["sub_code"]) == ("40002", "isv.invalid-signature")


class _UtcDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(UTC).replace(tzinfo=None)


async def test_the_sdk_on_a_non_beijing_host_is_refused_for_its_timestamp(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK is given the local clock of a host on UTC, whatever this machine's zone: 8 hours off Beijing time.
    monkeypatch.setattr(alipay_sdk, "datetime", _UtcDatetime)
    refused = await asyncio.to_thread(sdk(sandbox).api_alipay_trade_query, out_trade_no=fresh("ord"))
    assert (refused["code"], refused["sub_code"]) == ("40002", "isv.invalid-timestamp")
