"""Withdrawals of a seller activated through the wallet's own onboarding: 50 concurrent withdrawals racing for one
balance never take more than is available and make one provider withdrawal each; a failure and a bank return each
restore the balance exactly once; the books equal the sandbox's balances."""

from __future__ import annotations

import asyncio

import pytest

from shared.ids import new_id
from tests.integration.wallet.conftest import WalletClient
from tests.support.infra import eventually

pytestmark = pytest.mark.infra


async def funded_seller(wallet: WalletClient, amount_fen: int) -> tuple[str, str, int]:
    """An activated seller whose WeChat balance holds what a completed order of `amount_fen` left them."""
    seller, sub_mchid = await wallet.activated_seller()
    paid = await wallet.paid_wechat(amount_fen, seller_id=seller)
    assert paid["sub_mchid"] == sub_mchid
    await wallet.complete(paid)
    escrow = await wallet.escrow(paid["id"], until=lambda e: e["status"] == "settled", what="settled")
    return seller, sub_mchid, int(escrow["settlement"]["seller_fen"])


async def test_fifty_concurrent_withdrawals_never_take_more_than_the_balance(wallet: WalletClient) -> None:
    seller, sub_mchid, available = await funded_seller(wallet, 30_000)
    assert available == 30_000 - 180
    replies = await asyncio.gather(
        *(
            wallet.post_with_key(f"/sellers/{seller}/withdrawals", {"amount_fen": 1_000}, new_id("cmd"))
            for _ in range(50)
        )
    )
    accepted = [body for status, body in replies if status == 201]
    refused = [body for status, body in replies if status != 201]
    assert len(accepted) == available // 1_000 == 29
    assert {r["error"]["code"] for r in refused} <= {"insufficient_funds"}, refused
    assert all(w["fee_fen"] == 10 and w["arrives_fen"] == 990 for w in accepted)

    async def all_done() -> list[dict[str, object]]:
        return [await wallet.ok("GET", f"/sellers/{seller}/withdrawals/{w['id']}") for w in accepted]

    await eventually(all_done, until=lambda ws: all(w["status"] == "succeeded" for w in ws), what="all paid out")
    account = await wallet.sandbox_get(f"/sandbox/wechat/accounts/{sub_mchid}")
    assert account["withdrawn_fen"] == 29_000  # one provider withdrawal per accepted withdrawal
    summary = await wallet.ok("GET", f"/sellers/{seller}/wallet")
    assert summary["wechat"]["available_fen"] == account["available_fen"] == available - 29_000
    items, cursor = [], None
    while True:  # page by page, 20 at a time
        page = await wallet.ok(
            "GET", f"/sellers/{seller}/withdrawals", limit=20, **({"cursor": cursor} if cursor else {})
        )
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert len({w["id"] for w in items}) == len(items) == 50
    statuses = sorted((w["status"], w["reason"]) for w in items)
    # Those that lost the race to the balance are on record as refused by the books, having reserved nothing.
    assert statuses == [("failed", "insufficient_funds")] * 21 + [("succeeded", None)] * 29
    check = await eventually(
        wallet.check, until=lambda c: c["ok"] and not c["in_flight"], what="the books clean, nothing in flight"
    )
    assert check["ok"], check


async def test_a_failure_and_a_bank_return_each_restore_the_balance_exactly_once(wallet: WalletClient) -> None:
    seller, sub_mchid, available = await funded_seller(wallet, 20_000)
    # The idempotency key replays the first answer: one withdrawal for two identical requests.
    status, ok = await wallet.post_with_key(f"/sellers/{seller}/withdrawals", {"amount_fen": 5_000}, "wd-ok")
    again = await wallet.post_with_key(f"/sellers/{seller}/withdrawals", {"amount_fen": 5_000}, "wd-ok")
    assert status == 201 and again == (201, ok)
    done = await eventually(
        lambda: wallet.ok("GET", f"/sellers/{seller}/withdrawals/{ok['id']}"),
        until=lambda w: w["status"] == "succeeded",
        what="paid out",
    )
    assert done["withdraw_id"]
    # WeChat told the wallet (MCHWITHDRAW.CHANGE, verified and applied: 204), and polling agrees.
    sent = await eventually(
        lambda: wallet.sandbox_get(f"/sandbox/notifications?key={ok['out_request_no']}"),
        until=lambda n: any(x["state"] == "delivered" for x in n["items"]),
        what="the withdrawal notification delivered",
    )
    assert {x["topic"] for x in sent["items"]} == {"MCHWITHDRAW.CHANGE"}
    assert all(a["status"] == 204 for x in sent["items"] for a in x["attempts"] if a["status"])

    rule = {"target": "wechat.withdraw", "action": "decline", "message": "收款账户异常"}
    await wallet.sandbox_post("/sandbox/faults", rule, expect=201)
    status, failing = await wallet.post_with_key(f"/sellers/{seller}/withdrawals", {"amount_fen": 3_000}, "wd-fail")
    assert status == 201
    failed = await eventually(
        lambda: wallet.ok("POST", f"/sellers/{seller}/withdrawals/{failing['id']}/refresh"),
        until=lambda w: w["status"] == "failed",
        what="failed",
    )
    assert "收款账户异常" in failed["reason"]
    await wallet.ok("POST", f"/sellers/{seller}/withdrawals/{failing['id']}/refresh")  # reported again: no change
    summary = await wallet.ok("GET", f"/sellers/{seller}/wallet")
    assert summary["wechat"]["available_fen"] == available - 5_000

    await wallet.sandbox_post(
        f"/sandbox/wechat/withdrawals/{ok['out_request_no']}/bank-return", {"reason": "账户已注销"}
    )
    returned = await eventually(
        lambda: wallet.ok("POST", f"/sellers/{seller}/withdrawals/{ok['id']}/refresh"),
        until=lambda w: w["status"] == "returned",
        what="returned",
    )
    assert returned["reason"] == "账户已注销"
    await wallet.ok("POST", f"/sellers/{seller}/withdrawals/{ok['id']}/refresh")
    summary = await wallet.ok("GET", f"/sellers/{seller}/wallet")
    account = await wallet.sandbox_get(f"/sandbox/wechat/accounts/{sub_mchid}")
    assert summary["wechat"]["available_fen"] == account["available_fen"] == available
    lines = await wallet.ok("GET", f"/sellers/{seller}/statements", account="wechat_available", limit=100)
    returns = [x for x in lines["items"] if x["reason"] == "withdrawal_returned"]
    assert [x["amount_fen"] for x in returns] == [5_000, 5_000]  # pending, then posted: one correcting transfer
    check = await eventually(
        wallet.check, until=lambda c: c["ok"] and not c["in_flight"], what="the books clean, nothing in flight"
    )
    assert check["ok"], check
