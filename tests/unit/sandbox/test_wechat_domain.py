"""The WeChat sandbox's pure rules: request validation, order, refund and transfer state machines, login codes."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from services.sandbox.wechat import domain as d
from shared.aggregate import NewEvent, RecordedEvent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPENID = "o" + "a" * 27
S = TypeVar("S")
C = TypeVar("C")


def apply(state: S, events: Sequence[NewEvent], evolve: Callable[[S, RecordedEvent], S], at: datetime = T0) -> S:
    for e in events:
        state = evolve(state, RecordedEvent(event_id="e", type=e.type, version=1, payload=e.payload, occurred_at=at))
    return state


def run(state: d.Transaction, *cmds: d.TransactionCommand) -> d.Transaction:
    for cmd in cmds:
        state = apply(state, d.decide_transaction(state, cmd), d.evolve_transaction)
    return state


def body(**change: Any) -> dict[str, Any]:
    return {
        "appid": "wx8888888888888888",
        "mchid": "1900000001",
        "description": "二手书",
        "out_trade_no": "ord_000001",
        "notify_url": "https://merchant.example.com/notify",
        "amount": {"total": 100, "currency": "CNY"},
        "payer": {"openid": OPENID},
        **change,
    }


def order(total: int = 100, *, at: datetime = T0, **change: Any) -> d.Order:
    req = d.parse_model(d.JsapiRequest, body(amount={"total": total}, **change))
    return d.order_from_request(req, at, min_window_s=60)


def placed(total: int = 100, **change: Any) -> d.Transaction:
    return run(d.Transaction(), d.PlaceOrder(order(total, **change), "wx_prepay_1", T0))


def paid(total: int = 100) -> d.Transaction:
    return run(placed(total), d.PayOrder("wx_prepay_1", OPENID, "4200000001", T0 + timedelta(minutes=1)))


def refund(no: str, amount: int, total: int = 100, at: datetime = T0 + timedelta(hours=1)) -> d.RequestRefund:
    return d.RequestRefund(no, "rid_" + no, amount, total, None, None, None, at)


def raises(status: int, code: str, fn: Callable[[], object]) -> str:
    with pytest.raises(d.WechatError) as caught:
        fn()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value.body()
    return caught.value.message


# --- wire formats and validation --------------------------------------------------------------------------------------


def test_rfc3339_times_need_a_zone_and_keep_milliseconds() -> None:
    assert d.parse_rfc3339("2018-06-08T10:34:56+08:00") == datetime(2018, 6, 8, 2, 34, 56, tzinfo=UTC)
    assert d.parse_rfc3339("2018-06-08T02:34:56Z") == d.parse_rfc3339("2018-06-08T10:34:56+08:00")
    assert d.parse_rfc3339("2018-06-08T10:34:56.123456+08:00").microsecond == 123000
    for bad in ("2018-06-08T10:34:56", "2018-06-08 10:34:56+08:00", "2018-02-30T10:34:56+08:00", "20180608103456"):
        with pytest.raises(ValueError):
            d.parse_rfc3339(bad)
    assert d.wire_time(datetime(2026, 1, 1, 16, 0, 0, 999, tzinfo=UTC)) == "2026-01-02T00:00:00+08:00"


@pytest.mark.parametrize(
    "url",
    [
        "https://merchant.example.com/notify",
        "http://127.0.0.1:8081/notify",
        "http://localhost/notify",
        "http://payment:8081/notify",
        "http://10.0.0.5/notify",
    ],
)
def test_notify_urls_that_are_accepted(url: str) -> None:
    assert d.check_notify_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://merchant.example.com/notify",
        "https://merchant.example.com/notify?order=1",
        "https://merchant.example.com/notify#x",
        "ftp://merchant.example.com/notify",
        "/notify",
        "https://merchant.example.com/" + "n" * 250,
    ],
)
def test_notify_urls_that_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        d.check_notify_url(url)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "x" * 128}, "/body/description"),
        ({"out_trade_no": "12345"}, "/body/out_trade_no"),
        ({"out_trade_no": "x" * 33}, "/body/out_trade_no"),
        ({"out_trade_no": "ord 000001"}, "/body/out_trade_no"),
        ({"amount": {"total": 0}}, "/body/amount/total"),
        ({"amount": {"total": True}}, "/body/amount/total"),
        ({"amount": {"total": 1.0}}, "/body/amount/total"),
        ({"amount": {"total": 1, "currency": "USD"}}, "/body/amount/currency"),
        ({"attach": "x" * 129}, "/body/attach"),
        ({"time_expire": "tomorrow"}, "/body/time_expire"),
        ({"payer": {"openid": ""}}, "/body/payer/openid"),
        ({"appid": None}, "/body/appid"),
    ],
)
def test_invalid_jsapi_fields_are_param_errors_naming_the_field(change: dict[str, Any], field: str) -> None:
    message = raises(400, "PARAM_ERROR", lambda: d.parse_model(d.JsapiRequest, body(**change)))
    assert field in message


def test_valid_jsapi_edges_are_accepted() -> None:
    for change in (
        {"description": "x" * 127},
        {"out_trade_no": "a-b_c|d*e"},
        {"out_trade_no": "x" * 32},
        {"amount": {"total": 1}},
        {"unknown_field": "ignored"},
    ):
        d.parse_model(d.JsapiRequest, body(**change))
    assert d.parse_model(d.JsapiRequest, body(amount={"total": 5})).amount.currency == "CNY"


def test_the_merchant_must_be_the_signer_and_own_the_app() -> None:
    d.check_merchant("wx1", "m1", auth_mchid="m1", known_appid="wx1")
    raises(400, "PARAM_ERROR", lambda: d.check_merchant("wx1", "m2", auth_mchid="m1", known_appid="wx1"))
    raises(400, "APPID_MCHID_NOT_MATCH", lambda: d.check_merchant("wx2", "m1", auth_mchid="m1", known_appid="wx1"))


# --- orders -----------------------------------------------------------------------------------------------------------


def test_the_pay_deadline_defaults_to_seven_days_and_time_expire_is_kept_within_a_minute_and_90_days() -> None:
    assert d.pay_deadline(T0, None, min_window_s=60) == T0 + timedelta(days=7)
    assert d.pay_deadline(T0, T0 - timedelta(hours=1), min_window_s=60) == T0 + timedelta(minutes=1)
    assert d.pay_deadline(T0, T0 + timedelta(hours=3), min_window_s=60) == T0 + timedelta(hours=3)
    assert d.pay_deadline(T0, T0 + timedelta(days=200), min_window_s=60) == T0 + timedelta(days=90)
    assert d.pay_deadline(T0, T0, min_window_s=0.06) == T0 + timedelta(milliseconds=60)


def test_placing_the_same_order_again_changes_nothing_and_other_terms_are_refused() -> None:
    state = placed()
    assert state.trade_state == d.NOTPAY and state.prepay_id == "wx_prepay_1"
    assert d.decide_transaction(state, d.PlaceOrder(order(), "wx_prepay_2", T0 + timedelta(minutes=5))) == []
    same_instant = order(time_expire="2026-03-01T20:30:00+08:00")
    state = placed(time_expire="2026-03-01T12:30:00Z")
    assert d.decide_transaction(state, d.PlaceOrder(same_instant, "wx_prepay_2", T0)) == []
    for other in (order(101), order(attach="x"), order(notify_url="https://other.example.com/n")):
        with pytest.raises(d.WechatError) as refused:
            d.decide_transaction(placed(), d.PlaceOrder(other, "p", T0))
        assert (refused.value.status, refused.value.code) == (400, "INVALID_REQUEST")
        assert refused.value.message.startswith("201 商户订单号重复")


def test_placing_again_after_two_hours_gives_a_new_prepay_id() -> None:
    later = T0 + d.PREPAY_TTL
    state = run(placed(), d.PlaceOrder(order(), "wx_prepay_2", later))
    assert state.prepay_id == "wx_prepay_2"
    with pytest.raises(d.PayRefused) as old:
        d.decide_transaction(state, d.PayOrder("wx_prepay_1", OPENID, "t", later))
    assert old.value.code == "prepay_id_expired"


def test_placing_a_paid_closed_or_expired_order_again_is_refused() -> None:
    raises(400, "ORDERPAID", lambda: d.decide_transaction(paid(), d.PlaceOrder(order(), "p", T0)))
    closed = run(placed(), d.CloseOrder(T0))
    raises(400, "ORDER_CLOSED", lambda: d.decide_transaction(closed, d.PlaceOrder(order(), "p", T0)))
    expiring = placed(time_expire="2026-03-01T20:10:00+08:00")
    late = d.PlaceOrder(order(time_expire="2026-03-01T20:10:00+08:00"), "p", T0 + timedelta(minutes=10))
    raises(400, "ORDER_CLOSED", lambda: d.decide_transaction(expiring, late))


@pytest.mark.parametrize(
    ("state", "cmd", "code", "status"),
    [
        (placed(), d.PayOrder("wx_prepay_1", "o" + "b" * 27, "t", T0), "openid_mismatch", 403),
        (paid(), d.PayOrder("wx_prepay_1", OPENID, "t", T0), "order_paid", 409),
        (run(placed(), d.CloseOrder(T0)), d.PayOrder("wx_prepay_1", OPENID, "t", T0), "order_closed", 409),
        (placed(), d.PayOrder("wx_prepay_1", OPENID, "t", T0 + timedelta(days=7)), "order_expired", 409),
        (placed(), d.PayOrder("wx_prepay_1", OPENID, "t", T0 + timedelta(hours=2)), "prepay_id_expired", 409),
        (placed(), d.PayOrder("wx_other", OPENID, "t", T0), "prepay_id_expired", 409),
        (placed(), d.PayOrder("wx_prepay_1", OPENID, "t", T0, declined=True), "payment_declined", 402),
    ],
)
def test_the_wallet_refuses_payments_it_must_not_take(
    state: d.Transaction, cmd: d.PayOrder, code: str, status: int
) -> None:
    with pytest.raises(d.PayRefused) as refused:
        d.decide_transaction(state, cmd)
    assert (refused.value.code, refused.value.status) == (code, status)


def test_a_paid_order_has_its_transaction_id_and_success_time() -> None:
    state = paid()
    assert (state.trade_state, state.transaction_id) == (d.SUCCESS, "4200000001")
    assert state.paid_at == T0 + timedelta(minutes=1)


def test_an_unpaid_order_stays_notpay_past_its_deadline_until_closed() -> None:
    state = placed(time_expire="2026-03-01T20:05:00+08:00")
    assert state.trade_state == d.NOTPAY
    closed = run(state, d.CloseOrder(T0 + timedelta(days=30)))
    assert closed.trade_state == d.CLOSED
    assert d.decide_transaction(closed, d.CloseOrder(T0)) == []  # closing again: 204, nothing new
    raises(400, "ORDERPAID", lambda: d.decide_transaction(paid(), d.CloseOrder(T0)))
    assert d.decide_transaction(d.Transaction(), d.CloseOrder(T0)) == []  # never seen: 204, nothing recorded


# --- refunds ----------------------------------------------------------------------------------------------------------


def test_partial_refunds_add_up_to_at_most_the_order_total() -> None:
    state = run(paid(100), refund("r1", 60))
    assert state.refundable_fen() == 40 and state.trade_state == d.REFUND
    message = raises(400, "INVALID_REQUEST", lambda: d.decide_transaction(state, refund("r2", 41)))
    assert "40 fen left" in message
    state = run(state, refund("r2", 40))
    assert state.refundable_fen() == 0
    raises(400, "INVALID_REQUEST", lambda: d.decide_transaction(state, refund("r3", 1)))


def test_a_replayed_refund_number_refunds_once_and_must_match() -> None:
    state = run(paid(100), refund("r1", 30))
    assert d.decide_transaction(state, refund("r1", 30)) == []
    raises(400, "INVALID_REQUEST", lambda: d.decide_transaction(state, refund("r1", 31)))
    raises(400, "INVALID_REQUEST", lambda: d.decide_transaction(state, refund("r1", 30, total=200)))
    assert state.committed_refund_fen == 30


def test_refunds_need_a_paid_order_its_total_and_the_refund_window() -> None:
    raises(400, "INVALID_REQUEST", lambda: d.decide_transaction(placed(), refund("r1", 10)))
    raises(400, "INVALID_REQUEST", lambda: d.decide_transaction(paid(100), refund("r1", 10, total=99)))
    a_year_on = T0 + timedelta(minutes=1) + d.REFUND_WINDOW
    raises(400, "INVALID_REQUEST", lambda: d.decide_transaction(paid(100), refund("r1", 10, at=a_year_on)))
    raises(404, "ORDER_NOT_EXIST", lambda: d.decide_transaction(d.Transaction(), refund("r1", 10)))


def test_an_order_takes_at_most_fifty_refunds() -> None:
    state = run(paid(100), *(refund(f"r{i}", 1) for i in range(d.MAX_REFUNDS)))
    message = raises(400, "INVALID_REQUEST", lambda: d.decide_transaction(state, refund("r_last", 1)))
    assert "50" in message


def test_refund_outcomes_follow_the_state_machine() -> None:
    state = run(paid(100), refund("r1", 100))
    assert state.refunds[0].status == d.PROCESSING and state.refunds[0].success_time is None
    abnormal = run(state, d.SettleRefund("r1", "ABNORMAL", T0))
    assert abnormal.refundable_fen() == 0  # an abnormal refund still holds its money
    done = run(abnormal, d.SettleRefund("r1", "SUCCESS", T0 + timedelta(hours=2)))
    assert done.refunds[0].success_time == T0 + timedelta(hours=2)
    assert d.decide_transaction(done, d.SettleRefund("r1", "SUCCESS", T0)) == []
    with pytest.raises(d.StateError):
        d.decide_transaction(done, d.SettleRefund("r1", "CLOSED", T0))
    with pytest.raises(d.StateError):
        d.decide_transaction(done, d.SettleRefund("nope", "SUCCESS", T0))


def test_a_closed_refund_gives_its_amount_back_and_its_number_stays_closed() -> None:
    state = run(paid(100), refund("r1", 100), d.SettleRefund("r1", "CLOSED", T0))
    assert state.refundable_fen() == 100 and state.trade_state == d.SUCCESS
    raises(400, "INVALID_REQUEST", lambda: d.decide_transaction(state, refund("r1", 100)))
    assert run(state, refund("r2", 100)).trade_state == d.REFUND


# --- transfers --------------------------------------------------------------------------------------------------------


def transfer_req(**change: Any) -> d.TransferRequest:
    base: dict[str, Any] = {
        "appid": "wx8888888888888888",
        "out_bill_no": "wdr000001",
        "transfer_scene_id": "1005",
        "openid": OPENID,
        "transfer_amount": 500,
        "transfer_remark": "提现",
    }
    return d.parse_model(d.TransferRequest, {**base, **change})


def run_transfer(state: d.Transfer, *cmds: d.TransferCommand) -> d.Transfer:
    for cmd in cmds:
        state = apply(state, d.TRANSFER.decide(state, cmd), d.TRANSFER.evolve)
    return state


def created(package_info: str | None = None, **change: Any) -> d.Transfer:
    bill = d.bill_from_request(transfer_req(**change), "1900000001")
    return run_transfer(d.Transfer(), d.CreateTransfer(bill, "1330001", d.TransferPlan(), T0, package_info))


def test_a_transfer_bill_is_created_once_per_out_bill_no() -> None:
    state = created()
    assert (state.state, state.transfer_bill_no) == (d.ACCEPTED, "1330001")
    again = d.CreateTransfer(d.bill_from_request(transfer_req(), "1900000001"), "1330002", d.TransferPlan(), T0)
    assert d.TRANSFER.decide(state, again) == []
    other_bill = d.bill_from_request(transfer_req(transfer_amount=501), "1900000001")
    other = d.CreateTransfer(other_bill, "1330002", d.TransferPlan(), T0)
    assert "transfer_amount" in raises(400, "INVALID_REQUEST", lambda: d.TRANSFER.decide(state, other))
    # Encrypted user names differ on every encryption of the same name: the terms compare their presence.
    assert transfer_req(user_name="c2VhbGVkMQ==").terms() == transfer_req(user_name="c2VhbGVkMg==").terms()


def test_transfer_outcomes_returns_and_cancellation() -> None:
    success = run_transfer(created(), d.SettleTransfer("SUCCESS", None, T0))
    assert (success.state, success.fail_reason) == (d.SUCCESS, None)
    returned = run_transfer(success, d.ReturnTransfer(d.BANK_RETURN_REASON, T0))
    assert (returned.state, returned.fail_reason) == ("REFUND", "BANK_CARD_STATUS_ABNORMAL")
    assert d.TRANSFER.decide(returned, d.ReturnTransfer("x", T0)) == []
    failed = run_transfer(created(), d.SettleTransfer("FAIL", None, T0))
    assert failed.fail_reason == d.DECLINE_REASON
    with pytest.raises(d.StateError):
        d.TRANSFER.decide(failed, d.ReturnTransfer("x", T0))
    with pytest.raises(d.StateError):
        d.TRANSFER.decide(failed, d.SettleTransfer("SUCCESS", None, T0))
    canceling = run_transfer(created(), d.CancelTransfer(T0))
    assert canceling.state == d.CANCELING and d.TRANSFER.decide(canceling, d.CancelTransfer(T0)) == []
    with pytest.raises(d.StateError):
        d.TRANSFER.decide(canceling, d.SettleTransfer("SUCCESS", None, T0))
    assert run_transfer(canceling, d.SettleTransfer("CANCELLED", None, T0)).state == d.CANCELLED
    raises(400, "INVALID_REQUEST", lambda: d.TRANSFER.decide(success, d.CancelTransfer(T0)))
    raises(404, "NOT_FOUND", lambda: d.TRANSFER.decide(d.Transfer(), d.CancelTransfer(T0)))


def test_a_bill_the_payee_must_confirm_waits_for_that_payee() -> None:
    waiting = created(package_info="pkg")
    assert waiting.state == d.WAIT_USER_CONFIRM
    with pytest.raises(d.StateError):
        d.TRANSFER.decide(waiting, d.SettleTransfer("SUCCESS", None, T0))
    for cmd, code in (
        (d.ConfirmTransfer("o" + "b" * 27, "pkg", T0), "openid_mismatch"),
        (d.ConfirmTransfer(OPENID, "other", T0), "package_info_mismatch"),
    ):
        with pytest.raises(d.PayRefused) as refused:
            d.TRANSFER.decide(waiting, cmd)
        assert refused.value.code == code
    confirmed = run_transfer(waiting, d.ConfirmTransfer(OPENID, "pkg", T0))
    assert confirmed.state == "PROCESSING"
    assert run_transfer(confirmed, d.SettleTransfer("SUCCESS", None, T0)).state == d.SUCCESS
    with pytest.raises(d.PayRefused):
        d.TRANSFER.decide(confirmed, d.ConfirmTransfer(OPENID, "pkg", T0))
    assert run_transfer(waiting, d.CancelTransfer(T0)).state == d.CANCELING
    with pytest.raises(d.PayRefused):
        d.TRANSFER.decide(created(), d.ConfirmTransfer(OPENID, "pkg", T0))


def test_transfers_from_two_thousand_yuan_need_a_user_name() -> None:
    d.check_transfer_user_name(transfer_req(transfer_amount=199_999))
    d.check_transfer_user_name(transfer_req(transfer_amount=200_000, user_name="c2VhbGVk"))
    raises(400, "PARAM_ERROR", lambda: d.check_transfer_user_name(transfer_req(transfer_amount=200_000)))
    raises(400, "PARAM_ERROR", lambda: transfer_req(out_bill_no="wdr-0001"))
    raises(400, "PARAM_ERROR", lambda: transfer_req(transfer_remark="x" * 33))


# --- login ------------------------------------------------------------------------------------------------------------

ISSUED = d.IssuedCode("code1", "wx1", OPENID, T0)
GOOD = {"appid": "wx1", "secret": "s3cret", "js_code": "code1", "grant_type": "authorization_code"}


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"appid": ""}, 41002),
        ({"secret": ""}, 41004),
        ({"js_code": ""}, 41008),
        ({"grant_type": "password"}, 40002),
        ({"appid": "wx2"}, 40013),
        ({"secret": "wrong"}, 40125),
    ],
)
def test_login_errors_come_in_wechats_order(change: dict[str, str], errcode: int) -> None:
    error = d.check_login({**GOOD, **change}, appid="wx1", secret="s3cret", issued=ISSUED, now=T0)
    assert error is not None and error.errcode == errcode


def test_login_codes_are_valid_for_five_minutes() -> None:
    assert d.check_login(GOOD, appid="wx1", secret="s3cret", issued=ISSUED, now=T0 + timedelta(seconds=299)) is None
    expired = d.check_login(GOOD, appid="wx1", secret="s3cret", issued=ISSUED, now=T0 + timedelta(seconds=300))
    assert expired == d.INVALID_CODE
    assert d.check_login(GOOD, appid="wx1", secret="s3cret", issued=None, now=T0) == d.INVALID_CODE


def test_provider_ids_have_wechats_shapes() -> None:
    ids = d.Ids()
    assert re.fullmatch(r"o[A-Za-z0-9_-]{27}", ids.openid())
    assert re.fullmatch(r"wx20260301200000[0-9a-f]{20}", ids.prepay_id(T0))
    assert re.fullmatch(r"420020260301[0-9]{16}", ids.transaction_id(T0))
    assert len(ids.refund_id(T0)) == 29 and ids.refund_id(T0).isdigit()
    assert re.fullmatch(r"EV-[0-9]{19}", ids.event_id())
    assert len(ids.session_key()) == 24 and ids.login_code() != ids.login_code()
