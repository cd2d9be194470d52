"""Helpers (no tests) for the WeChat e-commerce tests: sellers in the sandbox's registry, a platform client."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from shared.mongo import Client
from tests.integration.sandbox.conftest import Sandbox
from tests.integration.sandbox.wechat_support import APPID, MCHID, Answer, WechatClient, fresh, notify_path
from tests.support.infra import eventually

SP_MCHID = MCHID
SP_APPID = APPID
SUB_MERCHANTS = "wechat_sub_merchants"


async def register_seller(mongo_client: Client, sandbox: Sandbox, *, state: str = "FINISH", last4: str = "6789") -> str:
    """A second-level merchant as the onboarding half of the sandbox records it: its sub_mchid."""
    sub_mchid = "16" + "".join(secrets.choice("0123456789") for _ in range(8))
    doc = {
        "_id": sub_mchid,
        "state": state,
        "merchant_shortname": "二手书店",
        "settlement": {"account_bank": "招商银行", "bank_name": "招商银行深圳分行", "account_number_last4": last4},
    }
    await mongo_client[sandbox.process.env["MONGO_DB"]][SUB_MERCHANTS].insert_one(doc)
    return sub_mchid


@dataclass
class PartnerOrder:
    sub_mchid: str
    out_trade_no: str
    prepay_id: str
    openid: str
    total: int
    notify_url: str
    transaction_id: str = ""

    @property
    def notify_path(self) -> str:
        return "/" + self.notify_url.split("/", 3)[3]


def partner_body(
    sub_mchid: str,
    out_trade_no: str,
    total: int,
    openid: str,
    notify_url: str,
    *,
    profit_sharing: bool = True,
    **more: Any,
) -> dict[str, Any]:
    return {
        "sp_appid": SP_APPID,
        "sp_mchid": SP_MCHID,
        "sub_mchid": sub_mchid,
        "description": "二手书 《算法导论》",
        "out_trade_no": out_trade_no,
        "notify_url": notify_url,
        "amount": {"total": total, "currency": "CNY"},
        "payer": {"sp_openid": openid},
        "settle_info": {"profit_sharing": profit_sharing},
        **more,
    }


def platform_receiver(amount: int) -> dict[str, Any]:
    return {"type": "MERCHANT_ID", "receiver_account": SP_MCHID, "amount": amount, "description": "平台服务费"}


class EcommerceClient(WechatClient):
    """What the platform does against WeChat Pay's partner and e-commerce APIs, signed as sp_mchid."""

    async def partner_jsapi(self, body: Mapping[str, Any]) -> Answer:
        return await self.request("POST", "/v3/pay/partner/transactions/jsapi", body)

    async def partner_query(self, sub_mchid: str, out_trade_no: str) -> Answer:
        path = f"/v3/pay/partner/transactions/out-trade-no/{out_trade_no}?sp_mchid={SP_MCHID}&sub_mchid={sub_mchid}"
        return await self.request("GET", path)

    async def partner_query_id(self, sub_mchid: str, transaction_id: str) -> Answer:
        path = f"/v3/pay/partner/transactions/id/{transaction_id}?sp_mchid={SP_MCHID}&sub_mchid={sub_mchid}"
        return await self.request("GET", path)

    async def partner_close(self, sub_mchid: str, out_trade_no: str) -> Answer:
        body = {"sp_mchid": SP_MCHID, "sub_mchid": sub_mchid}
        return await self.request("POST", f"/v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close", body)

    async def partner_placed(self, sub_mchid: str, total: int = 1000, *, profit_sharing: bool = True) -> PartnerOrder:
        openid, out_trade_no = await self.buyer(), fresh()
        url = f"{self.sandbox.merchant.url}{notify_path()}"
        body = partner_body(sub_mchid, out_trade_no, total, openid, url, profit_sharing=profit_sharing)
        prepay_id = str((await self.partner_jsapi(body)).ok()["prepay_id"])
        return PartnerOrder(sub_mchid, out_trade_no, prepay_id, openid, total, url)

    async def partner_paid(self, sub_mchid: str, total: int = 1000, *, profit_sharing: bool = True) -> PartnerOrder:
        order = await self.partner_placed(sub_mchid, total, profit_sharing=profit_sharing)
        status, data = await self.pay(order.prepay_id, order.openid)
        assert (status, data) == (200, {"result": "ok"}), data
        order.transaction_id = (await self.partner_query(sub_mchid, order.out_trade_no)).ok()["transaction_id"]
        return order

    # --- refunds ---

    async def ecommerce_refund(self, body: Mapping[str, Any]) -> Answer:
        return await self.request("POST", "/v3/ecommerce/refunds/apply", body)

    async def query_ecommerce_refund(self, sub_mchid: str, out_refund_no: str) -> Answer:
        return await self.request("GET", f"/v3/ecommerce/refunds/out-refund-no/{out_refund_no}?sub_mchid={sub_mchid}")

    async def query_ecommerce_refund_id(self, sub_mchid: str, refund_id: str) -> Answer:
        return await self.request("GET", f"/v3/ecommerce/refunds/id/{refund_id}?sub_mchid={sub_mchid}")

    async def refund_status(self, sub_mchid: str, out_refund_no: str, status: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            data: dict[str, Any] = (await self.query_ecommerce_refund(sub_mchid, out_refund_no)).ok()
            return data

        return await eventually(probe, until=lambda got: got["status"] == status, what=f"refund {status}")

    # --- profit sharing ---

    async def split(self, order: PartnerOrder, out_order_no: str, *amounts: int, finish: bool = False) -> Answer:
        body = {
            "appid": SP_APPID,
            "sub_mchid": order.sub_mchid,
            "transaction_id": order.transaction_id,
            "out_order_no": out_order_no,
            "receivers": [platform_receiver(a) for a in amounts],
            "finish": finish,
        }
        return await self.request("POST", "/v3/ecommerce/profitsharing/orders", body)

    async def query_split(self, order: PartnerOrder, out_order_no: str) -> Answer:
        query = f"sub_mchid={order.sub_mchid}&transaction_id={order.transaction_id}&out_order_no={out_order_no}"
        return await self.request("GET", f"/v3/ecommerce/profitsharing/orders?{query}")

    async def split_status(self, order: PartnerOrder, out_order_no: str, status: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            data: dict[str, Any] = (await self.query_split(order, out_order_no)).ok()
            return data

        return await eventually(probe, until=lambda got: got["status"] == status, what=f"split {status}")

    async def finish(self, order: PartnerOrder, out_order_no: str) -> Answer:
        body = {
            "sub_mchid": order.sub_mchid,
            "transaction_id": order.transaction_id,
            "out_order_no": out_order_no,
            "description": "分账完结",
        }
        return await self.request("POST", "/v3/ecommerce/profitsharing/finish-order", body)

    async def return_order(self, order: PartnerOrder, out_order_no: str, out_return_no: str, amount: int) -> Answer:
        body = {
            "sub_mchid": order.sub_mchid,
            "out_order_no": out_order_no,
            "out_return_no": out_return_no,
            "return_mchid": SP_MCHID,
            "amount": amount,
            "description": "退款前回退平台服务费",
        }
        return await self.request("POST", "/v3/ecommerce/profitsharing/returnorders", body)

    async def query_return(self, sub_mchid: str, out_order_no: str, out_return_no: str) -> Answer:
        query = f"sub_mchid={sub_mchid}&out_order_no={out_order_no}&out_return_no={out_return_no}"
        return await self.request("GET", f"/v3/ecommerce/profitsharing/returnorders?{query}")

    async def amounts(self, transaction_id: str) -> Answer:
        return await self.request("GET", f"/v3/ecommerce/profitsharing/orders/{transaction_id}/amounts")

    # --- balances and withdrawals ---

    async def balance(self, sub_mchid: str, account_type: str = "BASIC") -> Answer:
        return await self.request("GET", f"/v3/ecommerce/fund/balance/{sub_mchid}?account_type={account_type}")

    async def withdraw(self, sub_mchid: str, out_request_no: str, amount: int, **more: Any) -> Answer:
        body = {
            "sub_mchid": sub_mchid,
            "out_request_no": out_request_no,
            "amount": amount,
            "remark": "卖家提现",
            "bank_memo": "货款",
            "account_type": "BASIC",
            **more,
        }
        return await self.request("POST", "/v3/ecommerce/fund/withdraw", body)

    async def query_withdraw(self, sub_mchid: str, out_request_no: str) -> Answer:
        path = f"/v3/ecommerce/fund/withdraw/out-request-no/{out_request_no}?sub_mchid={sub_mchid}"
        return await self.request("GET", path)

    async def query_withdraw_id(self, sub_mchid: str, withdraw_id: str) -> Answer:
        return await self.request("GET", f"/v3/ecommerce/fund/withdraw/{withdraw_id}?sub_mchid={sub_mchid}")

    async def withdraw_status(self, sub_mchid: str, out_request_no: str, status: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            data: dict[str, Any] = (await self.query_withdraw(sub_mchid, out_request_no)).ok()
            return data

        return await eventually(probe, until=lambda got: got["status"] == status, what=f"withdrawal {status}")

    async def account(self, mchid: str) -> dict[str, Any]:
        """The test-only view of every balance of an account."""
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.sandbox.url}/sandbox/wechat/accounts/{mchid}") as resp:
                assert resp.status == 200, await resp.text()
                data: dict[str, Any] = await resp.json()
                return data

    async def balances(self, mchid: str) -> tuple[int, int, int]:
        """(available, pending, withdrawn) of an account, in fen."""
        view = await self.account(mchid)
        return view["available_fen"], view["pending_fen"], view["withdrawn_fen"]
