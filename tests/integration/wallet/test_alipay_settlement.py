"""An app order paid with Alipay, collected frozen for royalty, settled on completion to the seller's own Alipay
account with the platform's fee kept — the settlement that times out at Alipay retried with the same number and
settled once."""

from __future__ import annotations

import pytest

from shared.ids import new_id
from tests.integration.wallet.conftest import WalletClient
from tests.support.infra import eventually

pytestmark = pytest.mark.infra


async def test_an_alipay_settlement_that_times_out_is_retried_with_the_same_number_and_settles_once(
    wallet: WalletClient,
) -> None:
    seller = new_id("usr")
    alipay_user = "2088" + str(int(seller.encode().hex(), 16))[-12:]
    bound = await wallet.ok("PUT", f"/sellers/{seller}/alipay-account", {"alipay_user_id": alipay_user})
    assert bound["alipay_user_id"] == alipay_user

    p = wallet.payments
    payment = await p.create(p.order("alipay", amount_fen=26_800, seller_id=seller))
    assert (await p.alipay_pay(payment)).status == 200
    paid = await eventually(lambda: p.payment(payment["id"]), until=lambda x: x["status"] == "succeeded", what="paid")
    await wallet.escrow(paid["id"])

    # Alipay does the settlement, then answers only after the wallet has stopped waiting (PROVIDER_TIMEOUT_S=1).
    rule = {"target": "alipay.trade.order.settle", "action": "timeout", "delay_s": 2.5}
    await wallet.sandbox_post("/sandbox/faults", rule, expect=201)
    assert (await wallet.sandbox_get("/sandbox/faults"))["items"]
    await wallet.complete(paid)
    escrow = await wallet.escrow(paid["id"], until=lambda e: e["status"] == "settled", timeout_s=30, what="settled")
    settlement = escrow["settlement"]
    assert (settlement["fee_fen"], settlement["seller_fen"]) == (161, 26_800 - 161)

    faults = await wallet.sandbox_get("/sandbox/faults")
    assert not (faults["items"] if isinstance(faults, dict) else faults)  # it fired: the first call timed out
    royalty = await wallet.sandbox_get(f"/sandbox/alipay/trades/{paid['provider_trade_no']}/royalty")
    assert (royalty["settled"], royalty["finished"]) == ("266.39", True)  # once, though asked more than once
    account = await wallet.sandbox_get(f"/sandbox/alipay/accounts/{alipay_user}")
    assert account["royalty_in"] == "266.39"
    summary = await wallet.ok("GET", f"/sellers/{seller}/wallet")
    assert summary["alipay"] == {"frozen_fen": 0, "settled_fen": 26_800 - 161}
    check = await eventually(
        lambda: wallet.check(providers=False), until=lambda c: c["ok"] and not c["in_flight"], what="idle"
    )
    assert check["ok"], check
