"""Payouts to a seller's WeChat balance (transfer bills): once per out_bill_no, finished later, failed or returned."""

from __future__ import annotations

from typing import Any

from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.wechat_support import (
    APPID,
    MCHID,
    PLATFORM_SERIAL,
    WechatClient,
    encrypt_for_platform,
    fresh,
    notifications_to,
    notify_path,
    strict_sandbox_fixture,  # noqa: F401 (the strict_sandbox fixture)
    transfer_body,
    verified,
)
from tests.support.infra import eventually


async def _state(wechat: WechatClient, out_bill_no: str, state: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        data: dict[str, Any] = (await wechat.query_transfer(out_bill_no)).ok()
        return data

    return await eventually(probe, until=lambda got: got["state"] == state, what=f"transfer {state}")


async def test_a_transfer_is_accepted_then_succeeds_and_is_notified(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    seller, out_bill_no, path = await wechat.buyer(), fresh("wdr"), notify_path()

    created = (await wechat.transfer(transfer_body(out_bill_no, seller, 5000, notify_url=merchant.url + path))).ok()

    assert (created["out_bill_no"], created["state"]) == (out_bill_no, "ACCEPTED")
    done = await _state(wechat, out_bill_no, "SUCCESS")
    assert (done["mch_id"], done["appid"], done["openid"]) == (MCHID, APPID, seller)
    assert (done["transfer_amount"], done["transfer_bill_no"]) == (5000, created["transfer_bill_no"])
    assert "fail_reason" not in done
    by_bill_no = await wechat.request(
        "GET", f"/v3/fund-app/mch-transfer/transfer-bills/transfer-bill-no/{created['transfer_bill_no']}"
    )
    assert by_bill_no.ok() == done
    (received,) = await notifications_to(merchant, path)
    notification = verified(received)
    assert notification.event_type == "MCHTRANSFER.BILL.FINISHED"
    assert (notification.resource["state"], notification.resource["out_bill_no"]) == ("SUCCESS", out_bill_no)


async def test_the_same_transfer_again_is_the_same_bill_and_other_terms_are_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    seller, out_bill_no = await wechat.buyer(), fresh("wdr")
    body = transfer_body(out_bill_no, seller, 800)
    first = (await wechat.transfer(body)).ok()
    await _state(wechat, out_bill_no, "SUCCESS")

    again = (await wechat.transfer(body)).ok()

    assert (again["transfer_bill_no"], again["state"]) == (first["transfer_bill_no"], "SUCCESS")
    (await wechat.transfer({**body, "transfer_amount": 900})).error(400, "INVALID_REQUEST")
    assert (await wechat.query_transfer(out_bill_no)).ok()["transfer_amount"] == 800


async def test_a_declined_transfer_fails_with_a_reason(sandbox: Sandbox, merchant: Merchant) -> None:
    wechat = WechatClient(sandbox)
    out_bill_no, path = fresh("wdr"), notify_path()
    await sandbox.fault(target="wechat.transfer", action="decline", match={"out_bill_no": out_bill_no})
    body = transfer_body(out_bill_no, await wechat.buyer(), 300, notify_url=merchant.url + path)
    assert (await wechat.transfer(body)).ok()["state"] == "ACCEPTED"

    failed = await _state(wechat, out_bill_no, "FAIL")

    assert failed["fail_reason"] == "PAYEE_ACCOUNT_ABNORMAL"
    (received,) = await notifications_to(merchant, path)
    assert verified(received).resource["state"] == "FAIL"
    status, refused = await wechat.post(f"/sandbox/wechat/transfers/{out_bill_no}/bank-return", {})
    assert (status, refused["error"]["code"]) == (409, "invalid_transfer_state")


async def test_a_bank_return_after_success_shows_in_the_query(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    out_bill_no = fresh("wdr")
    (await wechat.transfer(transfer_body(out_bill_no, await wechat.buyer(), 2500))).ok()
    await _state(wechat, out_bill_no, "SUCCESS")

    status, returned = await wechat.post(f"/sandbox/wechat/transfers/{out_bill_no}/bank-return", {})

    assert (status, returned["state"]) == (200, "REFUND")
    queried = (await wechat.query_transfer(out_bill_no)).ok()
    assert (queried["state"], queried["fail_reason"]) == ("REFUND", "BANK_CARD_STATUS_ABNORMAL")


async def test_a_held_transfer_is_settled_or_cancelled(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    seller = await wechat.buyer()
    held, cancelled = fresh("wdr"), fresh("wdr")
    for out_bill_no in (held, cancelled):
        await sandbox.fault(target="wechat.transfer", action="delay", delay_s=0, match={"out_bill_no": out_bill_no})
        (await wechat.transfer(transfer_body(out_bill_no, seller, 100))).ok()
    assert (await wechat.query_transfer(held)).ok()["state"] == "ACCEPTED"

    status, settled = await wechat.post(
        f"/sandbox/wechat/transfers/{held}/settle", {"state": "FAIL", "fail_reason": "ACCOUNT_FROZEN"}
    )
    assert (status, settled["state"], settled["fail_reason"]) == (200, "FAIL", "ACCOUNT_FROZEN")

    path = f"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{cancelled}/cancel"
    assert (await wechat.request("POST", path)).ok()["state"] == "CANCELING"
    await _state(wechat, cancelled, "CANCELLED")
    (await wechat.request("POST", f"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{held}/cancel")).error(
        400, "INVALID_REQUEST"
    )


async def test_large_transfers_need_the_encrypted_user_name(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    seller = await wechat.buyer()
    body = transfer_body(fresh("wdr"), seller, 200_000)
    assert "user_name" in (await wechat.transfer(body)).error(400, "PARAM_ERROR")
    named = {**body, "user_name": encrypt_for_platform("张三")}
    (await wechat.transfer(named)).error(400, "PARAM_ERROR")  # no Wechatpay-Serial header naming the key
    garbled = {**body, "user_name": "bm90IGVuY3J5cHRlZA=="}
    headers = {wp.HEADER_SERIAL: PLATFORM_SERIAL}
    (await wechat.transfer(garbled, headers=headers)).error(400, "PARAM_ERROR")
    assert (await wechat.transfer(named, headers=headers)).ok()["state"] == "ACCEPTED"


async def test_transfers_to_strangers_and_unknown_bills_are_refused(sandbox: Sandbox) -> None:
    wechat = WechatClient(sandbox)
    (await wechat.transfer(transfer_body(fresh("wdr"), "o" + "y" * 27, 100))).error(400, "PARAM_ERROR")
    (await wechat.query_transfer(fresh("wdr"))).error(404, "NOT_FOUND")
    (await wechat.transfer(transfer_body("wdr-1", await wechat.buyer(), 100))).error(400, "PARAM_ERROR")


async def test_where_the_payee_must_confirm_the_bill_waits_for_them(
    strict_sandbox: Sandbox, merchant: Merchant
) -> None:
    wechat = WechatClient(strict_sandbox)
    seller, out_bill_no, path = await wechat.buyer(), fresh("wdr"), notify_path()
    created = (await wechat.transfer(transfer_body(out_bill_no, seller, 700, notify_url=merchant.url + path))).ok()
    assert created["state"] == "WAIT_USER_CONFIRM" and created["package_info"]
    assert (await wechat.query_transfer(out_bill_no)).ok()["state"] == "WAIT_USER_CONFIRM"
    confirm = f"/sandbox/wechat/transfers/{out_bill_no}/confirm"

    status, refused = await wechat.post(confirm, {"openid": await wechat.buyer(), "package": created["package_info"]})
    assert (status, refused["error"]["code"]) == (403, "openid_mismatch")
    status, confirmed = await wechat.post(
        confirm, {"openid": seller, "package": created["package_info"], "appId": APPID}
    )
    assert (status, confirmed["state"]) == (200, "PROCESSING")

    await _state(wechat, out_bill_no, "SUCCESS")
    (received,) = await notifications_to(merchant, path)
    assert verified(received).resource["state"] == "SUCCESS"


async def test_a_bill_waiting_for_the_payee_can_be_cancelled(strict_sandbox: Sandbox) -> None:
    wechat = WechatClient(strict_sandbox)
    seller, out_bill_no = await wechat.buyer(), fresh("wdr")
    created = (await wechat.transfer(transfer_body(out_bill_no, seller, 700))).ok()
    cancel = f"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel"
    assert (await wechat.request("POST", cancel)).ok()["state"] == "CANCELING"
    await _state(wechat, out_bill_no, "CANCELLED")
    confirm = f"/sandbox/wechat/transfers/{out_bill_no}/confirm"
    status, refused = await wechat.post(confirm, {"openid": seller, "package": created["package_info"]})
    assert (status, refused["error"]["code"]) == (409, "transfer_not_waiting")
