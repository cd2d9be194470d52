"""The wallet killed (SIGKILL) while it consumes payments and completions and settles them at the provider, then
started again: nothing is lost, nothing applied twice, the books equal the sandbox's balances."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.wallet.conftest import WalletClient
from tests.support.infra import eventually

pytestmark = pytest.mark.infra


async def test_the_wallet_killed_mid_consume_loses_nothing_and_doubles_nothing(wallet: WalletClient) -> None:
    paid = await asyncio.gather(*(wallet.paid_wechat(10_000 + 100 * i) for i in range(8)))
    for p in paid:
        await wallet.complete(p)
    await asyncio.sleep(0.2)  # the wallet is holding and settling them
    proc = wallet.process.proc
    assert proc is not None
    proc.kill()
    proc.wait()
    await asyncio.gather(*(wallet.complete(p) for p in paid[:3]))  # redelivered completions, while it is down
    await wallet.process.start()

    for p in paid:
        escrow = await wallet.escrow(
            p["id"], until=lambda e: e["status"] == "settled", what=f"{p['id']} settled", timeout_s=45
        )
        fee = min(6_000, (p["amount_fen"] * 60 + 5_000) // 10_000)
        assert (escrow["settlement"]["fee_fen"], escrow["settlement"]["seller_fen"]) == (fee, p["amount_fen"] - fee)
        transfers = [d async for d in wallet.db["transfers"].find({"order_id": p["order_id"]})]
        assert sorted(t["reason"] for t in transfers) == ["payment_held", "platform_fee", "proceeds_released"]
        assert all(t["status"] == "posted" for t in transfers)
    check = await eventually(
        wallet.check, until=lambda c: c["ok"] and not c["in_flight"], what="the books clean, nothing in flight"
    )
    assert check["ok"], check
