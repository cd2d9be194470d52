"""Onboarding as a WeChat Pay e-commerce sub-merchant over a fake WeChat: invited sellers only, the out_request_no
minted once and sent again with identical content, polling to FINISH with exactly one `wallet.collection_activated`,
REJECTED resubmitted under a new number, masks only; the settlement card; the Alipay payee."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.wallet.collection_domain import ActivationRequest, ProviderRefusal
from shared.errors import AppError, Conflict
from shared.providers.errors import ProviderRejected, ProviderUnavailable
from tests.unit.wallet.collection_fakes import World, activation, id_number, world

CLEAR = ("张三", id_number(), "13800138000", "6225880000000000002")


async def _invited(w: World, level: int = 6) -> tuple[str, str]:
    seller, shop = await w.open_shop(level, name="旧物小铺")
    batch = await w.collection.run_batch("bat_u", 5, 1_000)
    assert seller in batch.seller_ids
    return seller, shop


def _request(**overrides: Any) -> ActivationRequest:
    return ActivationRequest.model_validate(activation(**overrides))


async def _everything_stored(w: World) -> str:
    dumps = []
    for name in list(w.db._collections):  # every collection the wallet wrote: streams, projections, submissions
        dumps.extend([json.dumps(doc, default=str, ensure_ascii=False) async for doc in w.db[name].find({})])
    return "\n".join(dumps)


async def test_a_seller_who_was_not_invited_cannot_apply() -> None:
    w = await world()
    seller, _ = await w.open_shop(2)
    with pytest.raises(Conflict) as err:
        await w.collection.activate(seller, _request())
    assert err.value.code == "not_invited"
    assert w.wechat.calls == [] and await w.events("wallet.onboarding_requested") == []


async def test_activation_sends_the_encrypted_application_and_keeps_only_masks() -> None:
    w = await world()
    seller, shop = await _invited(w)
    state = await w.collection.activate(seller, _request())
    assert state.status == "applying" and state.out_request_no == f"onb_{seller}_1"
    (body,) = w.wechat.bodies[state.out_request_no]
    assert body["organization_type"] == "2401"
    assert body["account_info"]["bank_account_type"] == "75"
    assert body["sales_scene_info"] == {"store_name": "旧物小铺"}
    clear = {
        "id_card_name": w.wechat.decrypted(body["id_card_info"]["id_card_name"]),
        "id_card_number": w.wechat.decrypted(body["id_card_info"]["id_card_number"]),
        "account_name": w.wechat.decrypted(body["account_info"]["account_name"]),
        "account_number": w.wechat.decrypted(body["account_info"]["account_number"]),
        "contact_name": w.wechat.decrypted(body["contact_info"]["contact_name"]),
        "mobile_phone": w.wechat.decrypted(body["contact_info"]["mobile_phone"]),
    }
    assert clear == {
        "id_card_name": "张三",
        "id_card_number": id_number(),
        "account_name": "张三",
        "account_number": "6225880000000000002",
        "contact_name": "张三",
        "mobile_phone": "13800138000",
    }
    assert state.masked["real_name_masked"] == "张*" and state.masked["account_number_masked"] == "****0002"
    stored = await _everything_stored(w)
    for secret in CLEAR:
        assert secret not in stored, "a clear sensitive value was stored"
    (requested,) = await w.events("wallet.onboarding_requested")
    assert requested["payload"]["shop_id"] == shop and requested["payload"]["mobile_masked"] == "138****8000"


async def test_the_number_and_content_are_sent_again_unchanged_until_wechat_answers() -> None:
    w = await world(provider_attempts=2)
    seller, _ = await _invited(w)
    w.wechat.fail_next("submit_applyment", *(ProviderUnavailable("time-out") for _ in range(4)))
    state = await w.collection.activate(seller, _request())
    assert state.status == "requested"  # recorded, not answered
    # The seller tries again (with other data: the application under way is what is sent).
    again = await w.collection.activate(seller, _request(mobile="13900139000"))
    assert again.status == "requested"
    w.clock.advance(31)
    assert (await w.collection.poll())["changed"] == 1  # the leased job sends it once more: answered now
    number = f"onb_{seller}_1"
    assert w.wechat.called("submit_applyment") == [number] * 5
    bodies = w.wechat.bodies[number]
    assert len(bodies) == 1  # the four failures never reached the fake's book; the fifth did
    assert (await w.collection.application(seller)).status == "applying"
    sent = [json.dumps(b, sort_keys=True) for b in bodies]
    assert len(set(sent)) == 1
    assert w.wechat.decrypted(bodies[0]["contact_info"]["mobile_phone"]) == "13800138000"


async def test_a_lost_answer_is_healed_by_the_query() -> None:
    w = await world(provider_attempts=1)
    seller, _ = await _invited(w)
    w.wechat.fail_next("submit_applyment", ProviderUnavailable("answer lost"))
    await w.collection.activate(seller, _request())
    # It did reach WeChat after all (a resend answers the same application).
    w.clock.advance(31)
    await w.collection.poll()
    assert (await w.collection.application(seller)).status == "applying"
    assert len(w.wechat.applyments) == 1


async def test_finish_emits_collection_activated_exactly_once_however_often_it_is_seen() -> None:
    w = await world()
    seller, shop = await _invited(w)
    state = await w.collection.activate(seller, _request())
    number = state.out_request_no
    assert number is not None
    w.wechat.decide(number, "AUDITING")
    after, changed = await w.collection.refresh(seller)
    assert changed and after.provider_state == "AUDITING" and after.status == "applying"
    w.wechat.decide(number, "NEED_SIGN")
    after, _ = await w.collection.refresh(seller)
    assert after.sub_mchid is not None and after.sign_url is not None
    assert await w.collection.sub_mchid_of(seller) is None  # known, but not active before FINISH
    assert await w.events("wallet.collection_activated") == []
    w.wechat.decide(number, "FINISH")
    results = await asyncio.gather(*(w.collection.refresh(seller) for _ in range(3)))
    w.clock.advance(3600)
    await w.collection.poll()
    await w.collection.poll()
    await w.collection.refresh(seller)
    (activated,) = await w.events("wallet.collection_activated")
    sub_mchid = w.wechat.applyments[number]["sub_mchid"]
    assert activated["payload"] == {
        "seller_id": seller,
        "shop_id": shop,
        "account_id": f"acc_{seller}.wechat_available",
        "sub_mchid": sub_mchid,
    }
    assert all(state.activated for state, _ in results)
    assert await w.collection.sub_mchid_of(seller) == sub_mchid
    with pytest.raises(Conflict) as err:
        await w.collection.activate(seller, _request())
    assert err.value.code == "already_active"


async def test_rejected_shows_the_reason_and_a_resubmission_gets_a_new_number() -> None:
    w = await world()
    seller, _ = await _invited(w)
    first = await w.collection.activate(seller, _request())
    assert first.out_request_no is not None
    w.wechat.decide(first.out_request_no, "REJECTED", "银行卡号校验失败 (a personal card number fails Luhn)")
    rejected, _ = await w.collection.refresh(seller)
    assert rejected.status == "rejected"
    assert rejected.audit_detail == [
        {"param_name": "account_number", "reject_reason": "银行卡号校验失败 (a personal card number fails Luhn)"}
    ]
    second = await w.collection.activate(seller, _request(bank_card={"account_number": "6225880137000010"}))
    assert second.attempt == 2 and second.out_request_no == f"onb_{seller}_2" != first.out_request_no
    assert second.status == "applying" and second.audit_detail == []
    assert second.masked["account_number_masked"] == "****0010"
    # The old number is no longer followed.
    w.wechat.decide(second.out_request_no, "FINISH")
    w.clock.advance(31)
    await w.collection.poll()
    assert (await w.collection.application(seller)).activated
    assert w.wechat.called("query_applyment")[-1] == second.out_request_no


async def test_a_submission_wechat_refuses_is_shown_and_the_seller_may_apply_again() -> None:
    w = await world()
    seller, _ = await _invited(w)
    w.wechat.fail_next("submit_applyment", ProviderRejected("PARAM_ERROR", "contact_info.mobile_phone 格式错误"))
    with pytest.raises(ProviderRefusal) as err:
        await w.collection.activate(seller, _request())
    assert err.value.status == 422 and err.value.details["provider_code"] == "PARAM_ERROR"
    state = await w.collection.application(seller)
    assert state.status == "refused" and state.refusal == {
        "provider_code": "PARAM_ERROR",
        "message": "contact_info.mobile_phone 格式错误",
    }
    again = await w.collection.activate(seller, _request())
    assert again.attempt == 2 and again.status == "applying"


async def test_an_application_under_way_cannot_be_replaced() -> None:
    w = await world()
    seller, _ = await _invited(w)
    await w.collection.activate(seller, _request())
    with pytest.raises(Conflict) as err:
        await w.collection.activate(seller, _request())
    assert err.value.code == "application_in_progress"


async def test_concurrent_activations_send_one_application() -> None:
    w = await world()
    seller, _ = await _invited(w)
    states = await asyncio.gather(
        w.collection.activate(seller, _request()),
        w.collection.activate(seller, _request(mobile="13900139000")),
        return_exceptions=True,
    )
    numbers = {s.out_request_no for s in states if not isinstance(s, BaseException)}
    assert numbers == {f"onb_{seller}_1"}
    assert len(await w.events("wallet.onboarding_requested")) == 1
    bodies = [json.dumps(b, sort_keys=True) for b in w.wechat.bodies[f"onb_{seller}_1"]]
    assert len(set(bodies)) == 1  # the same content every time the number was sent


async def test_poll_backs_off_while_nothing_changes() -> None:
    w = await world(poll_after_s=10, retry_backoff_max_s=40)
    seller, _ = await _invited(w)
    await w.collection.activate(seller, _request())
    looks = []
    for _ in range(12):
        w.clock.advance(10)
        looks.append((await w.collection.poll())["checked"])
    # Due after 10 s, then 10, 20, 40, 40 … while CHECKING stays CHECKING.
    assert sum(looks) < 8 and looks[0] == 1


async def test_the_settlement_card_goes_through_wechat_for_an_active_seller_only() -> None:
    w = await world()
    seller, _ = await _invited(w)
    with pytest.raises(AppError) as err:
        await w.collection.settlement_card(seller)
    assert err.value.code == "not_active"
    state = await w.collection.activate(seller, _request())
    assert state.out_request_no is not None
    w.wechat.decide(state.out_request_no, "FINISH")
    await w.collection.refresh(seller)
    _, application_no = await w.collection.change_settlement_card(
        seller, account_bank="工商银行", bank_address_code="110000", account_number="6222020200112233445",
        account_name="张三",
    )  # fmt: skip
    found = await w.collection.settlement_card(seller)
    assert found["application_no"] == application_no
    assert found["change"]["verify_result"] == "AUDITING"
    assert found["card"]["verify_result"] == "VERIFY_SUCCESS"
    (event,) = await w.events("wallet.settlement_card_change_requested")
    assert event["payload"]["account_number_masked"] == "****3445"
    assert "6222020200112233445" not in await _everything_stored(w)


async def test_the_alipay_account_is_bound_once_and_a_retry_reuses_its_number() -> None:
    w = await world(provider_attempts=1)
    seller = "usr_alipay_seller"
    assert await w.collection.alipay_account_of(seller) is None
    w.alipay.fail_next("bind_receivers", ProviderUnavailable("time-out"))
    with pytest.raises(AppError) as err:
        await w.collection.bind_alipay(seller, "2088101122334455", "张三")
    assert err.value.status == 503
    assert await w.collection.alipay_account_of(seller) is None
    payee = await w.collection.bind_alipay(seller, "2088101122334455", "张三")
    assert payee.status == "bound" and payee.name_masked == "张*"
    first, second = w.alipay.called("bind_receivers")
    assert first == second
    assert await w.collection.alipay_account_of(seller) == "2088101122334455"
    await w.collection.bind_alipay(seller, "2088101122334455", "张三")
    assert len(w.alipay.called("bind_receivers")) == 2  # bound already: no call
    # Another account: a new number; refused by Alipay, the bound one stays.
    w.alipay.fail_next("bind_receivers", ProviderRejected("ACQ.INVALID_PARAMETER", "参数无效"))
    with pytest.raises(ProviderRefusal):
        await w.collection.bind_alipay(seller, "2088109988776655", None)
    assert w.alipay.called("bind_receivers")[-1] != first
    assert await w.collection.alipay_account_of(seller) == "2088101122334455"
    assert (await w.collection.payee(seller)).status == "refused"
