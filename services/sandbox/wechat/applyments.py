"""二级商户进件: submit an application (sensitive fields decrypted, checked, kept masked), query it, and the test
actions that decide it, sign it, or make a finished sub-merchant at once."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.wechat import domain as d
from services.sandbox.wechat import sensitive
from services.sandbox.wechat.domain import applyments as da
from services.sandbox.wechat.domain import sub_merchants as ds
from services.sandbox.wechat.merchants import (
    Merchants,
    after_applyment,
    merchants_of,
    mint_applyment_id,
    mint_sub_mchid,
    prepared,
)
from services.sandbox.wechat.v3 import Call, Reply
from shared.errors import AppError, Conflict, NotFound
from shared.http.app import json_response, parse_body
from shared.protocols import wechatpay as wp

SIGN_URL = "https://pay.weixin.qq.com/public/apply4ec_sign/s?applymentId={applyment_id}"
LEGAL_VALIDATION_URL = "https://pay.weixin.qq.com/public/apply4ec_sign/legal?applymentId={applyment_id}"


def view(state: da.Applyment) -> dict[str, Any]:
    """The query answer: each optional field only in the states WeChat returns it in (docs/providers.md 1)."""
    assert state.applyment_id is not None
    current = state.state
    answer: dict[str, Any] = {
        "applyment_state": current,
        "applyment_state_desc": da.STATE_DESC[current],
        "sign_state": "UNSIGNED" if current == da.NEED_SIGN else "SIGNED" if state.signed else "NOT_SIGNABLE",
        "out_request_no": state.out_request_no,
        "applyment_id": state.applyment_id,
    }
    if current == da.NEED_SIGN:
        answer["sign_url"] = SIGN_URL.format(applyment_id=state.applyment_id)
    if current in da.WITH_SUB_MCHID and state.sub_mchid is not None:
        answer["sub_mchid"] = state.sub_mchid
    if current == da.ACCOUNT_NEED_VERIFY and state.validation is not None:
        v = state.validation
        answer["account_validation"] = {
            "account_name": v.account_name,
            "account_no": v.account_no,
            "pay_amount": v.pay_amount,
            "destination_account_number": v.destination_account_number,
            "destination_account_name": v.destination_account_name,
            "destination_account_bank": v.destination_account_bank,
            "city": v.city,
            "remark": v.remark,
            "deadline": d.wire_time(v.deadline),
        }
        answer["legal_validation_url"] = LEGAL_VALIDATION_URL.format(applyment_id=state.applyment_id)
    if current in (da.REJECTED, da.FROZEN):
        answer["audit_detail"] = [
            {"param_name": a.param_name, "reject_reason": a.reject_reason} for a in state.audit_detail
        ]
    return answer


def _not_found() -> d.WechatError:
    return d.resource_not_exists("申请单不存在 (no application with this number for this platform)")


async def submit(call: Call) -> Reply:
    m = merchants_of(call.request)
    req = call.body(da.ApplymentRequest)
    call.fault("wechat.applyment", {"out_request_no": req.out_request_no}, actions=set())
    key = sensitive.key_named(call.wechat.keys, call.request.headers.get(wp.HEADER_SERIAL), "fields")
    # The clear values live in this dict only, while the submission is checked; only masks are kept.
    clear = {name: sensitive.decrypt(key, value, name) for name, value in req.encrypted_fields().items()}
    submission = da.submission_from(req, clear)
    del clear
    state, _ = await m.store.applyment(call.mchid, req.out_request_no)
    if state.exists and state.state != da.REJECTED:
        # The same out_request_no is the same application: answered as first accepted (the body is not compared).
        return Reply(200, {"applyment_id": state.applyment_id, "out_request_no": state.out_request_no})
    applyment_id = state.applyment_id or await mint_applyment_id(m, call.mchid, req.out_request_no)
    cmd = da.SubmitApplyment(applyment_id, req.out_request_no, submission, m.now())
    outcome = await m.store.run_applyment(call.mchid, req.out_request_no, cmd)
    await after_applyment(m, call.mchid, outcome)
    return Reply(200, {"applyment_id": outcome.state.applyment_id, "out_request_no": outcome.state.out_request_no})


async def query_by_out_request_no(call: Call) -> Reply:
    out_request_no = call.request.match_info["out_request_no"]
    call.fault("wechat.query", {"kind": "applyment", "out_request_no": out_request_no}, actions=set())
    state, _ = await merchants_of(call.request).store.applyment(call.mchid, out_request_no)
    if not state.exists:
        raise _not_found()
    return Reply(200, view(state))


async def _by_id(m: Merchants, applyment_id: str, sp_mchid: str | None) -> tuple[str, da.Applyment]:
    found = await m.store.by_applyment_id(applyment_id) if applyment_id.isdigit() else None
    if found is None or (sp_mchid is not None and found[0] != sp_mchid):
        raise _not_found()
    state, _ = await m.store.applyment(*found)
    if not state.exists or str(state.applyment_id) != applyment_id:
        raise _not_found()  # a number claimed by a submission that lost to the application already there
    return found[0], state


async def query_by_applyment_id(call: Call) -> Reply:
    applyment_id = call.request.match_info["applyment_id"]
    call.fault("wechat.query", {"kind": "applyment", "applyment_id": applyment_id}, actions=set())
    _, state = await _by_id(merchants_of(call.request), applyment_id, call.mchid)
    return Reply(200, view(state))


# --- test-only actions ------------------------------------------------------------------------------------------------


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: str = Field(min_length=1, max_length=32)
    reason: str | None = Field(default=None, min_length=1, max_length=256)


async def _act(request: web.Request, make: Any) -> web.Response:
    m = merchants_of(request)
    try:
        sp_mchid, state = await _by_id(m, request.match_info["applyment_id"], None)
    except d.WechatError:
        raise NotFound(f"no application {request.match_info['applyment_id']}", code="applyment_not_found") from None
    cmd = await make(m, state)
    try:
        outcome = await m.store.run_applyment(sp_mchid, state.out_request_no, cmd)
    except d.StateError as exc:
        raise Conflict(str(exc), code="invalid_applyment_state") from None
    await after_applyment(m, sp_mchid, outcome)
    return json_response(view(outcome.state))


async def decide_action(request: web.Request) -> web.Response:
    """Test-only: WeChat decides an application now (REJECTED or FROZEN with a reason, or a later state)."""
    body = await parse_body(request, DecideRequest)
    if body.state not in da.DECIDABLE:
        raise AppError(f"state must be one of {sorted(da.DECIDABLE)}", code="invalid_applyment_state", status=422)

    async def make(m: Merchants, state: da.Applyment) -> da.Decide:
        sub_mchid, validation = await prepared(m, state, body.state)
        return da.Decide(body.state, body.reason, m.now(), sub_mchid, validation)

    return await _act(request, make)


async def sign_action(request: web.Request) -> web.Response:
    """Test-only: the seller's administrator signs at sign_url; a NEED_SIGN application becomes FINISH."""

    async def make(m: Merchants, state: da.Applyment) -> da.Sign:
        return da.Sign(m.now())

    return await _act(request, make)


class SubMerchantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchant_shortname: str = Field(min_length=1, max_length=64)
    account_bank: str = Field(default="招商银行", min_length=1, max_length=128)
    account_number: str = Field(default="6225880000000000002", pattern=r"^\d{8,30}$")
    bank_name: str | None = Field(default=None, max_length=128)


async def create_sub_merchant(request: web.Request) -> web.Response:
    """Test-only: a FINISH sub-merchant at once, with no application (for tests of what sub-merchants do)."""
    m = merchants_of(request)
    body = await parse_body(request, SubMerchantRequest)
    sub_mchid = await mint_sub_mchid(m, None)
    card = ds.settlement_of(
        account_type=da.ACCOUNT_TYPE_PRIVATE,
        account_bank=body.account_bank,
        bank_name=body.bank_name,
        bank_branch_id=None,
        bank_address_code=None,
        account_number=body.account_number,
        account_name_masked=da.mask_name("测试卖家"),
    )
    cmd = ds.MirrorApplyment(
        sub_mchid=sub_mchid,
        sp_mchid=m.wechat.mchid,
        state=da.FINISH,
        applyment_id=None,
        out_request_no=None,
        applyment_seq=0,
        merchant_shortname=body.merchant_shortname,
        merchant_name=None,
        settlement=card,
        now=m.now(),
    )
    await m.store.run_sub_merchant(sub_mchid, cmd)
    return json_response({"sub_mchid": sub_mchid}, 201)
