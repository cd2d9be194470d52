"""Details the docs fix: 3 immediate re-sends before the 4m… schedule, one notify_id across re-sends, no empty-valued
notification parameters, and common parameters in the URL with only biz_content in the form body."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

import aiohttp

from shared.protocols import alipay as ap
from tests.integration.sandbox.alipay_support import (
    PLATFORM_PUBLIC,
    AlipayClient,
    form,
    fresh,
    notifications_to,
    notify_path,
)
from tests.integration.sandbox.conftest import Merchant, Sandbox
from tests.support.infra import eventually


async def test_a_refused_notification_is_re_sent_three_times_at_once_then_after_four_minutes(
    sandbox: Sandbox, merchant: Merchant
) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no, path = fresh("ord"), notify_path()
    merchant.answer(path, *[(200, "fail")] * 4)
    await alipay.paid(out_trade_no, "2.00", notify_url=merchant.url + path)

    deliveries = await notifications_to(merchant, path, count=5, timeout_s=15)
    assert len({form(r)["notify_id"] for r in deliveries}) == 1
    items = await eventually(
        lambda: sandbox.notifications(out_trade_no),
        until=lambda items: bool(items) and items[0]["state"] == "delivered",
        what="the notification delivered on the fifth attempt",
    )
    stamps = [datetime.fromisoformat(a["at"]) for a in items[0]["attempts"]]
    gaps = [later - earlier for earlier, later in pairwise(stamps)]
    # time_scale 0.001: the three re-sends come at once (within the notifier's polling), the fourth after 240 ms.
    assert all(gap < timedelta(milliseconds=200) for gap in gaps[:3]), gaps
    assert gaps[3] >= timedelta(milliseconds=235), gaps


async def test_notifications_never_carry_empty_valued_parameters(sandbox: Sandbox, merchant: Merchant) -> None:
    alipay = AlipayClient(sandbox)
    out_trade_no, path = fresh("ord"), notify_path()
    # No body, no passback_params: those fields are left out rather than sent empty.
    await alipay.paid(out_trade_no, "3.00", notify_url=merchant.url + path)
    (received,) = await notifications_to(merchant, path)
    fields = form(received)
    assert all(value.strip() for value in fields.values()), fields
    assert "body" not in fields and "passback_params" not in fields


async def test_common_parameters_in_the_url_and_only_biz_content_in_the_form_body_are_accepted(
    sandbox: Sandbox,
) -> None:
    """What the official SDKs send: every common parameter (charset included) in the query, biz_content in the body."""
    alipay = AlipayClient(sandbox)
    out_trade_no = fresh("ord")
    trade_no, _ = await alipay.paid(out_trade_no, "4.00")
    method = "alipay.trade.query"
    params = alipay.params(method, {"out_trade_no": out_trade_no})
    assert params["charset"] == "utf-8"
    biz_content = params.pop("biz_content")
    url = f"{alipay.gateway}?{ap.encode_params(params)}"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url,
            data={"biz_content": biz_content},
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
        ) as resp:
            text = await resp.text()
    response = ap.verify_response(text, method, PLATFORM_PUBLIC)
    assert (response["code"], response["trade_no"]) == ("10000", trade_no)
