"""The Alipay sandbox's pure rules: amounts, expiry, trade, refund, agreement and payout state machines, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest

from services.sandbox.alipay import domain as d
from shared.aggregate import Aggregate, RecordedEvent

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
SELLER = "2088000000000001"
BUYER = "2088123412341234"

S = TypeVar("S")


def run(aggregate: Aggregate[S, Any], state: S, cmd: Any) -> tuple[S, int]:
    """Decide, then evolve with what was decided: (new state, number of events)."""
    events = list(aggregate.decide(state, cmd))
    for e in events:
        state = aggregate.evolve(
            state, RecordedEvent(event_id="e", type=e.type, version=1, payload=e.payload, occurred_at=NOW)
        )
    return state, len(events)


def sub_code(exc: pytest.ExceptionInfo[d.BizError]) -> str:
    return exc.value.sub_code


# --- amounts and time -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "fen"),
    [
        ("12.34", 1234),
        ("0.01", 1),
        ("7", 700),
        ("7.5", 750),
        (Decimal("12.30"), 1230),
        (Decimal("1.000"), 100),
        (3, 300),
    ],
)
def test_wire_amounts_become_integer_fen(wire: object, fen: int) -> None:
    assert d.parse_yuan(wire) == fen


@pytest.mark.parametrize("wire", ["1.234", "-1.00", "1,00", " 1.00", "1e2", 1.5, True, Decimal("0.001"), -1, None])
def test_amounts_that_are_not_exact_yuan_are_refused(wire: object) -> None:
    with pytest.raises(ValueError):
        d.parse_yuan(wire)


def test_an_unpaid_trade_expires_after_timeout_express_or_at_time_expire() -> None:
    assert d.trade_expiry(NOW, None, None) == NOW + timedelta(days=15)
    assert d.trade_expiry(NOW, "90m", None) == NOW + timedelta(minutes=90)
    assert d.trade_expiry(NOW, "2h", None) == NOW + timedelta(hours=2)
    assert d.trade_expiry(NOW, "1c", None) == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # Beijing midnight
    assert d.trade_expiry(NOW, "15d", "2026-03-01 12:30:00") == NOW + timedelta(minutes=30)
    for bad in ("0m", "16d", "1w", "2c"):
        with pytest.raises(ValueError):
            d.trade_expiry(NOW, bad, None)
    with pytest.raises(ValueError):
        d.trade_expiry(NOW, None, "2026-03-01T12:30:00")


def test_provider_ids_have_alipays_shapes() -> None:
    ids = d.Ids(randbelow=lambda n: n - 1)
    assert ids.trade_no(NOW) == "20260301" + "2200" + "9" * 16
    assert ids.user_id() == "2088" + "9" * 12 and d.USER_ID_RE.fullmatch(ids.user_id())
    assert len(ids.agreement_no(NOW)) == 20 and len(ids.transfer_order_id(NOW)) == 32
    assert d.wire_time_ms(NOW + timedelta(milliseconds=7)) == "2026-03-01 12:00:00.007"


# --- trades -----------------------------------------------------------------------------------------------------------


def order(out_trade_no: str = "ord_1", total_fen: int = 10_000, **more: Any) -> d.TradeOrder:
    return d.TradeOrder(
        app_id="app",
        out_trade_no=out_trade_no,
        total_fen=total_fen,
        subject="书",
        product_code="QUICK_MSECURITY_PAY",
        seller_id=SELLER,
        **more,
    )


def paid_trade(total_fen: int = 10_000) -> d.TradeState:
    state, _ = run(d.TRADE, d.TradeState(), d.PayTrade(order(total_fen=total_fen), "T1", BUYER, NOW))
    return state


def test_paying_opens_and_pays_the_trade_once() -> None:
    state = paid_trade()
    assert state.status(NOW) == d.TRADE_SUCCESS and state.trade_no == "T1" and state.buyer_id == BUYER
    with pytest.raises(d.BizError) as again:
        d.decide_trade(state, d.PayTrade(order(), "T2", BUYER, NOW))
    assert sub_code(again) == "ACQ.TRADE_HAS_SUCCESS"


def test_a_repeat_with_other_terms_is_context_inconsistent() -> None:
    opened, n = run(d.TRADE, d.TradeState(), d.OpenTrade(order(), "T1", NOW))
    assert n == 1 and opened.status(NOW) == d.WAIT_BUYER_PAY
    assert d.decide_trade(opened, d.OpenTrade(order(), "T9", NOW)) == []
    with pytest.raises(d.BizError) as changed:
        d.decide_trade(opened, d.PayTrade(order(total_fen=1), "T9", BUYER, NOW))
    assert sub_code(changed) == "ACQ.CONTEXT_INCONSISTENT"


def test_buyer_and_seller_must_differ() -> None:
    with pytest.raises(d.BizError) as same:
        d.decide_trade(d.TradeState(), d.PayTrade(order(), "T1", SELLER, NOW))
    assert sub_code(same) == "ACQ.BUYER_SELLER_EQUAL"


def test_only_a_waiting_trade_closes_and_a_closed_trade_cannot_be_paid() -> None:
    opened, _ = run(d.TRADE, d.TradeState(), d.OpenTrade(order(), "T1", NOW))
    closed, _ = run(d.TRADE, opened, d.CloseTrade(NOW))
    assert closed.status(NOW) == d.TRADE_CLOSED
    with pytest.raises(d.BizError) as pay:
        d.decide_trade(closed, d.PayTrade(order(), "T1", BUYER, NOW))
    assert sub_code(pay) == "ACQ.TRADE_HAS_CLOSE"
    for state in (closed, paid_trade()):
        with pytest.raises(d.BizError) as close:
            d.decide_trade(state, d.CloseTrade(NOW))
        assert sub_code(close) == "ACQ.TRADE_STATUS_ERROR"
    with pytest.raises(d.BizError) as missing:
        d.decide_trade(d.TradeState(), d.CloseTrade(NOW))
    assert sub_code(missing) == "ACQ.TRADE_NOT_EXIST"


def test_an_unpaid_trade_past_its_expiry_is_closed() -> None:
    opened, _ = run(d.TRADE, d.TradeState(), d.OpenTrade(order(expires_at=NOW + timedelta(minutes=5)), "T1", NOW))
    later = NOW + timedelta(minutes=5)
    assert opened.status(NOW) == d.WAIT_BUYER_PAY and opened.status(later) == d.TRADE_CLOSED
    with pytest.raises(d.BizError) as pay:
        d.decide_trade(opened, d.PayTrade(order(), "T1", BUYER, later))
    assert sub_code(pay) == "ACQ.TRADE_HAS_CLOSE"


def test_partial_refunds_accumulate_up_to_the_total_and_a_full_refund_closes_the_trade() -> None:
    state = paid_trade(10_000)
    state, n = run(d.TRADE, state, d.RefundTrade("r1", 3_000, "坏了", NOW))
    assert n == 1 and state.refunded_fen == 3_000 and state.status(NOW) == d.TRADE_SUCCESS
    with pytest.raises(d.BizError) as exceed:
        d.decide_trade(state, d.RefundTrade("r2", 7_001, None, NOW))
    assert sub_code(exceed) == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    state, _ = run(d.TRADE, state, d.RefundTrade("r2", 7_000, None, NOW))
    assert state.refunded_fen == 10_000 and state.status(NOW) == d.TRADE_CLOSED
    with pytest.raises(d.BizError) as after:
        d.decide_trade(state, d.RefundTrade("r3", 1, None, NOW))
    assert sub_code(after) == "ACQ.TRADE_STATUS_ERROR"


def test_a_replayed_refund_number_decides_nothing_and_another_amount_is_discordant() -> None:
    state, _ = run(d.TRADE, paid_trade(), d.RefundTrade("r1", 500, None, NOW))
    assert d.decide_trade(state, d.RefundTrade("r1", 500, None, NOW + timedelta(hours=1))) == []
    assert state.refund("r1") == d.Refund("r1", 500, None, NOW, from_available_fen=500)
    with pytest.raises(d.BizError) as other:
        d.decide_trade(state, d.RefundTrade("r1", 600, None, NOW))
    assert sub_code(other) == "ACQ.DISCORDANT_REPEAT_REQUEST"


def test_refunds_need_a_paid_trade() -> None:
    opened, _ = run(d.TRADE, d.TradeState(), d.OpenTrade(order(), "T1", NOW))
    with pytest.raises(d.BizError) as unpaid:
        d.decide_trade(opened, d.RefundTrade("r1", 1, None, NOW))
    assert sub_code(unpaid) == "ACQ.TRADE_STATUS_ERROR"


# --- agreements -------------------------------------------------------------------------------------------------------

LIMITS = d.WithholdingLimits(
    general_single_fen=50_000,
    general_daily_fen=100_000,
    cycle_single_fen=10_000,
    cycle_daily_fen=100_000,
    cycle_monthly_fen=3_000_000,
)


def sign_biz(**more: Any) -> dict[str, Any]:
    return {
        "personal_product_code": "GENERAL_WITHHOLDING_P",
        "product_code": "GENERAL_WITHHOLDING",
        "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
        "external_agreement_no": "ext1",
        "access_params": {"channel": "ALIPAYAPP"},
        **more,
    }


def signed(limits: d.AgreementLimits | None = None, product_code: str = "GENERAL_WITHHOLDING") -> d.AgreementState:
    terms = d.AgreementTerms(
        agreement_no="A1",
        app_id="app",
        user_id=BUYER,
        personal_product_code=d.PERSONAL_PRODUCT[product_code],
        product_code=product_code,
        sign_scene="INDUSTRY|DIGITAL_MEDIA",
        external_agreement_no="ext1",
        external_logon_id=None,
        limits=limits or d.AgreementLimits(single_fen=50_000, daily_fen=100_000),
        signed_at=NOW,
        invalid_at=NOW + timedelta(days=365),
        notify_url=None,
    )
    state, _ = run(d.AGREEMENT, d.AgreementState(), d.SignAgreement(terms))
    return state


def charge(out_trade_no: str, fen: int, at: datetime = NOW, product: str = "GENERAL_WITHHOLDING") -> d.ChargeAgreement:
    return d.ChargeAgreement(out_trade_no, fen, product, "app", at)


def test_charges_stay_within_the_single_and_daily_limits() -> None:
    state = signed()
    state, _ = run(d.AGREEMENT, state, charge("o1", 50_000))
    with pytest.raises(d.BizError) as single:
        d.decide_agreement(state, charge("o2", 50_001))
    assert sub_code(single) == "ACQ.CYCLE_PAY_SINGLE_FEE_EXCEED"
    state, _ = run(d.AGREEMENT, state, charge("o2", 50_000))
    with pytest.raises(d.BizError) as daily:
        d.decide_agreement(state, charge("o3", 1))
    assert sub_code(daily) == "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR"


def test_the_daily_limit_resets_at_beijing_midnight_not_utc_midnight() -> None:
    state, _ = run(d.AGREEMENT, signed(), charge("o1", 50_000))
    state, _ = run(d.AGREEMENT, state, charge("o2", 50_000))
    beijing_midnight = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    with pytest.raises(d.BizError):
        d.decide_agreement(state, charge("o3", 1, beijing_midnight - timedelta(seconds=1)))
    assert len(d.decide_agreement(state, charge("o3", 1, beijing_midnight))) == 1


def test_one_out_trade_no_is_charged_once_and_a_void_gives_the_quota_back() -> None:
    state, _ = run(d.AGREEMENT, signed(), charge("o1", 50_000))
    assert d.decide_agreement(state, charge("o1", 50_000)) == []
    state, _ = run(d.AGREEMENT, state, d.VoidCharge("o1", NOW))
    assert state.charged_fen() == 0 and d.decide_agreement(state, d.VoidCharge("o1", NOW)) == []


def test_periodic_debits_obey_monthly_total_and_count_limits() -> None:
    limits = d.AgreementLimits(
        single_fen=10_000, daily_fen=100_000, monthly_fen=15_000, total_fen=25_000, total_times=3
    )
    state = signed(limits, "CYCLE_PAY_AUTH")
    cycle = "CYCLE_PAY_AUTH"
    state, _ = run(d.AGREEMENT, state, charge("o1", 10_000, product=cycle))
    with pytest.raises(d.BizError) as monthly:
        d.decide_agreement(state, charge("o2", 5_001, product=cycle))
    assert sub_code(monthly) == "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR"
    next_month = NOW + timedelta(days=31)
    state, _ = run(d.AGREEMENT, state, charge("o2", 10_000, next_month, cycle))
    with pytest.raises(d.BizError) as total:
        d.decide_agreement(state, charge("o3", 5_001, next_month + timedelta(days=31), cycle))
    assert sub_code(total) == "ACQ.CYCLE_PAY_TOTAL_FEE_EXCEED"
    state, _ = run(d.AGREEMENT, state, charge("o3", 1, next_month + timedelta(days=31), cycle))
    with pytest.raises(d.BizError) as times:
        d.decide_agreement(state, charge("o4", 1, next_month + timedelta(days=62), cycle))
    assert sub_code(times) == "ACQ.CYCLE_PAY_TOTAL_TIMES_EXCEED"


def test_an_unsigned_unknown_expired_or_mismatched_agreement_cannot_be_charged() -> None:
    with pytest.raises(d.BizError) as unknown:
        d.decide_agreement(d.AgreementState(), charge("o1", 1))
    assert sub_code(unknown) == "ACQ.AGREEMENT_NOT_EXIST"
    unsigned, _ = run(d.AGREEMENT, signed(), d.UnsignAgreement(NOW))
    assert unsigned.status(NOW) == "UNSIGN"
    with pytest.raises(d.BizError) as gone:
        d.decide_agreement(unsigned, charge("o1", 1))
    assert sub_code(gone) == "ACQ.AGREEMENT_NOT_EXIST"
    with pytest.raises(d.BizError) as twice:
        d.decide_agreement(unsigned, d.UnsignAgreement(NOW))
    assert sub_code(twice) == "USER_AGREEMENT_NOT_EXIST"
    with pytest.raises(d.BizError) as expired:
        d.decide_agreement(signed(), charge("o1", 1, NOW + timedelta(days=366)))
    assert sub_code(expired) == "ACQ.AGREEMENT_INVALID"
    with pytest.raises(d.BizError) as product:
        d.decide_agreement(signed(), charge("o1", 1, product="CYCLE_PAY_AUTH"))
    assert sub_code(product) == "ACQ.AGREEMENT_ERROR"
    with pytest.raises(d.BizError) as other_app:
        d.decide_agreement(signed(), d.ChargeAgreement("o1", 1, "GENERAL_WITHHOLDING", "other", NOW))
    assert sub_code(other_app) == "ACQ.AGREEMENT_NOT_EXIST"


def test_sign_requests_are_validated_and_periodic_limits_are_capped() -> None:
    biz = d.AgreementSignBiz.model_validate(sign_biz())
    assert d.agreement_limits(biz, LIMITS) == d.AgreementLimits(single_fen=50_000, daily_fen=100_000)
    rule = {"period_type": "MONTH", "period": 1, "execute_time": "2026-04-01", "single_amount": "150.00"}
    cycle = d.AgreementSignBiz.model_validate(
        sign_biz(personal_product_code="CYCLE_PAY_AUTH_P", product_code="CYCLE_PAY_AUTH", period_rule_params=rule)
    )
    assert d.agreement_limits(cycle, LIMITS).single_fen == 10_000  # Alipay's 100 yuan cap wins over the signed 150
    for bad in (
        sign_biz(personal_product_code="CYCLE_PAY_AUTH_P"),
        sign_biz(sign_scene="DEFAULT|DEFAULT"),
        sign_biz(product_code="CYCLE_PAY_AUTH", personal_product_code="CYCLE_PAY_AUTH_P"),
        sign_biz(period_rule_params=rule),
        sign_biz(access_params={"channel": "SMS"}),
        sign_biz(external_agreement_no="x" * 33),
    ):
        with pytest.raises(d.BizError) as exc:
            d.parse_biz(d.AgreementSignBiz, bad, "INVALID_PARAMETER")
        assert sub_code(exc) == "INVALID_PARAMETER"
    with pytest.raises(ValueError):
        d.PeriodRule.model_validate({**rule, "period_type": "DAY", "period": 6})
    assert d.agreement_invalid_time(NOW, "3m") == NOW + timedelta(days=90)


# --- payouts ----------------------------------------------------------------------------------------------------------


def transfer_order(amount_fen: int = 1_000, product_code: str = "TRANS_BANKCARD_NO_PWD") -> d.TransferOrder:
    return d.TransferOrder(
        app_id="app",
        out_biz_no="w1",
        amount_fen=amount_fen,
        product_code=product_code,
        biz_scene="DIRECT_TRANSFER",
        order_title="提现",
        payee_identity="6214830000000000",
        payee_identity_type="BANKCARD_ACCOUNT",
        payee_name="张三",
    )


def created(outcome: str = "SUCCESS", settle_at: datetime | None = None, **kw: Any) -> d.TransferState:
    cmd = d.CreateTransfer(transfer_order(**kw), "O1", "P1", outcome, settle_at, NOW)  # type: ignore[arg-type]
    state, _ = run(d.TRANSFER, d.TransferState(), cmd)
    return state


def test_a_payout_is_created_once_per_out_biz_no() -> None:
    state = created()
    assert state.status(NOW) == "SUCCESS" and state.paid_at(NOW) == NOW
    assert d.decide_transfer(state, d.CreateTransfer(transfer_order(), "O2", "P2", "SUCCESS", None, NOW)) == []
    with pytest.raises(d.BizError) as other:
        d.decide_transfer(state, d.CreateTransfer(transfer_order(1_001), "O2", "P2", "SUCCESS", None, NOW))
    assert sub_code(other) == "PAYMENT_INFO_INCONSISTENCY"


def test_a_dealing_payout_settles_when_told_or_when_its_time_comes() -> None:
    waiting = created("DEALING")
    assert waiting.status(NOW + timedelta(days=9)) == "DEALING" and waiting.paid_at(NOW) is None
    failed, _ = run(d.TRANSFER, waiting, d.SettleTransfer("FAIL", "户名不符", NOW))
    assert failed.status(NOW) == "FAIL" and failed.fail_reason == "户名不符"
    with pytest.raises(d.TransferStateError):
        d.decide_transfer(failed, d.SettleTransfer("SUCCESS", None, NOW))
    timed = created("DEALING", settle_at=NOW + timedelta(seconds=5))
    assert timed.status(NOW) == "DEALING"
    assert timed.status(NOW + timedelta(seconds=5)) == "SUCCESS" and timed.paid_at(NOW + timedelta(hours=1)) == (
        NOW + timedelta(seconds=5)
    )


def test_only_a_successful_card_payout_can_be_returned_by_the_bank() -> None:
    returned, _ = run(d.TRANSFER, created(), d.ReturnTransfer("销户", NOW))
    assert returned.status(NOW) == "REFUND" and returned.fail_reason == "销户"
    for state in (returned, created("DEALING"), created("FAIL"), created(product_code="TRANS_ACCOUNT_NO_PWD")):
        with pytest.raises(d.TransferStateError):
            d.decide_transfer(state, d.ReturnTransfer("x", NOW))
    assert created("FAIL").error_code == "PAYEE_CARD_INFO_ERROR"


def test_payouts_count_once_against_the_daily_limit() -> None:
    day, _ = run(d.PAYOUT_DAY, d.PayoutDay(), d.CountPayout("w1", 600, 1_000))
    assert d.decide_payout_day(day, d.CountPayout("w1", 600, 1_000)) == []
    with pytest.raises(d.BizError) as over:
        d.decide_payout_day(day, d.CountPayout("w2", 401, 1_000))
    assert sub_code(over) == "EXCEED_LIMIT_DM_AMOUNT"
    with pytest.raises(d.BizError) as single:
        d.check_single_payout(5_000_001, 5_000_000)
    assert sub_code(single) == "EXCEED_LIMIT_SM_AMOUNT"


def test_a_payee_must_fit_the_product() -> None:
    base = {
        "out_biz_no": "w1",
        "trans_amount": "1.00",
        "product_code": "TRANS_ACCOUNT_NO_PWD",
        "biz_scene": "DIRECT_TRANSFER",
        "order_title": "提现",
    }
    ok = d.TransferBiz.model_validate({**base, "payee_info": {"identity": BUYER, "identity_type": "ALIPAY_USER_ID"}})
    assert ok.trans_amount == 100
    for payee in (
        {"identity": "123", "identity_type": "ALIPAY_USER_ID"},
        {"identity": "a@b.c", "identity_type": "ALIPAY_LOGON_ID"},
        {"identity": "6214", "identity_type": "BANKCARD_ACCOUNT", "name": "张三"},
    ):
        with pytest.raises(d.BizError):
            d.parse_biz(d.TransferBiz, {**base, "payee_info": payee}, "INVALID_PARAMETER")
    corporate = {
        "identity": "6214",
        "identity_type": "BANKCARD_ACCOUNT",
        "name": "鱼桥",
        "bankcard_ext_info": {"account_type": "1"},
    }
    with pytest.raises(d.BizError):
        d.parse_biz(d.TransferBiz, {**base, "product_code": "TRANS_BANKCARD_NO_PWD", "payee_info": corporate})
