"""The platform's WeChat Pay e-commerce client (shared/providers/wechatpay.py) against the sandbox: a seller
onboarded to FINISH (and one rejected), a partner JSAPI order paid into the seller's frozen funds, the platform's fee
profit-shared and the rest released, the balance matching, withdrawals that succeed, fail and come back from the
bank; and the verification modes: public key under its assigned id, platform certificates, a switch-over, and our
signature refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.mongo import Client
from shared.protocols import wechatpay as wp
from shared.providers.errors import ProviderBusy, ProviderMisconfigured, ProviderRejected
from shared.providers.wechatpay import WechatPayClient
from tests.integration.providers.conftest import Sandbox, wechat_settings
from tests.integration.sandbox.conftest import Merchant
from tests.support.infra import eventually
from tests.support.providers import KEYS, WECHAT_PAY_PUBLIC_KEY_ID

pytestmark = pytest.mark.infra

VALID_ID = "11010519491231002X"  # the standard's worked example: its check digit holds
BAD_ID = "110105194912310021"  # the same with a wrong check digit


def luhn(digits: str) -> str:
    """`digits` with the check digit a bank card number ends in."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return digits + str(-total % 10)


def applyment(client: WechatPayClient, out_request_no: str, id_number: str = VALID_ID) -> tuple[dict[str, Any], str]:
    """A 小微 seller's application with every sensitive field encrypted for the key the client encrypts for."""
    serials: set[str] = set()

    def secret(text: str) -> str:
        ciphertext, serial = client.encrypt(text)
        serials.add(serial)
        return ciphertext

    body = {
        "out_request_no": out_request_no,
        "organization_type": "2401",
        "id_doc_type": "IDENTIFICATION_TYPE_IDCARD",
        "id_card_info": {
            "id_card_copy": "media-id-front",
            "id_card_national": "media-id-back",
            "id_card_name": secret("张三"),
            "id_card_number": secret(id_number),
            "id_card_valid_time_begin": "2019-06-06",
            "id_card_valid_time": "2039-06-06",
        },
        "need_account_info": True,
        "account_info": {
            "bank_account_type": "75",
            "account_bank": "招商银行",
            "account_name": secret("张三"),
            "bank_address_code": "440300",
            "account_number": secret(luhn("621483021234567")),
        },
        "contact_info": {
            "contact_type": "65",
            "contact_name": secret("张三"),
            "contact_id_card_number": secret(id_number),
            "mobile_phone": secret("13800138000"),
        },
        "sales_scene_info": {"store_name": "小鱼的铺子", "mini_program_sub_appid": ""},
        "merchant_shortname": "小鱼的铺子",
    }
    (serial,) = serials
    return body, serial


async def onboarded(wechat: WechatPayClient, switching: Sandbox, new_no: Callable[[str], str]) -> str:
    body, serial = applyment(wechat, new_no("app"))
    await wechat.submit_applyment(body, serial)

    async def state() -> dict[str, Any]:
        found = await wechat.query_applyment(body["out_request_no"])
        if found["applyment_state"] == "NEED_SIGN":
            await switching.post(f"/sandbox/wechat/applyments/{found['applyment_id']}/sign", {})
        return found

    done = await eventually(state, until=lambda a: a["applyment_state"] == "FINISH", what="onboarding FINISH")
    return str(done["sub_mchid"])


async def test_a_seller_is_onboarded_to_finish_with_its_sub_merchant_known_from_need_sign(
    wechat: WechatPayClient, switching: Sandbox, new_no: Callable[[str], str], mongo_client: Client
) -> None:
    body, serial = applyment(wechat, new_no("app"))
    assert serial == WECHAT_PAY_PUBLIC_KEY_ID  # a switching merchant encrypts for the public key
    submitted = await wechat.submit_applyment(body, serial)
    again = await wechat.submit_applyment(body, serial)  # the same number is the same application
    assert again["applyment_id"] == submitted["applyment_id"]
    seen: list[dict[str, Any]] = []

    async def state() -> dict[str, Any]:
        found = await wechat.query_applyment(body["out_request_no"])
        seen.append(found)
        if found["applyment_state"] == "NEED_SIGN":
            assert found["sub_mchid"] and found["sign_url"]
            await switching.post(f"/sandbox/wechat/applyments/{found['applyment_id']}/sign", {})
        return found

    done = await eventually(state, until=lambda a: a["applyment_state"] == "FINISH", what="FINISH")
    states = [s["applyment_state"] for s in seen]
    assert states[0] in ("CHECKING", "AUDITING", "NEED_SIGN") and states[-1] == "FINISH"
    assert done["sub_mchid"].startswith("16") and len(done["sub_mchid"]) == 10
    # The clear values never reached the provider's books: no ID number, card or phone anywhere in its database.
    db = mongo_client[switching.db_name]
    for name in await db.list_collection_names():
        text = json.dumps([doc async for doc in db[name].find({})], default=str, ensure_ascii=False)
        assert VALID_ID not in text and "13800138000" not in text and "62148302123456" not in text, name


async def test_an_application_with_a_bad_id_number_is_rejected_with_the_reason(
    wechat: WechatPayClient, new_no: Callable[[str], str]
) -> None:
    body, serial = applyment(wechat, new_no("app"), id_number=BAD_ID)
    await wechat.submit_applyment(body, serial)
    rejected = await eventually(
        lambda: wechat.query_applyment(body["out_request_no"]),
        until=lambda a: a["applyment_state"] == "REJECTED",
        what="REJECTED",
    )
    assert rejected["audit_detail"] and all(d["reject_reason"] for d in rejected["audit_detail"])
    assert "sub_mchid" not in rejected or not rejected["sub_mchid"]


async def paid_order(
    wechat: WechatPayClient, switching: Sandbox, merchant: Merchant, sub_mchid: str, total: int, new_no: Any
) -> dict[str, Any]:
    """A mini-program buyer pays a partner order to the seller's sub-merchant, frozen for profit sharing."""
    login = await switching.post("/sandbox/wechat/login-codes", {}, 200)
    out_trade_no = new_no("pay_")
    prepay_id = await wechat.partner_jsapi(
        sub_mchid=sub_mchid,
        out_trade_no=out_trade_no,
        description="九成新 Kindle",
        amount_fen=total,
        sp_openid=login["openid"],
        notify_url=f"{merchant.url}/notify/{out_trade_no}",
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
    )
    params = wechat.request_payment(prepay_id)
    assert params["appId"] == wechat.appid  # the platform's mini-program pays in partner mode
    await switching.post("/sandbox/wechat/pay", {"prepay_id": prepay_id, "openid": login["openid"], **params}, 200)
    received = await eventually(
        lambda: asyncio.sleep(0, merchant.to(f"/notify/{out_trade_no}")), until=bool, what="payment notified"
    )
    note = wechat.verify_notification(received[0].headers, received[0].body)
    assert note.event_type == "TRANSACTION.SUCCESS"
    res = note.resource
    assert (res["sp_mchid"], res["sp_appid"], res["sub_mchid"]) == (wechat.mchid, wechat.appid, sub_mchid)
    assert res["payer"]["sp_openid"] == login["openid"] and res["amount"]["total"] == total
    trade = await wechat.partner_query(out_trade_no, sub_mchid)
    assert trade["trade_state"] == "SUCCESS" and trade["settle_info"]["profit_sharing"] is True
    return trade


async def test_a_partner_order_is_paid_frozen_then_the_fee_is_shared_and_the_rest_released(
    wechat: WechatPayClient, switching: Sandbox, merchant: Merchant, new_no: Callable[[str], str]
) -> None:
    sub_mchid = await onboarded(wechat, switching, new_no)
    trade = await paid_order(wechat, switching, merchant, sub_mchid, 26_800, new_no)
    balance = await wechat.balance(sub_mchid)
    assert (balance["pending_amount"], balance["available_amount"]) == (26_800, 0)
    assert await wechat.unsplit_amount(trade["transaction_id"]) == 26_800
    platform_before = (await switching.get(f"/sandbox/wechat/accounts/{wechat.mchid}"))["available_fen"]

    # The platform's fee (1%: 268 fen), then the finish that unfreezes the rest to the seller.
    out_order_no = new_no("fee")
    share = {"sub_mchid": sub_mchid, "transaction_id": trade["transaction_id"], "out_order_no": out_order_no}
    await wechat.profit_share(**share, amount_fen=268, description="平台服务费", finish=False)
    assert (await wechat.profit_share(**share, amount_fen=268, description="平台服务费", finish=False))[
        "out_order_no"
    ] == out_order_no  # the same number is the same split
    await eventually(
        lambda: wechat.query_profit_share(**share), until=lambda s: s["status"] == "FINISHED", what="split finished"
    )
    with pytest.raises(ProviderRejected):  # receivers may take at most 30% of the order
        over = {**share, "out_order_no": new_no("fee")}
        await wechat.profit_share(**over, amount_fen=8_100, description="x", finish=False)
    await wechat.finish_profit_sharing(
        sub_mchid=sub_mchid, transaction_id=trade["transaction_id"], out_order_no=new_no("fin"), description="完结"
    )
    balance = await wechat.balance(sub_mchid)
    assert (balance["pending_amount"], balance["available_amount"]) == (0, 26_800 - 268)
    platform = await switching.get(f"/sandbox/wechat/accounts/{wechat.mchid}")
    assert platform["available_fen"] - platform_before == 268
    seller = await switching.get(f"/sandbox/wechat/accounts/{sub_mchid}")
    assert (seller["pending_fen"], seller["available_fen"]) == (balance["pending_amount"], balance["available_amount"])


async def test_withdrawals_succeed_fail_and_come_back_from_the_bank(
    wechat: WechatPayClient, switching: Sandbox, merchant: Merchant, new_no: Callable[[str], str]
) -> None:
    sub_mchid = await onboarded(wechat, switching, new_no)
    trade = await paid_order(wechat, switching, merchant, sub_mchid, 30_000, new_no)
    await wechat.finish_profit_sharing(
        sub_mchid=sub_mchid, transaction_id=trade["transaction_id"], out_order_no=new_no("fin"), description="完结"
    )
    assert (await wechat.balance(sub_mchid))["available_amount"] == 30_000

    ok = new_no("wd")
    accepted = await wechat.withdraw(sub_mchid=sub_mchid, out_request_no=ok, amount_fen=10_000, remark="提现")
    assert accepted["withdraw_id"]
    assert (await wechat.balance(sub_mchid))["available_amount"] == 20_000
    done = await eventually(
        lambda: wechat.query_withdrawal(ok, sub_mchid), until=lambda w: w["status"] == "SUCCESS", what="withdrawn"
    )
    assert done["amount"] == 10_000 and done["account_number"]

    failing = new_no("wd")
    await switching.fault(target="wechat.withdraw", action="decline", match={"out_request_no": failing})
    await wechat.withdraw(sub_mchid=sub_mchid, out_request_no=failing, amount_fen=5_000, remark="提现")
    failed = await eventually(
        lambda: wechat.query_withdrawal(failing, sub_mchid), until=lambda w: w["status"] == "FAIL", what="failed"
    )
    assert failed["reason"]
    assert (await wechat.balance(sub_mchid))["available_amount"] == 20_000  # a failed withdrawal gives it back

    await switching.post(f"/sandbox/wechat/withdrawals/{ok}/bank-return", {"reason": "账户已注销"}, 200)
    returned = await wechat.query_withdrawal(ok, sub_mchid)
    assert returned["status"] == "REFUND"
    assert (await wechat.balance(sub_mchid))["available_amount"] == 30_000

    with pytest.raises(ProviderBusy) as short:  # more than is available: a refusal for now, never a final failure
        await wechat.withdraw(sub_mchid=sub_mchid, out_request_no=new_no("wd"), amount_fen=30_001, remark="提现")
    assert short.value.provider_code == "NOT_ENOUGH"


# --------------------------------------------------------------------------------------------- key modes


async def new_seller(sandbox: Sandbox) -> str:
    """A FINISH sub-merchant straight away (the sandbox's shortcut, for what does not test onboarding)."""
    return str((await sandbox.post("/sandbox/wechat/sub-merchants", {"merchant_shortname": "小铺"}, 201))["sub_mchid"])


async def test_a_switching_merchant_verifies_answers_signed_by_either_key(
    wechat: WechatPayClient, switching: Sandbox, http: Any
) -> None:
    serials = set()
    for _ in range(6):
        status, data, headers = await wechat._send("GET", "/v3/certificates", None, None)
        assert status == 200
        now = int(datetime.now(UTC).timestamp())
        serials.add(wp.verify_response(headers, data, public_key=wechat.keyring.keys(), now=now))
    assert WECHAT_PAY_PUBLIC_KEY_ID in serials and len(serials) == 2  # the public key and the platform certificate


async def test_a_public_key_merchant_needs_no_platform_certificate(public_key_only: Sandbox, http: Any) -> None:
    client = WechatPayClient(http, wechat_settings(public_key_only.url, certificates=False), timeout_s=5)
    assert await client.refresh_certificates() == 0  # nothing to download
    assert set(client.keyring.keys()) == {WECHAT_PAY_PUBLIC_KEY_ID}
    with pytest.raises(ProviderRejected) as unknown:
        await client.query_applyment("no-such-application")
    assert unknown.value.status == 404  # a signed answer, verified under the public key


async def test_a_certificate_merchant_downloads_its_platform_certificates(certificate_only: Sandbox, http: Any) -> None:
    client = WechatPayClient(http, wechat_settings(certificate_only.url, public_key=False), timeout_s=5)
    assert client.keyring.keys() == {}
    assert await client.refresh_certificates() == 1
    assert await client.refresh_certificates() == 0  # known already
    assert (await client.balance(await new_seller(certificate_only)))["available_amount"] == 0


async def test_our_signature_refused_is_a_configuration_error_raised_not_retried(switching: Sandbox, http: Any) -> None:
    # A merchant certificate whose serial WeChat does not know for us: 401 SIGN_ERROR.
    settings = wechat_settings(switching.url, wechat_merchant_cert_file=KEYS / "TEST_ONLY_wechatpay_platform_cert.pem")
    client = WechatPayClient(http, settings, timeout_s=5)
    with pytest.raises(ProviderMisconfigured) as refused:
        await client.balance("1600000001")
    assert refused.value.status == 503 and refused.value.code == "provider_misconfigured"
    assert json.dumps(refused.value.details)  # carries WeChat's code and message


async def test_while_switching_over_callbacks_signed_by_either_key_all_verify(
    wechat: WechatPayClient, switching: Sandbox, merchant: Merchant, new_no: Callable[[str], str]
) -> None:
    seller = await new_seller(switching)
    for _ in range(3):
        await paid_order(wechat, switching, merchant, seller, 100, new_no)  # each notification verified inside
    serials = {r.headers["Wechatpay-Serial"] for r in merchant.received if r.path.startswith("/notify/pay_")}
    assert WECHAT_PAY_PUBLIC_KEY_ID in serials and len(serials) == 2  # the public key and the platform certificate


async def test_a_seller_changes_the_settlement_card_withdrawals_go_to(
    wechat: WechatPayClient, switching: Sandbox, new_no: Callable[[str], str]
) -> None:
    seller = await onboarded(wechat, switching, new_no)
    card = luhn("622588012345678")
    change = await wechat.modify_settlement(
        seller,
        account_type="ACCOUNT_TYPE_PRIVATE",
        account_bank="招商银行",
        bank_address_code="440300",
        account_number=card,
        account_name="张三",
    )
    reviewed = await eventually(
        lambda: wechat.settlement_application(seller, change["application_no"]),
        until=lambda a: a["verify_result"] != "AUDITING",
        what="card change reviewed",
    )
    assert reviewed["verify_result"] == "AUDIT_SUCCESS"
    current = await wechat.settlement(seller)
    assert current["account_bank"] == "招商银行" and current["account_number"].endswith(card[-4:])
    assert card not in current["account_number"]  # masked, never the number itself
