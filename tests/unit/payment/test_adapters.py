"""The provider adapters' normalisation: raw WeChat Pay / Alipay answers, refusals and notifications in, the port's
results, codes and facts out (pure: no HTTP; the adapters' clients are stand-ins that answer or refuse as told)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest

from services.payment.adapters import (
    AlipayAdapter,
    WechatPayAdapter,
    alipay_charge,
    alipay_charge_code,
    alipay_payment,
    alipay_refund,
    alipay_refund_query,
    read_alipay_notification,
    read_wechat_notification,
    wechat_payment,
    wechat_refund,
)
from services.payment.domain import Payment, Refund
from services.payment.port import (
    AgreementSigned,
    AgreementUnsigned,
    Ignored,
    NotificationRefused,
    PaymentClosed,
    PaymentPaid,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundChanged,
    VerifiedNotification,
    provider_time,
)
from shared.providers.alipay import AlipayClient
from shared.providers.wechatpay import WechatPayClient

BEIJING = timezone(timedelta(hours=8))
PAID_AT = datetime(2026, 11, 25, 10, 0, 5, tzinfo=BEIJING)
MCHID, APPID, APP_ID, SELLER = "1900000109", "wx_app", "2021000000000001", "2088000000000001"
WECHAT = Payment(
    payment_id="pay_W", provider="wechatpay", method="wechat_pay", amount_fen=35_000, out_trade_no="pay_W",
    sub_mchid="1600000001", openid="o_buyer", expires_at=datetime(2026, 11, 25, 10, 15, tzinfo=UTC),
)  # fmt: skip
EXPIRES = datetime(2026, 11, 25, 10, 15, tzinfo=UTC)
APP = Payment(
    payment_id="pay_A", provider="alipay", method="alipay", amount_fen=5_000, out_trade_no="pay_A", order_string="o=1",
    expires_at=EXPIRES,
)  # fmt: skip
FREE = Payment(
    payment_id="pay_F", provider="alipay", method="alipay_password_free", amount_fen=5_000, out_trade_no="pay_F",
    expires_at=EXPIRES, agreement_no="20261125000001",
)  # fmt: skip
REFUND = Refund(refund_id="rfd_1", amount_fen=1_000, out_refund_no="rfd_1")


# ------------------------------------------------------------------------------------------------ answers


def test_a_wechat_trade_that_succeeded_or_moved_to_refund_is_paid() -> None:
    trade = {
        "trade_state": "SUCCESS",
        "transaction_id": "4200001",
        "amount": {"total": 35_000},
        "success_time": "2026-11-25T10:00:05+08:00",
    }
    assert wechat_payment(trade) == ProviderPayment(
        state="paid", trade_no="4200001", amount_fen=35_000, paid_at=PAID_AT
    )
    moved = wechat_payment({**trade, "trade_state": "REFUND", "success_time": None})
    assert (moved.state, moved.paid_at) == ("paid", None)  # no time given: the use case uses its clock


@pytest.mark.parametrize(
    ("trade_state", "state"),
    [("NOTPAY", "open"), ("USERPAYING", "open"), ("CLOSED", "closed"), ("REVOKED", "closed"), ("PAYERROR", "closed")],
)
def test_an_unpaid_wechat_trade_is_open_or_closed(trade_state: str, state: str) -> None:
    assert wechat_payment({"trade_state": trade_state}) == ProviderPayment(state=state)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"status": "SUCCESS", "refund_id": "50301", "success_time": "2026-11-25T10:00:05+08:00"},
            ProviderRefund(state="succeeded", provider_refund_id="50301", refunded_at=PAID_AT),
        ),
        (
            {"status": "PROCESSING", "refund_id": "50301"},
            ProviderRefund(state="processing", provider_refund_id="50301"),
        ),
        (
            {"refund_status": "ABNORMAL", "refund_id": "50301"},
            ProviderRefund(state="abnormal", provider_refund_id="50301"),
        ),
        ({"status": "CLOSED", "refund_id": "50301"}, ProviderRefund(state="failed", reason="wechat_refund_closed")),
        ({"status": "LOST"}, ProviderRefund(state="unknown", reason="unknown refund status 'LOST'")),
    ],
)
def test_wechat_refund_statuses_are_normalised(answer: dict[str, Any], expected: ProviderRefund) -> None:
    assert wechat_refund(answer) == expected


def test_an_alipay_trade_is_paid_open_closed_or_missing() -> None:
    paid = {"trade_status": "TRADE_FINISHED", "trade_no": "2026112522001", "total_amount": "50.00"}
    answer = alipay_payment({**paid, "send_pay_date": "2026-11-25 10:00:05"})
    assert answer == ProviderPayment(state="paid", trade_no="2026112522001", amount_fen=5_000, paid_at=PAID_AT)
    assert alipay_payment({**paid, "trade_status": "TRADE_SUCCESS"}).state == "paid"
    assert alipay_payment({"trade_status": "WAIT_BUYER_PAY"}) == ProviderPayment(state="open")
    assert alipay_payment({"trade_status": "TRADE_CLOSED"}) == ProviderPayment(state="closed")
    assert alipay_payment(None) == ProviderPayment(state="missing")  # the buyer never opened the cashier


def test_a_password_free_charge_answer_is_money_taken() -> None:
    answer = {"trade_no": "2026112522002", "total_amount": "12.34", "gmt_payment": "2026-11-25 10:00:05"}
    assert alipay_charge(answer) == ProviderPayment(
        state="paid", trade_no="2026112522002", amount_fen=1_234, paid_at=PAID_AT
    )


def test_an_alipay_refund_is_succeeded_only_when_funds_moved_otherwise_a_query_tells() -> None:
    moved = alipay_refund({"fund_change": "Y", "trade_no": "2026112522001", "gmt_refund_pay": "2026-11-25 10:00:05"})
    assert moved == ProviderRefund(state="succeeded", provider_refund_id="2026112522001", refunded_at=PAID_AT)
    assert alipay_refund({"fund_change": "N", "trade_no": "2026112522001"}) == ProviderRefund(state="unknown")


def test_an_alipay_refund_query_that_shows_the_refund_means_it_succeeded() -> None:
    assert alipay_refund_query({"refund_status": "REFUND_SUCCESS", "trade_no": "t1"}).state == "succeeded"
    assert alipay_refund_query({"refund_amount": "10.00", "trade_no": "t1"}).provider_refund_id == "t1"
    assert alipay_refund_query({}) == ProviderRefund(state="unknown")  # not shown yet: asked again later


@pytest.mark.parametrize(
    ("provider_code", "ours"),
    [
        ("ACQ.TRADE_HAS_SUCCESS", "already_paid"),
        ("ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR", "limit_exceeded"),
        ("ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED", "limit_exceeded"),
        ("ACQ.AGREEMENT_INVALID", "agreement_not_active"),
        ("ACQ.BUYER_BALANCE_NOT_ENOUGH", "payment_declined"),
        ("OPENID_MISMATCH", "provider_rejected"),
    ],
)
def test_alipay_charge_refusals_map_to_stable_codes(provider_code: str, ours: str) -> None:
    assert alipay_charge_code(provider_code) == ours


def test_a_paid_result_without_a_trade_number_is_not_a_result() -> None:
    with pytest.raises(ValueError):
        ProviderPayment(state="paid", amount_fen=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25 10:00:05", PAID_AT),
        ("2026-11-25T02:00:05+00:00", datetime(2026, 11, 25, 2, 0, 5, tzinfo=UTC)),
        ("2026-11-25T10:00:05", None),  # no zone: not a time we can place
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_provider_times_are_aware_or_none(text: str | None, expected: datetime | None) -> None:
    assert provider_time(text) == expected


# ------------------------------------------------------------------------------------ adapters over a client


class Client:
    """A stand-in for an HTTP client: each method answers or raises what the test set for it."""

    def __init__(self, **behaviour: Any) -> None:
        self.behaviour = behaviour
        self.calls: list[str] = []
        self.mchid, self.appid, self.app_id, self.seller_id = MCHID, APPID, APP_ID, SELLER

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in self.behaviour:
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            outcome = self.behaviour[name]
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        async def acall(*args: Any, **kwargs: Any) -> Any:
            return call(*args, **kwargs)

        return call if name in ("request_payment", "app_order_string", "agreement_sign_url") else acall


def wechat(**behaviour: Any) -> WechatPayAdapter:
    return WechatPayAdapter(cast(WechatPayClient, Client(**behaviour)), "https://us/notify/wechatpay", 1, 0)


def alipay(**behaviour: Any) -> AlipayAdapter:
    return AlipayAdapter(cast(AlipayClient, Client(**behaviour)), "https://us/notify/alipay", 1, 0)


async def test_a_wechat_start_is_a_prepay_and_its_request_payment_parameters() -> None:
    start = await wechat(partner_jsapi="wx25", request_payment={"package": "prepay_id=wx25"}).start(WECHAT)
    assert (start.prepay_id, start.request_payment, start.charged) == ("wx25", {"package": "prepay_id=wx25"}, None)


async def test_a_wechat_order_already_paid_is_our_already_paid_with_its_own_code_kept() -> None:
    with pytest.raises(ProviderRejected) as refused:
        await wechat(partner_jsapi=ProviderRejected("ORDERPAID", "该订单已支付")).start(WECHAT)
    assert (refused.value.code, refused.value.provider_code, str(refused.value)) == (
        "already_paid",
        "ORDERPAID",
        "ORDERPAID: 该订单已支付",
    )


@pytest.mark.parametrize(
    ("provider_code", "ours"),
    [("ORDER_NOT_EXIST", "not_found"), ("ORDERPAID", "already_paid"), ("INVALID_REQUEST", "provider_rejected")],
)
async def test_wechat_close_refusals_are_normalised(provider_code: str, ours: str) -> None:
    with pytest.raises(ProviderRejected) as refused:
        await wechat(partner_close=ProviderRejected(provider_code, "no")).close(WECHAT)
    assert refused.value.code == ours


async def test_a_wechat_trade_it_does_not_hold_is_missing() -> None:
    assert await wechat(partner_query=ProviderRejected("ORDER_NOT_EXIST", "no", 404)).query(WECHAT) == ProviderPayment(
        state="missing"
    )


async def test_a_wechat_refund_status_we_cannot_read_is_no_answer() -> None:
    with pytest.raises(ProviderUnavailable, match="unknown refund status 'LOST'"):
        await wechat(refund={"status": "LOST"}).refund(WECHAT, REFUND)
    with pytest.raises(ProviderUnavailable):
        await wechat(query_refund={"status": "LOST"}).query_refund(WECHAT, REFUND)


async def test_an_alipay_app_payment_starts_with_an_order_string_and_no_call() -> None:
    adapter = alipay(app_order_string="app_id=1&sign=x")
    assert (await adapter.start(APP)).order_string == "app_id=1&sign=x"
    assert cast(Client, adapter.client).calls == ["app_order_string"]


async def test_a_password_free_charge_refused_over_a_limit_is_limit_exceeded() -> None:
    refusal = ProviderRejected("ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED", "单笔金额超限")
    with pytest.raises(ProviderRejected) as refused:
        await alipay(pay_with_agreement=refusal).start(FREE)
    assert (refused.value.code, str(refused.value)) == (
        "limit_exceeded",
        "ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED: 单笔金额超限",
    )


async def test_a_password_free_charge_that_succeeded_is_charged() -> None:
    answer = {"trade_no": "t9", "total_amount": "50.00", "gmt_payment": "2026-11-25 10:00:05"}
    start = await alipay(pay_with_agreement=answer).start(FREE)
    assert start.charged == ProviderPayment(state="paid", trade_no="t9", amount_fen=5_000, paid_at=PAID_AT)


@pytest.mark.parametrize(
    ("payment", "provider_code", "ours"),
    [
        (APP, "ACQ.TRADE_NOT_EXIST", "not_opened"),  # the buyer holds an order string that can still create one
        (FREE, "ACQ.TRADE_NOT_EXIST", "not_found"),
        (APP, "ACQ.TRADE_STATUS_ERROR", "invalid_state"),
        (APP, "ACQ.INVALID_PARAMETER", "provider_rejected"),
    ],
)
async def test_alipay_close_refusals_are_normalised(payment: Payment, provider_code: str, ours: str) -> None:
    with pytest.raises(ProviderRejected) as refused:
        await alipay(close=ProviderRejected(provider_code, "no")).close(payment)
    assert refused.value.code == ours


async def test_an_alipay_refund_without_funds_moved_is_unknown_until_queried() -> None:
    adapter = alipay(refund={"fund_change": "N"}, refund_query={"refund_amount": "10.00", "trade_no": "t1"})
    assert (await adapter.refund(APP, REFUND)).state == "unknown"
    assert (await adapter.query_refund(APP, REFUND)).state == "succeeded"


async def test_a_busy_provider_stays_unavailable_through_the_adapter() -> None:
    with pytest.raises(ProviderUnavailable):
        await alipay(refund=ProviderUnavailable("alipay: HTTP 502")).refund(APP, REFUND)


# ------------------------------------------------------------------------------------------ notifications


def wechat_note(event_type: str, **resource: Any) -> VerifiedNotification:
    base = {"sp_mchid": MCHID, "sp_appid": APPID, "sub_mchid": "1600000001", "out_trade_no": "pay_W"}
    return VerifiedNotification(id="n1", key="pay_W", payload={"event_type": event_type, "resource": base | resource})


def test_a_wechat_success_notification_is_payment_paid() -> None:
    note = wechat_note(
        "TRANSACTION.SUCCESS",
        trade_state="SUCCESS",
        transaction_id="4200001",
        amount={"total": 35_000},
        success_time="2026-11-25T10:00:05+08:00",
    )
    assert read_wechat_notification(note, MCHID, APPID) == PaymentPaid(
        out_trade_no="pay_W", trade_no="4200001", amount_fen=35_000, paid_at=PAID_AT, payee="1600000001"
    )


@pytest.mark.parametrize(
    ("resource", "reason"),
    [
        ({"sp_mchid": "other"}, "sp_mchid"),
        ({"sp_appid": "other"}, "sp_appid"),
        ({"amount": {"total": "35000"}}, "amount.total"),
        ({"transaction_id": 42}, "transaction_id"),
    ],
)
def test_a_wechat_notification_not_for_us_or_malformed_is_refused(resource: dict[str, Any], reason: str) -> None:
    fields = {"trade_state": "SUCCESS", "transaction_id": "4200001", "amount": {"total": 35_000}} | resource
    with pytest.raises(NotificationRefused, match=reason):
        read_wechat_notification(wechat_note("TRANSACTION.SUCCESS", **fields), MCHID, APPID)


def test_wechat_notifications_with_nothing_to_apply_are_ignored_but_still_about_a_payment() -> None:
    unpaid = read_wechat_notification(wechat_note("TRANSACTION.SUCCESS", trade_state="NOTPAY"), MCHID, APPID)
    assert unpaid == Ignored(outcome="ignored trade_state NOTPAY", out_trade_no="pay_W")
    other = read_wechat_notification(wechat_note("PROFITSHARING.SUCCESS"), MCHID, APPID)
    assert other == Ignored(outcome="ignored event PROFITSHARING.SUCCESS", out_trade_no="pay_W")


def test_a_wechat_refund_notification_says_what_became_of_the_refund() -> None:
    note = wechat_note(
        "REFUND.SUCCESS",
        out_refund_no="rfd_1",
        refund_status="SUCCESS",
        refund_id="50301",
        success_time=20261125,  # not a time: left out (the use case's clock), never a crash
        amount={"refund": 1_000, "total": 35_000},
    )
    assert read_wechat_notification(note, MCHID, APPID) == RefundChanged(
        out_trade_no="pay_W",
        out_refund_no="rfd_1",
        outcome="refund SUCCESS",
        refund_amount_fen=1_000,
        refund=ProviderRefund(state="succeeded", provider_refund_id="50301"),
    )


@pytest.mark.parametrize("status", [None, "LOST"])
def test_a_wechat_refund_notification_with_a_status_we_cannot_read_asks_a_query_instead(status: str | None) -> None:
    fields = {"out_refund_no": "rfd_1", "refund_id": "50301", "amount": {"refund": 1_000, "total": 35_000}}
    note = wechat_note("REFUND.SUCCESS", **fields, **({"refund_status": status} if status else {}))
    changed = read_wechat_notification(note, MCHID, APPID)
    assert isinstance(changed, RefundChanged) and changed.refund is None  # the use case queries the refund


def alipay_note(**form: str) -> VerifiedNotification:
    base = {"app_id": APP_ID, "seller_id": SELLER, "notify_type": "trade_status_sync", "out_trade_no": "pay_A"}
    return VerifiedNotification(id="n2", key="pay_A", payload=base | form)


def test_an_alipay_trade_notification_is_paid_closed_a_refund_or_ignored() -> None:
    read = lambda **form: read_alipay_notification(alipay_note(total_amount="50.00", **form), APP_ID, SELLER)  # noqa: E731
    paid = read(trade_status="TRADE_SUCCESS", trade_no="t1", gmt_payment="2026-11-25 10:00:05")
    assert paid == PaymentPaid(out_trade_no="pay_A", trade_no="t1", amount_fen=5_000, paid_at=PAID_AT)
    assert read(trade_status="TRADE_CLOSED") == PaymentClosed(out_trade_no="pay_A", trade_amount_fen=5_000)
    refund = read(trade_status="TRADE_SUCCESS", out_biz_no="rfd_1")
    assert refund == RefundChanged(
        out_trade_no="pay_A", out_refund_no="rfd_1", outcome="refund confirmed", trade_amount_fen=5_000
    )  # no refund state in it: a query tells
    assert read(trade_status="WAIT_BUYER_PAY") == Ignored(
        outcome="ignored trade_status WAIT_BUYER_PAY", out_trade_no="pay_A", trade_amount_fen=5_000
    )


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"app_id": "other"}, "app_id"),
        ({"seller_id": "other"}, "seller_id"),
        ({"total_amount": "fifty"}, "total_amount"),
        ({"trade_no": ""}, "trade_no"),
    ],
)
def test_an_alipay_notification_not_for_us_or_malformed_is_refused(form: dict[str, str], reason: str) -> None:
    note = alipay_note(**({"total_amount": "50.00", "trade_status": "TRADE_SUCCESS", "trade_no": "t1"} | form))
    with pytest.raises(NotificationRefused, match=reason):
        read_alipay_notification(note, APP_ID, SELLER)


def test_alipay_agreement_notifications_are_signed_or_unsigned() -> None:
    sign = {"notify_type": "dut_user_sign", "external_agreement_no": "agr_1"}
    signed = read_alipay_notification(alipay_note(**sign, agreement_no="2026", alipay_user_id="2088100"), APP_ID, "x")
    assert signed == AgreementSigned(agreement_id="agr_1", agreement_no="2026", alipay_user_id="2088100")
    with pytest.raises(NotificationRefused, match="agreement_no"):
        read_alipay_notification(alipay_note(**sign, alipay_user_id="2088100"), APP_ID, "x")
    unsign = alipay_note(notify_type="dut_user_unsign", external_agreement_no="agr_1")
    assert read_alipay_notification(unsign, APP_ID, "x") == AgreementUnsigned(agreement_id="agr_1")
    other = read_alipay_notification(alipay_note(notify_type="fund_trans"), APP_ID, "x")
    assert other == Ignored(outcome="ignored notify_type fund_trans")  # about no payment: nothing looked up


OPEN_ID = "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"  # the shape of an Alipay OpenID (46 characters)


def test_an_openid_apps_notifications_name_the_user_by_openid_and_lack_no_field_we_need() -> None:
    sign = {"notify_type": "dut_user_sign", "external_agreement_no": "agr_1", "agreement_no": "2026"}
    signed = read_alipay_notification(alipay_note(**sign, alipay_open_id=OPEN_ID), APP_ID, SELLER)
    assert signed == AgreementSigned(agreement_id="agr_1", agreement_no="2026", alipay_user_id=OPEN_ID)
    with pytest.raises(NotificationRefused, match="alipay_user_id"):  # neither id: refused (4xx), never a 500
        read_alipay_notification(alipay_note(**sign), APP_ID, SELLER)
    paid = read_alipay_notification(
        alipay_note(total_amount="50.00", trade_status="TRADE_SUCCESS", trade_no="t1", buyer_open_id=OPEN_ID),
        APP_ID,
        SELLER,
    )
    assert isinstance(paid, PaymentPaid) and paid.payer == OPEN_ID


async def test_a_misconfigured_provider_is_raised_at_once_never_retried() -> None:
    from shared.providers.errors import ProviderMisconfigured

    refused = ProviderMisconfigured("WeChat Pay refused our signature: SIGN_ERROR")
    client = Client(partner_jsapi=refused)
    adapter = WechatPayAdapter(cast(WechatPayClient, client), "https://us/notify/wechatpay", 3, 0)
    with pytest.raises(ProviderMisconfigured):
        await adapter.start(WECHAT)
    assert client.calls == ["partner_jsapi"]  # one attempt of three: no retry can fix our credentials


@pytest.mark.parametrize(
    ("trade_state", "outcome"),
    [("CLOSED", None), ("SUCCESS", "already_paid"), ("NOTPAY", "unavailable")],
)
async def test_a_wechat_close_is_believed_only_once_the_order_reads_closed(
    trade_state: str, outcome: str | None
) -> None:
    paid = {"transaction_id": "4200001", "amount": {"total": 35_000}} if trade_state == "SUCCESS" else {}
    adapter = wechat(partner_close={}, partner_query={"trade_state": trade_state, **paid})
    if outcome is None:
        assert await adapter.close(WECHAT) is None
    elif outcome == "already_paid":
        with pytest.raises(ProviderRejected) as refused:
            await adapter.close(WECHAT)
        assert refused.value.code == "already_paid"
    else:
        with pytest.raises(ProviderUnavailable):
            await adapter.close(WECHAT)
