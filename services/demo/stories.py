"""The mission's two stories, through the gateway's public API alone (and the sandbox as the buyer's phone and as
WeChat Pay's review). Each returns what it did — ids, final states, balances and the trace id of every request —
so that a caller can check it (services.demo.cli prints it, tests/e2e asserts on it).

(1) A seller opens a shop and lists an item in the app; the admin sets shop levels and sends an invitation batch
(L5+); the seller activates WeChat collection (onboarding as a WeChat Pay e-commerce sub-merchant, approved by the
sandbox); a mini-program buyer signs in with a wx.login code, finds the item by search and pays with WeChat Pay; the
seller ships, the buyer confirms; the platform fee is profit-shared and the seller's WeChat balance shows the rest;
the seller withdraws to the settlement card; the statement shows every entry and the books match WeChat Pay's.

(2) An app buyer signs a password-free agreement and buys in one step; a mini-program buyer opens a return, is
refused courier pickup, ships it back with a carrier and tracking number; the seller confirms the return, the refund
completes at WeChat and the buyer reads its details in the app; an item shared from the app is bought in the
mini-program.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from services.demo.client import Demo, DemoFailure, Login, Transient, short, yuan

# A mini-program checkout right after the seller's activation: listing or payment may not have heard of it yet
# (each learns it from the wallet's event); nothing is charged and the item is back on sale, so it is tried again.
NOT_HEARD_YET = {(422, "seller_not_accepting_wechat_pay"), (409, "wechat_collection_not_active")}


@dataclass(frozen=True)
class Identity:
    """What a seller submits to WeChat Pay's onboarding (a personal sub-merchant; the sandbox checks the ID's check
    character, the card's Luhn digit and that the card is in the holder's name)."""

    legal_name: str
    id_card_number: str
    mobile: str
    card_number: str
    bank_code: str

    def application(self) -> dict[str, Any]:
        return {
            "legal_name": self.legal_name,
            "id_card_number": self.id_card_number,
            "mobile": self.mobile,
            "settlement_card": {
                "card_number": self.card_number,
                "bank_code": self.bank_code,
                "holder_name": self.legal_name,
            },
        }


SELLER_ONE = Identity("张小鱼", "110101199003071233", "13800138000", "6222020200112233446", "ICBC")
SELLER_TWO = Identity("王小明", "11010519491231002X", "13900139000", "6225880112345674", "CMB")


@dataclass
class StoryOne:
    seller_id: str = ""
    shop_id: str = ""
    shop_level: int = 0
    low_shop_id: str = ""  # a shop below L5, set by the admin too, which the batch leaves out
    invitation_batch_id: str = ""
    collection_status: str = ""
    item_id: str = ""
    search_word: str = ""
    buyer_id: str = ""
    order_id: str = ""
    payment_id: str = ""
    order_status: str = ""
    price_fen: int = 0
    platform_fee_fen: int = 0  # what the split took: the price less what reached the seller's WeChat balance
    balance_after_settlement_fen: int = 0
    platform_received_fen: int | None = None  # the platform's WeChat account at the sandbox, change over the story
    withdrawal_id: str = ""
    withdrawal_status: str = ""
    withdrawal_amount_fen: int = 0
    withdrawal_fee_fen: int = 0
    withdrawal_net_fen: int = 0
    bank_card_last4: str | None = None
    wallet: dict[str, dict[str, Any]] = field(default_factory=dict)  # by account kind, after the withdrawal
    entries: list[dict[str, Any]] = field(default_factory=list)  # the WeChat balance's statement, newest first
    ledger: dict[str, Any] = field(default_factory=dict)  # the admin's ledger check with the providers
    traces: dict[str, str] = field(default_factory=dict)  # step → trace id


@dataclass
class StoryTwo:
    seller_id: str = ""
    shop_id: str = ""
    app_buyer_id: str = ""
    agreement_id: str = ""
    agreement_status: str = ""
    one_step_item_id: str = ""
    one_step_order_id: str = ""
    one_step_payment_id: str = ""
    one_step_order_status: str = ""
    one_step_payment_status: str = ""
    one_step_price_fen: int = 0
    mp_buyer_id: str = ""
    return_item_id: str = ""
    return_order_id: str = ""
    return_payment_id: str = ""
    return_order_status: str = ""
    return_price_fen: int = 0
    refund_id: str = ""
    refund_status: str = ""
    refund_amount_fen: int = 0
    provider_refund_id: str | None = None
    refused_return_method: str = ""
    refusal_code: str | None = None
    return_shipment: dict[str, Any] = field(default_factory=dict)
    refund_timeline: list[str] = field(default_factory=list)
    app_view_user_id: str = ""  # the mini-program buyer signed in to the app: the same user
    mp_status_view: dict[str, Any] = field(default_factory=dict)
    refunded_fen: int = 0
    share_code: str = ""
    sharer_id: str = ""
    shared_item_id: str = ""
    shared_order_id: str = ""
    shared_payment_id: str = ""
    shared_order_status: str = ""
    shared_price_fen: int = 0
    share_buyer_id: str = ""
    share_stats: dict[str, Any] = field(default_factory=dict)
    wallet: dict[str, dict[str, Any]] = field(default_factory=dict)  # the seller's accounts at the end
    traces: dict[str, str] = field(default_factory=dict)


def accounts(wallet: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["kind"]: a for a in wallet["accounts"]}


def timeline(entries: list[dict[str, Any]]) -> str:
    return " → ".join(str(e["type"]) for e in entries)


def record(traces: dict[str, str], name: str, trace_id: str | None) -> None:
    if trace_id is None:
        raise DemoFailure(f"the answer to {name} carried no traceparent header")
    traces[name] = trace_id


# ------------------------------------------------------------------------------------------ shared steps


async def open_shop(demo: Demo, seller: Login, name: str, traces: dict[str, str], prefix: str) -> dict[str, Any]:
    shop, trace_id = await demo.ok("POST", "/app/v1/shop", seller, body={"name": name})
    record(traces, f"{prefix}open_shop", trace_id)
    demo.step(
        seller.who,
        f"opens a shop «{shop['name']}» in the app",
        f"{shop['id']} level {shop['level']}, WeChat collection {shop['wechat_collection']}",
        trace_id,
    )
    return dict(shop)


async def list_item(
    demo: Demo, seller: Login, title: str, price_fen: int, traces: dict[str, str], name: str, **fields: Any
) -> dict[str, Any]:
    body = {
        "title": title,
        "description": "九成新，配件齐全，自用爱惜",
        "category": "数码",
        "condition": "like_new",
        "price_fen": price_fen,
        "images": ["https://img.example/fishbridge-demo.jpg"],
        "city": "杭州",
        **fields,
    }
    draft, trace_id = await demo.ok("POST", "/app/v1/shop/items", seller, body=body)
    demo.step(seller.who, f"drafts «{title}» at {yuan(price_fen)}", f"{draft['id']} {draft['status']}", trace_id)
    item, trace_id = await demo.ok("POST", f"/app/v1/shop/items/{draft['id']}/publish", seller)
    record(traces, name, trace_id)
    demo.step(seller.who, "publishes it", f"{item['id']} {item['status']}", trace_id)
    return dict(item)


async def invite(
    demo: Demo, shop: dict[str, Any], level: int, traces: dict[str, str], prefix: str
) -> tuple[dict[str, Any], str | None]:
    """The admin sets the shop's level and sends invitation batches (L5+) until one reaches it: the wallet learns
    levels from listing's events, so a batch sent a moment too early does not invite it (and the next one does)."""
    leveled, trace_id = await demo.admin("PUT", f"/shops/{shop['id']}/level", {"level": level})
    record(traces, f"{prefix}set_level", trace_id)
    demo.step("admin", f"sets the level of {shop['id']} to {level}", f"level {leveled['level']}", trace_id)

    async def batch() -> tuple[dict[str, Any], str | None]:
        return await demo.admin("POST", "/wechat-collection/invitation-batches", {"min_level": 5, "max_count": 1000})

    sent, trace_id = await demo.wait(
        f"an invitation batch reaching {shop['id']}",
        batch,
        lambda b: shop["id"] in {x["shop_id"] for x in b[0]["invited"]},
        describe=lambda b: (
            f"batch {b[0]['id']} invited {b[0]['count']} other shop(s); the wallet has not seen level {level} yet"
        ),
        timeout_s=60,
        interval_s=1.0,
    )
    record(traces, f"{prefix}invitation_batch", trace_id)
    levels = ", ".join(f"{x['shop_id']} L{x['level']}" for x in sent["invited"][:4])
    more = f" and {sent['count'] - 4} more" if sent["count"] > 4 else ""
    demo.step("admin", "sends an invitation batch (min level 5)", f"{sent['id']}: {levels}{more}", trace_id)
    return dict(sent), trace_id


async def activate(
    demo: Demo, seller: Login, identity: Identity, traces: dict[str, str], prefix: str
) -> dict[str, Any]:
    """The invited seller applies in the workbench; WeChat Pay (the sandbox) reviews it step by step."""
    invited = await demo.wait(
        "the invitation in the seller's workbench",
        lambda: demo.get("/app/v1/shop/wechat-collection", seller),
        lambda c: c["status"] == "invited",
        describe=lambda c: str(c["status"]),
        timeout_s=30,
    )
    demo.step(seller.who, "sees the invitation in the workbench", f"invited at {invited['invited_at']}")
    submitted, trace_id = await demo.ok(
        "POST", "/app/v1/shop/wechat-collection/activate", seller, body=identity.application()
    )
    record(traces, f"{prefix}activate", trace_id)
    applicant = submitted.get("applicant") or {}
    card = applicant.get("settlement_card") or {}
    demo.step(
        seller.who,
        "activates WeChat collection (onboarding as a WeChat Pay e-commerce sub-merchant)",
        f"{submitted['status']}; applicant {applicant.get('legal_name_masked')} "
        f"{applicant.get('id_card_number_masked')}, card {card.get('bank_code')} …{card.get('last4')}",
        trace_id,
    )
    if identity.id_card_number in short(submitted, 10_000) or identity.card_number in short(submitted, 10_000):
        raise DemoFailure("the activation answer shows the ID or card number unmasked")
    active = await demo.wait(
        "WeChat Pay's review of the application",
        lambda: demo.get("/app/v1/shop/wechat-collection", seller),
        lambda c: c["status"] == "active",
        describe=lambda c: f"{c['status']} (WeChat Pay: {c.get('provider_state') or 'submitted'})",
        timeout_s=240,
    )
    if active["status"] != "active":
        raise DemoFailure(f"WeChat collection ended {active['status']}: {active.get('rejection_reason')}")
    demo.step("WeChat Pay", "approves the sub-merchant (sandbox review)", f"active at {active['activated_at']}")
    return dict(active)


async def checkout(
    demo: Demo, buyer: Login, body: dict[str, Any], *, timeout_s: float = 60
) -> tuple[dict[str, Any], str | None]:
    """POST P/orders under a fresh Idempotency-Key, tried again while the seller's WeChat activation is still on
    its way to listing or payment (`NOT_HEARD_YET`: refused, nothing charged)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s * demo.speed
    key = demo.key()
    while True:
        try:
            reply = await demo.gateway("POST", f"/{buyer.audience}/v1/orders", buyer, body=body, key=key)
        except Transient as exc:
            if loop.time() > deadline:
                raise
            demo.note(f"{exc}; again under the same Idempotency-Key")
            await asyncio.sleep(1.0)
            continue
        if reply.status == 201:
            return dict(reply.body), reply.trace_id
        if reply.status == 503 and loop.time() < deadline:  # the same key finds the same order and payment
            demo.note(f"checkout answered 503 {reply.error_code} (trace {reply.trace_id}); again under the same key")
            await asyncio.sleep(1.0)
            continue
        if (reply.status, reply.error_code) in NOT_HEARD_YET and loop.time() < deadline:
            key = demo.key()  # a refusal is replayed under its key: a new attempt is a new key
            demo.note(f"checkout refused for now ({reply.error_code}): the activation is on its way; again")
            await asyncio.sleep(1.0)
            continue
        raise DemoFailure(f"checkout answered {reply.status}: {short(reply.body)} (trace {reply.trace_id})")


async def wechat_pay(demo: Demo, buyer: Login, payment: dict[str, Any], traces: dict[str, str], name: str) -> None:
    """wx.requestPayment with the checkout's parameters: the sandbox checks the paySign, charges the buyer and sends
    WeChat Pay's notification to payment."""
    params = payment["wechat_request_payment"]
    if not params:
        raise DemoFailure(f"a WeChat checkout without wx.requestPayment parameters: {short(payment)}")
    prepay_id = str(params["package"]).removeprefix("prepay_id=")
    paid, trace_id = await demo.sandbox(
        "POST", "/sandbox/wechat/pay", {"prepay_id": prepay_id, "openid": buyer.openid, **params}
    )
    if trace_id:
        traces[name] = trace_id
    demo.step(buyer.who, "pays in WeChat (wx.requestPayment)", f"result {paid['result']}", trace_id)


async def order_in_state(demo: Demo, who: Login, order_id: str, status: str, timeout_s: float = 60) -> dict[str, Any]:
    order: dict[str, Any] = await demo.wait(
        f"order {order_id} {status}",
        lambda: demo.get(f"/{who.audience}/v1/orders/{order_id}", who),
        lambda o: o["status"] == status,
        describe=lambda o: str(o["status"]),
        timeout_s=timeout_s,
    )
    return order


async def platform_available(demo: Demo) -> int | None:
    """The platform's available balance at WeChat Pay (the sandbox's test-only account view), None if unreadable."""
    try:
        account, _ = await demo.sandbox("GET", f"/sandbox/wechat/accounts/{demo.endpoints.platform_mchid}")
    except DemoFailure:
        return None
    return int(account.get("available_fen", 0))


async def ledger_check(demo: Demo, traces: dict[str, str], name: str, timeout_s: float = 90) -> dict[str, Any]:
    """The admin's ledger check, with every WeChat seller's books compared with WeChat Pay's balances; asked again
    while a transfer is still in flight (a provider step under way explains a difference for a moment)."""

    async def check() -> tuple[dict[str, Any], str | None]:
        return await demo.admin("GET", "/ledger/check", providers="true")

    def describe(answer: tuple[dict[str, Any], str | None]) -> str:
        c = answer[0]
        providers = c.get("providers") or {}
        return (
            f"ok {c['ok']}: {len(c['mismatches'])} mismatches, {c['in_flight_transfers']} transfers in flight, "
            f"sum {c['sum_fen']}, {len(providers.get('differences') or [])} differences with WeChat Pay"
        )

    result, trace_id = await demo.wait("the ledger check", check, lambda a: bool(a[0]["ok"]), describe=describe,
                                       timeout_s=timeout_s, interval_s=2.0)  # fmt: skip
    record(traces, name, trace_id)
    providers = result.get("providers") or {}
    demo.step(
        "admin",
        "runs the ledger check against WeChat Pay",
        f"ok: {result['accounts_checked']} accounts, sum {result['sum_fen']} fen, "
        f"{result['in_flight_transfers']} in flight; books = WeChat Pay for {providers.get('compared')} seller(s), "
        f"{len(providers.get('differences') or [])} differences",
        trace_id,
    )
    return dict(result)


# ------------------------------------------------------------------------------------------------ story 1


async def story_one(demo: Demo, *, price_fen: int = 45_600, withdraw_fen: int = 30_000) -> StoryOne:
    r = StoryOne(price_fen=price_fen)
    t = r.traces
    tag = uuid.uuid4().hex[:6]
    demo.say("Story 1 — a shop in the app, WeChat collection, a mini-program buyer pays with WeChat Pay; settlement")
    demo.say("          with the platform's fee, a withdrawal to the card, the statement and the ledger check")

    seller = await demo.app_login("seller")
    r.seller_id = seller.user_id
    shop = await open_shop(demo, seller, f"小鱼的铺子{tag}", t, "")
    r.shop_id = shop["id"]
    r.search_word = f"拍立得{tag}"
    item = await list_item(demo, seller, f"{r.search_word} 相机 九成新", price_fen, t, "publish")
    r.item_id = item["id"]
    card, trace_id = await demo.ok("GET", f"/mp/v1/items/{item['id']}")
    demo.step(
        "mp visitor",
        "opens the item in the mini-program",
        f"purchasable {card['purchasable']} ({card['unpurchasable_reason']})",
        trace_id,
    )

    # The admin: shop levels, then an invitation batch from level 5.
    other = await demo.app_login("other seller")
    low = await open_shop(demo, other, f"旧物角{tag}", t, "low_")
    r.low_shop_id = low["id"]
    leveled, trace_id = await demo.admin("PUT", f"/shops/{low['id']}/level", {"level": 3})
    demo.step("admin", f"sets the level of {low['id']} to 3", f"level {leveled['level']}", trace_id)
    batch, _ = await invite(demo, shop, 6, t, "")
    r.shop_level, r.invitation_batch_id = 6, batch["id"]
    if low["id"] in {x["shop_id"] for x in batch["invited"]}:
        raise DemoFailure(f"the L5+ batch invited the level-3 shop {low['id']}")

    active = await activate(demo, seller, SELLER_ONE, t, "")
    r.collection_status = active["status"]

    # A mini-program buyer signs in, finds the item by search and pays with WeChat Pay.
    buyer = await demo.mp_login("mp buyer")
    r.buyer_id = buyer.user_id

    async def search() -> tuple[dict[str, Any], str | None]:
        return await demo.ok("GET", "/mp/v1/catalog", params={"q": r.search_word})

    found, trace_id = await demo.wait(
        "the item purchasable in the mini-program's search",
        search,
        lambda a: any(c["id"] == item["id"] and c["purchasable"] for c in a[0]["items"]),
        describe=lambda a: f"{len(a[0]['items'])} result(s), not purchasable yet",
        timeout_s=30,
    )
    record(t, "search", trace_id)
    hit = next(c for c in found["items"] if c["id"] == item["id"])
    demo.step(
        buyer.who,
        f"searches «{r.search_word}» in the mini-program",
        f"{len(found['items'])} result(s): {hit['id']} {yuan(hit['price_fen'])}, pays with {hit['payment_methods']}, "
        f"shop {hit['seller']['shop_name']} L{hit['seller']['level']}",
        trace_id,
    )
    platform_before = await platform_available(demo)
    bought, trace_id = await checkout(demo, buyer, {"item_id": item["id"]})
    record(t, "checkout", trace_id)
    order, payment = bought["order"], bought["payment"]
    r.order_id, r.payment_id = order["id"], payment["id"]
    demo.step(
        buyer.who,
        "checks out with WeChat Pay",
        f"order {order['id']} {order['status']}, payment {payment['id']} {payment['status']} "
        f"{yuan(payment['amount_fen'])}, wx.requestPayment {payment['wechat_request_payment']['package']}",
        trace_id,
    )
    await wechat_pay(demo, buyer, payment, t, "pay")
    paid = await order_in_state(demo, buyer, order["id"], "paid")
    demo.step(buyer.who, "sees the order paid", f"{paid['status']}: {timeline(paid['timeline'])}")

    seller_orders, trace_id = await demo.ok("GET", "/app/v1/orders", seller, params={"role": "seller"})
    if order["id"] not in {o["id"] for o in seller_orders["items"]}:
        raise DemoFailure(f"the seller's orders do not show {order['id']}")
    demo.step(seller.who, "sees the paid order among the shop's orders", f"{order['id']} paid", trace_id)
    shipped, trace_id = await demo.ok(
        "POST", f"/app/v1/orders/{order['id']}/ship", seller, body={"carrier": "SF", "tracking_no": "SF1234567890123"}
    )
    record(t, "ship", trace_id)
    demo.step(seller.who, "ships it (SF Express SF1234567890123)", str(shipped["status"]), trace_id)
    done, trace_id = await demo.ok("POST", f"/mp/v1/orders/{order['id']}/confirm-receipt", buyer)
    record(t, "confirm_receipt", trace_id)
    r.order_status = done["status"]
    demo.step(buyer.who, "confirms receipt", f"{done['status']}: {timeline(done['timeline'])}", trace_id)
    if done["status"] != "completed":
        raise DemoFailure(f"the order is {done['status']} after the buyer confirmed receipt")

    # The settlement: WeChat profit-shares the platform's fee and unfreezes the rest to the seller's balance.
    settled = await demo.wait(
        "the settlement (the fee profit-shared, the rest unfrozen to the seller)",
        lambda: demo.get("/app/v1/wallet", seller),
        lambda w: accounts(w)["wechat_balance"]["pending_fen"] == 0 and accounts(w)["wechat_balance"]["posted_fen"] > 0,
        describe=lambda w: "WeChat balance {posted_fen} fen posted, {pending_fen} pending".format(
            **accounts(w)["wechat_balance"]
        ),
        timeout_s=240,
    )
    balance = accounts(settled)["wechat_balance"]
    r.balance_after_settlement_fen = int(balance["available_fen"])
    r.platform_fee_fen = price_fen - int(balance["posted_fen"])
    if not 0 <= r.platform_fee_fen < price_fen:
        raise DemoFailure(f"the seller's WeChat balance {balance} does not fit a {price_fen} fen order")
    demo.step(
        seller.who,
        "reads the wallet in the app",
        f"WeChat balance {yuan(balance['posted_fen'])} = {yuan(price_fen)} − platform fee "
        f"{yuan(r.platform_fee_fen)} ({r.platform_fee_fen * 10_000 // price_fen / 100:g}%), "
        f"{yuan(balance['available_fen'])} available",
    )
    platform_after = await platform_available(demo)
    if platform_before is not None and platform_after is not None:
        r.platform_received_fen = platform_after - platform_before
        demo.step(
            "platform",
            "its WeChat Pay account (sandbox)",
            f"available {yuan(platform_before)} → {yuan(platform_after)}: +{yuan(r.platform_received_fen)} "
            f"profit-shared",
        )

    # The seller withdraws to the settlement card set at onboarding.
    cards, trace_id = await demo.ok("GET", "/app/v1/wallet/bank-cards", seller)
    current = next((c for c in cards["items"] if c["status"] == "active"), None)
    if current is None:
        raise DemoFailure(f"no active settlement card: {short(cards)}")
    r.bank_card_last4 = current["last4"]
    demo.step(
        seller.who,
        "looks at the settlement card",
        f"{current['id']} {current['bank_code']} …{current['last4']} {current['holder_name_masked']} "
        f"{current['status']}",
        trace_id,
    )
    amount = min(withdraw_fen, r.balance_after_settlement_fen)
    asked, trace_id = await demo.ok(
        "POST",
        "/app/v1/wallet/withdrawals",
        seller,
        body={"amount_fen": amount, "bank_card_id": current["id"]},
        key=demo.key(),
    )
    record(t, "withdraw", trace_id)
    r.withdrawal_id = asked["id"]
    demo.step(
        seller.who,
        f"withdraws {yuan(amount)} to the card",
        f"{asked['id']} {asked['status']}: fee {yuan(asked['fee_fen'])}, {yuan(asked['net_fen'])} to arrive",
        trace_id,
    )
    withdrawal = await demo.wait(
        "WeChat Pay's payout to the card",
        lambda: demo.get(f"/app/v1/wallet/withdrawals/{asked['id']}", seller),
        lambda w: w["status"] != "processing",
        describe=lambda w: str(w["status"]),
        timeout_s=240,
    )
    r.withdrawal_status = withdrawal["status"]
    r.withdrawal_amount_fen, r.withdrawal_fee_fen = withdrawal["amount_fen"], withdrawal["fee_fen"]
    r.withdrawal_net_fen = withdrawal["net_fen"]
    if withdrawal["status"] != "succeeded":
        raise DemoFailure(f"the withdrawal ended {withdrawal['status']}: {withdrawal.get('failure_reason')}")
    demo.step(
        "bank",
        f"pays {yuan(withdrawal['net_fen'])} onto the card …{current['last4']}",
        f"withdrawal {withdrawal['status']}",
    )

    # The statement and the books.
    after, trace_id = await demo.ok("GET", "/app/v1/wallet", seller)
    r.wallet = accounts(after)
    wechat = r.wallet["wechat_balance"]
    demo.step(
        seller.who,
        "reads the wallet again",
        f"WeChat balance {yuan(wechat['posted_fen'])} ({yuan(wechat['available_fen'])} available, "
        f"{yuan(wechat['pending_fen'])} pending)",
        trace_id,
    )
    if wechat["posted_fen"] != r.balance_after_settlement_fen - amount:
        raise DemoFailure(f"the WeChat balance after withdrawing {amount} fen is {wechat['posted_fen']}")
    page, trace_id = await demo.ok(
        "GET", "/app/v1/wallet/entries", seller, params={"account": "wechat_balance", "limit": "100"}
    )
    r.entries = list(page["items"])
    demo.step(seller.who, "reads the statement of the WeChat balance", f"{len(r.entries)} entries", trace_id)
    for e in reversed(r.entries):
        about = e.get("order_id") or e.get("withdrawal_id") or ""
        demo.note(
            f"{e['at']}  {e['kind']:<20} {yuan(e['amount_fen']):>10}  balance {yuan(e['balance_after_fen'])}  {about}"
        )
    if sum(e["amount_fen"] for e in r.entries) != wechat["posted_fen"] or (
        r.entries and r.entries[0]["balance_after_fen"] != wechat["posted_fen"]
    ):
        raise DemoFailure(f"the statement does not add up to the balance {wechat['posted_fen']}: {short(r.entries)}")
    r.ledger = await ledger_check(demo, t, "ledger_check")
    return r


# ------------------------------------------------------------------------------------------------ story 2


async def story_two(
    demo: Demo, *, one_step_fen: int = 39_900, return_fen: int = 19_900, shared_fen: int = 5_000
) -> StoryTwo:
    r = StoryTwo(one_step_price_fen=one_step_fen, return_price_fen=return_fen, shared_price_fen=shared_fen)
    t = r.traces
    tag = uuid.uuid4().hex[:6]
    demo.say("Story 2 — a one-step password-free purchase in the app; a mini-program return shipped back, refunded")
    demo.say("          at WeChat and read in the app; an item shared from the app and bought in the mini-program")

    seller = await demo.app_login("seller")
    r.seller_id = seller.user_id
    shop = await open_shop(demo, seller, f"老李的二手店{tag}", t, "")
    r.shop_id = shop["id"]
    headphones = await list_item(demo, seller, f"降噪耳机 {tag}", one_step_fen, t, "publish_one_step")
    speaker = await list_item(demo, seller, f"蓝牙音箱 {tag}", return_fen, t, "publish_return")
    lamp = await list_item(demo, seller, f"北欧台灯 {tag}", shared_fen, t, "publish_shared", category="家居")
    r.one_step_item_id, r.return_item_id, r.shared_item_id = headphones["id"], speaker["id"], lamp["id"]
    await invite(demo, shop, 7, t, "")
    await activate(demo, seller, SELLER_TWO, t, "")

    # An app buyer signs a password-free agreement and buys in one step.
    app_buyer = await demo.app_login("app buyer")
    r.app_buyer_id = app_buyer.user_id
    created, trace_id = await demo.ok("POST", "/app/v1/payment-agreements", app_buyer)
    record(t, "agreement", trace_id)
    demo.step(app_buyer.who, "asks for a password-free agreement", f"{created['id']} {created['status']}", trace_id)
    signed, trace_id = await demo.sandbox(
        "POST",
        "/sandbox/alipay/agreements/sign",
        {"sign_url": created["sign_url"], "user_id": app_buyer.alipay_user_id},
    )
    demo.step(app_buyer.who, "signs it in Alipay", f"agreement_no {signed['agreement_no']}", trace_id)
    agreements = await demo.wait(
        "the agreement active",
        lambda: demo.get("/app/v1/payment-agreements", app_buyer),
        lambda p: any(a["id"] == created["id"] and a["status"] == "active" for a in p["items"]),
        describe=lambda p: ", ".join(f"{a['id']} {a['status']}" for a in p["items"]),
        timeout_s=30,
    )
    agreement = next(a for a in agreements["items"] if a["id"] == created["id"])
    r.agreement_id, r.agreement_status = agreement["id"], agreement["status"]
    demo.step(
        app_buyer.who,
        "sees the agreement active",
        f"single limit {yuan(agreement['single_limit_fen'])}, daily {yuan(agreement['daily_limit_fen'])}",
    )
    body = {"item_id": headphones["id"], "payment_method": "alipay_password_free", "agreement_id": agreement["id"]}
    bought, trace_id = await checkout(demo, app_buyer, body)
    record(t, "one_step_checkout", trace_id)
    r.one_step_order_id, r.one_step_payment_id = bought["order"]["id"], bought["payment"]["id"]
    r.one_step_payment_status = bought["payment"]["status"]
    demo.step(
        app_buyer.who,
        f"buys «{headphones['title']}» in one step (password-free)",
        f"order {bought['order']['id']}, payment {bought['payment']['id']} {bought['payment']['status']}, "
        f"nothing to confirm (order string {bought['payment']['alipay_order_string']})",
        trace_id,
    )
    if bought["payment"]["status"] != "succeeded":
        raise DemoFailure(f"the password-free payment is {bought['payment']['status']}")
    one_step = await order_in_state(demo, app_buyer, r.one_step_order_id, "paid")
    r.one_step_order_status = one_step["status"]
    demo.step(app_buyer.who, "sees the order paid", f"{one_step['payment_method']}: {timeline(one_step['timeline'])}")

    # A mini-program buyer buys the speaker, and returns it.
    mp_buyer = await demo.mp_login("mp buyer")
    r.mp_buyer_id = mp_buyer.user_id
    card = await demo.wait(
        "the speaker purchasable in the mini-program",
        lambda: demo.get(f"/mp/v1/items/{speaker['id']}"),
        lambda c: bool(c["purchasable"]),
        describe=lambda c: f"purchasable {c['purchasable']} ({c['unpurchasable_reason']})",
        timeout_s=30,
    )
    demo.step(mp_buyer.who, f"opens «{card['title']}»", f"purchasable, pays with {card['payment_methods']}")
    bought, trace_id = await checkout(demo, mp_buyer, {"item_id": speaker["id"]})
    record(t, "return_checkout", trace_id)
    r.return_order_id, r.return_payment_id = bought["order"]["id"], bought["payment"]["id"]
    demo.step(mp_buyer.who, "checks out with WeChat Pay", f"order {r.return_order_id}", trace_id)
    await wechat_pay(demo, mp_buyer, bought["payment"], t, "return_pay")
    await order_in_state(demo, mp_buyer, r.return_order_id, "paid")
    shipped, trace_id = await demo.ok(
        "POST",
        f"/app/v1/orders/{r.return_order_id}/ship",
        seller,
        body={"carrier": "YTO", "tracking_no": "YT1234567890123"},
    )
    record(t, "return_ship", trace_id)
    demo.step(seller.who, "ships it (YTO YT1234567890123)", str(shipped["status"]), trace_id)

    case_body = {"type": "return_and_refund", "amount_fen": return_fen, "reason": "与描述不符：有杂音", "evidence": []}
    opened, trace_id = await demo.ok(
        "POST", f"/mp/v1/orders/{r.return_order_id}/refunds", mp_buyer, body=case_body, key=demo.key()
    )
    record(t, "open_return", trace_id)
    r.refund_id = opened["id"]
    demo.step(
        mp_buyer.who,
        f"opens a return ({yuan(return_fen)}, «{case_body['reason']}»)",
        f"case {opened['id']} {opened['status']}, details in the app: {opened['details_in_app']}",
        trace_id,
    )
    agreed, trace_id = await demo.ok("POST", f"/app/v1/refunds/{r.refund_id}/agree", seller)
    record(t, "agree_return", trace_id)
    demo.step(seller.who, "agrees to the return", str(agreed["status"]), trace_id)
    refused = await demo.gateway(
        "POST", f"/mp/v1/refunds/{r.refund_id}/return-shipment", mp_buyer, body={"method": "courier_pickup"}
    )
    r.refused_return_method, r.refusal_code = "courier_pickup", refused.error_code
    if refused.trace_id:
        t["courier_pickup_refused"] = refused.trace_id
    demo.step(
        mp_buyer.who,
        "asks for a courier pickup",
        f"refused: {refused.status} {refused.error_code} (the mini-program ships returns itself)",
        refused.trace_id,
    )
    if (refused.status, refused.error_code) != (422, "return_method_not_available_in_channel"):
        raise DemoFailure(f"a courier pickup in the mini-program answered {refused.status}: {short(refused.body)}")
    ret = {"method": "self_ship", "carrier": "ZTO", "tracking_no": "78123456789012"}
    sent, trace_id = await demo.ok("POST", f"/mp/v1/refunds/{r.refund_id}/return-shipment", mp_buyer, body=ret)
    record(t, "self_ship", trace_id)
    demo.step(mp_buyer.who, "ships it back himself (ZTO 78123456789012)", str(sent["status"]), trace_id)
    confirmed, trace_id = await demo.ok("POST", f"/app/v1/refunds/{r.refund_id}/confirm-return", seller)
    record(t, "confirm_return", trace_id)
    demo.step(seller.who, "confirms the return arrived", f"{confirmed['status']} at WeChat Pay", trace_id)

    # The buyer reads the refund in the app, signed in there as the same person.
    in_app = await demo.app_login("mp buyer", mp_token=mp_buyer.token)
    r.app_view_user_id = in_app.user_id
    if in_app.user_id != mp_buyer.user_id:
        raise DemoFailure(f"the mini-program buyer is {in_app.user_id} in the app, not {mp_buyer.user_id}")
    full = await demo.wait(
        "the refund completed at WeChat Pay",
        lambda: demo.get(f"/app/v1/refunds/{r.refund_id}", in_app),
        lambda c: c["status"] == "refunded",
        describe=lambda c: str(c["status"]),
        timeout_s=240,
    )
    full, trace_id = await demo.ok("GET", f"/app/v1/refunds/{r.refund_id}", in_app)
    record(t, "refund_details", trace_id)
    r.refund_status, r.refund_amount_fen = full["status"], full["amount_fen"]
    r.provider_refund_id, r.return_shipment = full["provider_refund_id"], dict(full["return_shipment"] or {})
    r.refund_timeline = [str(e["type"]) for e in full["timeline"]]
    demo.step(
        in_app.who,
        "reads the refund details in the app",
        f"{full['status']} {yuan(full['amount_fen'])}, WeChat refund {full['provider_refund_id']}, returned by "
        f"{r.return_shipment.get('carrier')} {r.return_shipment.get('tracking_no')}; {' → '.join(r.refund_timeline)}",
        trace_id,
    )
    r.mp_status_view, trace_id = await demo.ok("GET", f"/mp/v1/refunds/{r.refund_id}", mp_buyer)
    demo.step(mp_buyer.who, "sees the case in the mini-program", short(r.mp_status_view), trace_id)
    refunded = await order_in_state(demo, mp_buyer, r.return_order_id, "refunded")
    r.return_order_status, r.refunded_fen = refunded["status"], refunded.get("refunded_fen", 0)
    demo.step(mp_buyer.who, "sees the order refunded", f"{yuan(r.refunded_fen)} back: {timeline(refunded['timeline'])}")

    # An item shared from the app, bought in the mini-program.
    made, trace_id = await demo.ok("POST", f"/app/v1/items/{lamp['id']}/shares", app_buyer)
    record(t, "share", trace_id)
    r.share_code, r.sharer_id = made["code"], app_buyer.user_id
    demo.step(
        app_buyer.who,
        f"shares «{lamp['title']}» from the app",
        f"code {made['code']}, mini-program page {made['mp_path']}, {made['app_url']}",
        trace_id,
    )
    friend = await demo.mp_login("mp friend")
    r.share_buyer_id = friend.user_id
    opened_share, trace_id = await demo.ok("GET", f"/mp/v1/shares/{made['code']}", friend)
    record(t, "open_share", trace_id)
    shared_card = opened_share["item"]
    demo.step(
        friend.who,
        "opens the share in the mini-program",
        f"{shared_card['id']} {yuan(shared_card['price_fen'])} purchasable {shared_card['purchasable']} "
        f"with {shared_card['payment_methods']}",
        trace_id,
    )
    bought, trace_id = await checkout(demo, friend, {"item_id": lamp["id"], "share_code": made["code"]})
    record(t, "share_checkout", trace_id)
    r.shared_order_id, r.shared_payment_id = bought["order"]["id"], bought["payment"]["id"]
    demo.step(
        friend.who,
        "buys it with WeChat Pay from the share",
        f"order {r.shared_order_id}, share {bought['order']['share_code']} by {bought['order']['sharer_id']}",
        trace_id,
    )
    if bought["order"]["sharer_id"] != app_buyer.user_id:
        raise DemoFailure(f"the order records sharer {bought['order']['sharer_id']}, not {app_buyer.user_id}")
    await wechat_pay(demo, friend, bought["payment"], t, "share_pay")
    shared = await order_in_state(demo, friend, r.shared_order_id, "paid")
    r.shared_order_status = shared["status"]
    demo.step(friend.who, "sees the order paid", f"sharer {shared['sharer_id']}: {timeline(shared['timeline'])}")
    stats = await demo.wait(
        "the share's paid order counted",
        lambda: demo.get(f"/app/v1/shop/items/{lamp['id']}/shares/stats", seller),
        lambda s: s.get("paid_orders", s["orders"]) >= 1,
        describe=lambda s: f"{s['views']} views, {s['orders']} orders",
        timeout_s=30,
    )
    r.share_stats = dict(stats)
    demo.step(seller.who, "reads the share's stats", f"{stats['views']} view(s), {stats['orders']} order(s)")

    # The seller's money waits at the providers until the buyers confirm: the shared order's on WeChat Pay (the
    # returned one refunded out of it), the one-step order's frozen at Alipay.
    def held(wallet: dict[str, Any]) -> tuple[int, int, int]:
        w, a = accounts(wallet)["wechat_balance"], accounts(wallet)["alipay_settlement"]
        return int(w["pending_fen"]), int(w["posted_fen"]), int(a["pending_fen"])

    async def wallet_now() -> tuple[dict[str, Any], str | None]:
        return await demo.ok("GET", "/app/v1/wallet", seller)

    wallet, trace_id = await demo.wait(
        "the seller's wallet to hold both paid orders",
        wallet_now,
        lambda a: held(a[0]) == (shared_fen, 0, one_step_fen),
        describe=lambda a: "WeChat {} held, {} posted; Alipay {} held".format(*held(a[0])),
        timeout_s=60,
    )
    r.wallet = accounts(wallet)
    w, a = r.wallet["wechat_balance"], r.wallet["alipay_settlement"]
    demo.step(
        seller.who,
        "reads the wallet",
        f"WeChat {yuan(w['posted_fen'])} posted, {yuan(w['pending_fen'])} held (the shared order); "
        f"Alipay {yuan(a['pending_fen'])} held (the one-step order)",
        trace_id,
    )
    return r
