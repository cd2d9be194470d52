"""The e-commerce account rules (pure): frozen and available money, splits and their caps, refunds, withdrawals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.sandbox.wechat import domain as d
from shared.aggregate import RecordedEvent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLATFORM = "1900000001"
TX = "4200000001"


def run(state: d.Account, *cmds: d.AccountCommand) -> d.Account:
    for cmd in cmds:
        for e in d.decide_account(state, cmd):
            state = d.evolve_account(
                state, RecordedEvent(event_id="e", type=e.type, version=1, payload=e.payload, occurred_at=T0)
            )
    return state


def paid(total: int = 1000, *, profit_sharing: bool = True, tx: str = TX) -> d.Account:
    return run(d.Account(), d.CreditPayment(tx, "ord_" + tx, total, profit_sharing, T0))


def receivers(*amounts: int) -> tuple[dict[str, Any], ...]:
    return tuple(
        {"type": "MERCHANT_ID", "receiver_account": PLATFORM, "amount": a, "description": "平台服务费"} for a in amounts
    )


def split(no: str, *amounts: int, finish: bool = False, tx: str = TX) -> d.RequestSplit:
    rs = receivers(*amounts)
    terms = {"transaction_id": tx, "out_order_no": no, "receivers": list(rs), "finish": finish}
    return d.RequestSplit(no, "3008" + no, tx, rs, finish, terms, PLATFORM, T0)


def refused(state: d.Account, cmd: d.AccountCommand) -> d.WechatError:
    with pytest.raises(d.WechatError) as caught:
        d.decide_account(state, cmd)
    return caught.value


def balances(state: d.Account) -> tuple[int, int, int]:
    return state.available_fen, state.pending_fen, state.withdrawn_fen


def test_a_profit_sharing_payment_is_frozen_and_another_is_available_at_once() -> None:
    assert balances(paid(1000)) == (0, 1000, 0)
    assert paid(1000).held[TX].frozen_fen == 1000
    assert balances(paid(1000, profit_sharing=False)) == (1000, 0, 0)
    assert d.decide_account(paid(1000), d.CreditPayment(TX, "ord", 1000, True, T0)) == []  # once per transaction


def test_every_event_carries_the_balances_after_it() -> None:
    (event,) = d.decide_account(paid(1000), split("ps1", 100))
    assert event.payload["after"] == {"available_fen": 0, "pending_fen": 1000, "withdrawn_fen": 0}
    (finished,) = d.decide_account(run(paid(1000), split("ps1", 100, finish=True)), d.FinishSplit("ps1", T0))
    assert finished.payload["after"] == {"available_fen": 900, "pending_fen": 0, "withdrawn_fen": 0}


def test_a_split_leaves_the_frozen_funds_at_once_and_the_seller_when_finished() -> None:
    state = run(paid(1000), split("ps1", 100))
    assert (state.held[TX].frozen_fen, state.pending_fen, state.splits["ps1"].status) == (900, 1000, "PROCESSING")
    state = run(state, d.FinishSplit("ps1", T0))
    assert (state.pending_fen, state.splits["ps1"].status) == (900, "FINISHED")
    state = run(state, d.FinishOrder("fin1", "3008fin1", TX, "分账完结", T0))
    assert balances(state) == (900, 0, 0)
    assert state.splits["fin1"].finish_amount == 900 and state.held[TX].finished


def test_receivers_get_at_most_30_percent_of_the_order_in_total() -> None:
    assert "30%" in refused(paid(1000), split("ps1", 200, 101)).message
    state = run(paid(1000), split("ps1", 300))
    assert "30%" in refused(state, split("ps2", 1)).message


def test_a_split_needs_a_paid_profit_sharing_order_not_finished_with_splits_left() -> None:
    assert refused(d.Account(), split("ps1", 10)).status == 404
    assert refused(paid(1000, profit_sharing=False), split("ps1", 10)).code == "INVALID_REQUEST"
    finished = run(paid(1000), d.FinishOrder("fin1", "3008fin1", TX, "完结", T0))
    assert refused(finished, split("ps1", 10)).code == "INVALID_REQUEST"
    many = run(paid(100_000), *(split(f"ps{i}", 1) for i in range(d.MAX_SPLITS)))
    assert "50" in refused(many, split("ps_last", 1)).message


def test_a_split_may_not_take_more_than_is_still_frozen() -> None:
    state = run(paid(1000), d.HoldRefund("rfd1", TX, 900, T0))
    assert refused(state, split("ps1", 101)).code == "NOT_ENOUGH"


def test_the_same_split_number_is_the_same_split_and_other_terms_are_refused() -> None:
    state = run(paid(1000), split("ps1", 100))
    assert d.decide_account(state, split("ps1", 100)) == []
    assert refused(state, split("ps1", 120)).code == "INVALID_REQUEST"


def test_a_refund_takes_the_frozen_rest_first_then_available() -> None:
    state = run(paid(500, profit_sharing=False, tx="4200000009"), d.CreditPayment(TX, "o", 1000, True, T0))
    state = run(state, split("ps1", 300), d.FinishSplit("ps1", T0))
    state = run(state, d.HoldRefund("rfd1", TX, 800, T0))
    hold = state.refunds["rfd1"]
    assert (hold.from_frozen_fen, hold.from_available_fen) == (700, 100)
    assert balances(state) == (400, 0, 0)


def test_a_refund_beyond_the_frozen_rest_is_refused_while_a_split_is_processing() -> None:
    state = run(paid(500, profit_sharing=False, tx="4200000009"), d.CreditPayment(TX, "o", 1000, True, T0))
    state = run(state, split("ps1", 300))
    assert refused(state, d.HoldRefund("rfd1", TX, 800, T0)).code == "RULE_LIMIT"
    assert run(state, d.HoldRefund("rfd1", TX, 700, T0)).refunds["rfd1"].from_frozen_fen == 700


def test_a_refund_the_seller_cannot_pay_is_not_enough() -> None:
    state = run(paid(1000), split("ps1", 300), d.FinishSplit("ps1", T0), d.FinishOrder("f", "3008f", TX, "完结", T0))
    assert balances(state) == (700, 0, 0)
    assert refused(state, d.HoldRefund("rfd1", TX, 701, T0)).code == "NOT_ENOUGH"
    assert refused(state, d.HoldRefund("rfd1", TX, 1001, T0)).code == "INVALID_REQUEST"  # more than the order


def test_a_released_refund_gives_its_money_back_where_it_came_from() -> None:
    state = run(paid(1000), d.HoldRefund("rfd1", TX, 400, T0))
    assert balances(state) == (0, 600, 0)
    state = run(state, d.ReleaseRefund("rfd1", T0))
    assert balances(state) == (0, 1000, 0) and state.held[TX].frozen_fen == 1000
    assert d.decide_account(state, d.ReleaseRefund("rfd1", T0)) == []
    assert refused(state, d.HoldRefund("rfd1", TX, 400, T0)).code == "INVALID_REQUEST"


def test_a_return_gives_back_at_most_what_the_split_gave_once_it_finished() -> None:
    state = run(paid(1000), split("ps1", 100))
    ret = d.RequestReturn("ret1", "r1", "ps1", None, PLATFORM, 40, "回退", T0)
    assert refused(state, ret).code == "INVALID_REQUEST"  # still PROCESSING
    state = run(state, d.FinishSplit("ps1", T0), ret, d.CompleteReturn("ret1", True, None, T0))
    assert state.returns["ret1"].result == "SUCCESS" and state.available_fen == 40
    too_much = d.RequestReturn("ret2", "r2", "ps1", None, PLATFORM, 61, "回退", T0)
    assert refused(state, too_much).code == "INVALID_REQUEST"
    failed = run(state, d.RequestReturn("ret3", "r3", "ps1", None, PLATFORM, 60, "回退", T0))
    failed = run(failed, d.CompleteReturn("ret3", False, d.RETURN_NOT_ENOUGH, T0))
    assert failed.returns["ret3"].result == "FAILED" and failed.splits["ps1"].returned[PLATFORM] == 40
    other = d.RequestReturn("ret4", "r4", "ps1", None, "1900009999", 1, "回退", T0)
    assert refused(state, other).code == "INVALID_REQUEST"


def test_the_platform_pays_out_only_what_it_has() -> None:
    platform = run(d.Account(), d.Receive("split:x", 100, T0))
    assert refused(platform, d.PayOut("return:x", 101, T0)).code == "NOT_ENOUGH"
    assert run(platform, d.PayOut("return:x", 100, T0)).available_fen == 0


def withdraw(no: str, amount: int, **terms: Any) -> d.Withdraw:
    return d.Withdraw(no, "w" + no, amount, None, None, "BASIC", None, {"amount": amount, **terms}, T0)


def test_a_withdrawal_takes_available_at_once_and_gives_it_back_on_fail_or_bank_return() -> None:
    state = run(paid(1000, profit_sharing=False), withdraw("wd1", 600))
    assert balances(state) == (400, 0, 600)
    assert refused(state, withdraw("wd2", 401)).code == "NOT_ENOUGH"
    fees = d.Withdraw("wd3", "wwd3", 1, None, None, "FEES", None, {}, T0)
    assert refused(state, fees).code == "NOT_ENOUGH"  # only BASIC holds money
    assert d.decide_account(state, withdraw("wd1", 600)) == []
    assert refused(state, withdraw("wd1", 600, remark="x")).code == "INVALID_REQUEST"
    failed = run(state, d.SettleWithdrawal("wd1", "FAIL", None, T0))
    assert balances(failed) == (1000, 0, 0) and failed.withdrawals["wd1"].reason
    done = run(state, d.SettleWithdrawal("wd1", "SUCCESS", None, T0))
    assert balances(done) == (400, 0, 600)
    returned = run(done, d.ReturnWithdrawal("wd1", d.WITHDRAW_RETURN_REASON, T0))
    assert balances(returned) == (1000, 0, 0) and returned.withdrawals["wd1"].status == "REFUND"


def test_only_a_success_withdrawal_can_be_returned_and_a_failed_one_stays_failed() -> None:
    state = run(paid(1000, profit_sharing=False), withdraw("wd1", 600))
    with pytest.raises(d.StateError):
        d.decide_account(state, d.ReturnWithdrawal("wd1", "x", T0))
    failed = run(state, d.SettleWithdrawal("wd1", "FAIL", None, T0))
    with pytest.raises(d.StateError):
        d.decide_account(failed, d.SettleWithdrawal("wd1", "SUCCESS", None, T0))


def test_a_partner_order_names_the_seller_and_the_platforms_ids() -> None:
    body = {
        "sp_appid": "wx8888888888888888",
        "sp_mchid": PLATFORM,
        "sub_mchid": "1600000001",
        "description": "二手书",
        "out_trade_no": "ord_000001",
        "notify_url": "https://platform.example.com/notify",
        "amount": {"total": 100},
        "payer": {"sp_openid": "o" + "a" * 27},
        "settle_info": {"profit_sharing": True},
    }
    order = d.partner_order_from_request(d.parse_model(d.PartnerJsapiRequest, body), T0, min_window_s=60)
    assert (order.appid, order.mchid, order.sub_mchid, order.openid) == (
        "wx8888888888888888",
        PLATFORM,
        "1600000001",
        "o" + "a" * 27,
    )
    assert order.partner and order.profit_sharing
    with pytest.raises(d.WechatError):
        d.parse_model(d.PartnerJsapiRequest, {**body, "settle_info": {"profit_sharing": "yes"}})
