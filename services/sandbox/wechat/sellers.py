"""The platform's second-level merchants (sellers), as the onboarding half of the sandbox registers them."""

from __future__ import annotations

from typing import Any

from services.sandbox.wechat import domain as d
from services.sandbox.wechat.runtime import Wechat
from services.sandbox.wechat.v3 import Call

FINISH = "FINISH"


async def sub_merchant(wechat: Wechat, sub_mchid: str, *, trading: bool = True) -> dict[str, Any]:
    """The seller's registry document. Unknown: 400 PARAM_ERROR (受理关系不存在, WeChat's answer for a sub_mchid
    not bound to the service provider). Known but not FINISH (NEED_SIGN, FROZEN, ...): 403 NO_AUTH, WeChat's code
    for a merchant without the permission, when ``trading`` (placing orders); reads and refunds only need it known."""
    doc = await wechat.store.sub_merchant(sub_mchid)
    if doc is None:
        raise d.param_error(
            f"受理关系不存在 (sub_mchid {sub_mchid} is no second-level merchant of this platform)",
            {"location": "body", "field": "sub_mchid"},
        )
    state = doc.get("state")
    if trading and state != FINISH:
        raise d.WechatError(
            403, "NO_AUTH", f"商户无权限 (sub_mchid {sub_mchid} is {state}: it can trade only once FINISH)"
        )
    return doc


def query_sub_mchid(call: Call) -> str:
    """The ``sub_mchid`` query parameter of an e-commerce query."""
    sub_mchid = call.request.query.get("sub_mchid", "")
    if not sub_mchid:
        raise d.param_error(
            "输入源“/query/sub_mchid”必填 (sub_mchid is required)", {"location": "query", "field": "sub_mchid"}
        )
    return sub_mchid
