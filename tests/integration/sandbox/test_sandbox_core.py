"""The sandbox's own machinery: fault control and notification delivery on the providers' retry schedules."""

from __future__ import annotations

import aiohttp

from tests.integration.sandbox.conftest import Sandbox


async def test_fault_rules_are_added_listed_and_cleared(sandbox: Sandbox) -> None:
    rule = await sandbox.fault(target="wechat.jsapi", action="error_5xx", times=2, match={"out_trade_no": "T1"})
    assert rule["id"] >= 1 and rule["fired"] == 0
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sandbox.url}/sandbox/faults") as resp:
            assert [r["target"] for r in (await resp.json())["items"]] == ["wechat.jsapi"]
        async with http.post(f"{sandbox.url}/sandbox/faults", json={"target": "x", "action": "explode"}) as resp:
            assert resp.status == 422
            assert "action" in (await resp.json())["error"]["details"]
        async with http.delete(f"{sandbox.url}/sandbox/faults") as resp:
            assert resp.status == 204
        async with http.get(f"{sandbox.url}/sandbox/faults") as resp:
            assert (await resp.json())["items"] == []
