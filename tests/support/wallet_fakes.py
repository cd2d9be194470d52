"""Fake providers for the wallet's use-case tests, with no infrastructure: the methods `Wallet` calls on
`WechatPayClient` and `AlipayClient`, and a tiny stand-in for the sellers' payee identities (`Collection`).

The WeChat Pay fake invents no money semantics: it drives the sandbox's own pure account domain
(services/sandbox/wechat/domain/accounts.py) — each merchant account its `Account` state, changed only through
`decide_account`/`evolve_account` by the commands the sandbox's handlers send (funds.py, profitsharing.py,
refunds.py) — and answers with the sandbox's views. Requests are validated with the sandbox's request models, and
the sandbox's refusals (`WechatError`) become what the real client raises for them (`shared.providers.wechatpay.
refusal`: NOT_ENOUGH, SYSTEM_ERROR, 429 … → ProviderBusy; other 4xx → ProviderRejected; 5xx → ProviderUnavailable).
Each call yields to the event loop once before it decides, so concurrent callers interleave, and each decision is
atomic (as an append to the sandbox's account stream is).

Faults: `fail_next(method, applied=...)` makes the next call of a method give no answer (ProviderUnavailable),
either before the provider did anything or after it did (the answer was lost), to prove that a retry with the same
number takes the step once; `down(method)` keeps a method unanswered until `up(method)`.

Test actions (what buyers and the sandbox's test-only endpoints do): `pay` credits a paid partner order to a
sub-merchant, `refund` holds a refund on it (what payment's refund does at WeChat), `finish_split` carries out a
split still PROCESSING, `settle_withdrawal` and `bank_return` finish or send back a withdrawal, each answering the
MCHWITHDRAW.CHANGE resource a notification would carry.
"""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast

from services.sandbox.wechat import domain as d
from services.sandbox.wechat import views
from services.wallet import flows
from services.wallet.books import Books, BooksStore
from services.wallet.check import check_books, check_providers
from services.wallet.collection import Collection
from services.wallet.settings import WalletSettings
from services.wallet.store import WalletStore
from services.wallet.usecases import Wallet
from shared.aggregate import RecordedEvent
from shared.clock import ManualClock
from shared.events.listing import OrderCompleted
from shared.events.payment import PaymentRefunded, PaymentSucceeded
from shared.ids import new_id
from shared.providers import alipay as alipay_client
from shared.providers import wechatpay as wechat_client
from shared.providers.alipay import AlipayClient, Royalty
from shared.providers.errors import ProviderMisconfigured, ProviderUnavailable
from shared.providers.wechatpay import WechatPayClient
from shared.streams import StreamStore
from tests.support.memory import MemoryDatabase, as_database

__all__ = [
    "PLATFORM_ALIPAY",
    "PLATFORM_MCHID",
    "START",
    "FakeAlipaySettle",
    "FakeCollection",
    "FakeWechatPay",
    "WalletWorld",
    "wallet_settings",
    "wallet_world",
]

T = TypeVar("T")
PLATFORM_MCHID = "1900000001"  # the platform's sp_mchid: the receiver of every split
PLATFORM_APPID = "wxf1shbr1dge000001"
PLATFORM_ALIPAY = "2088000000000001"  # the platform's collecting Alipay account (alipay_seller_id)
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing: the withdrawal quota's day is 20260302
Applied = Literal["before", "after"]
Provider = Literal["wechatpay", "alipay"]


class _Faults:
    """The calls a fake was asked, and the "no answer" faults queued for its next calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._faults: dict[str, list[Applied]] = defaultdict(list)
        self._down: set[str] = set()

    def fail_next(self, method: str, count: int = 1, *, applied: bool = False) -> None:
        """The next `count` calls of `method` give no answer: before the provider did anything, or (`applied`) after
        it did (a time-out on the way back)."""
        self._faults[method].extend(["after" if applied else "before"] * count)

    def down(self, *methods: str) -> None:
        """Every call of these methods gives no answer (nothing done) until `up`."""
        self._down.update(methods)

    def up(self, *methods: str) -> None:
        self._down.difference_update(methods or tuple(self._down))

    def called(self, method: str) -> list[str]:
        return [key for name, key in self.calls if name == method]

    async def _enter(self, method: str, key: str) -> Applied | None:
        await asyncio.sleep(0)  # a network round trip: other callers run meanwhile
        self.calls.append((method, key))
        if method in self._down:
            raise ProviderUnavailable(f"{method}: time-out (the provider is down)")
        fault = self._faults[method].pop(0) if self._faults[method] else None
        if fault == "before":
            raise ProviderUnavailable(f"{method}: time-out (nothing done)")
        return fault

    @staticmethod
    def _answer(method: str, fault: Applied | None, answer: T) -> T:
        if fault == "after":
            raise ProviderUnavailable(f"{method}: time-out (done, but the answer was lost)")
        return answer


# ------------------------------------------------------------------------------------------------ WeChat Pay


class FakeWechatPay(_Faults):
    """The platform's WeChat Pay e-commerce APIs the wallet calls, over the sandbox's account domain.

    `finish_splits`: WeChat carries a split out right after accepting it (the answer still says PROCESSING, a query
    then FINISHED, as the sandbox does once its settle delay passed); False holds splits PROCESSING until
    `finish_split`."""

    def __init__(self, clock: ManualClock, *, finish_splits: bool = True) -> None:
        super().__init__()
        self.clock = clock
        self.mchid = PLATFORM_MCHID
        self.appid = PLATFORM_APPID
        self.finish_splits = finish_splits
        self.accounts: dict[str, d.Account] = defaultdict(d.Account)
        self.sub_merchants: set[str] = set()
        self._commands: dict[str, set[str]] = defaultdict(set)
        self._withdrawal_owner: dict[str, str] = {}
        self._numbers = itertools.count(1)
        self.ids = d.Ids(digits=self._digits)
        self.steps: Counter[str] = Counter()  # decisions that moved money (appends), by command type

    def _digits(self, n: int) -> str:
        return str(next(self._numbers)).zfill(n)[-n:]

    # --- the sandbox's account streams, in memory -----------------------------------------------------------

    def account(self, mchid: str) -> d.Account:
        return self.accounts[mchid]

    def _run(self, mchid: str, cmd: d.AccountCommand, *, command_id: str | None = None) -> tuple[d.Account, bool]:
        """decide, then evolve by each event (the sandbox's `execute` on `wechat.account:<mchid>`); a command id
        taken before is a no-op. (state, whether anything was appended)."""
        if command_id is not None and command_id in self._commands[mchid]:
            return self.accounts[mchid], False
        state = self.accounts[mchid]
        events = list(d.decide_account(state, cmd))
        now = self.clock.now()
        for event in events:
            recorded = RecordedEvent(
                event_id=f"evt{next(self._numbers)}",
                type=event.type,
                version=event.version,
                payload=event.payload,
                occurred_at=now,
            )
            state = d.evolve_account(state, recorded)
        self.accounts[mchid] = state
        if events:
            if command_id is not None:
                self._commands[mchid].add(command_id)
            self.steps[type(cmd).__name__] += 1
        return state, bool(events)

    def _call(self, what: str, step: Callable[[], T]) -> T:
        """A sandbox handler's body: its refusals raised as the real client raises them."""
        try:
            return step()
        except d.WechatError as exc:
            raise _wechat_error(exc, what) from None

    def _sub_merchant(self, sub_mchid: str) -> None:
        if sub_mchid not in self.sub_merchants:
            raise d.param_error(
                f"受理关系不存在 (sub_mchid {sub_mchid} is no second-level merchant of this platform)",
                {"location": "body", "field": "sub_mchid"},
            )

    # --- test actions -------------------------------------------------------------------------------------

    def open_sub_merchant(self, sub_mchid: str) -> str:
        self.sub_merchants.add(sub_mchid)
        return sub_mchid

    def pay(self, sub_mchid: str, amount_fen: int, *, profit_sharing: bool = True) -> str:
        """A buyer paid a partner order to the seller's sub-merchant (funds.credit_payment): its transaction_id."""
        now = self.clock.now()
        transaction_id = self.ids.transaction_id(now)
        cmd = d.CreditPayment(transaction_id, f"fb{transaction_id[-16:]}", amount_fen, profit_sharing, now)
        self._run(sub_mchid, cmd, command_id=f"wechat.pay:{transaction_id}")
        return transaction_id

    def refund(self, sub_mchid: str, transaction_id: str, out_refund_no: str, amount_fen: int) -> None:
        """The seller's refund of a partner order, as payment asks it (refunds.apply_ecommerce): the money is held
        from the order's frozen remainder, then from available. A refusal raises as the client would."""
        hold = d.HoldRefund(out_refund_no, transaction_id, amount_fen, self.clock.now())
        self._call(
            "refund",
            lambda: self._run(sub_mchid, hold, command_id=f"wechat.refund-hold:{sub_mchid}:{out_refund_no}"),
        )

    def finish_split(self, sub_mchid: str, out_order_no: str) -> None:
        """WeChat carries out a PROCESSING split (profitsharing.finish_split): the seller's pending money leaves,
        the receivers (the platform) are credited, each step keyed."""
        state, _ = self._run(sub_mchid, d.FinishSplit(out_order_no, self.clock.now()))
        done = state.splits[out_order_no]
        for receiver in done.receivers:
            credit = d.Receive(f"split:{sub_mchid}:{out_order_no}", int(receiver["amount"]), self.clock.now())
            account = str(receiver["receiver_account"])
            self._run(account, credit, command_id=f"wechat.split:{sub_mchid}:{out_order_no}:{account}")

    def processing_splits(self) -> list[tuple[str, str]]:
        return [
            (mchid, s.out_order_no)
            for mchid, account in self.accounts.items()
            for s in account.splits.values()
            if s.status == d.SPLIT_PROCESSING
        ]

    def settle_withdrawal(
        self, out_request_no: str, status: d.WithdrawOutcome = "SUCCESS", reason: str | None = None
    ) -> dict[str, Any]:
        """WeChat finishes a CREATE_SUCCESS withdrawal (funds.settle_action): the notification's resource."""
        sub_mchid = self._withdrawal_owner[out_request_no]
        self._run(sub_mchid, d.SettleWithdrawal(out_request_no, status, reason, self.clock.now()))
        return self.withdrawal_resource(out_request_no)

    def bank_return(self, out_request_no: str, reason: str = d.WITHDRAW_RETURN_REASON) -> dict[str, Any]:
        """退票 (funds.bank_return): a SUCCESS withdrawal comes back, its money available again."""
        sub_mchid = self._withdrawal_owner[out_request_no]
        self._run(sub_mchid, d.ReturnWithdrawal(out_request_no, reason, self.clock.now()))
        return self.withdrawal_resource(out_request_no)

    def withdrawal_resource(self, out_request_no: str) -> dict[str, Any]:
        sub_mchid = self._withdrawal_owner[out_request_no]
        withdrawal = self.accounts[sub_mchid].withdrawals[out_request_no]
        return views.withdrawal(self.mchid, sub_mchid, withdrawal, {})

    def open_withdrawals(self) -> list[str]:
        return [
            w.out_request_no
            for account in self.accounts.values()
            for w in account.withdrawals.values()
            if w.status == d.WITHDRAW_CREATED
        ]

    # --- the client's methods -----------------------------------------------------------------------------

    async def profit_share(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str, amount_fen: int, description: str, finish: bool
    ) -> dict[str, Any]:
        fault = await self._enter("profit_share", out_order_no)
        body = {
            "appid": self.appid,
            "sub_mchid": sub_mchid,
            "transaction_id": transaction_id,
            "out_order_no": out_order_no,
            "receivers": [
                {
                    "type": "MERCHANT_ID",
                    "receiver_account": self.mchid,
                    "amount": amount_fen,
                    "description": description,
                }
            ],
            "finish": finish,
        }

        def split() -> dict[str, Any]:
            req = d.parse_model(d.SplitRequest, body)
            if req.appid is not None:
                d.check_appid(req.appid, mchid=self.mchid, known_appid=self.appid)
            self._sub_merchant(req.sub_mchid)
            now = self.clock.now()
            cmd = d.RequestSplit(
                out_order_no=req.out_order_no,
                order_id=self.ids.profitsharing_order_id(now),
                transaction_id=req.transaction_id,
                receivers=tuple(r.model_dump(mode="json", exclude={"receiver_name"}) for r in req.receivers),
                finish=req.finish,
                terms=req.terms(),
                platform_mchid=self.mchid,
                now=now,
            )
            state, new = self._run(req.sub_mchid, cmd)
            answer = views.split(req.sub_mchid, state.splits[req.out_order_no])
            if new and self.finish_splits:
                self.finish_split(req.sub_mchid, req.out_order_no)
            return answer

        return self._answer("profit_share", fault, self._call("POST /v3/ecommerce/profitsharing/orders", split))

    async def query_profit_share(self, *, sub_mchid: str, transaction_id: str, out_order_no: str) -> dict[str, Any]:
        fault = await self._enter("query_profit_share", out_order_no)

        def query() -> dict[str, Any]:
            found = self.accounts[sub_mchid].splits.get(out_order_no)
            if found is None or found.transaction_id != transaction_id:
                raise d.resource_not_exists("分账单不存在 (no split of this sub_mchid and transaction has this number)")
            return views.split(sub_mchid, found)

        return self._answer("query_profit_share", fault, self._call("GET /v3/ecommerce/profitsharing/orders", query))

    async def finish_profit_sharing(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str, description: str
    ) -> dict[str, Any]:
        fault = await self._enter("finish_profit_sharing", out_order_no)
        body = {
            "sub_mchid": sub_mchid,
            "transaction_id": transaction_id,
            "out_order_no": out_order_no,
            "description": description,
        }

        def finish() -> dict[str, Any]:
            req = d.parse_model(d.FinishRequest, body)
            self._sub_merchant(req.sub_mchid)
            now = self.clock.now()
            cmd = d.FinishOrder(
                req.out_order_no, self.ids.profitsharing_order_id(now), req.transaction_id, req.description, now
            )
            state, _ = self._run(req.sub_mchid, cmd)
            record = state.splits[req.out_order_no]
            return {
                "sub_mchid": req.sub_mchid,
                "transaction_id": record.transaction_id,
                "out_order_no": record.out_order_no,
                "order_id": record.order_id,
            }

        return self._answer(
            "finish_profit_sharing", fault, self._call("POST /v3/ecommerce/profitsharing/finish-order", finish)
        )

    async def balance(self, sub_mchid: str, account_type: str = "BASIC") -> dict[str, Any]:
        fault = await self._enter("balance", sub_mchid)

        def balance() -> dict[str, Any]:
            if account_type not in ("BASIC", "OPERATION", "FEES", "DEPOSIT"):
                raise d.param_error("account_type 取值错误", {"location": "query", "field": "account_type"})
            self._sub_merchant(sub_mchid)
            account = self.accounts[sub_mchid]
            basic = account_type == "BASIC"
            return {
                "sub_mchid": sub_mchid,
                "account_type": account_type,
                "available_amount": account.available_fen if basic else 0,
                "pending_amount": account.pending_fen if basic else 0,
            }

        return self._answer("balance", fault, self._call("GET /v3/ecommerce/fund/balance", balance))

    async def withdraw(
        self, *, sub_mchid: str, out_request_no: str, amount_fen: int, remark: str, notify_url: str | None = None
    ) -> dict[str, Any]:
        fault = await self._enter("withdraw", out_request_no)
        body: dict[str, Any] = {
            "sub_mchid": sub_mchid,
            "out_request_no": out_request_no,
            "amount": amount_fen,
            "remark": remark[:56],
            "account_type": "BASIC",
        }
        if notify_url:
            body["notify_url"] = notify_url

        def withdraw() -> dict[str, Any]:
            req = d.parse_model(d.WithdrawRequest, body)
            self._sub_merchant(req.sub_mchid)
            now = self.clock.now()
            cmd = d.Withdraw(
                out_request_no=req.out_request_no,
                withdraw_id=self.ids.withdraw_id(now),
                amount_fen=req.amount,
                remark=req.remark,
                bank_memo=req.bank_memo,
                account_type=req.account_type,
                notify_url=req.notify_url,
                terms=req.terms(),
                now=now,
            )
            state, _ = self._run(req.sub_mchid, cmd)
            self._withdrawal_owner.setdefault(req.out_request_no, req.sub_mchid)
            w = state.withdrawals[req.out_request_no]
            return {
                "sub_mchid": req.sub_mchid,
                "withdraw_id": w.withdraw_id,
                "out_request_no": w.out_request_no,
                "account_type": w.account_type,
            }

        return self._answer("withdraw", fault, self._call("POST /v3/ecommerce/fund/withdraw", withdraw))

    async def query_withdrawal(self, out_request_no: str, sub_mchid: str) -> dict[str, Any]:
        fault = await self._enter("query_withdrawal", out_request_no)

        def query() -> dict[str, Any]:
            withdrawal = self.accounts[sub_mchid].withdrawals.get(out_request_no)
            if withdrawal is None:
                raise d.resource_not_exists("提现单不存在 (no withdrawal of this sub_mchid has this number)")
            return views.withdrawal(self.mchid, sub_mchid, withdrawal, {})

        return self._answer("query_withdrawal", fault, self._call("GET /v3/ecommerce/fund/withdraw", query))


def _wechat_error(exc: d.WechatError, what: str) -> Exception:
    """The sandbox's refusal as the real client raises it for the same answer (WechatPayClient.call/_send)."""
    if exc.status >= 500:
        return ProviderUnavailable(f"wechatpay {what}: HTTP {exc.status}")
    if exc.status == 401:
        return ProviderMisconfigured(f"WeChat Pay refused our signature: {exc.code}")
    return wechat_client.refusal(exc.status, exc.body(), f"wechatpay {what}")


# ---------------------------------------------------------------------------------------------------- Alipay


@dataclass
class AlipayTrade:
    trade_no: str
    total_fen: int
    frozen_fen: int  # collected frozen in the platform's account for royalty settlement
    refunded_fen: int = 0
    settled: bool = False


class FakeAlipaySettle(_Faults):
    """`alipay.trade.order.settle` over trades frozen in the platform's collecting account: each royalty moves to
    its receiver's account, `finish` unfreezes the rest to the platform; one settlement per out_request_no (the
    same number again answers the first settlement and moves nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.trades: dict[str, AlipayTrade] = {}
        self.balances: Counter[str] = Counter()
        self.settlements: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(1)

    def pay(self, amount_fen: int) -> str:
        """A buyer paid a trade, collected frozen for royalty: its trade_no."""
        trade_no = f"2026030222001{next(self._numbers):015d}"
        self.trades[trade_no] = AlipayTrade(trade_no, amount_fen, amount_fen)
        return trade_no

    def refund(self, trade_no: str, amount_fen: int) -> None:
        """A refund of the trade as payment asks it (no refund_royalty_parameters): from the frozen funds before
        settlement; after it, Alipay pays it out of the platform's collecting account (ACQ.SELLER_BALANCE_NOT_ENOUGH
        when it is not there)."""
        trade = self.trades[trade_no]
        if amount_fen > trade.total_fen - trade.refunded_fen:
            raise alipay_client.refusal(
                {"code": "40004", "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "sub_msg": "退款金额超限"}, "refund"
            )
        if not trade.settled:
            trade.frozen_fen -= amount_fen
        else:
            if self.balances[PLATFORM_ALIPAY] < amount_fen:
                raise alipay_client.refusal(
                    {"code": "40004", "sub_code": "ACQ.SELLER_BALANCE_NOT_ENOUGH", "sub_msg": "卖家余额不足"}, "refund"
                )
            self.balances[PLATFORM_ALIPAY] -= amount_fen
        trade.refunded_fen += amount_fen

    async def settle(
        self, *, out_request_no: str, trade_no: str, royalties: Sequence[Royalty], finish: bool
    ) -> dict[str, Any]:
        fault = await self._enter("settle", out_request_no)
        terms = {"trade_no": trade_no, "royalties": [(r.trans_in, r.amount_fen) for r in royalties], "finish": finish}
        done = self.settlements.get(out_request_no)
        if done is not None:
            if done["terms"] != terms:
                raise alipay_client.refusal(
                    {"code": "40004", "sub_code": "ACQ.OUT_REQUEST_NO_REPEAT", "sub_msg": "结算请求号重复"}, "settle"
                )
            return self._answer("settle", fault, dict(done["answer"]))
        trade = self.trades.get(trade_no)
        if trade is None:
            raise alipay_client.refusal({"code": "40004", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": ""}, "settle")
        if trade.settled:
            raise alipay_client.refusal(
                {"code": "40004", "sub_code": "ACQ.TRADE_SETTLE_ERROR", "sub_msg": "分账已完结"}, "settle"
            )
        total = sum(r.amount_fen for r in royalties)
        if total > trade.frozen_fen:
            raise alipay_client.refusal(
                {"code": "40004", "sub_code": "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR", "sub_msg": "分账金额超过可分金额"},
                "settle",
            )
        for r in royalties:
            self.balances[r.trans_in] += r.amount_fen
        trade.frozen_fen -= total
        if finish:
            self.balances[PLATFORM_ALIPAY] += trade.frozen_fen
            trade.frozen_fen = 0
            trade.settled = True
        answer = {"code": "10000", "msg": "Success", "trade_no": trade_no, "settle_no": f"2026{len(self.settlements)}"}
        self.settlements[out_request_no] = {"terms": terms, "answer": answer}
        return self._answer("settle", fault, dict(answer))

    def frozen_fen(self) -> int:
        return sum(t.frozen_fen for t in self.trades.values())


# ------------------------------------------------------------------------------------------------ collection


class FakeCollection:
    """The sellers' payee identities `Wallet` asks for (services/wallet/collection.py is being rewritten)."""

    def __init__(self) -> None:
        self.sub_mchids: dict[str, str] = {}
        self.alipay_accounts: dict[str, str] = {}
        self.kinds: list[Any] = []

    async def sub_mchid_of(self, seller_id: str) -> str | None:
        return self.sub_mchids.get(seller_id)

    async def alipay_account_of(self, seller_id: str) -> str | None:
        return self.alipay_accounts.get(seller_id)


# -------------------------------------------------------------------------------------------------- the world


def wallet_settings(**overrides: Any) -> WalletSettings:
    """Settings with no files read (the fakes need no keys) and no waiting between inline retries."""
    values: dict[str, Any] = {
        "mongo_url": "mongodb://unused/",
        "amqp_url": "amqp://unused/",
        "internal_token": "t" * 32,
        "wallet_public_base_url": "https://wallet.fishbridge.test",
        "wechat_api_base": "https://api.mch.weixin.qq.com",
        "wechat_appid": PLATFORM_APPID,
        "wechat_mchid": PLATFORM_MCHID,
        "wechat_apiv3_key": "k" * 32,
        "wechat_merchant_private_key_file": "/nonexistent/key.pem",
        "wechat_merchant_cert_file": "/nonexistent/cert.pem",
        "alipay_gateway_url": "https://openapi.alipay.com/gateway.do",
        "alipay_app_id": "2021000000000001",
        "alipay_seller_id": PLATFORM_ALIPAY,
        "alipay_app_private_key_file": "/nonexistent/alipay.pem",
        "alipay_public_key_file": "/nonexistent/alipay_public.pem",
        "provider_retry_delay_s": 0.0,
        "otel_enabled": False,
    }
    return WalletSettings(**(values | overrides))


@dataclass
class WalletWorld:
    wallet: Wallet
    books: Books
    store: WalletStore
    streams: StreamStore
    wechat: FakeWechatPay
    alipay: FakeAlipaySettle
    collection: FakeCollection
    clock: ManualClock
    settings: WalletSettings

    @property
    def wechat_client(self) -> WechatPayClient:
        return cast(WechatPayClient, self.wechat)

    def seller(self, seller_id: str, *, wechat: bool = True, alipay: bool = True) -> str:
        """A seller with a WeChat sub-merchant and a bound Alipay account; the sub_mchid."""
        n = zlib.crc32(seller_id.encode())
        sub_mchid = f"16{n % 10**8:08d}"
        if wechat:
            self.wechat.open_sub_merchant(sub_mchid)
            self.collection.sub_mchids[seller_id] = sub_mchid
        if alipay:
            self.collection.alipay_accounts[seller_id] = f"2088{n:012d}"
        return sub_mchid

    # --- what the other services publish, with what their provider calls did first ----------------------------

    def pay(self, seller_id: str, amount_fen: int, provider: Provider = "wechatpay") -> PaymentSucceeded:
        """A buyer pays an order at the provider (the money frozen there); the `payment.succeeded` that follows."""
        sub_mchid = self.collection.sub_mchids.get(seller_id) if provider == "wechatpay" else None
        if provider == "wechatpay":
            assert sub_mchid is not None, f"{seller_id} has no sub-merchant"
            trade_no = self.wechat.pay(sub_mchid, amount_fen)
        else:
            trade_no = self.alipay.pay(amount_fen)
        return PaymentSucceeded(
            payment_id=new_id("pay"),
            order_id=new_id("ord"),
            buyer_id="usr_buyer",
            seller_id=seller_id,
            channel="mp" if provider == "wechatpay" else "app",
            method="wechat_pay" if provider == "wechatpay" else "alipay",
            provider=provider,
            amount_fen=amount_fen,
            out_trade_no=f"fb{trade_no[-20:]}",
            provider_trade_no=trade_no,
            paid_at=self.clock.now(),
            source="notification",
            sub_mchid=sub_mchid,
            frozen_for_settlement=True,
        )

    def refund(self, p: PaymentSucceeded, amount_fen: int) -> PaymentRefunded:
        """Payment refunds part of an order at the provider (a refusal raises as the client's would); the
        `payment.refunded` that follows."""
        refund_id = new_id("rfd")
        out_refund_no = refund_id.replace("_", "")
        if p.provider == "wechatpay":
            assert p.sub_mchid is not None
            self.wechat.refund(p.sub_mchid, p.provider_trade_no, out_refund_no, amount_fen)
        else:
            self.alipay.refund(p.provider_trade_no, amount_fen)
        return PaymentRefunded(
            payment_id=p.payment_id,
            order_id=p.order_id,
            refund_id=refund_id,
            provider=p.provider,
            amount_fen=amount_fen,
            out_refund_no=out_refund_no,
            refunded_at=self.clock.now(),
        )

    @staticmethod
    def completed(p: PaymentSucceeded) -> OrderCompleted:
        return OrderCompleted(
            order_id=p.order_id,
            item_id="itm_1",
            seller_id=p.seller_id,
            buyer_id=p.buyer_id,
            channel=p.channel,
            payment_method=p.method,
            payment_id=p.payment_id,
            amount_fen=p.amount_fen,
            completed_by="buyer",
        )

    # --- the books against the providers -------------------------------------------------------------------

    async def alipay_differences(self) -> list[dict[str, Any]]:
        """The books' Alipay side against the fake's balances: frozen on trades, each seller's account, the fee
        kept in the platform's account."""
        differences: list[dict[str, Any]] = []
        frozen = 0
        for seller_id, account in sorted(self.collection.alipay_accounts.items()):
            frozen += (await self.books.account(flows.frozen(seller_id, "alipay"))).posted_fen
            settled = (await self.books.account(flows.released(seller_id, "alipay"))).posted_fen
            if settled != self.alipay.balances[account]:
                differences.append({"seller_id": seller_id, "books": settled, "alipay": self.alipay.balances[account]})
        if frozen != self.alipay.frozen_fen():
            differences.append({"frozen": frozen, "alipay": self.alipay.frozen_fen()})
        fees = (await self.books.account(flows.fees("alipay"))).posted_fen
        if fees != self.alipay.balances[PLATFORM_ALIPAY]:
            differences.append({"fees": fees, "alipay": self.alipay.balances[PLATFORM_ALIPAY]})
        return differences

    async def platform_fee_difference(self) -> dict[str, int] | None:
        """The WeChat fees in the books against what splits credited to the platform's own merchant account."""
        books = (await self.books.account(flows.fees("wechatpay"))).posted_fen
        wechat = self.wechat.account(PLATFORM_MCHID).available_fen
        return None if books == wechat else {"books": books, "wechat": wechat}

    async def check(self) -> dict[str, Any]:
        """`check_books` and `check_providers` both ok, and the platform's fees and the Alipay side equal the fakes'
        balances; the two reports."""
        books = await check_books(self.books, self.store)
        providers = await check_providers(self.books, self.store, self.wechat_client)
        assert books["ok"], books
        assert providers["ok"], providers
        assert await self.platform_fee_difference() is None, await self.platform_fee_difference()
        assert await self.alipay_differences() == [], await self.alipay_differences()
        return {"books": books, "providers": providers}


async def wallet_world(*, finish_splits: bool = True, **settings: Any) -> WalletWorld:
    db = as_database(MemoryDatabase())
    streams, books_store, store = StreamStore(db, contracts="strict"), BooksStore(db), WalletStore(db)
    await streams.ensure_indexes()
    await books_store.ensure_indexes()
    await store.ensure_indexes()
    books = Books(streams, books_store)
    clock = ManualClock(START)
    wechat = FakeWechatPay(clock, finish_splits=finish_splits)
    alipay = FakeAlipaySettle()
    collection = FakeCollection()
    config = wallet_settings(**settings)
    wallet = Wallet(
        streams,
        store,
        books,
        cast(Collection, collection),
        cast(WechatPayClient, wechat),
        cast(AlipayClient, alipay),
        config,
        clock,
    )
    return WalletWorld(wallet, books, store, streams, wechat, alipay, collection, clock, config)
