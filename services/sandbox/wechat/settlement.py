"""A sub-merchant's settlement card: change it (encrypted number and name, reviewed later), follow the change, read
the current card (masked)."""

from __future__ import annotations

from typing import Any

from services.sandbox.wechat import domain as d
from services.sandbox.wechat import sensitive
from services.sandbox.wechat.domain import sub_merchants as ds
from services.sandbox.wechat.merchant_store import Step
from services.sandbox.wechat.merchants import Merchants, merchants_of, mint_application_no, schedule
from services.sandbox.wechat.v3 import Call, Reply
from shared.protocols import wechatpay as wp


async def _sub_merchant(m: Merchants, call: Call) -> ds.SubMerchant:
    sub_mchid = call.request.match_info["sub_mchid"]
    state = await m.store.sub_merchant(sub_mchid) if sub_mchid.isdigit() else ds.SubMerchant()
    if not state.exists or state.sp_mchid != call.mchid:
        raise d.param_error(
            f"二级商户号 {sub_mchid} 不存在或与服务商无受理关系 (no sub-merchant of this platform has this number)",
            {"location": "path", "field": "sub_mchid"},
        )
    return state


async def modify(call: Call) -> Reply:
    m = merchants_of(call.request)
    req = call.body(ds.ModifySettlementRequest)
    sub_mchid = call.request.match_info["sub_mchid"]
    call.fault("wechat.settlement", {"sub_mchid": sub_mchid}, actions=set())
    state = await _sub_merchant(m, call)
    key = sensitive.key_named(call.wechat.keys, call.request.headers.get(wp.HEADER_SERIAL), "account_number")
    number = sensitive.decrypt(key, req.account_number, "account_number")
    name = sensitive.decrypt(key, req.account_name, "account_name") if req.account_name is not None else None
    assert state.settlement is not None
    card, failure = ds.requested_settlement(req, number, name, current_name_masked=state.settlement.account_name_masked)
    del number, name
    application_no = await mint_application_no(m, sub_mchid)
    now = m.now()
    await m.store.run_sub_merchant(sub_mchid, ds.RequestSettlementChange(application_no, card, failure, now))
    due_at = now + m.wechat.scaled(m.wechat.settings.wechat_settlement_audit_s)
    await schedule(
        m,
        Step(
            f"settlement:{sub_mchid}:{application_no}", "settlement", call.mchid, sub_mchid, application_no, 0, due_at
        ),
    )
    return Reply(200, {"application_no": application_no})


async def query_application(call: Call) -> Reply:
    m = merchants_of(call.request)
    application_no = call.request.match_info["application_no"]
    call.fault("wechat.query", {"kind": "settlement", "application_no": application_no}, actions=set())
    state = await _sub_merchant(m, call)
    change = state.change(application_no)
    if change is None:
        raise d.resource_not_exists("申请单不存在 (no settlement change with this application_no)")
    card = change.card
    answer: dict[str, Any] = {
        "account_name": card.account_name_masked,
        "account_type": card.account_type,
        "account_bank": card.account_bank,
        "account_number": card.account_number_masked,
        "verify_result": change.verify_result,
    }
    if card.bank_name is not None:
        answer["bank_name"] = card.bank_name
    if card.bank_branch_id is not None:
        answer["bank_branch_id"] = card.bank_branch_id
    if change.fail_reason is not None:
        answer["verify_fail_reason"] = change.fail_reason
    if change.finished_at is not None:
        answer["verify_finish_time"] = d.wire_time(change.finished_at)
    return Reply(200, answer)


async def query_settlement(call: Call) -> Reply:
    m = merchants_of(call.request)
    call.fault("wechat.query", {"kind": "settlement", "sub_mchid": call.request.match_info["sub_mchid"]}, set())
    state = await _sub_merchant(m, call)
    card = state.settlement
    assert card is not None
    answer: dict[str, Any] = {
        "account_type": card.account_type,
        "account_bank": card.account_bank,
        "account_number": card.account_number_masked,
        "verify_result": card.verify_result,
    }
    if card.bank_name is not None:
        answer["bank_name"] = card.bank_name
    if card.bank_branch_id is not None:
        answer["bank_branch_id"] = card.bank_branch_id
    return Reply(200, answer)
