"""The channel policy table answers what ARCHITECTURE.md's table says, for both audiences."""

from __future__ import annotations

import pytest

from shared.channels import (
    POLICY,
    PaymentMethodNotAvailable,
    ReturnMethodNotAvailable,
    SellerNotAcceptingWechatPay,
    check_payment_method,
    check_return_method,
    check_seller_accepts,
    policy,
)


def test_app_pays_with_alipay_and_password_free_only() -> None:
    assert policy("app").payment_methods == ("alipay", "alipay_password_free")
    assert check_payment_method("app", "alipay_password_free") == "alipay_password_free"
    with pytest.raises(PaymentMethodNotAvailable) as exc:
        check_payment_method("app", "wechat_pay")
    assert exc.value.code == "payment_method_not_available_in_channel" and exc.value.status == 422


def test_mp_pays_with_wechat_pay_only() -> None:
    assert check_payment_method("mp", "wechat_pay") == "wechat_pay"
    for method in ("alipay", "alipay_password_free", "cash"):
        with pytest.raises(PaymentMethodNotAvailable):
            check_payment_method("mp", method)


def test_mp_buys_only_from_sellers_with_wechat_collection() -> None:
    check_seller_accepts("app", seller_wechat_collection=False)
    check_seller_accepts("mp", seller_wechat_collection=True)
    with pytest.raises(SellerNotAcceptingWechatPay) as exc:
        check_seller_accepts("mp", seller_wechat_collection=False)
    assert exc.value.code == "seller_not_accepting_wechat_pay"


def test_mp_returns_are_self_shipped_with_tracking() -> None:
    assert policy("mp").return_methods == ("self_ship",) and policy("mp").return_needs_tracking
    assert check_return_method("app", "courier_pickup") == "courier_pickup"
    for method in ("courier_pickup", "service_point"):
        with pytest.raises(ReturnMethodNotAvailable):
            check_return_method("mp", method)


def test_workbench_wallet_and_full_refund_details_are_app_only() -> None:
    app, mp = POLICY["app"], POLICY["mp"]
    assert (app.manage_shop, app.activate_wechat_collection, app.wallet, app.refund_detail) == (
        True,
        True,
        True,
        "full",
    )
    assert (mp.manage_shop, mp.activate_wechat_collection, mp.wallet, mp.refund_detail) == (
        False,
        False,
        False,
        "status_only",
    )
    assert app.browse_catalog and mp.browse_catalog
