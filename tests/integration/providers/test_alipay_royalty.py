"""The platform's Alipay client (shared/providers/alipay.py) against the sandbox: a trade collected frozen for royalty,
the seller's part settled to the seller's own account with the platform's fee kept, a refund before settlement; an app
of the OpenID regime in public-key-certificate mode: login by OpenID, a trade and a settlement to an OpenID seller, a
password-free agreement signed by an OpenID user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.money import yuan_to_fen
from shared.protocols import alipay as ap
from shared.providers.alipay import AlipayClient, Royalty, buyer_of
from shared.providers.errors import ProviderRejected
from tests.integration.providers.conftest import Sandbox, alipay_settings
from tests.integration.sandbox.conftest import Merchant
from tests.support.infra import eventually
from tests.support.providers import ALIPAY_SELLER_ID

pytestmark = pytest.mark.infra


async def frozen_trade(
    alipay: AlipayClient, sandbox: Sandbox, buyer: dict[str, str], amount_fen: int, new_no: Callable[[str], str]
) -> dict[str, Any]:
    """An app payment collected in the platform's account, frozen for royalty."""
    out_trade_no = new_no("pay_")
    order_string = alipay.app_order_string(
        out_trade_no=out_trade_no,
        amount_fen=amount_fen,
        subject="九成新 Kindle",
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
        notify_url=f"{sandbox.url}/nowhere",
    )
    assert '"royalty_freeze":"true"' in ap.parse_order_string(order_string)["biz_content"]
    await sandbox.post("/sandbox/alipay/pay", {"order_string": order_string, **buyer}, 200)
    trade = await alipay.query(out_trade_no)
    assert trade is not None and trade["trade_status"] == "TRADE_SUCCESS"
    return trade


async def test_a_trade_frozen_for_royalty_is_settled_to_the_seller_and_the_platform_keeps_its_fee(
    alipay: AlipayClient, switching: Sandbox, new_no: Callable[[str], str]
) -> None:
    seller = "2088" + new_no("")[:12].translate(str.maketrans("abcdef", "123456"))
    await alipay.bind_receivers(new_no("bind"), [(seller, None)])
    trade = await frozen_trade(alipay, switching, {"user_id": "2088100000000077"}, 26_800, new_no)
    before = await switching.get(f"/sandbox/alipay/accounts/{ALIPAY_SELLER_ID}")

    out_request_no = new_no("stl")
    seller_part = Royalty(trans_in=seller, amount_fen=26_800 - 268, desc="货款", royalty_scene="其他")
    settle = {"out_request_no": out_request_no, "trade_no": trade["trade_no"], "royalties": [seller_part]}
    settled = await alipay.settle(**settle, finish=True)
    again = await alipay.settle(**settle, finish=True)
    assert again["settle_no"] == settled["settle_no"]  # the same request number settles once
    query = await alipay.settle_query(trade_no=trade["trade_no"], out_request_no=out_request_no)
    (detail,) = query["royalty_detail_list"]
    assert (detail["trans_in"], yuan_to_fen(detail["amount"]), detail["state"]) == (seller, 26_532, "SUCCESS")

    seller_books = await switching.get(f"/sandbox/alipay/accounts/{seller}")
    assert yuan_to_fen(seller_books["royalty_in"]) == 26_532
    after = await switching.get(f"/sandbox/alipay/accounts/{ALIPAY_SELLER_ID}")
    # The fee stays with the platform: unfrozen into its available balance when the settlement finished.
    assert yuan_to_fen(after["available"]) - yuan_to_fen(before["available"]) == 268
    assert yuan_to_fen(before["frozen"]) - yuan_to_fen(after["frozen"]) == 26_800  # nothing of the trade stays frozen


async def test_a_refund_before_settlement_comes_out_of_the_frozen_trade(
    alipay: AlipayClient, switching: Sandbox, new_no: Callable[[str], str]
) -> None:
    trade = await frozen_trade(alipay, switching, {"user_id": "2088100000000078"}, 10_000, new_no)
    royalty = await switching.get(f"/sandbox/alipay/trades/{trade['trade_no']}/royalty")
    assert (royalty["royalty_freeze"], yuan_to_fen(royalty["frozen"])) == (True, 10_000)
    answer = await alipay.refund(trade["out_trade_no"], new_no("rfd"), 4_000)
    assert answer["fund_change"] == "Y"
    royalty = await switching.get(f"/sandbox/alipay/trades/{trade['trade_no']}/royalty")
    assert yuan_to_fen(royalty["frozen"]) == 6_000 and yuan_to_fen(royalty["refunded_from_frozen"]) == 4_000
    with pytest.raises(ProviderRejected) as unbound:  # only bound receivers can be settled to
        await alipay.settle(
            out_request_no=new_no("stl"),
            trade_no=trade["trade_no"],
            royalties=[Royalty(trans_in="2088999999999999", amount_fen=100, desc="x")],
            finish=False,
        )
    assert unbound.value.provider_code == "ACQ.ROYALTY_RECEIVER_INVALID"


async def test_an_openid_app_in_certificate_mode_logs_in_trades_and_settles_by_openid(
    openid_cert: Sandbox, http: Any, new_no: Callable[[str], str], merchant: Merchant
) -> None:
    alipay = AlipayClient(http, alipay_settings(openid_cert.url, cert=True), timeout_s=5)
    assert set(alipay.common) == {"app_cert_sn", "alipay_root_cert_sn"}
    code = await openid_cert.post("/sandbox/alipay/auth-codes", {}, 200)
    login = await alipay.oauth_token(code["auth_code"])
    assert login.get("open_id") and "user_id" not in login  # the OpenID regime names no user id
    buyer = login["open_id"]

    seller_code = await openid_cert.post("/sandbox/alipay/auth-codes", {}, 200)
    seller = (await alipay.oauth_token(seller_code["auth_code"]))["open_id"]
    await alipay.bind_receivers(new_no("bind"), [(seller, None)])
    trade = await frozen_trade(alipay, openid_cert, {"open_id": buyer}, 5_000, new_no)
    assert buyer_of(trade) == buyer and "buyer_user_id" not in trade
    await alipay.settle(
        out_request_no=new_no("stl"),
        trade_no=trade["trade_no"],
        royalties=[Royalty(trans_in=seller, amount_fen=4_950, desc="货款")],
        finish=True,
    )
    assert yuan_to_fen((await openid_cert.get(f"/sandbox/alipay/accounts/{seller}"))["royalty_in"]) == 4_950

    # A password-free agreement signed by an OpenID user: the notification names the user by alipay_open_id.
    agreement_id = new_no("agr_")
    sign_url = alipay.agreement_sign_url(agreement_id, f"{merchant.url}/notify/{agreement_id}")
    await openid_cert.post("/sandbox/alipay/agreements/sign", {"sign_url": sign_url, "open_id": buyer}, 200)
    (received, *_) = await eventually(
        lambda: _received(merchant, f"/notify/{agreement_id}"), until=bool, what="dut_user_sign notified"
    )
    form = ap.parse_form(received.body)
    alipay.verify_notification(form)
    assert form["notify_type"] == "dut_user_sign" and form["alipay_open_id"] == buyer and "alipay_user_id" not in form


async def _received(merchant: Merchant, path: str) -> list[Any]:
    return merchant.to(path)
