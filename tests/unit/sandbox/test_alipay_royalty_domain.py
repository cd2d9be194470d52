"""商家分账's pure rules: settlement on the trade stream (replay, discord, frozen remainder, contract ratio, finish),
how a refund is split between receivers, the frozen remainder and the available balance, the account books,
relations, biz_content shapes, and open ids."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.sandbox.alipay import domain as d
from tests.unit.sandbox.test_alipay_domain import NOW, SELLER, run

BUYER = "2088123412341234"
RECEIVER = "2088777788889999"


def frozen_trade(total_fen: int = 10_000, *, freeze: bool = True) -> d.TradeState:
    order = d.TradeOrder(
        app_id="2021000000000001",
        out_trade_no="o1",
        total_fen=total_fen,
        subject="s",
        product_code="QUICK_MSECURITY_PAY",
        seller_id=SELLER,
        royalty_freeze=freeze,
    )
    state, _ = run(d.TRADE, d.TradeState(), d.PayTrade(order, "T1", BUYER, NOW))
    return state


def settle(request_no: str, amount_fen: int, *, finish: bool = False, ratio: int = 95, fp: str = "f") -> d.SettleTrade:
    details = (d.SettleDetail(RECEIVER, RECEIVER, "userId", amount_fen, f"D{request_no}"),) if amount_fen else ()
    return d.SettleTrade(request_no, f"S{request_no}", details, finish, ratio, fp + request_no, NOW)


def refused(state: d.TradeState, cmd: Any) -> str:
    with pytest.raises(d.BizError) as err:
        d.decide_trade(state, cmd)
    return err.value.sub_code


def test_a_split_takes_from_the_frozen_remainder_and_finish_unfreezes_the_rest() -> None:
    state = frozen_trade()
    assert state.frozen and state.frozen_fen == 10_000
    state, n = run(d.TRADE, state, settle("s1", 9_000))
    assert n == 1 and state.frozen_fen == 1_000 and state.settled_to(RECEIVER) == 9_000
    state, _ = run(d.TRADE, state, settle("s2", 0, finish=True))
    assert state.frozen_fen == 0 and state.royalty_finished
    assert state.settlement("s2") is not None and state.settlement("s2").unfrozen_fen == 1_000  # type: ignore[union-attr]
    assert refused(state, settle("s3", 1)) == "ACQ.TRADE_SETTLE_ERROR"  # finished: nothing more


def test_a_repeated_request_number_is_a_replay_and_another_body_is_discordant() -> None:
    state, _ = run(d.TRADE, frozen_trade(), settle("s1", 1_000))
    assert d.decide_trade(state, settle("s1", 1_000)) == []
    assert refused(state, settle("s1", 1_000, fp="other")) == "ACQ.DISCORDANT_REPEAT_REQUEST"


def test_splits_are_capped_by_the_frozen_remainder_and_the_contract_ratio() -> None:
    state = frozen_trade()
    assert refused(state, settle("s1", 3_001, ratio=30)) == d.ALLOC_AMOUNT
    state, _ = run(d.TRADE, state, settle("s1", 2_000, ratio=30))
    assert refused(state, settle("s2", 1_001, ratio=30)) == d.ALLOC_AMOUNT  # cumulative
    assert refused(state, settle("s2", 8_001, ratio=100)) == d.ALLOC_AMOUNT  # more than is frozen
    assert refused(frozen_trade(freeze=False), settle("s1", 1)) == "ACQ.TRADE_SETTLE_ERROR"


def test_a_refund_before_any_split_comes_out_of_the_frozen_amount() -> None:
    state = frozen_trade()
    assert d.plan_refund(state, 3_000, ()) == (3_000, 0)
    state, _ = run(d.TRADE, state, d.RefundTrade("r1", 3_000, None, NOW, 3_000, 0))
    assert state.frozen_fen == 7_000
    assert refused(state, settle("s1", 7_001, ratio=100)) == d.ALLOC_AMOUNT


def test_after_a_split_a_refund_takes_the_royalty_back_or_else_uses_the_frozen_rest_then_available() -> None:
    state, _ = run(d.TRADE, frozen_trade(), settle("s1", 9_000))
    assert d.plan_refund(state, 3_000, ()) == (1_000, 2_000)
    back = (d.RoyaltyBack(RECEIVER, RECEIVER, 2_500),)
    assert d.plan_refund(state, 3_000, back) == (500, 0)
    with pytest.raises(d.BizError) as over:
        d.plan_refund(state, 10_000, (d.RoyaltyBack(RECEIVER, RECEIVER, 9_001),))
    assert over.value.sub_code == d.ALLOC_AMOUNT
    with pytest.raises(d.BizError):
        d.plan_refund(state, 100, back)  # more back than refunded
    state, _ = run(d.TRADE, state, d.RefundTrade("r1", 3_000, None, NOW, 500, 0, back))
    assert state.settled_to(RECEIVER) == 6_500 and state.frozen_fen == 500
    # A plan made before another change of the frozen amount is refused; the caller plans again.
    assert refused(state, d.RefundTrade("r2", 1_000, None, NOW, 600, 400)) == "ACQ.SYSTEM_ERROR"


def test_the_books_refuse_an_overdraft_and_name_each_movement() -> None:
    state, _ = run(d.ACCOUNT, d.AccountState(), d.Book("pay", "p1", 0, 10_000, NOW))
    assert (state.available_fen, state.frozen_fen) == (0, 10_000)
    with pytest.raises(d.BizError) as short:
        d.ACCOUNT.decide(state, d.Book("refund", "r1", -1, 0, NOW))
    assert short.value.sub_code == "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    state, _ = run(d.ACCOUNT, state, d.Book("unfreeze", "u1", 1_000, -1_000, NOW))
    state, _ = run(d.ACCOUNT, state, d.Book("settle_in", "s1", 500, 0, NOW))
    state, _ = run(d.ACCOUNT, state, d.Book("royalty_back", "b1", -200, 0, NOW))
    assert (state.available_fen, state.frozen_fen, state.royalty_in_fen, state.royalty_back_fen) == (
        1_300,
        9_000,
        500,
        200,
    )
    state, _ = run(d.ACCOUNT, state, d.Book("royalty_back_void", "b1:void", 200, 0, NOW))
    assert (state.available_fen, state.royalty_back_fen, state.bookings) == (1_500, 0, 5)


def test_relations_bind_once_and_unbind() -> None:
    bind = d.BindRelation("userId", RECEIVER, None, "卖家", NOW)
    state, n = run(d.RELATION, d.RelationState(), bind)
    assert n == 1 and state.bound
    assert d.RELATION.decide(state, bind) == []
    state, _ = run(d.RELATION, state, d.UnbindRelation(NOW))
    assert not state.bound and d.RELATION.decide(state, d.UnbindRelation(NOW)) == []


def test_biz_content_shapes() -> None:
    with pytest.raises(d.BizError):
        d.parse_biz(d.SettleBiz, {"out_request_no": "s1", "trade_no": "T1"})  # details or finish
    finish = d.parse_biz(
        d.SettleBiz, {"out_request_no": "s1", "trade_no": "T1", "extend_params": {"royalty_finish": "true"}}
    )
    assert finish.finish and finish.royalty_mode == "sync"
    with pytest.raises(d.BizError):
        d.parse_biz(d.RoyaltyEntity, {"type": "loginName", "account": "a@b.cn"})  # name required
    with pytest.raises(d.BizError):
        d.parse_biz(d.RoyaltyEntity, {"type": "userId", "account": "1234"})
    many = [{"type": "userId", "account": RECEIVER}] * 21
    with pytest.raises(d.BizError):
        d.parse_biz(d.RelationBindBiz, {"out_request_no": "b1", "receiver_list": many})
    assert d.parse_biz(
        d.AppPayBiz,
        {
            "out_trade_no": "o",
            "total_amount": "1.00",
            "subject": "s",
            "product_code": "QUICK_MSECURITY_PAY",
            "extend_params": {"royalty_freeze": "true"},
        },
    ).extend_params.freeze  # type: ignore[union-attr]


def test_open_ids_look_like_alipays_and_are_per_app_and_stable() -> None:
    one = d.open_id("2021000000000001", RECEIVER)
    assert re.fullmatch(r"07[0-9A-Za-z]{44}", one)
    assert one == d.open_id("2021000000000001", RECEIVER)
    assert one != d.open_id("2021000000000002", RECEIVER)
