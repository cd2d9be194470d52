"""Payment's use cases over the provider port alone: a fake provider that speaks only the port's normalised results
and errors (no WeChat or Alipay vocabulary), on the in-memory database, with time moved by hand."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from services.payment.domain import (
    ORDER_CLOSED,
    OrderIsClosed,
    Payment,
    PaymentTerms,
    Provider,
    Refund,
    order_closed_refund_id,
    payment_id_for,
)
from services.payment.port import (
    Notice,
    NotificationUnverified,
    PaymentStart,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    Providers,
    VerifiedNotification,
)
from services.payment.store import PaymentStore
from services.payment.usecases import Payments
from shared.clock import ManualClock
from shared.ids import new_id
from shared.streams import Cause, StreamStore
from tests.support.fake_providers import fake_payment_settings
from tests.support.memory import MemoryDatabase, as_database

SETTINGS = fake_payment_settings()


class FakeProvider:
    """A provider behind the port: its trades and refunds in memory, answered in the port's models."""

    def __init__(self, name: Provider) -> None:
        self.name: Provider = name
        self.trades: dict[str, ProviderPayment] = {}
        self.refunds: dict[str, tuple[int, ProviderRefund]] = {}
        self.calls: list[tuple[str, str]] = []

    def pay(self, out_trade_no: str, amount_fen: int) -> ProviderPayment:
        """The buyer pays at the provider; no notification reaches us unless the test delivers one."""
        assert self.trades[out_trade_no].state == "open"
        self.trades[out_trade_no] = ProviderPayment(state="paid", trade_no=f"T{len(self.calls)}", amount_fen=amount_fen)
        return self.trades[out_trade_no]

    def refunded_fen(self) -> int:
        return sum(amount for amount, r in self.refunds.values() if r.state == "succeeded")

    async def start(self, payment: Payment) -> PaymentStart:
        self.calls.append(("start", payment.out_trade_no))
        self.trades.setdefault(payment.out_trade_no, ProviderPayment(state="open"))
        return PaymentStart(prepay_id=f"prepay_{payment.out_trade_no}", request_payment={"package": "prepay"})

    async def query(self, payment: Payment) -> ProviderPayment:
        self.calls.append(("query", payment.out_trade_no))
        return self.trades.get(payment.out_trade_no, ProviderPayment(state="missing"))

    async def close(self, payment: Payment) -> None:
        self.calls.append(("close", payment.out_trade_no))
        trade = self.trades.get(payment.out_trade_no)
        if trade is None:
            raise ProviderRejected("NO_TRADE", "no such trade", code="not_found")
        if trade.state == "paid":
            raise ProviderRejected("PAID", "the trade is paid", code="already_paid")
        self.trades[payment.out_trade_no] = ProviderPayment(state="closed")

    async def refund(self, payment: Payment, refund: Refund) -> ProviderRefund:
        self.calls.append(("refund", refund.out_refund_no))
        if self.trades[payment.out_trade_no].state != "paid":
            raise ProviderRejected("NOT_PAID", "nothing to refund")
        done = ProviderRefund(state="succeeded", provider_refund_id=f"R_{refund.out_refund_no}")
        return self.refunds.setdefault(refund.out_refund_no, (refund.amount_fen, done))[1]

    async def query_refund(self, payment: Payment, refund: Refund) -> ProviderRefund:
        self.calls.append(("query_refund", refund.out_refund_no))
        return self.refunds.get(refund.out_refund_no, (0, ProviderRefund(state="unknown")))[1]

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> VerifiedNotification:
        raise NotificationUnverified("the fake sends no notifications")

    def read_notification(self, note: VerifiedNotification) -> Notice:
        raise AssertionError("the fake sends no notifications")


class FakeAgreements:
    def sign_url(self, agreement_id: str) -> str:
        return f"https://sign.fake/{agreement_id}"

    async def unsign(self, agreement_no: str) -> None:
        return None


@dataclass
class World:
    clock: ManualClock
    streams: StreamStore
    payments: Payments
    wechat: FakeProvider
    alipay: FakeProvider

    def terms(self, order_id: str, method: str = "wechat_pay") -> PaymentTerms:
        return PaymentTerms.model_validate(
            {
                "order_id": order_id,
                "buyer_id": "usr_buyer",
                "seller_id": "usr_seller",
                "channel": "mp" if method == "wechat_pay" else "app",
                "method": method,
                "amount_fen": 35_000,
                "expires_at": self.clock.now() + timedelta(minutes=15),
                "description": "Kindle Paperwhite",
                "openid": "o_buyer" if method == "wechat_pay" else None,
            }
        )

    async def events(self, payment_id: str) -> list[str]:
        return [e.type for entry in await self.streams.read(payment_id) for e in entry.events]


@pytest.fixture
async def world() -> World:
    clock = ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    db = as_database(MemoryDatabase())
    streams = StreamStore(db, clock=clock, contracts="strict")  # as payment's app does
    store = PaymentStore(db, SETTINGS.reconcile_after_s)
    await streams.ensure_indexes()
    await store.ensure_indexes()
    await store.record_payee("usr_seller", "1600000001", "acc_seller")  # the seller activated WeChat collection
    wechat, alipay = FakeProvider("wechatpay"), FakeProvider("alipay")
    payments = Payments(streams, store, Providers(wechat, alipay), FakeAgreements(), SETTINGS, clock=clock)
    return World(clock, streams, payments, wechat, alipay)


def cause() -> Cause:
    return Cause(command_id=new_id("cmd"))


async def test_the_reconciler_records_a_payment_whose_notification_was_lost(world: World) -> None:
    p = await world.payments.create(world.terms(new_id("ord")))
    assert p.status == "requires_action" and world.wechat.calls == [("start", p.out_trade_no)]
    paid = world.wechat.pay(p.out_trade_no, p.amount_fen)  # the notification never arrives

    world.clock.advance(SETTINGS.reconcile_after_s + 1)
    assert await world.payments.reconcile() == {"payments": 1, "refunds": 0}

    after = await world.payments.payment(p.payment_id)
    assert (after.status, after.provider_trade_no, after.paid_at) == ("succeeded", paid.trade_no, world.clock.now())
    assert (await world.events(p.payment_id))[-1] == "payment.succeeded"
    assert world.alipay.calls == []  # the payment's own provider, and only it, was asked


async def test_a_success_reported_after_the_order_closed_is_refunded_in_full(world: World) -> None:
    p = await world.payments.create(world.terms(new_id("ord")))
    closed = await world.payments.close_for_order(p.order_id, "payment_timeout", cause())
    assert (closed.status, closed.closed_reason) == ("closed", ORDER_CLOSED)

    # The buyer had paid at the provider all the same; its word arrives late and wins.
    world.wechat.trades[p.out_trade_no] = ProviderPayment(state="paid", trade_no="T_late", amount_fen=p.amount_fen)
    after = await world.payments.record_success(p.payment_id, "T_late", p.amount_fen, world.clock.now(), "notification")

    refund_id = order_closed_refund_id(p.payment_id)
    assert after.status == "succeeded" and after.refunds[refund_id].status == "succeeded"
    assert (after.refunded_fen, world.wechat.refunded_fen()) == (p.amount_fen, p.amount_fen)
    events = await world.events(p.payment_id)
    assert events[-3:] == ["payment.succeeded", "payment.refund_requested", "payment.refunded"]


async def test_an_order_closed_before_its_payment_exists_takes_no_payment(world: World) -> None:
    order_id = new_id("ord")
    before = await world.payments.close_for_order(order_id, "payment_timeout", cause())
    assert not before.exists

    with pytest.raises(OrderIsClosed):
        await world.payments.create(world.terms(order_id))
    assert world.wechat.calls == [] and world.alipay.calls == []  # nothing was asked of any provider
    assert await world.events(payment_id_for(order_id)) == ["payment.order_closed"]
