"""Which provider refusals are temporary (retried, never final) and which are a definite no (issue 10, item 6)."""

from __future__ import annotations

import pytest

from shared.providers.alipay import refusal as alipay_refusal
from shared.providers.errors import ProviderBusy, ProviderRejected, ProviderUnavailable
from shared.providers.wechatpay import refusal as wechat_refusal


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "FREQUENCY_LIMITED"),
        (429, "RATE_LIMITED"),  # any 429 is "come back later"
        (403, "NOT_ENOUGH"),  # refunds: the merchant's balance is short
        (500, "SYSTEM_ERROR"),
        (403, "BANK_ERROR"),
        (400, "BANKERROR"),
    ],
)
def test_temporary_wechat_refusals_are_retried_not_final(status: int, code: str) -> None:
    refusal = wechat_refusal(
        status, {"code": code, "message": "稍后再试"}, "wechatpay POST /v3/refund/domestic/refunds"
    )
    assert (
        isinstance(refusal, ProviderBusy) and isinstance(refusal, ProviderUnavailable) and refusal.provider_code == code
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "INVALID_REQUEST"), (400, "PARAM_ERROR"), (403, "RULE_LIMIT"), (404, "ORDER_NOT_EXIST"), (400, "ORDERPAID")],
)
def test_definite_wechat_refusals_are_final(status: int, code: str) -> None:
    refusal = wechat_refusal(status, {"code": code, "message": "no"}, "wechatpay")
    assert isinstance(refusal, ProviderRejected) and (refusal.provider_code, refusal.status) == (code, status)


@pytest.mark.parametrize(
    "answer",
    [
        {"code": "40004", "sub_code": "ACQ.SELLER_BALANCE_NOT_ENOUGH"},
        {"code": "40004", "sub_code": "ACQ.SYSTEM_ERROR"},
        {"code": "40004", "sub_code": "ACQ.REASON_TRADE_BEEN_FREEZEN"},
        {"code": "20000", "sub_code": "aop.ACQ.SYSTEM_ERROR"},
        {"code": "20000", "sub_code": "isp.unknow-error"},
        {"code": "20000"},
    ],
)
def test_temporary_alipay_refusals_are_retried_not_final(answer: dict[str, str]) -> None:
    assert isinstance(alipay_refusal(answer, "alipay.trade.refund"), ProviderBusy)


def test_an_alipay_charge_in_process_is_asked_about_not_failed() -> None:
    refusal = alipay_refusal({"code": "10003", "msg": "ORDER_SUCCESS_PAY_INPROCESS"}, "alipay.trade.pay")
    assert isinstance(refusal, ProviderUnavailable) and not isinstance(refusal, ProviderRejected)


@pytest.mark.parametrize(
    "sub_code",
    [
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",  # more than is left to refund: retrying cannot change that
        "ACQ.TRADE_NOT_EXIST",
        "ACQ.TRADE_STATUS_ERROR",
        "ACQ.BUYER_BALANCE_NOT_ENOUGH",  # the buyer's charge is declined
        "ACQ.DISCORDANT_REPEAT_REQUEST",
    ],
)
def test_definite_alipay_refusals_are_final(sub_code: str) -> None:
    refusal = alipay_refusal({"code": "40004", "sub_code": sub_code, "sub_msg": "no"}, "alipay")
    assert isinstance(refusal, ProviderRejected) and refusal.provider_code == sub_code
