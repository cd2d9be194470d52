"""The channel policy table of ARCHITECTURE.md, as data: what each audience (app, mini-program) may do.

Read it; never scatter `if channel == ...`. A new capability is a new column here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.errors import AppError
from shared.events import Channel, PaymentMethod

ReturnMethod = Literal["self_ship", "courier_pickup", "service_point"]
RefundDetail = Literal["full", "status_only"]


@dataclass(frozen=True)
class ChannelPolicy:
    browse_catalog: bool
    manage_shop: bool
    payment_methods: tuple[PaymentMethod, ...]
    # Buying needs the seller to have activated WeChat collection (mp pays only with WeChat Pay).
    requires_seller_wechat_collection: bool
    activate_wechat_collection: bool
    return_methods: tuple[ReturnMethod, ...]
    # A return shipment in this channel must name its carrier and tracking number.
    return_needs_tracking: bool
    refund_detail: RefundDetail
    wallet: bool
    # Signing Alipay password-free (withholding) agreements.
    password_free_agreements: bool


POLICY: dict[Channel, ChannelPolicy] = {
    "app": ChannelPolicy(
        browse_catalog=True,
        manage_shop=True,
        payment_methods=("alipay", "alipay_password_free"),
        requires_seller_wechat_collection=False,
        activate_wechat_collection=True,
        return_methods=("self_ship", "courier_pickup", "service_point"),
        return_needs_tracking=False,
        refund_detail="full",
        wallet=True,
        password_free_agreements=True,
    ),
    "mp": ChannelPolicy(
        browse_catalog=True,
        manage_shop=False,
        payment_methods=("wechat_pay",),
        requires_seller_wechat_collection=True,
        activate_wechat_collection=False,
        return_methods=("self_ship",),
        return_needs_tracking=True,
        refund_detail="status_only",
        wallet=False,
        password_free_agreements=False,
    ),
}


class PaymentMethodNotAvailable(AppError):
    status, code = 422, "payment_method_not_available_in_channel"


class ReturnMethodNotAvailable(AppError):
    status, code = 422, "return_method_not_available_in_channel"


class SellerNotAcceptingWechatPay(AppError):
    status, code = 422, "seller_not_accepting_wechat_pay"


def policy(channel: Channel) -> ChannelPolicy:
    return POLICY[channel]


def check_payment_method(channel: Channel, method: str) -> PaymentMethod:
    """The method, if this channel may pay with it; else 422 payment_method_not_available_in_channel."""
    allowed = POLICY[channel].payment_methods
    for candidate in allowed:
        if candidate == method:
            return candidate
    raise PaymentMethodNotAvailable(
        f"{method} is not available in {channel}", details={"channel": channel, "allowed": list(allowed)}
    )


def check_return_method(channel: Channel, method: str) -> ReturnMethod:
    allowed = POLICY[channel].return_methods
    for candidate in allowed:
        if candidate == method:
            return candidate
    raise ReturnMethodNotAvailable(
        f"{method} is not available in {channel}", details={"channel": channel, "allowed": list(allowed)}
    )


def check_seller_accepts(channel: Channel, seller_wechat_collection: bool) -> None:
    """Buying in a channel that pays only with WeChat needs a seller who collects with WeChat."""
    if POLICY[channel].requires_seller_wechat_collection and not seller_wechat_collection:
        raise SellerNotAcceptingWechatPay("this seller does not accept WeChat Pay yet")
