"""`python -m services.demo` (`make demo`): both stories against a running suite (`make run`), their traces read
back from Jaeger, the ledger check, a one-line summary per story, and the waterfall of story 1's WeChat checkout.
Exit 0 only if everything held; 1 with the step that failed; 2 when the suite is not reachable."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import aiohttp

from services.demo.client import Demo, DemoFailure, Endpoints, ServiceNames, yuan
from services.demo.stories import StoryOne, StoryTwo, ledger_check, story_one, story_two
from services.demo.traces import (
    TraceExpectation,
    TraceSeen,
    await_trace,
    linked_trace,
    publishes,
    trace_that_published,
)
from services.tracecli import TraceCliError, render_trace

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ENV = ROOT / "deploy" / "local.env"
NOTIFY_OPERATION = "POST /notify/wechatpay"
ALIPAY_NOTIFY_OPERATION = "POST /notify/alipay"


def admin_token_from_local_env(path: Path = LOCAL_ENV) -> str:
    """ADMIN_TOKEN from deploy/local.env (development-only values, committed), "" if it is not there."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        name, _, value = line.strip().partition("=")
        if name == "ADMIN_TOKEN":
            return value.strip().strip("'\"")
    return ""


def story_one_traces(one: StoryOne, n: ServiceNames) -> list[TraceExpectation]:
    return [
        TraceExpectation(
            "story 1 · WeChat checkout",
            one.traces["checkout"],
            frozenset({n.gateway, n.listing, n.payment, n.sandbox}),
            n.gateway,
        ),
        TraceExpectation(
            "story 1 · WeChat Pay's payment notification (linked to the checkout)",
            one.traces["payment_notification"],
            frozenset({n.sandbox, n.payment, n.listing, n.wallet, n.refund}),
            n.sandbox,
        ),
        TraceExpectation(
            "story 1 · confirm receipt → settlement with profit sharing",
            one.traces["confirm_receipt"],
            frozenset({n.gateway, n.listing, n.wallet, n.refund, n.sandbox}),
            n.gateway,
        ),
        TraceExpectation(
            "story 1 · withdrawal",
            one.traces["withdraw"],
            frozenset({n.gateway, n.wallet, n.sandbox}),
            n.gateway,
            across=False,
        ),
    ]


def story_two_traces(two: StoryTwo, n: ServiceNames) -> list[TraceExpectation]:
    return [
        TraceExpectation(
            "story 2 · one-step password-free checkout",
            two.traces["one_step_checkout"],
            frozenset({n.gateway, n.listing, n.payment, n.sandbox}),
            n.gateway,
        ),
        # Alipay answers a password-free charge and notifies it as well: whichever payment records first publishes
        # payment.succeeded, in the checkout's trace (then it has every service) or in the notification's.
        TraceExpectation(
            "story 2 · the one-step payment recorded (payment.succeeded → listing, wallet, refund)"
            if two.traces["one_step_paid"] == two.traces["one_step_checkout"]
            else "story 2 · Alipay's notification of the one-step payment, recorded before the answer",
            two.traces["one_step_paid"],
            frozenset({n.payment, n.listing, n.wallet, n.refund, n.sandbox}),
            n.gateway if two.traces["one_step_paid"] == two.traces["one_step_checkout"] else n.sandbox,
        ),
        TraceExpectation(
            "story 2 · the seller confirms the return → refund at WeChat Pay",
            two.traces["confirm_return"],
            frozenset({n.gateway, n.refund, n.payment, n.sandbox}),
            n.gateway,
        ),
        TraceExpectation(
            "story 2 · WeChat Pay's refund notification (linked to the returned order's checkout)",
            two.traces["refund_notification"],
            frozenset({n.sandbox, n.payment, n.refund, n.wallet, n.listing}),
            n.sandbox,
        ),
        TraceExpectation(
            "story 2 · checkout from a share",
            two.traces["share_checkout"],
            frozenset({n.gateway, n.listing, n.payment, n.sandbox}),
            n.gateway,
        ),
    ]


async def notification_traces(demo: Demo, one: StoryOne, two: StoryTwo, since: datetime) -> None:
    """The traces WeChat Pay's notifications started (payment links its span to the checkout of the payment): story
    1's payment (TRANSACTION.SUCCESS), story 2's refund of the returned order (REFUND.SUCCESS), and the trace that
    recorded story 2's one-step payment. Added to the stories' `traces` as payment_notification, refund_notification
    and one_step_paid."""
    one.traces["payment_notification"] = await linked_trace(
        demo,
        service=demo.names.payment,
        operation=NOTIFY_OPERATION,
        links_to=one.traces["checkout"],
        since=since,
        having=publishes("payment.succeeded"),
        what="story 1's payment notification in Jaeger",
    )
    two.traces["refund_notification"] = await linked_trace(
        demo,
        service=demo.names.payment,
        operation=NOTIFY_OPERATION,
        links_to=two.traces["return_checkout"],
        since=since,
        having=publishes("payment.refunded"),
        what="story 2's refund notification in Jaeger",
    )
    two.traces["one_step_paid"] = await trace_that_published(
        demo,
        "payment.succeeded",
        checkout=two.traces["one_step_checkout"],
        service=demo.names.payment,
        operation=ALIPAY_NOTIFY_OPERATION,
        since=since,
        what="the trace that recorded story 2's one-step payment",
    )


async def check_traces(demo: Demo, expectations: list[TraceExpectation]) -> list[TraceSeen]:
    demo.say()
    demo.say("Traces in Jaeger (each request one trace, across RabbitMQ to its root)")
    seen = []
    for expected in expectations:
        trace = await await_trace(demo, expected)
        hop = ", across RabbitMQ to the root" if trace.crosses_rabbitmq else ""
        demo.step("jaeger", expected.label, f"{trace.spans} spans: {', '.join(trace.services)}{hop}", trace.trace_id)
        seen.append(trace)
    return seen


def summary_one(one: StoryOne) -> str:
    w = one.wallet["wechat_balance"]
    return (
        f"story 1 OK · shop {one.shop_id} L{one.shop_level} WeChat collection {one.collection_status} · order "
        f"{one.order_id} {one.order_status} {yuan(one.price_fen)}, fee {yuan(one.platform_fee_fen)} profit-shared · "
        f"withdrawal {one.withdrawal_id} {one.withdrawal_status} {yuan(one.withdrawal_amount_fen)} "
        f"(fee {yuan(one.withdrawal_fee_fen)}, {yuan(one.withdrawal_net_fen)} to the card) · WeChat balance "
        f"{yuan(w['posted_fen'])} · {len(one.entries)} statement entries · checkout trace {one.traces['checkout']}"
    )


def summary_two(two: StoryTwo) -> str:
    return (
        f"story 2 OK · one-step order {two.one_step_order_id} {two.one_step_order_status} (password-free) · return "
        f"{two.refund_id} {two.refund_status} {yuan(two.refund_amount_fen)} at WeChat ({two.provider_refund_id}) · "
        f"shared order {two.shared_order_id} {two.shared_order_status} via {two.share_code} · one-step checkout "
        f"trace {two.traces['one_step_checkout']}"
    )


async def reachable(http: aiohttp.ClientSession, name: str, url: str) -> None:
    try:
        async with http.get(f"{url}/readyz") as resp:
            if resp.status == 200:
                return
            problem = f"/readyz answered {resp.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    raise ConnectionError(f"the {name} at {url} is not ready ({problem}); is the suite up (`make run`)?")


async def run(endpoints: Endpoints, out: TextIO) -> int:
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            await reachable(http, "gateway", endpoints.gateway)
            await reachable(http, "sandbox", endpoints.sandbox)
        except ConnectionError as exc:
            print(f"make demo: {exc}", file=out)
            return 2
        demo = Demo(http, endpoints, out=out)
        since = datetime.now(UTC) - timedelta(minutes=1)
        try:
            demo.say(
                f"Fishbridge demo: gateway {endpoints.gateway}, sandbox {endpoints.sandbox}, Jaeger {endpoints.jaeger}"
            )
            demo.say()
            one = await story_one(demo)
            demo.say()
            two = await story_two(demo)
            await notification_traces(demo, one, two, since)
            seen = await check_traces(demo, story_one_traces(one, demo.names) + story_two_traces(two, demo.names))
            demo.say()
            demo.say("Summary")
            demo.say(f"  {summary_one(one)}")
            demo.say(f"  {summary_two(two)}")
            final: dict[str, str] = {}
            ledger = await ledger_check(demo, final, "final")
            everyone = {
                demo.names.gateway,
                demo.names.listing,
                demo.names.payment,
                demo.names.wallet,
                demo.names.sandbox,
            }
            complete = next((s for s in seen if everyone <= set(s.services)), None)
            if complete is not None:
                demo.say(
                    f"  one trace with the gateway, listing, payment, wallet and the sandbox: {complete.trace_id} "
                    f"({complete.label}) — make trace TRACE_ID={complete.trace_id}"
                )
            else:
                demo.say(
                    "  no one trace of this run has the gateway, listing, payment, wallet and the sandbox: the wallet "
                    "learns of a WeChat payment in its notification's trace, linked to the checkout (story 1: "
                    f"{one.traces['checkout']} → {one.traces['payment_notification']}), and this time Alipay's "
                    "notification of story 2's one-step payment was recorded before its answer "
                    f"({two.traces['one_step_checkout']} → {two.traces['one_step_paid']})"
                )
            demo.say()
            demo.say(f"The waterfall of story 1's WeChat checkout (make trace TRACE_ID={one.traces['checkout']}):")
            waterfall = await asyncio.to_thread(render_trace, one.traces["checkout"], endpoints.jaeger, wait_s=10.0)
            demo.say(waterfall)
        except DemoFailure as exc:
            print(f"\nmake demo: FAILED — {exc}", file=out, flush=True)
            return 1
        except TraceCliError as exc:
            print(f"\nmake demo: FAILED reading the trace — {exc}", file=out, flush=True)
            return 1
        demo.say()
        demo.say(f"make demo: OK — both stories held, the ledger check is ok ({ledger['accounts_checked']} accounts).")
        return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.demo", description=__doc__)
    p.add_argument("--gateway", default="http://127.0.0.1:8080", help="the gateway (default %(default)s)")
    p.add_argument("--sandbox", default="http://127.0.0.1:8090", help="the sandbox (default %(default)s)")
    p.add_argument("--jaeger", default="http://127.0.0.1:16686", help="Jaeger's query API (default %(default)s)")
    p.add_argument(
        "--admin-token", default=None, help="the admin token (default: $ADMIN_TOKEN, else deploy/local.env's)"
    )
    p.add_argument(
        "--platform-mchid", default="1900000001", help="the platform's WeChat Pay merchant id (default %(default)s)"
    )
    return p


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    token = args.admin_token or os.environ.get("ADMIN_TOKEN") or admin_token_from_local_env()
    stream = out or sys.stdout
    if not token:
        print("make demo: no admin token (--admin-token, $ADMIN_TOKEN or deploy/local.env's ADMIN_TOKEN)", file=stream)
        return 2
    endpoints = Endpoints(
        gateway=args.gateway.rstrip("/"),
        sandbox=args.sandbox.rstrip("/"),
        jaeger=args.jaeger.rstrip("/"),
        admin_token=token,
        platform_mchid=args.platform_mchid,
    )
    return asyncio.run(run(endpoints, stream))
