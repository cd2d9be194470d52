"""The mission's two stories end to end, as `make demo` drives them (services.demo): through the gateway alone, the
sandbox playing the buyer's phone and WeChat Pay's review, against the whole suite as real processes. Asserted: the
final balances (in the app, and the sub-merchant's at WeChat Pay, read from the sandbox), the orders' and the case's
states, the ledger check, and that each story's main requests are traces in Jaeger spanning every service they
reach, one trace across the RabbitMQ hops (a consumer's chain of parents leads up to the trace's root)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.demo import Demo, Endpoints, ServiceNames, ledger_check, story_one, story_two
from services.demo.cli import ALIPAY_NOTIFY_OPERATION, NOTIFY_OPERATION
from services.demo.traces import linked_trace, publishes, trace_that_published
from services.wallet.flows import platform_fee, withdrawal_fee
from tests.integration.gateway.conftest import ADMIN_TOKEN, GatewayClient
from tests.integration.listing.conftest import ListingClient
from tests.integration.payment.conftest import PaymentClient
from tests.integration.refund.conftest import RefundClient
from tests.integration.wallet.conftest import WalletClient
from tests.support.infra import JAEGER_API, eventually, jaeger_trace_spans
from tests.support.providers import MCHID
from tests.support.traces import SERVER, chain_to_root, kind

CLIENT = 3  # OTLP span kind: a WeChat Pay notification's trace starts at the sandbox's outgoing request


def demo_of(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient, wallet: WalletClient, refunds: RefundClient
) -> Demo:
    names = ServiceNames(
        gateway=gateway.name,
        listing=listing.name,
        payment=payments.name,
        wallet=wallet.name,
        refund=refunds.name,
        sandbox=payments.sandbox.env["SERVICE_NAME"],
    )
    endpoints = Endpoints(
        gateway=gateway.url,
        sandbox=gateway.sandbox_url,
        jaeger=JAEGER_API,
        admin_token=ADMIN_TOKEN,
        platform_mchid=MCHID,
    )
    return Demo(gateway.http, endpoints, names=names)


async def _spans(trace_id: str) -> list[dict[str, Any]]:
    return jaeger_trace_spans(trace_id)


async def one_trace(
    trace_id: str, services: set[str], consumer: str, root_service: str, root_kind: int = SERVER
) -> list[dict[str, Any]]:
    """The trace once every one of `services` has reported in it and the chain of `consumer`'s consumer span leads
    up to the trace's root, a span of `root_service` of `root_kind` without a parent: across RabbitMQ, one trace."""

    def holds(spans: list[dict[str, Any]]) -> bool:
        chain = chain_to_root(spans, consumer)
        if not chain or not services <= {s["service"] for s in spans}:
            return False
        root = chain[-1]
        return root["service"] == root_service and kind(root) == root_kind and not root.get("parentSpanId")

    spans = await eventually(
        lambda: _spans(trace_id),
        until=holds,
        timeout_s=60,
        what=f"spans of {sorted(services)} in trace {trace_id}, {consumer}'s consumer chained to {root_service}'s root",
    )
    assert {s["traceId"] for s in spans} == {trace_id}
    return spans


async def sandbox_account(payments: PaymentClient, seller_id: str) -> dict[str, Any]:
    """The seller's sub-merchant account at WeChat Pay (the sandbox's test-only view), found by the sub_mchid payment
    recorded from the wallet's activation event."""
    payee = await payments.db["payees"].find_one({"_id": seller_id})
    assert payee is not None, f"payment knows no sub-merchant of {seller_id}"
    async with payments.http.get(f"{payments.sandbox.url}/sandbox/wechat/accounts/{payee['sub_mchid']}") as resp:
        assert resp.status == 200, await resp.text()
        account: dict[str, Any] = await resp.json()
    return account


def transaction_of(account: dict[str, Any], payment_id: str) -> dict[str, Any]:
    found = [t for t in account["transactions"].values() if t["out_trade_no"] == payment_id]
    assert len(found) == 1, (payment_id, account["transactions"])
    return found[0]


def assert_ledger_ok(ledger: dict[str, Any]) -> None:
    assert ledger["ok"] and ledger["sum_fen"] == 0 and ledger["mismatches"] == [], ledger
    assert ledger["providers"]["ok"] and ledger["providers"]["differences"] == [], ledger["providers"]
    assert ledger["providers"]["compared"] >= 1


async def test_story_one_from_a_new_shop_to_a_wechat_payment_settled_withdrawn_and_reconciled(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient, wallet: WalletClient, refunds: RefundClient
) -> None:
    demo = demo_of(gateway, listing, payments, wallet, refunds)
    since = datetime.now(UTC) - timedelta(minutes=1)
    one = await story_one(demo, price_fen=45_600, withdraw_fen=30_000)

    # Orders, shops and onboarding.
    assert one.order_status == "completed" and one.collection_status == "active" and one.shop_level == 6

    # Balances: the fee was profit-shared and the rest reached the seller's WeChat balance; the withdrawal took its
    # fee out of the amount; what remains is the same in the app and at WeChat Pay.
    fee = platform_fee(45_600)
    assert (one.platform_fee_fen, one.balance_after_settlement_fen) == (fee, 45_600 - fee)
    assert one.platform_received_fen == fee  # the platform's WeChat account at the sandbox, over the story
    assert (one.withdrawal_status, one.withdrawal_amount_fen) == ("succeeded", 30_000)
    assert one.withdrawal_fee_fen == withdrawal_fee(30_000) and one.withdrawal_net_fen == 30_000 - withdrawal_fee(
        30_000
    )
    left = 45_600 - fee - 30_000
    w = one.wallet["wechat_balance"]
    assert (w["posted_fen"], w["pending_fen"], w["available_fen"], w["withdrawing_fen"]) == (left, 0, left, 0)
    assert [(e["kind"], e["amount_fen"], e["balance_after_fen"]) for e in one.entries] == [
        ("withdrawal", -30_000, left),
        ("proceeds_released", 45_600 - fee, 45_600 - fee),
    ]
    assert one.entries[0]["withdrawal_id"] == one.withdrawal_id and one.entries[1]["order_id"] == one.order_id
    account = await sandbox_account(payments, one.seller_id)
    assert (account["available_fen"], account["pending_fen"], account["withdrawn_fen"]) == (left, 0, 30_000)
    paid = transaction_of(account, one.payment_id)
    assert (paid["total_fen"], paid["split_fen"], paid["frozen_fen"], paid["finished"]) == (45_600, fee, 0, True)
    assert_ledger_ok(one.ledger)

    # Traces: each request one trace, across RabbitMQ, with every service it reaches.
    g, lst, pay, wal, ref = gateway.name, listing.name, payments.name, wallet.name, refunds.name
    sandbox = demo.names.sandbox
    await one_trace(one.traces["checkout"], {g, lst, pay, sandbox}, lst, g)
    notification = await linked_trace(
        demo,
        service=pay,
        operation=NOTIFY_OPERATION,
        links_to=one.traces["checkout"],
        since=since,
        having=publishes("payment.succeeded"),
    )
    spans = await one_trace(notification, {sandbox, pay, lst, wal, ref}, wal, sandbox, CLIENT)
    assert chain_to_root(spans, lst)[-1]["service"] == sandbox  # listing learnt the payment in the same trace
    await one_trace(one.traces["confirm_receipt"], {g, lst, wal, ref, sandbox}, wal, g)
    await one_trace(one.traces["withdraw"], {g, wal, sandbox}, wal, g)


async def test_story_two_a_one_step_purchase_a_mini_program_return_refunded_at_wechat_and_a_shared_item(
    gateway: GatewayClient, listing: ListingClient, payments: PaymentClient, wallet: WalletClient, refunds: RefundClient
) -> None:
    demo = demo_of(gateway, listing, payments, wallet, refunds)
    since = datetime.now(UTC) - timedelta(minutes=1)
    two = await story_two(demo, one_step_fen=39_900, return_fen=19_900, shared_fen=5_000)

    # The one-step purchase.
    assert two.agreement_status == "active"
    assert (two.one_step_payment_status, two.one_step_order_status) == ("succeeded", "paid")

    # The mini-program return: courier pickup refused, shipped back by the buyer, refunded at WeChat, read in the app.
    assert (two.refused_return_method, two.refusal_code) == ("courier_pickup", "return_method_not_available_in_channel")
    assert (two.refund_status, two.refund_amount_fen) == ("refunded", 19_900) and two.provider_refund_id
    assert two.return_shipment["method"] == "self_ship"
    assert (two.return_shipment["carrier"], two.return_shipment["tracking_no"]) == ("ZTO", "78123456789012")
    kinds = two.refund_timeline
    assert kinds.index("requested") < kinds.index("return_shipped") < kinds.index("refunded"), kinds
    assert two.app_view_user_id == two.mp_buyer_id
    assert two.mp_status_view == {
        "id": two.refund_id,
        "order_id": two.return_order_id,
        "status": "refunded",
        "amount_fen": 19_900,
        "details_in_app": True,
    }
    assert (two.return_order_status, two.refunded_fen) == ("refunded", 19_900)

    # The shared item, bought in the mini-program and attributed to the app user who shared it.
    assert two.shared_order_status == "paid" and two.sharer_id == two.app_buyer_id != two.share_buyer_id
    assert two.share_stats["orders"] == 1 and two.share_stats["sharers"][0]["user_id"] == two.app_buyer_id

    # Balances: nothing settled yet (no buyer confirmed); WeChat holds the shared order's money frozen, the returned
    # order's refunded out of its frozen funds; Alipay holds the one-step order's.
    w, a = two.wallet["wechat_balance"], two.wallet["alipay_settlement"]
    assert (w["posted_fen"], w["pending_fen"], a["pending_fen"], a["posted_fen"]) == (0, 5_000, 39_900, 0)
    account = await sandbox_account(payments, two.seller_id)
    assert (account["available_fen"], account["pending_fen"]) == (0, 5_000)
    returned = transaction_of(account, two.return_payment_id)
    assert (returned["total_fen"], returned["refunded_fen"], returned["frozen_fen"]) == (19_900, 19_900, 0)
    assert_ledger_ok(await ledger_check(demo, {}, "story_two"))

    # Traces.
    g, lst, pay, wal, ref = gateway.name, listing.name, payments.name, wallet.name, refunds.name
    sandbox = demo.names.sandbox
    checkout = two.traces["one_step_checkout"]
    await one_trace(checkout, {g, lst, pay, sandbox}, lst, g)
    # Alipay answers the password-free charge and notifies it too: the first that payment records publishes
    # payment.succeeded — in the checkout's trace, or in the notification's (linked to the checkout).
    paid = await trace_that_published(
        demo, "payment.succeeded", checkout=checkout, service=pay, operation=ALIPAY_NOTIFY_OPERATION, since=since
    )
    root, root_kind = (g, SERVER) if paid == checkout else (sandbox, CLIENT)
    spans = await one_trace(paid, {pay, lst, wal, ref, sandbox}, wal, root, root_kind)
    assert chain_to_root(spans, ref)[-1]["service"] == root  # the refund service learnt the paid order in it too
    await one_trace(two.traces["confirm_return"], {g, ref, pay, sandbox}, pay, g)
    refund_notification = await linked_trace(
        demo,
        service=pay,
        operation=NOTIFY_OPERATION,
        links_to=two.traces["return_checkout"],
        since=since,
        having=publishes("payment.refunded"),
    )
    await one_trace(refund_notification, {sandbox, pay, ref, wal, lst}, ref, sandbox, CLIENT)
    await one_trace(two.traces["share_checkout"], {g, lst, pay, sandbox}, lst, g)
