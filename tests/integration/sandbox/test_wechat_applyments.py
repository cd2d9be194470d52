"""二级商户进件: applications that move by themselves to FINISH (sub_mchid from NEED_SIGN), rejected ones resubmitted,
tests deciding them, encrypted fields kept only masked, and the sub-merchant registry."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bson import json_util

from shared.mongo import Client
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.merchant_support import (
    MerchantClient,
    Seller,
    applyment_body,
    bad_id_number,
    fresh_request_no,
    registered,
    registry,
)
from tests.integration.sandbox.wechat_support import PUBKEY_PUBLIC, PUBLIC_KEY_ID, start_sandbox

# Each step an application takes by itself lasts 0.3 s here (300 s times the tests' time scale), long enough for a
# client polling every 20 ms to see every state.
STEPS = {"WECHAT_APPLYMENT_STEP_S": "300", "WECHAT_SETTLEMENT_AUDIT_S": "300"}
SUB_MCHID = re.compile(r"16\d{8}")


@pytest.fixture(scope="module")
async def onboarding(mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    async for sandbox in start_sandbox(mongo_client, merchant, log_dir, "sandbox-onboarding", STEPS):
        yield sandbox


async def _submitted(wechat: MerchantClient, seller: Seller, **kw: Any) -> tuple[str, int]:
    out_request_no = fresh_request_no()
    answer = (await wechat.submit(applyment_body(seller, out_request_no, **kw))).ok()
    assert answer["out_request_no"] == out_request_no and isinstance(answer["applyment_id"], int)
    return out_request_no, answer["applyment_id"]


async def test_an_application_reaches_finish_by_itself_with_its_sub_mchid_from_need_sign(
    onboarding: Sandbox, mongo_client: Client
) -> None:
    wechat = MerchantClient(onboarding)
    out_request_no, applyment_id = await _submitted(wechat, Seller())

    first = await wechat.state_of(out_request_no)
    assert (first["applyment_state"], first["applyment_state_desc"]) == ("CHECKING", "资料校验中")
    assert first["sign_state"] == "NOT_SIGNABLE" and "sub_mchid" not in first and "sign_url" not in first
    need_sign, seen = await wechat.wait_for(out_request_no, "NEED_SIGN")
    assert need_sign["sign_state"] == "UNSIGNED" and "applymentId=" in need_sign["sign_url"]
    sub_mchid = need_sign["sub_mchid"]
    assert SUB_MCHID.fullmatch(sub_mchid)
    await registered(mongo_client, onboarding, sub_mchid, "NEED_SIGN")  # opened, but not yet allowed to trade
    finished, more = await wechat.wait_for(out_request_no, "FINISH")

    assert seen + more[1:] == ["CHECKING", "AUDITING", "NEED_SIGN", "FINISH"]
    assert (finished["sub_mchid"], finished["sign_state"], finished["applyment_id"]) == (
        sub_mchid,
        "SIGNED",
        applyment_id,
    )
    assert "sign_url" not in finished and "audit_detail" not in finished and "account_validation" not in finished
    assert (await wechat.applyment_by_id(applyment_id)).ok() == finished
    doc = await registered(mongo_client, onboarding, sub_mchid, "FINISH")
    assert (doc["state"], doc["applyment_id"], doc["out_request_no"], doc["merchant_shortname"]) == (
        "FINISH",
        applyment_id,
        out_request_no,
        "旧物流转",
    )
    assert doc["settlement"] == {
        "account_type": "ACCOUNT_TYPE_PRIVATE",
        "account_bank": "招商银行",
        "bank_name": "招商银行深圳分行",
        "account_number_last4": "0002",
        "account_name_masked": "***远",
        "verify_result": "VERIFY_SUCCESS",
    }
    assert doc["created_at"] is not None


async def test_a_corporate_account_must_remit_before_review(onboarding: Sandbox) -> None:
    wechat = MerchantClient(onboarding)
    out_request_no, _ = await _submitted(wechat, Seller(), corporate=True)
    verify, _ = await wechat.wait_for(out_request_no, "ACCOUNT_NEED_VERIFY")
    validation = verify["account_validation"]
    assert validation["account_no"].endswith("8901") and "*" in validation["account_no"]
    assert isinstance(validation["pay_amount"], int) and validation["pay_amount"] > 0
    assert validation["destination_account_name"] and validation["deadline"].endswith("+08:00")
    assert verify["legal_validation_url"].startswith("https://") and "sub_mchid" not in verify
    _, seen = await wechat.wait_for(out_request_no, "FINISH")
    assert seen[-4:] == ["ACCOUNT_NEED_VERIFY", "AUDITING", "NEED_SIGN", "FINISH"]


async def test_an_id_number_failing_its_checksum_is_rejected_then_resubmitted_under_the_same_number(
    onboarding: Sandbox,
) -> None:
    wechat = MerchantClient(onboarding)
    seller = Seller(id_number=bad_id_number())
    out_request_no, applyment_id = await _submitted(wechat, seller)
    rejected, _ = await wechat.wait_for(out_request_no, "REJECTED")
    assert rejected["applyment_state_desc"] == "已驳回"
    (detail,) = rejected["audit_detail"]
    assert detail["param_name"] == "id_card_number" and "校验位" in detail["reject_reason"]
    assert seller.id_number not in str(rejected)
    assert "sub_mchid" not in rejected

    corrected = Seller()
    again = (await wechat.submit(applyment_body(corrected, out_request_no))).ok()
    assert again == {
        "applyment_id": applyment_id,
        "out_request_no": out_request_no,
    }  # the same application, overwritten
    resubmitted = await wechat.state_of(out_request_no)
    assert resubmitted["applyment_state"] == "CHECKING" and "audit_detail" not in resubmitted
    finished, seen = await wechat.wait_for(out_request_no, "FINISH")
    assert "REJECTED" not in seen and SUB_MCHID.fullmatch(finished["sub_mchid"])


async def test_the_same_out_request_no_is_the_same_application(onboarding: Sandbox) -> None:
    wechat = MerchantClient(onboarding)
    seller = Seller()
    out_request_no, applyment_id = await _submitted(wechat, seller)
    # Again, with fresh ciphertexts (RSA-OAEP differs on every encryption), and several at once.
    answers = await asyncio.gather(*(wechat.submit(applyment_body(seller, out_request_no)) for _ in range(3)))
    assert {a.ok()["applyment_id"] for a in answers} == {applyment_id}
    racing_no = fresh_request_no()
    raced = await asyncio.gather(*(wechat.submit(applyment_body(seller, racing_no)) for _ in range(4)))
    assert len({a.ok()["applyment_id"] for a in raced}) == 1
    other = await wechat.applyment_by_id(raced[0].ok()["applyment_id"])
    assert other.ok()["out_request_no"] == racing_no


async def test_encrypted_fields_need_the_wechatpay_serial_of_their_key(onboarding: Sandbox) -> None:
    wechat = MerchantClient(onboarding)
    seller, out_request_no = Seller(), fresh_request_no()
    body = applyment_body(seller, out_request_no)
    absent = await wechat.submit(body, serial=None)
    assert "Wechatpay-Serial" in absent.error(400, "PARAM_ERROR")
    (await wechat.submit(body, serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1")).error(400, "PARAM_ERROR")
    # A certificate-mode platform holds no public key; and fields for the public key do not decrypt as the cert's.
    (await wechat.submit(body, serial=PUBLIC_KEY_ID)).error(400, "PARAM_ERROR")
    for_public_key = applyment_body(seller, out_request_no, key=PUBKEY_PUBLIC)
    assert "解密失败" in (await wechat.submit(for_public_key)).error(400, "PARAM_ERROR")
    bad_mobile = applyment_body(Seller(mobile="12912345678"), out_request_no)
    message = (await wechat.submit(bad_mobile)).error(400, "PARAM_ERROR")
    assert "mobile_phone" in message and "12912345678" not in message
    (await wechat.applyment(out_request_no)).error(404, "RESOURCE_NOT_EXISTS")  # nothing was recorded
    (await wechat.applyment_by_id(2000002999999999)).error(404, "RESOURCE_NOT_EXISTS")


async def test_tests_decide_an_application_now(onboarding: Sandbox, mongo_client: Client) -> None:
    wechat = MerchantClient(onboarding)
    out_request_no, applyment_id = await _submitted(wechat, Seller())
    status, rejected = await wechat.decide(applyment_id, "REJECTED", "身份证照片模糊")
    assert (status, rejected["applyment_state"]) == (200, "REJECTED")
    assert rejected["audit_detail"] == [{"param_name": "", "reject_reason": "身份证照片模糊"}]
    await asyncio.sleep(0.4)  # the step that was due from CHECKING passes, and must change nothing
    assert (await wechat.state_of(out_request_no))["applyment_state"] == "REJECTED"
    status, refused = await wechat.decide(applyment_id, "FINISH")
    assert (status, refused["error"]["code"]) == (409, "invalid_applyment_state")

    _, other_id = await _submitted(wechat, Seller())
    status, need_sign = await wechat.decide(other_id, "NEED_SIGN")
    assert status == 200 and SUB_MCHID.fullmatch(need_sign["sub_mchid"])
    status, signed = await wechat.sign(other_id)
    assert (status, signed["applyment_state"], signed["sub_mchid"]) == (200, "FINISH", need_sign["sub_mchid"])
    status, frozen = await wechat.decide(other_id, "FROZEN", "涉嫌违规")
    assert (status, frozen["applyment_state"], frozen["audit_detail"][0]["reject_reason"]) == (
        200,
        "FROZEN",
        "涉嫌违规",
    )
    assert "sub_mchid" not in frozen
    await registered(mongo_client, onboarding, need_sign["sub_mchid"], "FROZEN")
    status, nothing = await wechat.sign(other_id)
    assert (status, nothing["error"]["code"]) == (409, "invalid_applyment_state")
    status, _ = await wechat.decide(2000002999999998, "FINISH")
    assert status == 404
    status, _ = await wechat.decide(other_id, "SIGNED")
    assert status == 422


async def test_a_test_made_sub_merchant_is_finished_at_once(onboarding: Sandbox, mongo_client: Client) -> None:
    wechat = MerchantClient(onboarding)
    sub_mchid = await wechat.shortcut(account_bank="建设银行", account_number="6217000000000001234", bank_name="建行")
    assert SUB_MCHID.fullmatch(sub_mchid)
    doc = await registry(mongo_client, onboarding, sub_mchid)
    assert doc is not None and doc["state"] == "FINISH" and doc["merchant_shortname"] == "测试小店"
    assert (doc["settlement"]["account_number_last4"], doc["settlement"]["account_bank"]) == ("1234", "建设银行")
    assert doc["settlement"]["bank_name"] == "建行"
    card = (await wechat.settlement(sub_mchid)).ok()
    assert (card["account_number"], card["verify_result"]) == ("*" * 15 + "1234", "VERIFY_SUCCESS")
    assert sub_mchid != await wechat.shortcut()


async def test_faults_apply_to_onboarding_calls(onboarding: Sandbox) -> None:
    wechat = MerchantClient(onboarding)
    out_request_no = fresh_request_no()
    await onboarding.fault(target="wechat.applyment", action="error_5xx", match={"out_request_no": out_request_no})
    (await wechat.submit(applyment_body(Seller(), out_request_no))).error(500, "SYSTEM_ERROR")
    (await wechat.applyment(out_request_no)).error(404, "RESOURCE_NOT_EXISTS")
    await onboarding.fault(target="wechat.applyment", action="refuse", code="FREQUENCY_LIMITED", status=429)
    (await wechat.submit(applyment_body(Seller(), out_request_no))).error(429, "FREQUENCY_LIMITED")
    await onboarding.fault(
        target="wechat.query", action="error_5xx", match={"kind": "applyment", "out_request_no": out_request_no}
    )
    (await wechat.submit(applyment_body(Seller(), out_request_no))).ok()
    (await wechat.applyment(out_request_no)).error(500, "SYSTEM_ERROR")
    assert (await wechat.applyment(out_request_no)).ok()["out_request_no"] == out_request_no


async def test_no_clear_sensitive_value_is_stored_or_logged(onboarding: Sandbox, mongo_client: Client) -> None:
    wechat = MerchantClient(onboarding)
    seller = Seller(
        name="司马清风",
        id_number="530102198507150015",
        mobile="15812349876",
        account_number="6212263602012345674",
        company="昆明清风二手家具有限公司",
    )
    personal_no, _ = await _submitted(wechat, seller)
    corporate_no, _ = await _submitted(wechat, seller, corporate=True)
    rejected_no, _ = await _submitted(wechat, Seller(name="诸葛云起", id_number=bad_id_number("53010219900101123")))
    finished, _ = await wechat.wait_for(personal_no, "FINISH")
    await wechat.wait_for(corporate_no, "FINISH")
    await wechat.wait_for(rejected_no, "REJECTED")
    changed = await wechat.modify_settlement(finished["sub_mchid"], "6217856100012345671", "司马清风")
    application_no = changed.ok()["application_no"]
    await wechat.settlement_application(finished["sub_mchid"], application_no)

    # The company's name is also the plain business_license_info.merchant_name, so it is not a secret to look for.
    clear = [v for v in seller.clear_values() if v != seller.company]
    clear += ["诸葛云起", "6217856100012345671", "755912345678901"]
    db = mongo_client[onboarding.process.env["MONGO_DB"]]
    scanned = 0
    for name in await db.list_collection_names():
        async for doc in db[name].find({}):
            text = json_util.dumps(doc, ensure_ascii=False)
            scanned += 1
            for value in clear:
                assert value not in text, (name, value)
    assert scanned > 10
    log = onboarding.process.log_path.read_text(encoding="utf-8", errors="replace")
    for value in clear:
        assert value not in log
    # Masks are what is kept: the registry has the last four digits only (of the first card, or of the new one once
    # its review, a fraction of a second here, is through).
    doc = await registry(mongo_client, onboarding, finished["sub_mchid"])
    assert doc is not None and doc["settlement"]["account_number_last4"] in ("5674", "5671")
