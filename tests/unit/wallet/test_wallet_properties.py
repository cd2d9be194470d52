"""The wallet as a whole, by property: random sequences of payments, completions, refunds (partial, full, after the
settlement where the provider allows it), withdrawals, their failures and bank returns — delivered twice, out of
order (a refund before its payment, retried later as the consumer does), raced against each other, with the provider
giving no answer now and then — and afterwards every fen accounted for, and the books equal to the fake providers'
balances (the sandbox's own account arithmetic)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.sandbox.wechat import domain as d
from services.wallet import flows
from services.wallet.ledger import InsufficientFunds
from services.wallet.usecases import NotYetApplicable
from services.wallet.withdrawals import DailyLimitExceeded
from shared.aggregate import Cause
from shared.errors import ValidationFailed
from shared.events.listing import OrderCompleted
from shared.events.payment import PaymentRefunded, PaymentSucceeded
from shared.providers.errors import ProviderRejected, ProviderUnavailable
from shared.streams import StreamConflict
from tests.support.wallet_fakes import PLATFORM_ALIPAY, PLATFORM_MCHID, WalletWorld, wallet_world

SELLERS = ["usr_alice", "usr_bob"]
Event = PaymentSucceeded | PaymentRefunded | OrderCompleted

AMOUNTS = st.one_of(st.sampled_from([26_800, 9_900, 83, 84, 50_000, 1_000_000, 1_200_000]), st.integers(1, 120_000))
# Then: delivered now, later (its refunds and completion may come first), or delivered and the order completed.
PAY = st.tuples(
    st.just("pay"),
    st.integers(0, 1),
    st.sampled_from(["wechatpay", "alipay", "wechatpay"]),
    AMOUNTS,
    st.sampled_from(["completed", "now", "later"]),
)
COMPLETE = st.tuples(st.just("complete"), st.integers(0, 7), st.booleans())
REFUND = st.tuples(st.just("refund"), st.integers(0, 7), st.sampled_from([10, 50, 100]), st.booleans())
# From the richer seller: a share of what the books say it can withdraw (over 100 %: more than there is), or an
# amount in fen; then left open at WeChat, or paid out, failed, or paid out and sent back by the bank.
WITHDRAW = st.tuples(
    st.just("withdraw"),
    st.sampled_from([30, 100, 0, 50, 101]),
    st.integers(50, 80_000),
    st.sampled_from(["open", "SUCCESS", "FAIL", "RETURN"]),
)
FINISH_WITHDRAWAL = st.tuples(
    st.just("finish_withdrawal"), st.integers(0, 7), st.sampled_from(["SUCCESS", "FAIL"]), st.booleans()
)
OP = st.one_of(
    PAY,
    COMPLETE,
    REFUND,
    WITHDRAW,
    FINISH_WITHDRAWAL,
    COMPLETE,
    REFUND,
    WITHDRAW,
    st.tuples(st.just("bank_return"), st.integers(0, 7)),
    st.tuples(st.just("redeliver"), st.integers(0, 15)),
    st.tuples(
        st.just("fault"),
        st.sampled_from(
            ["profit_share", "query_profit_share", "finish_profit_sharing", "withdraw", "balance", "settle"]
        ),
        st.booleans(),
    ),
    st.tuples(st.just("work")),
)
# A few payments first (most of them completed, so that there is money to refund and withdraw), then anything; the
# batch size is how many consecutive steps race each other.
FIRST = st.tuples(
    st.just("pay"),
    st.integers(0, 1),
    st.sampled_from(["wechatpay", "alipay", "wechatpay"]),
    AMOUNTS,
    st.sampled_from(["completed", "now", "completed", "later"]),
)
OPS = st.tuples(st.lists(FIRST, min_size=2, max_size=5), st.lists(OP, min_size=4, max_size=30), st.integers(1, 3))


@dataclass
class Model:
    """What the outside world did, to account for every fen afterwards."""

    w: WalletWorld
    payments: list[PaymentSucceeded] = field(default_factory=list)
    completed: set[str] = field(default_factory=set)
    refunded: dict[str, int] = field(default_factory=dict)  # by payment: what the provider refunded
    delivered: list[tuple[Event, Cause]] = field(default_factory=list)
    waiting: list[tuple[Event, Cause]] = field(default_factory=list)  # the consumer's retries (NotYetApplicable)
    undelivered: list[Event] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    deliveries: int = 0
    # Refunds the provider made that the wallet has not booked yet, and completions being delivered: see `step`.
    unbooked: Counter[str] = field(default_factory=Counter)
    booked: set[str] = field(default_factory=set)
    completing: set[str] = field(default_factory=set)

    def cause(self, event: Event) -> Cause:
        self.deliveries += 1
        return Cause(f"wallet:evt{self.deliveries}", causation_id=f"evt_{self.deliveries}")

    async def deliver(self, event: Event, cause: Cause | None = None) -> None:
        """One delivery by the consumer: a NotYetApplicable is retried later with the same cause."""
        cause = cause or self.cause(event)
        try:
            if isinstance(event, PaymentSucceeded):
                await self.w.wallet.hold(event, cause)
            elif isinstance(event, PaymentRefunded):
                await self.w.wallet.refund(event, cause)
            else:
                await self.w.wallet.complete(event, cause)
        except NotYetApplicable:
            self.waiting.append((event, cause))
            return
        except StreamConflict:
            self.waiting.append((event, cause))  # any ordinary exception: the consumer retries with back-off
            return
        except Exception as exc:
            self.unexpected.append(f"{type(event).__name__}: {type(exc).__name__}: {exc}")
            self.waiting.append((event, cause))
            return
        if isinstance(event, PaymentRefunded) and event.refund_id not in self.booked:
            self.booked.add(event.refund_id)
            self.unbooked[event.payment_id] -= 1
        self.delivered.append((event, cause))

    def settled_at_provider(self, p: PaymentSucceeded) -> bool:
        """The provider has taken the order's settlement (a split or finish-order at WeChat, the settle at Alipay)."""
        if p.provider == "alipay":
            return self.w.alipay.trades[p.provider_trade_no].settled
        assert p.sub_mchid is not None
        splits = self.w.wechat.account(p.sub_mchid).splits.values()
        return any(s.transaction_id == p.provider_trade_no for s in splits)

    async def retry_waiting(self) -> None:
        waiting, self.waiting = self.waiting, []
        for event, cause in waiting:
            await self.deliver(event, cause)

    async def step(self, op: tuple[Any, ...]) -> None:
        w = self.w
        kind = op[0]
        if kind == "pay":
            _, seller, provider, amount, then = op
            p = w.pay(SELLERS[seller], amount, provider)
            self.payments.append(p)
            self.refunded[p.payment_id] = 0
            if then == "later":
                self.undelivered.append(p)  # delivered later: its refunds and completion may come first
                return
            await self.deliver(p)
            if then == "completed":
                await self.step(("complete", len(self.payments) - 1, False))
        elif kind == "complete" and self.payments:
            p = self.payments[op[1] % len(self.payments)]
            if p.payment_id in self.completed and not op[2]:
                return
            self.completed.add(p.payment_id)
            self.completing.add(p.payment_id)
            try:
                await self.deliver(w.completed(p))
            finally:
                self.completing.discard(p.payment_id)
        elif kind == "refund" and self.payments:
            _, n, percent, now = op
            p = self.payments[n % len(self.payments)]
            left = p.amount_fen - self.refunded[p.payment_id]
            amount = left if percent == 100 else max(1, left * percent // 100)
            if left <= 0:
                return
            if p.provider == "alipay" and p.payment_id in self.completed:
                return  # payment refunds Alipay orders only while held (the wallet parks one after settlement)
            try:
                r = w.refund(p, amount)  # at the provider first, as payment refunds
            except (ProviderRejected, ProviderUnavailable):
                return  # the provider does not allow it (the money is not there): no payment.refunded
            self.refunded[p.payment_id] += amount
            self.unbooked[p.payment_id] += 1
            if now:
                await self.deliver(r)
            else:
                self.undelivered.append(r)
        elif kind == "withdraw":
            _, percent, fen, outcome = op
            available = {
                seller: (await w.books.account(flows.released(seller, "wechatpay"))).available_fen for seller in SELLERS
            }
            seller = max(SELLERS, key=lambda x: available[x])
            amount = min(available[seller] * percent // 100, 140_000) if available[seller] > 100 and percent else fen
            if percent == 101:
                amount = available[seller] + 1  # more than there is
            try:
                wd = await w.wallet.withdraw(seller, amount)
            except (InsufficientFunds, ValidationFailed, DailyLimitExceeded, StreamConflict):
                return
            if wd.status != "submitted" or outcome == "open":
                return
            number = wd.out_request_no
            await self.follow(
                w.wechat.settle_withdrawal(number, "FAIL" if outcome == "FAIL" else "SUCCESS"), twice=False
            )
            if outcome == "RETURN":
                await self.follow(w.wechat.bank_return(number), twice=True)
        elif kind == "finish_withdrawal":
            open_ = w.wechat.open_withdrawals()
            if open_:
                await self.follow(w.wechat.settle_withdrawal(open_[op[1] % len(open_)], op[2]), twice=op[3])
        elif kind == "bank_return":
            paid = [
                x.out_request_no
                for account in w.wechat.accounts.values()
                for x in account.withdrawals.values()
                if x.status == d.WITHDRAW_SUCCESS
            ]
            if paid:
                await self.follow(w.wechat.bank_return(paid[op[1] % len(paid)]), twice=True)
        elif kind == "redeliver" and self.delivered:
            event, cause = self.delivered[op[1] % len(self.delivered)]
            # The same delivery again (an ack lost), or the same fact under another event id (published twice).
            await self.deliver(event, cause if op[1] % 2 else None)
        elif kind == "fault":
            (w.alipay if op[1] == "settle" else w.wechat).fail_next(op[1], applied=op[2])
        elif kind == "work":
            await self.retry_waiting()
            w.clock.advance(60)
            await w.wallet.work()

    async def follow(self, resource: dict[str, Any], *, twice: bool) -> None:
        wid = await self.w.store.withdrawal_by_out_request_no(resource["out_request_no"])
        assert wid is not None
        for _ in range(2 if twice else 1):
            await self.w.wallet.follow(wid, resource)

    async def drain(self) -> None:
        """Everything delivered at last and every provider step finished: the faults stop, the worker catches up,
        WeChat pays out what it accepted."""
        w = self.w
        w.wechat.up()
        w.wechat._faults.clear()
        w.alipay._faults.clear()
        for event in self.undelivered:
            await self.deliver(event)
        self.undelivered = []
        for _ in range(8):
            await self.retry_waiting()
            for number in w.wechat.open_withdrawals():
                await self.follow(w.wechat.settle_withdrawal(number, "SUCCESS"), twice=False)
            w.clock.advance(7_200)
            await w.wallet.work()
            settling = [e async for e in w.store.escrows.find({"settling": True})]
            open_ = [x async for x in w.store.withdrawals.find({"open": True})]
            if not self.waiting and not settling and not open_ and not w.wechat.open_withdrawals():
                return


async def _run(payments: list[tuple[Any, ...]], ops: list[tuple[Any, ...]], batch: int) -> None:
    w = await wallet_world(
        withdrawal_min_fen=100, withdrawal_daily_limit_fen=150_000, attention_after_attempts=2, provider_attempts=2
    )
    for seller in SELLERS:
        w.seller(seller)
    m = Model(w)
    # In batches that race each other, as concurrent events and requests do.
    ops = payments + ops
    for start in range(0, len(ops), batch):
        await asyncio.gather(*(m.step(op) for op in ops[start : start + batch]))
    await m.drain()

    assert m.unexpected == [], m.unexpected
    assert m.waiting == [], [(type(e).__name__, c) for e, c in m.waiting]
    report = await w.check()  # check_books ok (sum zero, every balance its entries' replay), check_providers ok
    assert report["books"]["in_flight"] == [] and report["books"]["sum_zero"]
    assert report["providers"]["compared"] == len({p.seller_id for p in m.payments if p.provider == "wechatpay"})

    # No seller account negative.
    accounts = {}
    for seller in SELLERS:
        for provider in ("wechatpay", "alipay"):
            for account_id in (flows.frozen(seller, provider), flows.released(seller, provider)):
                a = await w.books.account(account_id)
                assert a.posted_fen >= 0 and a.available_fen >= 0, a
                accounts[account_id] = a.posted_fen
    fees = {p: (await w.books.account(flows.fees(p))).posted_fen for p in ("wechatpay", "alipay")}

    # Every fen: what buyers paid = what was refunded + what sellers hold + the platform's fees + what was paid out.
    withdrawn = sum(
        x.amount_fen
        for account in w.wechat.accounts.values()
        for x in account.withdrawals.values()
        if x.status == d.WITHDRAW_SUCCESS
    )
    paid = sum(p.amount_fen for p in m.payments)
    refunded = sum(m.refunded.values())
    assert paid == refunded + sum(accounts.values()) + sum(fees.values()) + withdrawn
    # The books' own view of the same: posted holds, refunds, withdrawals and bank returns.
    posted: dict[str, int] = {}
    async for t in w.books.store.transfers.find({"status": "posted"}):
        posted[t["reason"]] = posted.get(t["reason"], 0) + t["amount_fen"]
    assert posted.get("payment_held", 0) == paid
    assert posted.get("payment_refunded", 0) == refunded
    assert posted.get("withdrawal", 0) - posted.get("withdrawal_returned", 0) == withdrawn
    # And the providers' side, in their own terms.
    wechat_fees = w.wechat.account(PLATFORM_MCHID).available_fen
    assert (wechat_fees, w.alipay.balances[PLATFORM_ALIPAY]) == (fees["wechatpay"], fees["alipay"])
    for p in m.payments:
        escrow = await w.wallet.escrows.get(f"esc_{p.payment_id}")
        assert escrow.refunded_fen == m.refunded[p.payment_id]
        assert escrow.status == ("settled" if p.payment_id in m.completed else "held")


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=OPS)
def test_random_histories_keep_every_fen_accounted_for_and_the_books_equal_to_the_providers(
    ops: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int],
) -> None:
    asyncio.run(_run(*ops))
