"""Settlement cards of sub-merchants: a change is reviewed (AUDITING, then AUDIT_SUCCESS or AUDIT_FAIL by rule), and
a successful one becomes the current card, in the answers and in the registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.mongo import Client
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.integration.sandbox.merchant_support import MerchantClient, registry
from tests.integration.sandbox.wechat_support import PUBKEY_PUBLIC, PUBLIC_KEY_ID, start_sandbox
from tests.support.infra import eventually

NEW_CARD = "6217856100012345671"  # passes Luhn


@pytest.fixture(scope="module")
async def cards(mongo_client: Client, merchant: Merchant, log_dir: Path) -> AsyncIterator[Sandbox]:
    """Reviews take 2 s (2,000 s times the tests' time scale): long enough that a test's next requests come before
    a review is through, even on a loaded machine (at 0.3 s one CI run saw a review finish first)."""
    async for sandbox in start_sandbox(
        mongo_client, merchant, log_dir, "sandbox-cards", {"WECHAT_SETTLEMENT_AUDIT_S": "2000"}
    ):
        yield sandbox


async def _reviewed(wechat: MerchantClient, sub_mchid: str, application_no: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        data: dict[str, Any] = (await wechat.settlement_application(sub_mchid, application_no)).ok()
        return data

    return await eventually(probe, until=lambda got: got["verify_result"] != "AUDITING", what="the review")


async def test_a_new_card_is_reviewed_then_becomes_the_current_card(cards: Sandbox, mongo_client: Client) -> None:
    wechat = MerchantClient(cards)
    sub_mchid = await wechat.shortcut(account_number="6225880000000000002")
    application_no = (await wechat.modify_settlement(sub_mchid, NEW_CARD, "欧阳明远")).ok()["application_no"]

    pending = (await wechat.settlement_application(sub_mchid, application_no)).ok()
    assert pending["verify_result"] == "AUDITING" and "verify_finish_time" not in pending
    assert (await wechat.settlement(sub_mchid)).ok()["account_number"].endswith("0002")  # the old card meanwhile
    again = await wechat.modify_settlement(sub_mchid, NEW_CARD)
    assert "审核中" in again.error(400, "INVALID_REQUEST")  # one change at a time

    done = await _reviewed(wechat, sub_mchid, application_no)
    assert (done["verify_result"], done["account_number"], done["account_name"]) == (
        "AUDIT_SUCCESS",
        "*" * 15 + "5671",
        "***远",
    )
    assert (done["account_type"], done["account_bank"], done["bank_name"]) == (
        "ACCOUNT_TYPE_PRIVATE",
        "工商银行",
        "中国工商银行北京分行",
    )
    assert done["verify_finish_time"].endswith("+08:00") and "verify_fail_reason" not in done
    current = (await wechat.settlement(sub_mchid)).ok()
    assert (current["account_number"], current["account_bank"], current["verify_result"]) == (
        "*" * 15 + "5671",
        "工商银行",
        "VERIFY_SUCCESS",
    )
    doc = await registry(mongo_client, cards, sub_mchid)
    assert doc is not None
    assert (doc["settlement"]["account_number_last4"], doc["settlement"]["account_bank"]) == ("5671", "工商银行")
    assert (doc["settlement"]["bank_name"], doc["settlement"]["account_name_masked"]) == (
        "中国工商银行北京分行",
        "***远",
    )


async def test_a_personal_card_failing_luhn_fails_its_review_and_the_card_stays(cards: Sandbox) -> None:
    wechat = MerchantClient(cards)
    sub_mchid = await wechat.shortcut(account_number="6225880000000000002")
    application_no = (await wechat.modify_settlement(sub_mchid, "6217856100012345670")).ok()["application_no"]
    failed = await _reviewed(wechat, sub_mchid, application_no)
    assert failed["verify_result"] == "AUDIT_FAIL" and "Luhn" in failed["verify_fail_reason"]
    assert (await wechat.settlement(sub_mchid)).ok()["account_number"].endswith("0002")
    # A corporate account is not a card: no Luhn rule.
    corporate = await wechat.modify_settlement(sub_mchid, "755912345678900", account_type="ACCOUNT_TYPE_BUSINESS")
    assert (await _reviewed(wechat, sub_mchid, corporate.ok()["application_no"]))["verify_result"] == "AUDIT_SUCCESS"


async def test_changes_need_a_known_sub_merchant_and_the_serial_of_their_key(cards: Sandbox) -> None:
    wechat = MerchantClient(cards)
    sub_mchid = await wechat.shortcut()
    (await wechat.modify_settlement("1600000000", NEW_CARD)).error(400, "PARAM_ERROR")
    (await wechat.settlement("1600000000")).error(400, "PARAM_ERROR")
    (await wechat.modify_settlement(sub_mchid, NEW_CARD, serial=None)).error(400, "PARAM_ERROR")
    (await wechat.modify_settlement(sub_mchid, NEW_CARD, serial=PUBLIC_KEY_ID)).error(400, "PARAM_ERROR")
    wrong_key = await wechat.modify_settlement(sub_mchid, NEW_CARD, key=PUBKEY_PUBLIC)
    assert "解密失败" in wrong_key.error(400, "PARAM_ERROR")
    (await wechat.modify_settlement(sub_mchid, "6217-8561")).error(400, "PARAM_ERROR")
    (await wechat.settlement_application(sub_mchid, "1000")).error(404, "RESOURCE_NOT_EXISTS")
    await cards.fault(target="wechat.settlement", action="refuse", code="FREQUENCY_LIMITED", status=429)
    (await wechat.modify_settlement(sub_mchid, NEW_CARD)).error(429, "FREQUENCY_LIMITED")
    await cards.fault(target="wechat.query", action="error_5xx", match={"kind": "settlement", "sub_mchid": sub_mchid})
    (await wechat.settlement(sub_mchid)).error(500, "SYSTEM_ERROR")
    assert (await wechat.settlement(sub_mchid)).ok()["verify_result"] == "VERIFY_SUCCESS"
