"""The wallet's books as their accounts grow: a hold per `payment.succeeded` and a withdrawal, at 500 and 50,000
entries on every account those calls touch (the seller's `wechat_frozen` and `wechat_available`, the global
`acc_ext.wechatpay`), in-process against the real FerretDB, as ratios to the same run's `insert_one` (B).

Account streams are long-lived (shared/streams.py `load_head`: the snapshot saved after every append, then a point
read past it), so what a call costs should not depend on how long its accounts are: the goal is flat within 1.5×.
Reaching 50,000 entries through the use cases would take minutes, so each size is seeded in bulk with what the
kernel would have written: finished transfers' entries built by the account aggregate's own `decide` and `evolve`
(balances after each entry), the snapshot at the head and the projection. Each size has a database of its own
(`bench_wallet_<run>_<size>`, dropped at the end); both are seeded first, then measured in alternating rounds, so a
busy machine's drift falls on both sizes alike. The WeChat Pay client is a fake answering at once: the figures
are the books' (the streams, the projections, FerretDB), not the provider's. After the measures the ledger check
(`check_books`) must find the books whole.

Standalone: `FISHBRIDGE_DATA=/work/main/.data .venv/bin/python -m bench.wallet` (FerretDB must be running).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pymongo import monitoring

from bench.sizes import settle_postgres
from bench.timing import median_ms
from services.wallet import flows
from services.wallet.books import Books, BooksStore
from services.wallet.check import check_books
from services.wallet.collection import Collection
from services.wallet.ledger import ACCOUNT, Account, ApplyPhase, Phase, Side, step_id
from services.wallet.settings import WalletSettings
from services.wallet.store import WalletStore
from services.wallet.usecases import Wallet
from shared.aggregate import Cause, Entry, RecordedEvent
from shared.events.payment import PaymentSucceeded
from shared.ids import new_id
from shared.mongo import Database, make_client
from shared.streams import ENTRIES, StreamStore, check_contract
from tests.support.infra import MONGO_URL
from tests.support.providers import provider_env

LEDGER_SIZES = (500, 50_000)
CALLS = 40  # sequential calls per measure and size (the median of them)
ROUNDS = 4  # the sizes measured in turn, this many times (alternating which goes first)
WARMUP = 5  # calls of each operation before measuring at a size, not counted
BATCH = 1_000
GOAL = 1.5  # 50,000 / 500 at most this
SELLER = "usr_bench_wallet"
SUB_MCHID = "1900009999"
# One seeded cycle, as the kernel writes it: a payment held (ext → frozen), released to the seller whole
# (frozen → available), and part of it withdrawn (available → ext); each transfer pending then posted on both sides,
# so four entries on each of the three accounts per cycle. Each cycle leaves frozen where it was, the seller's
# available balance HELD_FEN - WITHDRAWN_FEN higher and acc_ext.wechatpay as much lower (the books sum to zero).
HELD_FEN = 200
WITHDRAWN_FEN = 100
ENTRIES_PER_CYCLE = 4
HOLD_FEN = 100  # each measured hold
WITHDRAW_FEN = 200  # each measured withdrawal (fee 10 fen at the default settings)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def accounts_of(seller_id: str) -> tuple[str, str, str]:
    """The accounts a WeChat hold and a withdrawal touch: (acc_ext.wechatpay, frozen, available)."""
    return (
        flows.external("wechatpay"),
        flows.frozen(seller_id, "wechatpay"),
        flows.released(seller_id, "wechatpay"),
    )


async def seed_ledger(db: Database, seller_id: str, entries: int) -> dict[str, Account]:
    """Write `entries` entries on each of the seller's WeChat accounts and `acc_ext.wechatpay` (all empty before), as
    the books would have appended them, with each account's snapshot at its head and its projection: the accounts'
    states at the head, by id. Each step is decided and evolved by the account aggregate itself (ledger.ACCOUNT), so
    the entries carry the balances after them exactly as an append would; the transfers' own streams are not
    written (short streams, finished: nothing the measured calls read)."""
    if entries <= 0 or entries % ENTRIES_PER_CYCLE:
        raise ValueError(f"entries per account: a positive multiple of {ENTRIES_PER_CYCLE}")
    ext, frozen, available = accounts_of(seller_id)
    states = {a: Account(account_id=a) for a in (ext, frozen, available)}
    seqs = dict.fromkeys(states, 0)
    for account_id in states:
        if await db[ENTRIES].find_one({"_id": f"{account_id}#1"}) is not None:
            raise ValueError(f"{account_id} has entries already: the seed starts empty accounts")
    batch: list[dict[str, Any]] = []
    clock = iter(range(10**9))

    async def flush() -> None:
        if batch:
            await db[ENTRIES].insert_many(list(batch))
            batch.clear()

    async def step(transfer_id: str, account_id: str, side: Side, phase: Phase, amount: int, **why: Any) -> None:
        command = ApplyPhase(
            account_id=account_id, transfer_id=transfer_id, side=side, phase=phase, amount_fen=amount, **why
        )
        new_events = ACCOUNT.decide(states[account_id], command)
        at = T0 + timedelta(milliseconds=next(clock))
        recorded = []
        for e in new_events:
            check_contract(e, strict=True)  # the bench's StreamStore is strict: so is its seed
            recorded.append(
                RecordedEvent(event_id=new_id("evt"), type=e.type, version=e.version, payload=e.payload, occurred_at=at)
            )
        for event in recorded:
            states[account_id] = ACCOUNT.evolve(states[account_id], event)
        seqs[account_id] += 1
        entry = Entry(
            stream_id=account_id,
            seq=seqs[account_id],
            command_id=step_id(transfer_id, side, phase),
            events=recorded,
            recorded_at=at,
            causation_id=transfer_id,  # Books._apply: Cause(step_id, causation_id=transfer_id)
            published=True,  # no relay runs here: no outbox markers either
        )
        batch.append({**entry.model_dump(), "_id": f"{account_id}#{entry.seq}"})
        if len(batch) >= BATCH:
            await flush()

    async def transfer(transfer_id: str, debit: str, credit: str, amount: int, **why: Any) -> None:
        # Books.make then post: reserve on the debit account, then the credit account; post both in that order.
        phases: tuple[Phase, ...] = ("pending", "posted")
        for phase in phases:
            await step(transfer_id, debit, "debit", phase, amount, **why)
            await step(transfer_id, credit, "credit", phase, amount, **why)

    for i in range(entries // ENTRIES_PER_CYCLE):
        payment, order, withdrawal = f"pay_seed{i:07d}", f"ord_seed{i:07d}", f"wdr_seed{i:07d}"
        hold = flows.hold(payment, order, seller_id, "wechatpay", HELD_FEN)
        release = flows.settlement(f"stl_seed{i:07d}", order, seller_id, "wechatpay", 0, HELD_FEN)[0]
        out = flows.withdrawal(withdrawal, seller_id, WITHDRAWN_FEN)
        for t in (hold, release, out):
            why = {"reason": t.reason, "order_id": t.order_id, "withdrawal_id": t.withdrawal_id}
            await transfer(t.transfer_id, t.debit_account, t.credit_account, t.amount_fen, **why)
    await flush()
    streams, books = StreamStore(db, contracts="strict"), BooksStore(db)
    for account_id, state in states.items():
        await streams.save_snapshot(
            account_id, seqs[account_id], ACCOUNT.snapshot_schema, state.model_dump(mode="json")
        )
        await books.project_account(state, seqs[account_id])
    return states


# ------------------------------------------------------------------------------------------ the fakes


class FakeWechatPay:
    """The two calls a withdrawal makes, answered at once: the bench measures the books, not the provider."""

    async def balance(self, sub_mchid: str) -> dict[str, Any]:
        return {"sub_mchid": sub_mchid, "available_amount": 10**12, "pending_amount": 0}

    async def withdraw(self, **kwargs: Any) -> dict[str, Any]:
        return {"withdraw_id": f"wx{uuid.uuid4().hex[:20]}", "out_request_no": kwargs["out_request_no"]}


class FakeCollection:
    """The seller's WeChat collection is active (collection.py is a stub still)."""

    def __init__(self) -> None:
        self.kinds: list[Any] = []

    async def sub_mchid_of(self, seller_id: str) -> str | None:
        return SUB_MCHID

    async def alipay_account_of(self, seller_id: str) -> str | None:
        return None


def bench_settings() -> WalletSettings:
    env: dict[str, Any] = {k.lower(): v for k, v in provider_env("http://127.0.0.1:9").items()}
    return WalletSettings(
        **env,
        mongo_url=MONGO_URL,
        amqp_url="amqp://guest:guest@127.0.0.1:5672/",
        internal_token="bench-internal-token-0123456789",
        wallet_public_base_url="http://127.0.0.1:9",
        otel_enabled=False,
        withdrawal_daily_limit_fen=10**12,  # the bench's withdrawals never meet the daily limit
        provider_attempts=1,
    )


# ------------------------------------------------------------------------------------ counting queries


class CommandCounter(monitoring.CommandListener):
    """The database commands the client sends while `on`, by (command, collection), with their server time."""

    def __init__(self) -> None:
        self.on = False
        self.count: Counter[str] = Counter()
        self.micros: Counter[str] = Counter()
        self._names: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.on:
            return
        target = event.command.get(event.command_name)
        name = f"{event.command_name} {target}" if isinstance(target, str) else event.command_name
        self.count[name] += 1
        self._names[event.request_id] = name

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        name = self._names.pop(event.request_id, None)
        if name is not None:
            self.micros[name] += event.duration_micros

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        name = self._names.pop(event.request_id, None)
        if name is not None:
            self.micros[name] += event.duration_micros
            self.count[f"{name} (failed)"] += 1

    def reset(self) -> None:
        self.count.clear()
        self.micros.clear()


# ------------------------------------------------------------------------------------------- measuring


@dataclass
class Measured:
    """Median ms of one operation at one ledger size, and the database commands it sent per call."""

    ms: float
    per_call: dict[str, float]
    server_ms_per_call: dict[str, float]

    @property
    def commands(self) -> float:
        return sum(self.per_call.values())


@dataclass
class WalletBench:
    insert_ms: float
    ms: dict[str, dict[int, Measured]] = field(default_factory=dict)
    seeded_s: dict[int, float] = field(default_factory=dict)
    settled_s: dict[int, float] = field(default_factory=dict)
    checked_s: dict[int, float] = field(default_factory=dict)
    checked_server_s: dict[int, float] = field(default_factory=dict)
    books_ok: dict[int, bool] = field(default_factory=dict)
    books: dict[int, dict[str, Any]] = field(default_factory=dict)
    heads: dict[int, dict[str, int]] = field(default_factory=dict)


class Sampler:
    """Per (operation, size): the duration of each measured call, and the commands the calls sent."""

    def __init__(self, counter: CommandCounter) -> None:
        self.counter = counter
        self.samples: dict[tuple[str, int], list[float]] = {}
        self.count: dict[tuple[str, int], Counter[str]] = {}
        self.micros: dict[tuple[str, int], Counter[str]] = {}

    async def run(self, op: str, size: int, call: Callable[[], Awaitable[Any]], n: int) -> None:
        key = (op, size)
        self.counter.reset()
        self.counter.on = True
        try:
            for _ in range(n):
                started = time.perf_counter()
                await call()
                self.samples.setdefault(key, []).append((time.perf_counter() - started) * 1000)
        finally:
            self.counter.on = False
        self.count.setdefault(key, Counter()).update(self.counter.count)
        self.micros.setdefault(key, Counter()).update(self.counter.micros)

    def measured(self, op: str, size: int) -> Measured:
        key = (op, size)
        n = len(self.samples[key])
        per_call = {k: v / n for k, v in self.count[key].most_common()}
        server = {k: self.micros[key][k] / n / 1000 for k in per_call}
        return Measured(statistics.median(self.samples[key]), per_call, server)


async def measure_insert(db: Database, n: int = 300) -> float:
    """B as bench/run.py measures it: the median of sequential `insert_one`s into a scratch collection."""
    scratch = db["scratch"]
    counter = iter(range(10**9))
    return await median_ms(lambda: scratch.insert_one({"_id": next(counter), "x": 1}), n)


@dataclass
class Ledger:
    """One size's database, seeded, with the wallet over it and the two measured calls."""

    size: int
    books: Books
    store: WalletStore
    hold: Callable[[], Awaitable[None]]
    withdraw: Callable[[], Awaitable[None]]


async def measure_wallet(
    run: str | None = None, insert_ms: float | None = None, calls: int = CALLS, rounds: int = ROUNDS
) -> WalletBench:
    """Seed each ledger size in a database of its own (dropped at the end), then measure both sizes in alternating
    rounds (a busy machine's drift falls on both alike), then check the books. `insert_ms`: the run's baseline B,
    measured here the same way if not given."""
    run = run or uuid.uuid4().hex[:6]
    counter = CommandCounter()
    client = make_client(MONGO_URL, event_listeners=[counter], appname="fishbridge-bench-wallet")
    databases = {size: f"bench_wallet_{run}_{size}" for size in LEDGER_SIZES}
    scratch = f"bench_wallet_{run}_scratch"
    try:
        if insert_ms is None:
            insert_ms = await measure_insert(client[scratch])
        result = WalletBench(insert_ms)
        ledgers = [await _prepare(client[name], size, calls, result) for size, name in databases.items()]
        sampler = Sampler(counter)
        per_round = -(-calls // rounds)
        for r in range(rounds):
            for ledger in ledgers if r % 2 == 0 else ledgers[::-1]:
                await sampler.run("hold", ledger.size, ledger.hold, per_round)
                await sampler.run("withdraw", ledger.size, ledger.withdraw, per_round)
        for op in ("hold", "withdraw"):
            result.ms[op] = {ledger.size: sampler.measured(op, ledger.size) for ledger in ledgers}
        for ledger in ledgers:
            await _check(ledger, counter, result)
    finally:
        for name in [*databases.values(), scratch]:
            await client.drop_database(name)
        client.close()
    return result


async def _prepare(db: Database, size: int, calls: int, result: WalletBench) -> Ledger:
    streams = StreamStore(db, contracts="strict")
    books_store, store = BooksStore(db), WalletStore(db)
    for indexed in (streams, books_store, store):
        await indexed.ensure_indexes()
    started = time.monotonic()
    await seed_ledger(db, SELLER, size)
    result.seeded_s[size] = time.monotonic() - started
    result.settled_s[size] = await asyncio.to_thread(settle_postgres, db.name)
    books = Books(streams, books_store)
    wallet = Wallet(
        streams,
        store,
        books,
        cast(Collection, FakeCollection()),
        cast(Any, FakeWechatPay()),
        cast(Any, None),  # no Alipay call on these paths
        bench_settings(),
    )
    ext, frozen, available = accounts_of(SELLER)
    # The first call must see the seeded stream: the head is the seed's.
    loaded = {a: (await books.account(a)).entries for a in (ext, frozen, available)}
    assert loaded == dict.fromkeys(loaded, size), loaded

    payments = iter(range(10**9))

    async def hold() -> None:
        n = next(payments)
        payment_id = f"pay_bench{size}x{n:05d}"
        event = PaymentSucceeded(
            payment_id=payment_id,
            order_id=f"ord_bench{size}x{n:05d}",
            buyer_id="usr_bench_buyer",
            seller_id=SELLER,
            channel="mp",
            method="wechat_pay",
            provider="wechatpay",
            amount_fen=HOLD_FEN,
            out_trade_no=payment_id,
            provider_trade_no=f"4200{n:024d}",
            paid_at=datetime.now(UTC),
            source="notification",
            sub_mchid=SUB_MCHID,
            frozen_for_settlement=True,
        )
        event_id = new_id("evt")
        escrow = await wallet.hold(event, Cause(f"wallet:{event_id}", causation_id=event_id))
        assert escrow.status == "held"

    async def withdraw() -> None:
        w = await wallet.withdraw(SELLER, WITHDRAW_FEN)
        assert w.status == "submitted", w

    funded = (await books.account(available)).available_fen
    assert funded >= (calls + WARMUP) * WITHDRAW_FEN, f"the seed leaves {funded} fen to withdraw"
    for _ in range(WARMUP):  # the first calls at this size (pools, caches, new collections) are not measured
        await hold()
        await withdraw()
    return Ledger(size, books, store, hold, withdraw)


async def _check(ledger: Ledger, counter: CommandCounter, result: WalletBench) -> None:
    size = ledger.size
    result.heads[size] = {a: (await ledger.books.account(a)).entries for a in accounts_of(SELLER)}
    started = time.monotonic()
    counter.reset()
    counter.on = True
    try:
        checked = await check_books(ledger.books, ledger.store)
    finally:
        counter.on = False
    result.checked_s[size] = time.monotonic() - started
    result.checked_server_s[size] = sum(counter.micros.values()) / 1e6
    result.books_ok[size] = bool(checked["ok"])
    result.books[size] = {k: checked[k] for k in ("accounts", "sum_zero", "mismatches", "negative_accounts")}
    result.books[size]["in_flight"] = len(checked["in_flight"])
    result.books[size]["escrow_problems"] = len(checked["escrows"]["problems"])


LABELS = {
    "hold": "wallet: a hold per payment.succeeded (escrow + 1 transfer)",
    "withdraw": "wallet: a withdrawal (quota, withdrawal, 1 transfer pending)",
}


def report(bench: WalletBench) -> list[str]:
    small, large = LEDGER_SIZES
    b = bench.insert_ms
    width = max(len(label) for label in LABELS.values()) + 2
    lines = [
        f"{'median ms at N entries on each account':<{width}}{small:>10,}{large:>10,}"
        f"   {large:,}/{small:,}   at {small:,}, B   at {large:,}, B   goal ≤{GOAL}x",
    ]
    for op, by_size in bench.ms.items():
        lo, hi = by_size[small].ms, by_size[large].ms
        growth = hi / lo
        verdict = "ok" if growth <= GOAL else "OVER"
        lines.append(
            f"{LABELS[op]:<{width}}{lo:>10.3f}{hi:>10.3f}   {growth:>12.2f}x   {lo / b:>8.2f} B"
            f"   {hi / b:>10.2f} B   {verdict}"
        )
    for op, by_size in bench.ms.items():
        counts = " / ".join(f"{by_size[s].commands:.1f}" for s in LEDGER_SIZES)
        lines.append(f"database commands per {op} at {small:,} / {large:,}: {counts}")
        for size in LEDGER_SIZES:
            m = by_size[size]
            detail = ", ".join(f"{k} {v:g} ({m.server_ms_per_call[k]:.2f} ms)" for k, v in m.per_call.items())
            lines.append(f"  at {size:,}: {detail}")
    lines.append(
        "The WeChat Pay client is a fake answering at once (balance, withdraw): the figures are the books', not the"
        " provider's."
    )
    seeded = ", ".join(
        f"{s:,}: {bench.seeded_s[s]:.1f} s + VACUUM ANALYZE {bench.settled_s[s]:.1f} s, check_books"
        f" {bench.checked_s[s]:.1f} s (server {bench.checked_server_s[s]:.1f} s)"
        for s in LEDGER_SIZES
    )
    lines.append(f"Seeded in bulk, 3 accounts of N entries each; then the check read them all ({seeded})")
    heads = "; ".join(f"{s:,}: " + ", ".join(f"{a} {n:,}" for a, n in bench.heads[s].items()) for s in LEDGER_SIZES)
    lines.append(f"Entries per account after the measures ({heads})")
    for size in LEDGER_SIZES:
        whole = f"{bench.books_ok[size]} {bench.books[size]}"
        lines.append(f"The books whole after the measures at {size:,} (check_books ok): {whole}")
    return lines


async def main() -> None:
    bench = await measure_wallet()
    print(f"baseline: FerretDB insert_one (B)  {bench.insert_ms:.3f} ms")
    for line in report(bench):
        print(line)
    if not all(bench.books_ok.values()):
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
