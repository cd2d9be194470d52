"""A WeChat payment held, refunded in part, completed: the fee profit-shared at the sandbox and the rest released to
the seller's WeChat balance, the books equal to the sandbox's balances, the ledger check clean."""

from __future__ import annotations

import pytest

from tests.integration.wallet.conftest import WalletClient
from tests.support.infra import eventually

pytestmark = pytest.mark.infra


async def test_a_wechat_payment_is_held_refunded_in_part_and_settled_with_the_fee_shared(wallet: WalletClient) -> None:
    paid = await wallet.paid_wechat(26_800)
    seller, sub_mchid = paid["seller_id"], paid["sub_mchid"]
    before = await wallet.ok("GET", f"/sellers/{seller}/wallet")
    escrow = await wallet.escrow(paid["id"])
    assert (escrow["status"], escrow["amount_fen"], escrow["provider"]) == ("held", 26_800, "wechatpay")

    await wallet.payments.approve_refund(paid, 6_800)
    escrow = await wallet.escrow(paid["id"], until=lambda e: e["refunded_fen"] == 6_800, what="the refund applied")
    assert escrow["held_fen"] == 20_000

    await wallet.complete(paid)
    await wallet.complete(paid)  # delivered twice by listing: one settlement
    escrow = await wallet.escrow(paid["id"], until=lambda e: e["status"] == "settled", what="settled")
    settlement = escrow["settlement"]
    assert (settlement["fee_fen"], settlement["seller_fen"]) == (120, 19_880)  # 0.6 % of 20,000
    assert settlement["provider_status"] == "FINISHED"

    after = await wallet.ok("GET", f"/sellers/{seller}/wallet")
    assert after["wechat"]["available_fen"] - before["wechat"]["available_fen"] == 19_880
    account = await wallet.sandbox_get(f"/sandbox/wechat/accounts/{sub_mchid}")
    assert (account["available_fen"], account["pending_fen"]) == (
        after["wechat"]["available_fen"],
        after["wechat"]["frozen_fen"],
    )
    statement = await wallet.ok("GET", f"/sellers/{seller}/statements", account="wechat_available", limit=1)
    top = statement["items"][0]
    assert (top["order_id"], top["amount_fen"], top["reason"]) == (paid["order_id"], 19_880, "proceeds_released")
    rest = await wallet.ok(
        "GET", f"/sellers/{seller}/statements", account="wechat_available", limit=1, cursor=statement["next_cursor"]
    )
    assert rest["items"][0]["seq"] == statement["items"][-1]["seq"] - 1  # the next page, no gap
    assert rest["items"][0]["phase"] == "pending" and rest["next_cursor"] is None  # the release, reserved first
    bad = await wallet.call(
        "GET", f"/sellers/{seller}/statements", account="wechat_frozen", cursor=statement["next_cursor"]
    )
    assert bad.status == 422  # a cursor of another account's list

    check = await eventually(
        wallet.check, until=lambda c: c["ok"] and not c["in_flight"], what="the books clean, nothing in flight"
    )
    assert check["ok"], check
    assert check["sum_zero"] and not check["mismatches"] and check["providers"]["ok"], check
