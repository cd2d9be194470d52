"""Onboarding and settlement cards wired into the WeChat stand-in: their store, the steps WeChat takes by itself,
the sub-merchant registry kept from the applications, and the routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from aiohttp import web

from services.sandbox.context import DB
from services.sandbox.wechat import domain as d
from services.sandbox.wechat import v3
from services.sandbox.wechat.domain import applyments as da
from services.sandbox.wechat.domain import sub_merchants as ds
from services.sandbox.wechat.merchant_store import MerchantStore, Step
from services.sandbox.wechat.runtime import WECHAT, Wechat
from shared.service import background
from shared.streams import Outcome

log = logging.getLogger("sandbox.wechat")

APPLYMENTS = "/v3/ecommerce/applyments"
SUB_MERCHANTS = "/v3/apply4sub/sub_merchants/{sub_mchid}"


@dataclass
class Merchants:
    wechat: Wechat
    store: MerchantStore
    # Rung when a step is scheduled, so a short one is not left waiting for the next poll.
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def now(self) -> datetime:
        return self.wechat.now()


MERCHANTS = web.AppKey("wechat_merchants", Merchants)


def merchants_of(request: web.Request) -> Merchants:
    return request.app[MERCHANTS]


# --- numbers WeChat mints ---------------------------------------------------------------------------------------------


async def mint_applyment_id(m: Merchants, sp_mchid: str, out_request_no: str) -> int:
    """微信支付申请单号: 16 digits, claimed by a unique insert."""
    while True:
        candidate = int("2000002" + m.wechat.ids.digits(9))
        if await m.store.claim_applyment_id(candidate, sp_mchid, out_request_no):
            return candidate


async def mint_sub_mchid(m: Merchants, applyment_id: int | None) -> str:
    """A 10-digit sub_mchid starting 16, once per application: racing steps of one application get the same one."""
    while True:
        claimed = await m.store.claim_sub_mchid("16" + m.wechat.ids.digits(8), applyment_id)
        if claimed is not None:
            return claimed


async def mint_application_no(m: Merchants, sub_mchid: str) -> str:
    """修改结算账户申请单号 (its shape is not documented; digits here)."""
    while True:
        candidate = "1" + m.wechat.ids.digits(17)
        if await m.store.claim_application_no(candidate, sub_mchid):
            return candidate


# --- applications move on -------------------------------------------------------------------------------------------


async def prepared(
    m: Merchants, state: da.Applyment, target: str | None
) -> tuple[str | None, da.AccountValidation | None]:
    """What moving to ``target`` needs: the sub_mchid (minted once) from NEED_SIGN on, the remittance to ask for in
    ACCOUNT_NEED_VERIFY."""
    sub_mchid = state.sub_mchid
    if target in da.WITH_SUB_MCHID and sub_mchid is None:
        sub_mchid = await mint_sub_mchid(m, state.applyment_id)
    validation = None
    if target == da.ACCOUNT_NEED_VERIFY:
        assert state.submission is not None and state.applyment_id is not None
        validation = da.account_validation(state.submission, state.applyment_id, m.now())
    return sub_mchid, validation


def step_id(sp_mchid: str, state: da.Applyment) -> str:
    return f"applyment:{sp_mchid}:{state.out_request_no}:{state.round}:{state.state}"


async def after_applyment(m: Merchants, sp_mchid: str, outcome: Outcome[da.Applyment]) -> None:
    """Mirror the application into the registry (once it has a sub-merchant) and schedule its next step."""
    state = outcome.state
    if not state.exists or state.submission is None:
        return
    if state.sub_mchid is not None and state.state in ds.REGISTRY_STATES:
        submission = state.submission
        card = ds.Settlement(
            account_type=submission.account_type,
            account_bank=submission.account_bank,
            bank_name=submission.bank_name,
            bank_branch_id=submission.bank_branch_id,
            bank_address_code=submission.bank_address_code,
            account_number_last4=submission.account_number_last4,
            account_number_masked=submission.account_number_masked,
            account_name_masked=submission.account_name_masked,
        )
        mirror = ds.MirrorApplyment(
            sub_mchid=state.sub_mchid,
            sp_mchid=sp_mchid,
            state=state.state,
            applyment_id=state.applyment_id,
            out_request_no=state.out_request_no,
            applyment_seq=outcome.seq,
            merchant_shortname=submission.merchant_shortname,
            merchant_name=submission.merchant_name,
            settlement=card,
            now=m.now(),
        )
        await m.store.run_sub_merchant(state.sub_mchid, mirror)
    if da.next_state(state) is not None:
        step_s = m.wechat.scaled(m.wechat.settings.wechat_applyment_step_s)
        await schedule(
            m,
            Step(
                step_id(sp_mchid, state),
                "applyment",
                sp_mchid,
                state.out_request_no,
                state.state,
                state.round,
                m.now() + step_s,
            ),
        )


async def schedule(m: Merchants, step: Step) -> None:
    await m.store.schedule(step)
    m.wake.set()


async def take_step(m: Merchants, step: Step) -> None:
    """Apply one due step. Its command id makes a retry after a crash find it recorded; a step a test overtook
    (the application is no longer where the step expected it) is dropped."""
    command_id = f"wechat.step:{step.id}"
    try:
        if step.kind == "applyment":
            state, _ = await m.store.applyment(step.sp_mchid, step.key)
            if state.state == step.expected and state.round == step.round:
                sub_mchid, validation = await prepared(m, state, da.next_state(state))
                cmd = da.Advance(step.expected, step.round, m.now(), sub_mchid, validation)
                outcome = await m.store.run_applyment(step.sp_mchid, step.key, cmd, command_id=command_id)
                await after_applyment(m, step.sp_mchid, outcome)
        else:
            review = ds.ReviewSettlementChange(step.expected, m.now())
            await m.store.run_sub_merchant(step.key, review, command_id=command_id)
    except (d.StateError, d.WechatError) as exc:
        log.info("step %s dropped: %s", step.id, exc)
    await m.store.done(step.id)


async def run(m: Merchants, stop: asyncio.Event, poll_s: float = 0.05) -> None:
    while not stop.is_set():
        due = await m.store.due_now(m.now())
        for step in due:
            await take_step(m, step)
        if not due:
            m.wake.clear()
            try:
                await asyncio.wait_for(m.wake.wait(), timeout=poll_s)
            except TimeoutError:
                pass


def setup(app: web.Application) -> None:
    """Register the store (after the WeChat context it builds on), the stepper and the routes; call it before the
    catch-all /v3 route."""
    from services.sandbox.wechat import applyments, settlement

    async def merchants_ctx(app: web.Application) -> AsyncIterator[None]:
        wechat = app[WECHAT]
        store = MerchantStore(app[DB], wechat.clock)
        await store.ensure_indexes()
        app[MERCHANTS] = Merchants(wechat, store)
        yield

    async def step(app: web.Application, stop: asyncio.Event) -> None:
        await run(app[MERCHANTS], stop)

    app.cleanup_ctx.append(merchants_ctx)
    app.cleanup_ctx.append(background("wechat-merchant-steps", step))

    r = app.router
    r.add_post("/sandbox/wechat/applyments/{applyment_id}/decide", applyments.decide_action)
    r.add_post("/sandbox/wechat/applyments/{applyment_id}/sign", applyments.sign_action)
    r.add_post("/sandbox/wechat/sub-merchants", applyments.create_sub_merchant)
    r.add_post(APPLYMENTS + "/", v3.route(applyments.submit))
    r.add_get(APPLYMENTS + "/out-request-no/{out_request_no}", v3.route(applyments.query_by_out_request_no))
    r.add_get(APPLYMENTS + "/{applyment_id}", v3.route(applyments.query_by_applyment_id))
    r.add_post(SUB_MERCHANTS + "/modify-settlement", v3.route(settlement.modify))
    r.add_get(SUB_MERCHANTS + "/application/{application_no}", v3.route(settlement.query_application))
    r.add_get(SUB_MERCHANTS + "/settlement", v3.route(settlement.query_settlement))
