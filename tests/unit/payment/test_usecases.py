"""Payment's use cases on the in-memory database with fake providers: creating payments, the reconciler (lost
notifications, deadlines, closed orders, late successes) and refunds, with time moved by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from services.payment.adapters import AlipayAdapter, WechatPayAdapter
from services.payment.consumers import NotYetApplicable, handlers
from services.payment.domain import (
    ORDER_CLOSED,
    OrderIsClosed,
    Payment,
    PaymentTerms,
    order_closed_refund_id,
    payment_id_for,
)
from services.payment.port import NotificationRefused, PaymentPaid, ProviderRejected, Providers
from services.payment.store import PaymentStore
from services.payment.usecases import Payments
from shared.bus import Bus, Handler
from shared.clock import ManualClock
from shared.errors import Conflict
from shared.events import Envelope
from shared.ids import new_id
from shared.streams import Cause, StreamStore
from tests.support.fake_providers import FakeAlipay, FakeWechat, as_alipay, as_wechat, fake_payment_settings, timeout
from tests.support.internal_api import publish_as
from tests.support.memory import MemoryBus, MemoryDatabase, as_database

NAME = "payment"
SETTINGS = fake_payment_settings()
SELLER, SUB_MCHID = "usr_seller_wx", "1600000001"  # a seller who activated WeChat collection
AFTER_S = SETTINGS.reconcile_after_s
TIMEOUT = timedelta(minutes=15)


@dataclass
class World:
    clock: ManualClock
    streams: StreamStore
    store: PaymentStore
    payments: Payments
    wechat: FakeWechat
    alipay: FakeAlipay
    table: dict[str, Handler]
    bus: MemoryBus

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def request(self, method: str = "wechat_pay", amount_fen: int = 35_000, **kw: Any) -> PaymentTerms:
        channel = "mp" if method == "wechat_pay" else "app"
        kw.setdefault("seller_id", SELLER)
        return PaymentTerms(
            order_id=new_id("ord"),
            buyer_id=new_id("usr"),
            channel=channel,
            method=method,
            amount_fen=amount_fen,
            expires_at=self.clock.now() + TIMEOUT,
            description="Kindle Paperwhite",
            openid="o_fake_openid" if method == "wechat_pay" else None,
            **kw,
        )

    async def create(self, method: str = "wechat_pay", amount_fen: int = 35_000) -> Payment:
        return await self.payments.create(self.request(method, amount_fen))

    async def paid_wechat(self) -> Payment:
        """A WeChat payment the buyer paid, its notification delivered."""
        p = await self.create()
        trade = self.wechat.pay(p.out_trade_no)
        paid_at = datetime.fromisoformat(trade["success_time"])
        return await self.payments.record_success(
            p.payment_id, trade["transaction_id"], p.amount_fen, paid_at, "notification"
        )

    async def paid_alipay(self) -> Payment:
        p = await self.create("alipay")
        trade = self.alipay.pay(p.out_trade_no, p.amount_fen)
        return await self.payments.record_success(
            p.payment_id, trade["trade_no"], p.amount_fen, self.clock.now(), "notification"
        )

    async def events(self, payment_id: str) -> list[str]:
        return [e.type for entry in await self.streams.read(payment_id) for e in entry.events]

    async def doc(self, payment_id: str) -> dict[str, Any]:
        found = await self.store.payments.find_one({"_id": payment_id})
        assert found is not None
        assert found["status"] == (await self.payments.payment(payment_id)).status
        return found

    async def deliver(self, event_type: str, payload: dict[str, Any], aggregate_id: str, producer: str) -> Envelope:
        envelope = await publish_as(cast(Bus, self.bus), producer, event_type, payload, aggregate_id)
        assert await self.bus.deliver(self.table, [envelope]) == 1
        return envelope


@pytest.fixture
async def world() -> World:
    clock = ManualClock(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    db = as_database(MemoryDatabase())
    streams = StreamStore(db, clock=clock, contracts="strict")  # as payment's app does
    store = PaymentStore(db, SETTINGS.reconcile_after_s)
    await streams.ensure_indexes()
    await store.ensure_indexes()
    await store.record_payee(SELLER, SUB_MCHID, "acc_seller")
    wechat, alipay = FakeWechat(clock), FakeAlipay(clock)
    # The fakes play the providers' HTTP clients: the real adapters read their answers.
    retries = (SETTINGS.provider_attempts, SETTINGS.provider_retry_delay_s)
    wechat_port = WechatPayAdapter(as_wechat(wechat), "https://fishbridge.test/notify/wechatpay", *retries)
    alipay_port = AlipayAdapter(as_alipay(alipay), "https://fishbridge.test/notify/alipay", *retries)
    providers = Providers(wechat_port, alipay_port)
    payments = Payments(streams, store, providers, alipay_port, SETTINGS, clock=clock)
    return World(clock, streams, store, payments, wechat, alipay, handlers(payments, db, NAME), MemoryBus())


def cause() -> Cause:
    return Cause(command_id=new_id("cmd"))


# -------------------------------------------------------------------------------------------------------- creating


async def test_a_wechat_payment_gets_one_prepay_however_often_it_is_created(world: World) -> None:
    request = world.request()
    first = await world.payments.create(request)
    again = await world.payments.create(request)
    assert first.status == again.status == "requires_action"
    assert first.payment_id == again.payment_id == payment_id_for(request.order_id) == first.out_trade_no
    assert first.prepay_id == f"wx_prepay_{first.out_trade_no}"
    assert world.wechat.called("jsapi") == [first.out_trade_no]
    assert await world.events(first.payment_id) == ["payment.created", "payment.action_required"]


async def test_a_wechat_payment_pays_the_sellers_sub_merchant_and_says_so_when_it_succeeds(world: World) -> None:
    p = await world.paid_wechat()
    assert p.sub_mchid == SUB_MCHID and world.wechat.trades[p.out_trade_no]["sub_mchid"] == SUB_MCHID
    succeeded = [e for entry in await world.streams.read(p.payment_id) for e in entry.events][-1]
    assert succeeded.type == "payment.succeeded"
    assert (succeeded.payload["sub_mchid"], succeeded.payload["frozen_for_settlement"]) == (SUB_MCHID, True)


async def test_a_wechat_payment_to_a_seller_without_a_sub_merchant_is_refused_before_any_provider_call(
    world: World,
) -> None:
    with pytest.raises(Conflict) as refused:
        await world.payments.create(world.request(seller_id=new_id("usr")))
    assert refused.value.code == "wechat_collection_not_active" and refused.value.status == 409
    assert world.wechat.called("jsapi") == []


async def test_the_wallets_activation_tells_payment_where_a_sellers_wechat_payments_go(world: World) -> None:
    seller = new_id("usr")
    activated = {"seller_id": seller, "shop_id": new_id("shp"), "account_id": "acc_1", "sub_mchid": "1600000077"}
    await world.deliver("wallet.collection_activated", activated, seller, "wallet")
    p = await world.payments.create(world.request(seller_id=seller))
    assert p.status == "requires_action" and world.wechat.trades[p.out_trade_no]["sub_mchid"] == "1600000077"


async def test_a_wechat_success_notification_paid_to_another_sub_merchant_is_refused(world: World) -> None:
    p = await world.create()
    trade = world.wechat.pay(p.out_trade_no)
    notice = PaymentPaid(
        out_trade_no=p.out_trade_no, trade_no=trade["transaction_id"], amount_fen=p.amount_fen, payee="1600009999"
    )
    with pytest.raises(NotificationRefused, match="sub_mchid"):
        await world.payments.notified_payment(notice)
    assert (await world.payments.payment(p.payment_id)).status == "requires_action"


async def test_a_prepay_that_times_out_is_asked_again_by_the_reconciler_with_the_same_number(world: World) -> None:
    world.wechat.fail_next("jsapi", *(timeout() for _ in range(SETTINGS.provider_attempts)))
    p = await world.create()
    assert p.status == "processing" and world.wechat.called("jsapi") == [p.out_trade_no] * SETTINGS.provider_attempts
    world.advance(AFTER_S)
    assert (await world.payments.reconcile())["payments"] == 1
    assert (await world.doc(p.payment_id))["status"] == "requires_action"
    assert set(world.wechat.called("jsapi")) == {p.out_trade_no}


async def test_a_password_free_debit_pays_at_once_and_a_refused_one_fails(world: World) -> None:
    agreement = await world.payments.request_agreement(new_id("usr"), "2088000000000002")
    await world.payments.agreement_signed(agreement.agreement_id, "AGR_NO_1", "2088000000000002")
    ok = world.request("alipay_password_free", agreement_id=agreement.agreement_id)
    ok = ok.model_copy(update={"buyer_id": agreement.buyer_id})
    paid = await world.payments.create(ok)
    assert (paid.status, paid.provider_trade_no) == ("succeeded", world.alipay.trades[paid.out_trade_no]["trade_no"])
    world.alipay.debit_refusal = ProviderRejected("ACQ.BUYER_BALANCE_NOT_ENOUGH", "balance short")
    refused = world.request("alipay_password_free", amount_fen=1_000, agreement_id=agreement.agreement_id)
    failed = await world.payments.create(refused.model_copy(update={"buyer_id": agreement.buyer_id}))
    assert (failed.status, failed.failure_code) == ("failed", "payment_declined")
    charges = (await world.payments.agreement(agreement.agreement_id)).charges
    assert charges[failed.payment_id].released and not charges[paid.payment_id].released


# --------------------------------------------------------------------------------------------------- the reconciler


async def test_a_lost_wechat_notification_is_recorded_by_the_reconcilers_query(world: World) -> None:
    p = await world.create()
    world.wechat.pay(p.out_trade_no)
    world.advance(AFTER_S - 1)
    assert await world.payments.reconcile() == {"payments": 0, "refunds": 0}
    world.advance(1)
    assert (await world.payments.reconcile())["payments"] == 1
    done = await world.doc(p.payment_id)
    assert done["status"] == "succeeded"
    assert done["provider_trade_no"] == world.wechat.trades[p.out_trade_no]["transaction_id"]
    entries = [e for entry in await world.streams.read(p.payment_id) for e in entry.events]
    assert [e.payload["source"] for e in entries if e.type == "payment.succeeded"] == ["query"]
    world.advance(10 * AFTER_S)
    assert await world.payments.reconcile() == {"payments": 0, "refunds": 0}
    assert (await world.events(p.payment_id)).count("payment.succeeded") == 1


async def test_a_lost_alipay_notification_is_recorded_by_the_reconcilers_query(world: World) -> None:
    p = await world.create("alipay")
    assert p.status == "requires_action" and p.order_string
    world.alipay.pay(p.out_trade_no, p.amount_fen)
    world.advance(AFTER_S)
    await world.payments.reconcile()
    assert (await world.doc(p.payment_id))["status"] == "succeeded"


async def test_an_unpaid_payment_is_closed_at_the_provider_once_past_its_deadline(world: World) -> None:
    p = await world.create()
    world.advance(AFTER_S)
    await world.payments.reconcile()  # open at WeChat and before the deadline: left open, asked again later
    doc = await world.doc(p.payment_id)
    assert p.expires_at is not None
    deadline = p.expires_at + timedelta(seconds=SETTINGS.close_grace_s)
    assert doc["status"] == "requires_action" and doc["check_at"] <= deadline
    assert world.wechat.called("close") == []
    world.advance((deadline - world.clock.now()).total_seconds())
    assert (await world.payments.reconcile())["payments"] == 1
    closed = await world.doc(p.payment_id)
    assert (closed["status"], closed["closed_reason"]) == ("closed", "expired")
    assert world.wechat.trades[p.out_trade_no]["trade_state"] == "CLOSED"
    assert await world.payments.reconcile() == {"payments": 0, "refunds": 0}


async def test_an_alipay_order_string_never_opened_is_closed_only_after_its_deadline(world: World) -> None:
    p = await world.create("alipay")
    world.advance(AFTER_S)
    await world.payments.reconcile()
    assert (await world.doc(p.payment_id))["status"] == "requires_action"
    world.advance(TIMEOUT.total_seconds() + SETTINGS.close_grace_s)
    await world.payments.reconcile()
    closed = await world.doc(p.payment_id)
    assert (closed["status"], closed["closed_reason"]) == ("closed", "expired")


async def test_an_unopened_alipay_order_string_stays_payable_after_its_order_closed_until_its_deadline(
    world: World,
) -> None:
    """Alipay has no trade until the buyer opens the cashier, and no close can stop the order string before its
    time_expire: the payment stays open (a payment then is refunded), and is closed once the deadline passed."""
    p = await world.create("alipay")
    kept = await world.payments.close_for_order(p.order_id, "buyer_cancelled", cause())
    assert kept.status == "requires_action" and kept.order_closed
    assert world.alipay.called("close") == [p.out_trade_no]
    world.advance(AFTER_S)
    await world.payments.reconcile()
    assert (await world.doc(p.payment_id))["status"] == "requires_action"
    world.advance(TIMEOUT.total_seconds() + SETTINGS.close_grace_s)
    await world.payments.reconcile()
    closed = await world.doc(p.payment_id)
    assert (closed["status"], closed["closed_reason"]) == ("closed", ORDER_CLOSED)


async def test_an_order_closed_before_its_payment_exists_refuses_the_create(world: World) -> None:
    request = world.request()
    before = await world.payments.close_for_order(request.order_id, "buyer_cancelled", cause())
    assert not before.exists
    with pytest.raises(OrderIsClosed) as caught:
        await world.payments.create(request)
    assert caught.value.status == 409
    assert world.wechat.calls == []
    assert await world.store.payments.find_one({"_id": payment_id_for(request.order_id)}) is None
    assert await world.events(payment_id_for(request.order_id)) == ["payment.order_closed"]


async def test_closing_the_order_closes_the_unpaid_payment_at_the_provider(world: World) -> None:
    p = await world.create()
    closed = await world.payments.close_for_order(p.order_id, "buyer_cancelled", cause())
    assert (closed.status, closed.closed_reason) == ("closed", ORDER_CLOSED)
    assert world.wechat.trades[p.out_trade_no]["trade_state"] == "CLOSED"
    # The order's close is the listing event; its redelivery through the handler table changes nothing.
    payload = {"order_id": p.order_id, "item_id": new_id("itm"), "seller_id": p.seller_id, "buyer_id": p.buyer_id}
    envelope = await world.deliver("order.closed", {**payload, "reason": "buyer_cancelled"}, p.order_id, "listing")
    assert await world.bus.deliver(world.table, [envelope]) == 1
    assert await world.events(p.payment_id) == [
        "payment.created",
        "payment.action_required",
        "payment.order_closed",
        "payment.closed",
    ]


async def test_a_success_that_comes_after_the_order_closed_is_refunded_in_full(world: World) -> None:
    p = await world.create()
    # The order closes while WeChat does not answer the close; the buyer pays meanwhile.
    world.wechat.fail_next("close", *(timeout() for _ in range(SETTINGS.provider_attempts)))
    still_open = await world.payments.close_for_order(p.order_id, "payment_expired", cause())
    assert still_open.status == "requires_action" and still_open.order_closed
    world.wechat.pay(p.out_trade_no)
    world.advance(AFTER_S)
    await world.payments.reconcile()
    done = await world.doc(p.payment_id)
    refund = done["refunds"][order_closed_refund_id(p.payment_id)]
    assert done["status"] == "succeeded"
    assert (refund["status"], refund["amount_fen"], refund["cause"]) == ("succeeded", p.amount_fen, ORDER_CLOSED)
    assert world.wechat.refunded_fen(p.out_trade_no) == p.amount_fen
    assert (await world.events(p.payment_id))[-3:] == [
        "payment.succeeded",
        "payment.refund_requested",
        "payment.refunded",
    ]
    # The notification arriving after all: the same success, no second refund.
    trade = world.wechat.trades[p.out_trade_no]
    await world.payments.record_success(
        p.payment_id, trade["transaction_id"], p.amount_fen, world.clock.now(), "notification"
    )
    assert world.wechat.called("refund") == [order_closed_refund_id(p.payment_id)]


async def test_an_order_closing_when_the_buyer_had_paid_unnoticed_records_the_success_and_refunds_it(
    world: World,
) -> None:
    """The notification was lost and the order closes: WeChat refuses the close as paid, so the success is recorded
    from a query and the money goes back in full."""
    p = await world.create()
    world.wechat.pay(p.out_trade_no)
    done = await world.payments.close_for_order(p.order_id, "payment_expired", cause())
    assert done.status == "succeeded" and done.refunded_fen == p.amount_fen
    assert world.wechat.refunded_fen(p.out_trade_no) == p.amount_fen
    assert world.wechat.called("refund") == [order_closed_refund_id(p.payment_id)]


async def test_an_order_closing_after_its_payment_succeeded_refunds_it(world: World) -> None:
    p = await world.paid_alipay()
    after = await world.payments.close_for_order(p.order_id, "buyer_cancelled", cause())
    assert after.status == "succeeded" and after.refunded_fen == p.amount_fen
    assert world.alipay.refunded_fen(p.out_trade_no) == p.amount_fen


# ---------------------------------------------------------------------------------------------------------- refunds


async def test_refunds_partial_then_the_rest_and_never_beyond_the_amount_paid(world: World) -> None:
    p = await world.paid_wechat()
    first = await world.payments.request_refund(p.payment_id, "rfd_1", 10_000, cause())
    rest = await world.payments.request_refund(p.payment_id, "rfd_2", p.amount_fen - 10_000, cause())
    assert first.refunds["rfd_1"].status == "succeeded" and rest.refunded_fen == p.amount_fen
    beyond = await world.payments.request_refund(p.payment_id, "rfd_3", 1, cause())
    assert (beyond.refunds["rfd_3"].status, beyond.refunds["rfd_3"].reason) == ("failed", "exceeds_amount_paid")
    assert world.wechat.called("refund") == ["rfd_1", "rfd_2"]
    assert world.wechat.refunded_fen(p.out_trade_no) == p.amount_fen


async def test_a_wechat_refund_in_processing_is_finished_by_the_reconciler(world: World) -> None:
    world.wechat.refund_status = "PROCESSING"
    p = await world.paid_wechat()
    asked = await world.payments.request_refund(p.payment_id, "rfd_1", p.amount_fen, cause())
    assert asked.refunds["rfd_1"].status == "processing"
    world.advance(AFTER_S)
    await world.payments.reconcile()
    assert (await world.doc(p.payment_id))["refunds"]["rfd_1"]["status"] == "processing"
    world.wechat.settle_refund("rfd_1")
    world.advance(2 * AFTER_S)  # the second look waits twice as long
    assert (await world.payments.reconcile())["refunds"] == 1
    done = await world.doc(p.payment_id)
    assert done["refunds"]["rfd_1"]["status"] == "succeeded" and done["refunds_open"] is False


async def test_an_alipay_refund_whose_answer_was_lost_is_confirmed_by_a_query_and_refunds_once(world: World) -> None:
    p = await world.paid_alipay()
    # The first attempt refunds at Alipay but its answer is lost; the retry answers fund_change N, and a query
    # confirms the refund.
    world.alipay.lose_next_answers("refund")
    done = await world.payments.request_refund(p.payment_id, "rfd_1", p.amount_fen, cause())
    assert done.refunds["rfd_1"].status == "succeeded"
    assert world.alipay.called("refund") == ["rfd_1", "rfd_1"] and world.alipay.called("refund_query") == ["rfd_1"]
    assert world.alipay.refunded_fen(p.out_trade_no) == p.amount_fen


async def test_an_alipay_refund_that_timed_out_is_sent_again_with_its_number_and_refunds_once(world: World) -> None:
    p = await world.paid_alipay()
    # Alipay answers nothing twice, then refunds on the third attempt but that answer is lost too.
    world.alipay.lose_next_answers("refund")
    world.alipay.fail_next("refund", *(timeout() for _ in range(SETTINGS.provider_attempts - 1)))
    asked = await world.payments.request_refund(p.payment_id, "rfd_1", p.amount_fen, cause())
    assert asked.refunds["rfd_1"].status == "requested"
    world.advance(AFTER_S)
    assert (await world.payments.reconcile())["refunds"] == 1
    done = await world.doc(p.payment_id)
    assert done["refunds"]["rfd_1"]["status"] == "succeeded"
    assert set(world.alipay.called("refund")) == {"rfd_1"}
    assert world.alipay.refunded_fen(p.out_trade_no) == p.amount_fen
    # Asked again (a redelivered approval): fund_change N, confirmed by a query, still one refund.
    again = await world.payments.request_refund(p.payment_id, "rfd_1", p.amount_fen, cause())
    assert again.refunded_fen == p.amount_fen and len(world.alipay.refunds) == 1


async def test_a_refund_refused_by_the_provider_fails_and_frees_its_amount(world: World) -> None:
    p = await world.paid_wechat()
    world.wechat.fail_next("refund", ProviderRejected("INVALID_REQUEST", "refused"))
    failed = await world.payments.request_refund(p.payment_id, "rfd_1", p.amount_fen, cause())
    assert failed.refunds["rfd_1"].status == "failed"
    retried = await world.payments.request_refund(p.payment_id, "rfd_2", p.amount_fen, cause())
    assert retried.refunds["rfd_2"].status == "succeeded"


async def test_a_refund_approved_before_the_payment_succeeded_is_retried_until_it_does(world: World) -> None:
    p = await world.create()
    case = {"order_id": p.order_id, "buyer_id": p.buyer_id, "seller_id": p.seller_id, "payment_id": p.payment_id}
    payload = {**case, "refund_id": "rfd_1", "amount_fen": p.amount_fen}
    with pytest.raises(NotYetApplicable):
        await world.deliver("refund.approved", payload, "rfd_1", "refund")
    approved = world.bus.published[-1]
    trade = world.wechat.pay(p.out_trade_no)
    await world.payments.record_success(
        p.payment_id, trade["transaction_id"], p.amount_fen, world.clock.now(), "notification"
    )
    assert await world.bus.deliver(world.table, [approved]) == 1  # the consumer's retry
    assert (await world.payments.payment(p.payment_id)).refunded_fen == p.amount_fen
    assert await world.bus.deliver(world.table, [approved]) == 1
    assert world.wechat.called("refund") == ["rfd_1"]


async def test_a_payment_created_under_the_legacy_id_is_still_its_orders_payment(world: World) -> None:
    from services.payment.domain import PAYMENT, CreatePayment, legacy_payment_id_for
    from shared.ids import is_id
    from shared.streams import execute

    request = world.request("alipay")
    legacy = legacy_payment_id_for(request.order_id)
    # A payment as an earlier release created it: stream, payment id and out_trade_no under the old base32 id.
    await execute(world.streams, PAYMENT, legacy, CreatePayment(payment_id=legacy, **request.model_dump()))
    assert is_id(payment_id_for(request.order_id), "pay") and legacy != payment_id_for(request.order_id)
    assert await world.payments.payment_id_of(request.order_id) == legacy
    again = await world.payments.create(request)  # a retried create finds it, and advances it
    assert again.payment_id == again.out_trade_no == legacy and again.status == "requires_action"
    assert (await world.payments.payment_of_order(request.order_id)).payment_id == legacy
    closed = await world.payments.close_for_order(request.order_id, "buyer_cancelled", cause())
    assert closed.payment_id == legacy and closed.order_closed
    assert await world.events(payment_id_for(request.order_id)) == []  # nothing was written under the new id
    fresh = await world.create("alipay")
    assert fresh.payment_id == payment_id_for(fresh.order_id)
