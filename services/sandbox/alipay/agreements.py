"""Password-free agreements: the page.sign URL, the buyer signing it, unsign and query."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.alipay import domain as d
from services.sandbox.alipay import identity, notify
from services.sandbox.alipay.gateway import Call, Handler, PageHandler, render, respond, verify_buyer_params
from services.sandbox.alipay.runtime import ALIPAY, Alipay, buyer_error, fault_action
from services.sandbox.faults import ActiveFault
from shared.errors import AppError
from shared.http.app import json_response, parse_body
from shared.protocols.alipay import AlipayMalformed, parse_form, response_key

SIGN_METHOD = "alipay.user.agreement.page.sign"
INVALID = "INVALID_PARAMETER"
SYSTEM_ERROR = ("SYSTEM_ERROR", "系统繁忙")


async def sign_page(alipay: Alipay, call: Call) -> web.StreamResponse:
    """What the buyer's browser shows for a signed page.sign URL; signing itself is the buyer action below."""
    try:
        biz = d.parse_biz(d.AgreementSignBiz, call.biz, INVALID)
    except d.BizError as err:
        return respond(render(response_key(SIGN_METHOD), err.response(), alipay))
    limits = d.agreement_limits(biz, alipay.limits())
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Alipay sandbox: sign agreement</title></head><body>"
        f"<h1>签约 {html.escape(biz.personal_product_code)}</h1>"
        f"<p>scene {html.escape(biz.sign_scene)}; single limit {d.yuan(limits.single_fen)} yuan, "
        f"daily limit {d.yuan(limits.daily_fen)} yuan.</p>"
        '<p>Sandbox: the buyer signs with POST /sandbox/alipay/agreements/sign {"sign_url", "user_id"}.</p>'
        "</body></html>"
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8")


def _agreement_response(state: d.AgreementState, alipay: Alipay) -> dict[str, Any]:
    terms = state.terms
    assert terms is not None
    response: dict[str, Any] = {
        **d.SUCCESS,
        "agreement_no": terms.agreement_no,
        # Under the OpenID regime the principal is named by its open id only.
        **({"principal_open_id": terms.open_id} if terms.open_id else {"principal_id": terms.user_id}),
        "alipay_logon_id": d.masked_logon_id(terms.user_id),
        "personal_product_code": terms.personal_product_code,
        "sign_scene": terms.sign_scene,
        "sign_time": d.wire_time(terms.signed_at),
        "valid_time": d.wire_time(terms.signed_at),
        "invalid_time": d.wire_time(terms.invalid_at),
        "status": state.status(alipay.clock.now()),
        "third_party_type": "PARTNER",
        "single_quota": d.yuan(terms.limits.single_fen),
    }
    if terms.external_agreement_no:
        response["external_agreement_no"] = terms.external_agreement_no
    if terms.external_logon_id:
        response["external_logon_id"] = terms.external_logon_id
    return response


async def _find(alipay: Alipay, ref: d.AgreementRefBiz) -> str:
    """agreement_no wins; otherwise the newest agreement of this user, product and external number."""
    if ref.agreement_no:
        return ref.agreement_no
    assert ref.external_agreement_no is not None
    user_id = ref.alipay_user_id
    if not user_id and ref.alipay_open_id:
        user_id = await alipay.store.user_of("openId", ref.alipay_open_id)
    for doc in await alipay.store.agreement_nos_by_external(alipay.app_id, ref.external_agreement_no):
        if doc["user_id"] != user_id or doc["personal_product_code"] != ref.personal_product_code:
            continue
        if ref.sign_scene and doc["sign_scene"] != ref.sign_scene:
            continue
        return str(doc["_id"])
    raise d.BizError(*d.USER_AGREEMENT_NOT_EXIST)


async def agreement_query(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    ref = d.parse_biz(d.AgreementRefBiz, call.biz, INVALID)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    state = await alipay.store.agreement(await _find(alipay, ref))
    if state.terms is None or state.terms.app_id != alipay.app_id or state.unsigned_at is not None:
        raise d.BizError(*d.USER_AGREEMENT_NOT_EXIST)
    return _agreement_response(state, alipay)


async def agreement_unsign(alipay: Alipay, call: Call, fault: ActiveFault | None) -> dict[str, Any]:
    ref = d.parse_biz(d.AgreementRefBiz, call.biz, INVALID)
    if fault_action(fault, "decline"):
        raise d.BizError(*SYSTEM_ERROR)
    agreement_no = await _find(alipay, ref)
    current = await alipay.store.agreement(agreement_no)
    if current.terms is None or current.terms.app_id != alipay.app_id:
        raise d.BizError(*d.USER_AGREEMENT_NOT_EXIST)
    cmd = d.UnsignAgreement(alipay.clock.now(), call.notify_url)
    outcome = await alipay.store.run_agreement(agreement_no, cmd)
    await notify.agreement_unsigned(alipay, outcome.state, call.notify_url or alipay.settings.default_notify_url)
    return dict(d.SUCCESS)


# --- buyer action (test-only) -----------------------------------------------------------------------------------------


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sign_url: str = Field(min_length=1, max_length=16_384)
    user_id: str | None = Field(default=None, pattern=r"^2088[0-9]{12}$")
    open_id: str | None = Field(default=None, pattern=r"^0[0-9A-Za-z]{43,63}$")


def sign_url_params(sign_url: str) -> dict[str, str]:
    """The signed parameters of a sign URL: a gateway URL's query, or the ``sign_params`` of an alipays:// link."""
    params = parse_form(urlsplit(sign_url).query)
    if "sign_params" in params:
        return parse_form(params["sign_params"])
    return params


async def buyer_sign(request: web.Request) -> web.Response:
    """The buyer opens the sign URL and agrees: the agreement is NORMAL from now on and dut_user_sign is sent."""
    body = await parse_body(request, SignRequest)
    alipay = request.app[ALIPAY]
    try:
        params = sign_url_params(body.sign_url)
    except AlipayMalformed as exc:
        raise AppError(str(exc), code="invalid_sign_url", status=400) from None
    call = verify_buyer_params(alipay, params, SIGN_METHOD)
    try:
        biz = d.parse_biz(d.AgreementSignBiz, call.biz, INVALID)
    except d.BizError as err:
        raise buyer_error(err) from None
    if not body.user_id and not body.open_id:
        raise AppError("the buyer is named by user_id or open_id", code="invalid_request", status=422)
    user_id, open_id = await identity.buyer(alipay, body.user_id, body.open_id)
    now = alipay.clock.now()
    agreement_no = alipay.ids.agreement_no(now)
    terms = d.AgreementTerms(
        agreement_no=agreement_no,
        app_id=alipay.app_id,
        user_id=user_id,
        open_id=open_id,
        personal_product_code=biz.personal_product_code,
        product_code=biz.product_code,
        sign_scene=biz.sign_scene,
        external_agreement_no=biz.external_agreement_no,
        external_logon_id=biz.external_logon_id,
        limits=d.agreement_limits(biz, alipay.limits()),
        signed_at=now,
        invalid_at=d.agreement_invalid_time(now, biz.sign_validity_period),
        notify_url=call.notify_url or alipay.settings.default_notify_url or None,
    )
    outcome = await alipay.store.run_agreement(agreement_no, d.SignAgreement(terms))
    await notify.agreement_signed(alipay, outcome.state)
    return json_response({"agreement_no": agreement_no})


METHODS: dict[str, Handler] = {
    "alipay.user.agreement.query": agreement_query,
    "alipay.user.agreement.unsign": agreement_unsign,
}
PAGES: dict[str, PageHandler] = {SIGN_METHOD: sign_page}
