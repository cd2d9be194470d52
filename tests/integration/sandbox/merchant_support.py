"""Helpers (no tests) for the onboarding (二级商户进件) and settlement-card tests: sellers' clear data, encrypted
bodies, a platform client for those APIs and the test actions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from services.sandbox.wechat.domain.applyments import id_check_character
from shared.mongo import Client
from shared.protocols import wechatpay as wp
from tests.integration.sandbox.conftest import Sandbox
from tests.integration.sandbox.wechat_support import (
    PLATFORM_PUBLIC,
    PLATFORM_SERIAL,
    Answer,
    WechatClient,
    encrypt_for_platform,
)
from tests.support.infra import eventually

APPLYMENTS = "/v3/ecommerce/applyments"


def id_number(first17: str = "44030419900307123") -> str:
    return first17 + id_check_character(first17)


def bad_id_number(first17: str = "44030419900307123") -> str:
    """The same number with a wrong check character."""
    good = id_check_character(first17)
    return first17 + ("0" if good != "0" else "1")


@dataclass
class Seller:
    """One seller's clear values (what must never be found in the sandbox's database or log)."""

    name: str = "欧阳明远"
    id_number: str = field(default_factory=id_number)
    mobile: str = "13912345678"
    account_number: str = "6225880000000000002"  # passes Luhn
    company: str = "深圳旧物流转科技有限公司"
    contact_id_number: str = field(default_factory=lambda: id_number("11010519880808345"))

    def clear_values(self) -> list[str]:
        return [self.name, self.id_number, self.mobile, self.account_number, self.company, self.contact_id_number]


def fresh_request_no() -> str:
    return f"APPLY{uuid.uuid4().hex[:20]}"


def applyment_body(
    seller: Seller,
    out_request_no: str,
    *,
    key: rsa.RSAPublicKey = PLATFORM_PUBLIC,
    corporate: bool = False,
    **change: Any,
) -> dict[str, Any]:
    """A personal seller (个人卖家, organization_type 2500) paid to a personal card, or with ``corporate`` a company
    (2) paid to its corporate account; sensitive fields encrypted for ``key``."""

    def enc(text: str) -> str:
        return encrypt_for_platform(text, key)

    body: dict[str, Any] = {
        "out_request_no": out_request_no,
        "organization_type": "2" if corporate else "2500",
        "id_doc_type": "IDENTIFICATION_TYPE_IDCARD",
        "id_card_info": {
            "id_card_copy": "media-id-card-front",
            "id_card_national": "media-id-card-back",
            "id_card_name": enc(seller.name),
            "id_card_number": enc(seller.id_number),
            "id_card_valid_time_begin": "2016-06-06",
            "id_card_valid_time": "2036-06-06",
        },
        "owner": True,
        "account_info": {
            "bank_account_type": "74" if corporate else "75",
            "account_bank": "招商银行",
            "account_name": enc(seller.company if corporate else seller.name),
            "bank_address_code": "440300",
            "bank_name": "招商银行深圳分行",
            "account_number": enc("755912345678901" if corporate else seller.account_number),
        },
        "contact_info": {
            "contact_type": "65",
            "contact_name": enc(seller.name),
            "contact_id_card_number": enc(seller.contact_id_number),
            "mobile_phone": enc(seller.mobile),
        },
        "sales_scene_info": {"store_name": "旧物流转小铺", "mini_program_sub_appid": "wx8888888888888888"},
        "merchant_shortname": "旧物流转",
    }
    if corporate:
        body["business_license_info"] = {
            "business_license_copy": "media-license-1",
            "business_license_number": "91440300MA5FXXXX1X",
            "merchant_name": seller.company,
            "legal_person": seller.name,
            "business_time": '["2020-01-01","长期"]',
        }
    body.update(change)
    return body


class MerchantClient(WechatClient):
    """The platform (sp_mchid) onboarding its sellers and changing their cards."""

    async def submit(self, body: Mapping[str, Any], serial: str | None = PLATFORM_SERIAL, **kw: Any) -> Answer:
        headers = {wp.HEADER_SERIAL: serial} if serial is not None else {}
        return await self.request("POST", APPLYMENTS + "/", body, headers=headers, **kw)

    async def applyment(self, out_request_no: str) -> Answer:
        return await self.request("GET", f"{APPLYMENTS}/out-request-no/{out_request_no}")

    async def applyment_by_id(self, applyment_id: int | str) -> Answer:
        return await self.request("GET", f"{APPLYMENTS}/{applyment_id}")

    async def state_of(self, out_request_no: str) -> dict[str, Any]:
        data: dict[str, Any] = (await self.applyment(out_request_no)).ok()
        return data

    async def wait_for(
        self, out_request_no: str, state: str, timeout_s: float = 10.0
    ) -> tuple[dict[str, Any], list[str]]:
        """Poll the query (every 20 ms) until the application is in ``state``; the states seen on the way."""
        seen: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            answer = await self.state_of(out_request_no)
            if not seen or seen[-1] != answer["applyment_state"]:
                seen.append(answer["applyment_state"])
            if answer["applyment_state"] == state:
                return answer, seen
            assert loop.time() < deadline, f"{out_request_no} never reached {state}; seen {seen}, last {answer}"
            await asyncio.sleep(0.02)

    async def decide(self, applyment_id: int, state: str, reason: str | None = None) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"state": state} if reason is None else {"state": state, "reason": reason}
        return await self.post(f"/sandbox/wechat/applyments/{applyment_id}/decide", body)

    async def sign(self, applyment_id: int) -> tuple[int, dict[str, Any]]:
        return await self.post(f"/sandbox/wechat/applyments/{applyment_id}/sign", {})

    async def shortcut(self, **body: Any) -> str:
        status, data = await self.post("/sandbox/wechat/sub-merchants", {"merchant_shortname": "测试小店", **body})
        assert status == 201, data
        return str(data["sub_mchid"])

    async def modify_settlement(
        self,
        sub_mchid: str,
        account_number: str,
        account_name: str | None = None,
        *,
        key: rsa.RSAPublicKey = PLATFORM_PUBLIC,
        serial: str | None = PLATFORM_SERIAL,
        account_type: str = "ACCOUNT_TYPE_PRIVATE",
    ) -> Answer:
        body: dict[str, Any] = {
            "modify_mode": "MODIFY_MODE_ASYNC",
            "account_type": account_type,
            "account_bank": "工商银行",
            "bank_address_code": "110000",
            "bank_name": "中国工商银行北京分行",
            "account_number": encrypt_for_platform(account_number, key),
        }
        if account_name is not None:
            body["account_name"] = encrypt_for_platform(account_name, key)
        headers = {wp.HEADER_SERIAL: serial} if serial is not None else {}
        path = f"/v3/apply4sub/sub_merchants/{sub_mchid}/modify-settlement"
        return await self.request("POST", path, body, headers=headers)

    async def settlement_application(self, sub_mchid: str, application_no: str) -> Answer:
        path = f"/v3/apply4sub/sub_merchants/{sub_mchid}/application/{application_no}"
        path += "?account_number_rule=ACCOUNT_NUMBER_RULE_MASK_V1"
        return await self.request("GET", path)

    async def settlement(self, sub_mchid: str) -> Answer:
        return await self.request("GET", f"/v3/apply4sub/sub_merchants/{sub_mchid}/settlement")


async def registry(mongo_client: Client, sandbox: Sandbox, sub_mchid: str) -> dict[str, Any] | None:
    """The sandbox's registry document of a sub-merchant, read from its database as the partner half reads it."""
    doc: dict[str, Any] | None = await mongo_client[sandbox.process.env["MONGO_DB"]]["wechat_sub_merchants"].find_one(
        {"_id": sub_mchid}
    )
    return doc


async def registered(mongo_client: Client, sandbox: Sandbox, sub_mchid: str, state: str) -> dict[str, Any]:
    """The registry document once it shows ``state``: it follows the application's stream a moment later."""

    async def probe() -> dict[str, Any] | None:
        return await registry(mongo_client, sandbox, sub_mchid)

    found = await eventually(probe, until=lambda doc: doc is not None and doc["state"] == state, what=f"{state}")
    assert found is not None
    return found
