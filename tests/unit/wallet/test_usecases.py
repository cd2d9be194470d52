"""The wallet's use cases over the in-memory database, against fake providers that play the sandbox's own account
rules (tests/support/wallet_fakes.py): holds, refunds, settlement at WeChat Pay and Alipay with its retries, and
withdrawals with their limits, failures, bank returns and races. Each test ends with the ledger check and the books
compared with the providers' balances."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from services.wallet import flows
from services.wallet.escrow import escrow_id
from services.wallet.ledger import InsufficientFunds
from services.wallet.usecases import NotYetApplicable
from services.wallet.withdrawals import DailyLimitExceeded, quota_id
from shared.aggregate import Cause
from shared.errors import ValidationFailed
from shared.events.payment import PaymentRefunded, PaymentSucceeded
from tests.support.wallet_fakes import PLATFORM_ALIPAY, PLATFORM_MCHID, START, WalletWorld, wallet_world

SELLER = "usr_seller"
DAY = "20260302"


def cause(event: PaymentSucceeded | PaymentRefunded | Any, n: int = 0) -> Cause:
    """The consumer's cause for one delivery of an event (the same event id each time it is redelivered)."""
    key = getattr(event, "refund_id", None) or getattr(event, "payment_id", "x")
    return Cause(f"wallet:{type(event).__name__}:{key}:{n}", causation_id=f"evt_{key}_{n}")


async def world(**settings: Any) -> WalletWorld:
    w = await wallet_world(**settings)
    w.seller(SELLER)
    return w


async def balances(w: WalletWorld, seller_id: str = SELLER) -> dict[str, int]:
    s = await w.wallet.summary(seller_id)
    return {
        "frozen": s["wechat"]["frozen_fen"],
        "available": s["wechat"]["available_fen"],
        "withdrawing": s["wechat"]["withdrawing_fen"],
        "alipay_frozen": s["alipay"]["frozen_fen"],
        "alipay_settled": s["alipay"]["settled_fen"],
    }


async def fees(w: WalletWorld, provider: flows.Provider = "wechatpay") -> int:
    return (await w.books.account(flows.fees(provider))).posted_fen


async def earned(w: WalletWorld, amount_fen: int) -> PaymentSucceeded:
    """A WeChat order paid and completed: its seller's part in the WeChat balance."""
    p = w.pay(SELLER, amount_fen)
    await w.wallet.hold(p, cause(p))
    await w.wallet.complete(w.completed(p), cause(w.completed(p)))
    return p


# ---------------------------------------------------------------------------------------------------- holds


async def test_a_payment_succeeded_delivered_twice_holds_once() -> None:
    w = await world()
    p = w.pay(SELLER, 26_800)
    first = await w.wallet.hold(p, cause(p))
    again = await w.wallet.hold(p, cause(p))  # the same delivery again
    other = await w.wallet.hold(p, cause(p, 1))  # published twice: another event id, the same payment
    assert first == again == other and first.status == "held"
    assert await balances(w) == {
        "frozen": 26_800,
        "available": 0,
        "withdrawing": 0,
        "alipay_frozen": 0,
        "alipay_settled": 0,
    }
    entries = await w.books.accounts.store.read(flows.frozen(SELLER, "wechatpay"))
    assert [(e.events[0].payload["side"], e.events[0].payload["phase"]) for e in entries] == [
        ("credit", "pending"),
        ("credit", "posted"),
    ]
    assert len(await w.streams.read(escrow_id(p.payment_id))) == 1
    await w.check()


# -------------------------------------------------------------------------------------------------- refunds


async def test_refunds_before_completion_partial_then_full() -> None:
    w = await world()
    p = w.pay(SELLER, 26_800)
    await w.wallet.hold(p, cause(p))
    part = w.refund(p, 6_800)
    await w.wallet.refund(part, cause(part))
    await w.wallet.refund(part, cause(part))  # redelivered: once
    assert (await balances(w))["frozen"] == 20_000
    await w.check()
    rest = w.refund(p, 20_000)
    escrow = await w.wallet.refund(rest, cause(rest))
    assert (escrow.refunded_fen, escrow.held_fen) == (26_800, 0)
    assert (await balances(w))["frozen"] == 0
    assert w.wechat.account(w.collection.sub_mchids[SELLER]).balances() == {
        "available_fen": 0,
        "pending_fen": 0,
        "withdrawn_fen": 0,
    }
    more = PaymentRefunded.model_validate({**part.model_dump(), "refund_id": "rfd_more", "amount_fen": 1})
    # More than was paid: refused, nothing moved. (The wallet raises every escrow InvalidState as NotYetApplicable,
    # so the consumer retries this one too before it parks it.)
    with pytest.raises(NotYetApplicable, match="more refunded than was paid"):
        await w.wallet.refund(more, cause(more))
    assert (await balances(w))["frozen"] == 0
    await w.check()


# ----------------------------------------------------------------------------------------------- completion


@pytest.mark.parametrize(("amount", "fee"), [(26_800, 161), (1_000_000, 6_000), (5_000_000, 6_000), (83, 0)])
async def test_completion_profit_shares_the_fee_then_finishes_and_the_books_equal_wechat(amount: int, fee: int) -> None:
    w = await world()
    p = w.pay(SELLER, amount)
    await w.wallet.hold(p, cause(p))
    done = w.completed(p)
    escrow = await w.wallet.complete(done, cause(done))
    again = await w.wallet.complete(done, cause(done, 1))  # order.completed delivered twice
    assert escrow.status == again.status == "settled"
    assert escrow.settlement is not None and (escrow.settlement.fee_fen, escrow.settlement.seller_fen) == (
        fee,
        amount - fee,
    )
    sub_mchid = w.collection.sub_mchids[SELLER]
    if fee:
        assert w.wechat.called("profit_share") == [escrow.settlement.out_request_no]
        split = w.wechat.account(sub_mchid).splits[escrow.settlement.out_request_no]
        assert (split.amount_fen, split.finish, split.finish_amount) == (fee, True, amount - fee)
    else:
        assert w.wechat.called("profit_share") == []
        assert w.wechat.called("finish_profit_sharing") == [escrow.settlement.out_request_no]
    assert w.wechat.account(sub_mchid).balances() == {
        "available_fen": amount - fee,
        "pending_fen": 0,
        "withdrawn_fen": 0,
    }
    assert w.wechat.account(PLATFORM_MCHID).available_fen == fee == await fees(w)
    assert (await balances(w))["frozen"] == 0 and (await balances(w))["available"] == amount - fee
    await w.check()


async def test_alipay_completion_settles_the_sellers_part_and_keeps_the_fee() -> None:
    w = await world()
    p = w.pay(SELLER, 26_800, "alipay")
    await w.wallet.hold(p, cause(p))
    part = w.refund(p, 800)
    await w.wallet.refund(part, cause(part))
    escrow = await w.wallet.complete(w.completed(p), cause(w.completed(p)))
    await w.wallet.complete(w.completed(p), cause(w.completed(p), 1))
    fee = flows.platform_fee(26_000)
    assert escrow.status == "settled" and len(w.alipay.called("settle")) == 1
    seller_account = w.collection.alipay_accounts[SELLER]
    assert w.alipay.balances[seller_account] == 26_000 - fee == (await balances(w))["alipay_settled"]
    assert w.alipay.balances[PLATFORM_ALIPAY] == fee == await fees(w, "alipay")
    assert w.alipay.frozen_fen() == 0 == (await balances(w))["alipay_frozen"]
    await w.check()


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
async def test_completion_of_an_order_refunded_in_full_settles_with_no_provider_call(provider: flows.Provider) -> None:
    w = await world()
    p = w.pay(SELLER, 9_900, provider)
    await w.wallet.hold(p, cause(p))
    for amount in (4_000, 5_900):
        r = w.refund(p, amount)
        await w.wallet.refund(r, cause(r))
    escrow = await w.wallet.complete(w.completed(p), cause(w.completed(p)))
    assert escrow.status == "settled" and escrow.settlement is not None and escrow.settlement.held_fen == 0
    assert w.wechat.calls == [] and w.alipay.calls == []
    assert await balances(w) == {"frozen": 0, "available": 0, "withdrawing": 0, "alipay_frozen": 0, "alipay_settled": 0}
    await w.check()


async def test_a_refund_or_a_completion_before_the_hold_is_not_yet_applicable_and_fits_once_it_is_held() -> None:
    w = await world()
    p = w.pay(SELLER, 10_000)
    r = w.refund(p, 3_000)
    done = w.completed(p)
    with pytest.raises(NotYetApplicable):
        await w.wallet.refund(r, cause(r))
    with pytest.raises(NotYetApplicable):
        await w.wallet.complete(done, cause(done))
    assert await balances(w) == {"frozen": 0, "available": 0, "withdrawing": 0, "alipay_frozen": 0, "alipay_settled": 0}
    assert w.wechat.calls == []
    # The consumer retries them after the hold arrives.
    await w.wallet.hold(p, cause(p))
    await w.wallet.refund(r, cause(r))
    escrow = await w.wallet.complete(done, cause(done))
    assert escrow.status == "settled" and escrow.settlement is not None and escrow.settlement.held_fen == 7_000
    assert (await balances(w))["available"] == 7_000 - flows.platform_fee(7_000)
    await w.check()


async def test_a_refund_while_the_settlement_is_at_the_provider_waits_for_it() -> None:
    w = await world(finish_splits=False)
    p = w.pay(SELLER, 26_800)
    await w.wallet.hold(p, cause(p))
    escrow = await w.wallet.complete(w.completed(p), cause(w.completed(p)))
    assert escrow.status == "settling" and escrow.settlement is not None  # the split is PROCESSING at WeChat
    assert escrow.settlement.attempts == 1 and "PROCESSING" in (escrow.settlement.last_error or "")
    await w.check()  # in flight, the books still equal WeChat: the split's money is pending there too
    r = w.refund(p, 5_000)  # WeChat takes it from the order's frozen remainder
    with pytest.raises(NotYetApplicable):
        await w.wallet.refund(r, cause(r))
    [(sub_mchid, out_order_no)] = w.wechat.processing_splits()
    w.wechat.finish_split(sub_mchid, out_order_no)
    w.clock.advance(w.settings.worker_interval_s)
    assert (await w.wallet.work())["settled"] == 1
    escrow = await w.wallet.refund(r, cause(r))  # the consumer's retry: drawn from the seller's balance now
    assert escrow.status == "settled" and escrow.refunded_fen == 5_000
    fee = flows.platform_fee(26_800)
    assert (await balances(w))["available"] == 26_800 - fee - 5_000 == w.wechat.account(sub_mchid).available_fen
    assert w.wechat.called("profit_share") == [out_order_no, out_order_no]  # the same number both times
    await w.check()


# ---------------------------------------------------------------------------------- settlement retried by work()


@pytest.mark.parametrize("applied", [False, True], ids=["nothing-done", "answer-lost"])
async def test_a_settlement_the_provider_did_not_answer_is_retried_by_work_with_the_same_number(applied: bool) -> None:
    w = await world()
    p = w.pay(SELLER, 26_800)
    await w.wallet.hold(p, cause(p))
    attempts = w.settings.provider_attempts
    w.wechat.fail_next("profit_share", attempts, applied=applied)
    if applied:
        w.wechat.fail_next("query_profit_share", attempts)
    escrow = await w.wallet.complete(w.completed(p), cause(w.completed(p)))
    assert escrow.status == "settling" and escrow.settlement is not None
    s = escrow.settlement
    assert (s.attempts, s.retry_at, s.attention) == (1, START + timedelta(seconds=w.settings.worker_interval_s), False)
    assert "ProviderUnavailable" in (s.last_error or "")
    number = s.out_request_no
    assert w.wechat.called("profit_share") == [number] * attempts
    assert (await w.wallet.work())["settled"] == 0  # not due yet
    w.clock.advance(w.settings.worker_interval_s)
    assert (await w.wallet.work())["settled"] == 1
    assert (await w.wallet.work())["settled"] == 0
    assert set(w.wechat.called("profit_share")) == {number}
    assert w.wechat.steps["RequestSplit"] == 1 and w.wechat.steps["FinishSplit"] == 1  # once at WeChat
    fee = flows.platform_fee(26_800)
    assert w.wechat.account(PLATFORM_MCHID).available_fen == fee == await fees(w)
    await w.check()


async def test_a_settlement_that_keeps_failing_is_shown_to_operators_after_n_attempts_and_still_settles() -> None:
    w = await world(attention_after_attempts=3)
    p = w.pay(SELLER, 26_800)
    await w.wallet.hold(p, cause(p))
    w.wechat.down("profit_share")
    escrow = await w.wallet.complete(w.completed(p), cause(w.completed(p)))
    waits = []
    for _ in range(3):
        assert escrow.settlement is not None and escrow.settlement.retry_at is not None
        waits.append((escrow.settlement.retry_at - w.clock.now()).total_seconds())
        attention = await w.store.attention()
        assert [d["_id"] for d in attention["settlements"]] == (
            [escrow_id(p.payment_id)] if escrow.settlement.attempts >= 3 else []
        )
        w.clock.advance(waits[-1])
        await w.wallet.work()
        escrow = await w.wallet.escrows.get(escrow_id(p.payment_id))
    assert escrow.settlement is not None and escrow.settlement.attempts == 4 and escrow.settlement.attention
    assert waits == [5.0, 10.0, 20.0]  # the worker's back-off doubles
    w.wechat.up()
    w.clock.advance(3_600)
    assert (await w.wallet.work())["settled"] == 1
    assert (await w.store.attention())["settlements"] == []
    await w.check()


# ---------------------------------------------------------------------------------------------- withdrawals


async def test_withdrawal_limits_and_fee() -> None:
    w = await world(withdrawal_min_fen=10, withdrawal_max_fen=50_000, withdrawal_daily_limit_fen=60_000)
    await earned(w, 200_000)
    for amount in (9, 50_001):
        with pytest.raises(ValidationFailed):
            await w.wallet.withdraw(SELLER, amount)
    with pytest.raises(ValidationFailed) as no_fee:
        await w.wallet.withdraw(SELLER, 10)  # 0.1 % with a minimum of 10 fen: nothing left to pay out
    assert no_fee.value.details == {"fee_fen": 10}
    first = await w.wallet.withdraw(SELLER, 50_000)
    assert (first.status, first.fee_fen, first.day) == ("submitted", 50, DAY)
    small = await w.wallet.withdraw(SELLER, 9_000)
    assert small.fee_fen == 10
    with pytest.raises(DailyLimitExceeded):
        await w.wallet.withdraw(SELLER, 1_001)  # 59,000 used of 60,000
    quota = await w.store.quotas.find_one({"_id": quota_id(SELLER, DAY)})
    assert quota is not None and quota["used_fen"] == 59_000
    assert len(w.wechat.called("withdraw")) == 2
    w.clock.advance(86_400)  # the next day in China
    nxt = await w.wallet.withdraw(SELLER, 1_001)
    assert nxt.day == "20260303"
    await w.check()


async def test_a_withdrawal_over_the_balance_is_refused_and_reserves_nothing() -> None:
    w = await world()
    await earned(w, 10_000)
    available = (await balances(w))["available"]
    with pytest.raises(InsufficientFunds) as refused:
        await w.wallet.withdraw(SELLER, available + 1)
    assert refused.value.code == "insufficient_funds"
    assert (await balances(w))["available"] == available and w.wechat.called("withdraw") == []
    await w.check()


async def test_a_provider_balance_lower_than_the_books_refuses_at_the_provider_and_reserves_nothing() -> None:
    w = await world()
    p = await earned(w, 100_000)
    available = (await balances(w))["available"]
    late = w.refund(p, 30_000)  # refunded at WeChat (from the seller's balance); its event not delivered yet
    with pytest.raises(InsufficientFunds) as refused:
        await w.wallet.withdraw(SELLER, available)
    assert refused.value.code == "insufficient_funds_at_provider"
    assert w.wechat.called("withdraw") == []
    assert (await balances(w))["available"] == available and (await balances(w))["withdrawing"] == 0
    [doc] = [d async for d in w.store.withdrawals.find({"seller_id": SELLER})]
    assert (doc["status"], doc["reason"]) == ("failed", "insufficient_funds_at_provider")
    quota = await w.store.quotas.find_one({"_id": quota_id(SELLER, DAY)})
    assert quota is not None and quota["used_fen"] == 0
    await w.wallet.refund(late, cause(late))
    await w.check()


async def test_a_new_withdrawal_is_left_to_its_request_until_the_handover_then_the_worker_submits_it() -> None:
    w = await world()
    await earned(w, 100_000)
    real_balance = w.wechat.balance

    async def crash(sub_mchid: str, account_type: str = "BASIC") -> dict[str, Any]:
        raise RuntimeError("the process dies here")  # after the reservation, before anything is sent

    w.wechat.balance = crash  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await w.wallet.withdraw(SELLER, 30_000)
    w.wechat.balance = real_balance  # type: ignore[method-assign]
    [doc] = [d async for d in w.store.withdrawals.find({"seller_id": SELLER})]
    assert doc["status"] == "requested"
    assert doc["retry_at"] == START + timedelta(seconds=w.settings.withdrawal_handover_s)
    w.clock.advance(w.settings.withdrawal_handover_s - 1)
    await w.wallet.work()
    assert w.wechat.called("withdraw") == []  # still its request's: no second submitter
    w.clock.advance(1)
    await w.wallet.work()
    assert (await w.wallet.withdrawals.get(doc["_id"])).status == "submitted"
    assert len(w.wechat.called("withdraw")) == 1 and (await balances(w))["withdrawing"] == 30_000
    await w.check()


async def test_a_request_that_finds_its_own_payout_at_the_provider_does_not_fail_it() -> None:
    """A request stalled past the handover: the worker submits its withdrawal, the provider pays it out, and the
    request then reads the provider's balance without that amount. The withdrawal is the provider's now: it stays
    submitted and keeps its reservation (failing it would free money the provider has paid out)."""
    w = await world()
    await earned(w, 100_000)
    available = (await balances(w))["available"]
    real_balance = w.wechat.balance

    async def stalled_balance(sub_mchid: str, account_type: str = "BASIC") -> dict[str, Any]:
        if not w.wechat.called("withdraw"):
            w.clock.advance(w.settings.withdrawal_handover_s)
            await w.wallet.work()  # the worker takes it over meanwhile
        return await real_balance(sub_mchid, account_type)

    w.wechat.balance = stalled_balance  # type: ignore[method-assign]
    wd = await w.wallet.withdraw(SELLER, available)
    assert wd.status == "submitted"
    assert len(w.wechat.called("withdraw")) == 1
    assert (await balances(w))["withdrawing"] == available
    w.wechat.settle_withdrawal(wd.out_request_no, "SUCCESS")
    assert (await w.wallet.follow(wd.withdrawal_id)).status == "succeeded"
    assert (await balances(w))["available"] == 0
    await w.check()


@pytest.mark.parametrize("how", ["notification", "query"])
async def test_a_failed_withdrawal_restores_the_balance_and_the_quota_once_however_often_reported(how: str) -> None:
    w = await world()
    await earned(w, 100_000)
    before = await balances(w)
    wd = await w.wallet.withdraw(SELLER, 40_000)
    assert (await balances(w))["withdrawing"] == 40_000
    await w.check()  # WeChat took it from available when it accepted it, as the books reserve it
    resource = w.wechat.settle_withdrawal(wd.out_request_no, "FAIL")
    for _ in range(3):
        done = await w.wallet.follow(wd.withdrawal_id, resource if how == "notification" else None)
        assert done.status == "failed"
    assert await balances(w) == before
    quota = await w.store.quotas.find_one({"_id": quota_id(SELLER, DAY)})
    assert quota is not None and quota["used_fen"] == 0
    quota_events = [e.type for entry in await w.streams.read(quota_id(SELLER, DAY)) for e in entry.events]
    assert quota_events == ["wallet.withdrawal_quota_reserved", "wallet.withdrawal_quota_released"]
    await w.check()


async def test_a_paid_out_withdrawal_returned_by_the_bank_restores_the_balance_once() -> None:
    w = await world()
    await earned(w, 100_000)
    before = await balances(w)
    wd = await w.wallet.withdraw(SELLER, 40_000)
    success = w.wechat.settle_withdrawal(wd.out_request_no, "SUCCESS")
    for _ in range(2):
        assert (await w.wallet.follow(wd.withdrawal_id, success)).status == "succeeded"
    assert (await balances(w))["available"] == before["available"] - 40_000
    await w.check()
    returned = w.wechat.bank_return(wd.out_request_no)
    for resource in (returned, returned, None, success):
        assert (await w.wallet.follow(wd.withdrawal_id, resource)).status == "returned"
    assert await balances(w) == before
    bank_return = await w.books.transfer(flows.bank_return(wd.withdrawal_id, SELLER, 40_000).transfer_id)
    assert bank_return.status == "posted"
    await w.check()


@pytest.mark.parametrize("applied", [False, True], ids=["nothing-done", "answer-lost"])
async def test_a_withdrawal_the_provider_did_not_answer_is_submitted_once_with_the_same_number(applied: bool) -> None:
    w = await world()
    await earned(w, 100_000)
    w.wechat.fail_next("withdraw", w.settings.provider_attempts, applied=applied)
    wd = await w.wallet.withdraw(SELLER, 30_000)
    assert (wd.status, wd.attempts) == ("requested", 1)
    assert wd.retry_at == START + timedelta(seconds=w.settings.worker_interval_s)
    w.clock.advance(w.settings.worker_interval_s)
    await w.wallet.work()
    wd = await w.wallet.withdrawals.get(wd.withdrawal_id)
    assert wd.status == "submitted" and wd.withdraw_id is not None
    assert set(w.wechat.called("withdraw")) == {wd.out_request_no} and w.wechat.steps["Withdraw"] == 1
    await w.check()
    w.wechat.settle_withdrawal(wd.out_request_no, "SUCCESS")
    w.clock.advance(w.settings.poll_after_s)
    await w.wallet.work()  # asked about after poll_after_s: no notification needed
    assert (await w.wallet.withdrawals.get(wd.withdrawal_id)).status == "succeeded"
    await w.check()


async def test_fifty_concurrent_withdrawals_never_reserve_more_than_available() -> None:
    w = await world()
    await earned(w, 10_061)  # fee 60: 10,001 in the WeChat balance
    available = (await balances(w))["available"]
    assert available == 10_001

    async def withdraw() -> str:
        try:
            return (await w.wallet.withdraw(SELLER, 700)).status
        except InsufficientFunds as exc:
            return exc.code

    outcomes = await asyncio.gather(*(withdraw() for _ in range(50)))
    accepted = [o for o in outcomes if o == "submitted"]
    assert len(accepted) == available // 700 and set(outcomes) <= {"submitted", "insufficient_funds"}
    assert (await balances(w))["withdrawing"] == 700 * len(accepted)
    assert (await balances(w))["available"] == available - 700 * len(accepted) >= 0
    # One provider withdrawal per accepted one, each under its own number.
    numbers = w.wechat.called("withdraw")
    assert len(numbers) == len(set(numbers)) == len(accepted) == w.wechat.steps["Withdraw"]
    quota = await w.store.quotas.find_one({"_id": quota_id(SELLER, DAY)})
    assert quota is not None and quota["used_fen"] == 700 * len(accepted)
    await w.check()
    for number in w.wechat.open_withdrawals():
        w.wechat.settle_withdrawal(number, "SUCCESS")
    w.clock.advance(w.settings.poll_after_s)
    await w.wallet.work()
    assert (await balances(w))["withdrawing"] == 0
    await w.check()


async def test_a_completion_overtaking_a_partial_wechat_refund_settles_and_the_refund_comes_from_the_balance() -> None:
    w = await world()
    p = w.pay(SELLER, 26_800)
    await w.wallet.hold(p, cause(p))
    late = w.refund(p, 10_000)  # WeChat takes it from the frozen funds; enough is left for the fee
    escrow = await w.wallet.complete(w.completed(p), cause(w.completed(p)))
    assert escrow.status == "settled"  # the split decided on 26,800: fee 161, the rest unfrozen is 16,639
    await w.wallet.refund(late, cause(late))  # booked after the settlement: out of the seller's balance
    fee = flows.platform_fee(26_800)
    assert (await balances(w))["available"] == 26_800 - fee - 10_000
    await w.check()


# ------------------------------------------------------------------------ a refund overtaken, a withdrawal raced


@pytest.mark.parametrize(
    ("provider", "amount", "refund"),
    [("wechatpay", 26_800, 26_800), ("wechatpay", 26_800, 26_700), ("alipay", 26_800, 1_000)],
    ids=["wechat-full", "wechat-all-but-the-fee", "alipay-partial"],
)
async def test_a_completion_delivered_before_a_refund_the_provider_made_still_settles_and_books_the_refund(
    provider: flows.Provider, amount: int, refund: int
) -> None:
    w = await world()
    p = w.pay(SELLER, amount, provider)
    await w.wallet.hold(p, cause(p))
    late = w.refund(p, refund)  # refunded at the provider; payment.refunded is still on its way
    done = w.completed(p)
    await w.wallet.complete(done, cause(done))  # order.completed overtakes it
    for _ in range(3):  # the consumer retries the refund, the worker the settlement
        try:
            await w.wallet.refund(late, cause(late))
        except NotYetApplicable:
            pass
        w.clock.advance(3_600)
        await w.wallet.work()
    escrow = await w.wallet.escrows.get(escrow_id(p.payment_id))
    assert (escrow.status, escrow.refunded_fen) == ("settled", refund)
    await w.check()


async def test_a_refund_after_settlement_racing_a_withdrawal_wechat_has_not_taken_is_booked_eventually() -> None:
    w = await world()
    p = await earned(w, 100_000)  # 99,400 in the WeChat balance
    w.wechat.down("withdraw")
    wd = await w.wallet.withdraw(SELLER, 90_000)  # reserved in the books; WeChat has not taken it
    assert wd.status == "requested"
    late = w.refund(p, 50_000)  # WeChat allows it: its balance still shows 99,400
    w.wechat.up()
    for _ in range(3):  # the consumer retries the refund, the worker the withdrawal
        try:
            await w.wallet.refund(late, cause(late))
        except InsufficientFunds:
            pass
        w.clock.advance(3_600)
        await w.wallet.work()
    assert (await w.wallet.withdrawals.get(wd.withdrawal_id)).status == "failed"  # WeChat: NOT_ENOUGH
    escrow = await w.wallet.escrows.get(escrow_id(p.payment_id))
    assert escrow.refunded_fen == 50_000
    assert (await balances(w))["available"] == 99_400 - 50_000
    await w.check()
