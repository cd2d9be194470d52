"""Fake WeChat Pay and Alipay merchant clients for payment's use-case tests: the methods `Payments` calls on
`self.wechat` and `self.alipay` (shared/providers/), over an in-memory model of each provider's trades
and refunds, answering as the real APIs do (and as the sandbox plays them) with the codes `Payments` reads.

Kept in one module on purpose: payment's provider interface is being reshaped, and the fakes follow it here alone.
Each fake records its calls, plays what buyers do at the provider (`pay`, `open_cashier`), raises queued failures
(`fail_next`) to play time-outs and refusals, and loses answers of calls that did take effect (`lose_next_answers`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar, cast

from services.payment.settings import PaymentSettings
from shared.clock import Clock
from shared.money import fen_to_yuan, yuan_to_fen
from shared.providers.alipay import AlipayClient, Royalty
from shared.providers.errors import ProviderRejected, ProviderUnavailable
from shared.providers.wechatpay import WechatPayClient

BEIJING = timezone(timedelta(hours=8))
T = TypeVar("T")

__all__ = ["FakeAlipay", "FakeWechat", "as_alipay", "as_wechat", "timeout"]


def timeout(what: str = "time-out") -> ProviderUnavailable:
    return ProviderUnavailable(what)


@dataclass
class _Calls:
    """What a fake was asked, and the failures queued for its next calls."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    _failures: dict[str, list[Exception]] = field(default_factory=lambda: defaultdict(list))
    _lost: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def fail_next(self, method: str, *errors: Exception) -> None:
        """Make the next calls of `method` raise `errors`, one per call, before answering normally again."""
        self._failures[method].extend(errors)

    def lose_next_answers(self, method: str, count: int = 1) -> None:
        """The next `count` calls of `method` take effect at the provider, but their answers never arrive."""
        self._lost[method] += count

    def _answer(self, method: str, answer: T) -> T:
        if self._lost[method]:
            self._lost[method] -= 1
            raise timeout(f"{method}: the answer was lost")
        return answer

    def called(self, method: str) -> list[str]:
        return [key for name, key in self.calls if name == method]

    def _enter(self, method: str, key: str) -> None:
        self.calls.append((method, key))
        if self._failures[method]:
            raise self._failures[method].pop(0)


class FakeWechat(_Calls):
    """WeChat Pay v3: a JSAPI prepay creates the trade; the buyer pays it (`pay`); refunds by out_refund_no."""

    def __init__(self, clock: Clock, *, refund_status: str = "SUCCESS") -> None:
        super().__init__()
        self.clock = clock
        self.refund_status = refund_status  # what a new refund answers first: SUCCESS, PROCESSING, ABNORMAL, CLOSED
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}

    def pay(self, out_trade_no: str) -> dict[str, Any]:
        """The buyer pays at WeChat (no notification is sent: tests deliver one, or leave it lost)."""
        trade = self.trades[out_trade_no]
        assert trade["trade_state"] == "NOTPAY", trade
        trade |= {
            "trade_state": "SUCCESS",
            "transaction_id": f"4200{len(self.trades):024d}",
            "success_time": self.clock.now().astimezone(BEIJING).isoformat(timespec="seconds"),
        }
        return trade

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS") -> None:
        """WeChat finishes a refund it accepted (PROCESSING) with `status`."""
        self.refunds[out_refund_no] |= {
            "status": status,
            "success_time": self.clock.now().astimezone(BEIJING).isoformat(timespec="seconds"),
        }

    async def partner_jsapi(self, *, sub_mchid: str, out_trade_no: str, amount_fen: int, **_: Any) -> str:
        self._enter("jsapi", out_trade_no)
        trade = self.trades.setdefault(
            out_trade_no,
            {
                "out_trade_no": out_trade_no,
                "sub_mchid": sub_mchid,
                "trade_state": "NOTPAY",
                "amount": {"total": amount_fen},
            },
        )
        return f"wx_prepay_{trade['out_trade_no']}"

    def request_payment(self, prepay_id: str) -> dict[str, str]:
        return {"appId": "wx_fake", "package": f"prepay_id={prepay_id}", "signType": "RSA", "paySign": "fake"}

    async def partner_query(self, out_trade_no: str, sub_mchid: str) -> dict[str, Any]:
        self._enter("query", out_trade_no)
        if out_trade_no not in self.trades:
            raise ProviderRejected("ORDER_NOT_EXIST", "order does not exist", 404)
        return dict(self.trades[out_trade_no])

    async def partner_close(self, out_trade_no: str, sub_mchid: str) -> None:
        self._enter("close", out_trade_no)
        trade = self.trades.get(out_trade_no)
        if trade is None:
            raise ProviderRejected("ORDER_NOT_EXIST", "order does not exist", 404)
        if trade["trade_state"] in ("SUCCESS", "REFUND"):
            raise ProviderRejected("ORDERPAID", "order paid")
        trade["trade_state"] = "CLOSED"

    async def refund(
        self, *, sub_mchid: str, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int, **_: Any
    ) -> dict[str, Any]:
        self._enter("refund", out_refund_no)
        trade = self.trades[out_trade_no]
        if trade["trade_state"] not in ("SUCCESS", "REFUND"):
            raise ProviderRejected("INVALID_REQUEST", "trade not paid")
        if out_refund_no not in self.refunds:
            refunded = sum(
                r["amount"]["refund"] for r in self.refunds.values() if r["out_trade_no"] == trade["out_trade_no"]
            )
            if refunded + refund_fen > trade["amount"]["total"]:
                raise ProviderRejected("INVALID_REQUEST", "refund exceeds the amount paid")
            self.refunds[out_refund_no] = {
                "out_trade_no": out_trade_no,
                "out_refund_no": out_refund_no,
                "refund_id": f"5030{len(self.refunds):024d}",
                "status": self.refund_status,
                "amount": {"refund": refund_fen, "total": trade["amount"]["total"]},
                "success_time": self.clock.now().astimezone(BEIJING).isoformat(timespec="seconds"),
            }
            trade["trade_state"] = "REFUND"
        return self._answer("refund", dict(self.refunds[out_refund_no]))

    async def query_refund(self, out_refund_no: str, sub_mchid: str) -> dict[str, Any]:
        self._enter("query_refund", out_refund_no)
        if out_refund_no not in self.refunds:
            raise ProviderRejected("RESOURCE_NOT_EXISTS", "refund does not exist", 404)
        return dict(self.refunds[out_refund_no])

    def refunded_fen(self, out_trade_no: str) -> int:
        return sum(
            r["amount"]["refund"]
            for r in self.refunds.values()
            if r["out_trade_no"] == out_trade_no and r["status"] == "SUCCESS"
        )


class FakeAlipay(_Calls):
    """Alipay OpenAPI: an app-pay trade exists once the buyer opens the cashier (`open_cashier`); a password-free
    debit is paid at once; refunds by out_request_no, a repeated one answering fund_change N."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.trades: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.debit_refusal: ProviderRejected | None = None

    def _wall(self) -> str:
        return self.clock.now().astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")

    def open_cashier(self, out_trade_no: str, amount_fen: int) -> None:
        self.trades.setdefault(
            out_trade_no,
            {"out_trade_no": out_trade_no, "trade_status": "WAIT_BUYER_PAY", "total_amount": fen_to_yuan(amount_fen)},
        )

    def pay(self, out_trade_no: str, amount_fen: int) -> dict[str, Any]:
        """The buyer opens the cashier and pays (no notification is sent)."""
        self.open_cashier(out_trade_no, amount_fen)
        trade = self.trades[out_trade_no]
        assert trade["trade_status"] == "WAIT_BUYER_PAY", trade
        trade |= {
            "trade_status": "TRADE_SUCCESS",
            "trade_no": f"2026{len(self.trades):024d}",
            "send_pay_date": self._wall(),
        }
        return trade

    def app_order_string(self, *, out_trade_no: str, amount_fen: int, **_: Any) -> str:
        return f"app_id=fake&out_trade_no={out_trade_no}&total_amount={fen_to_yuan(amount_fen)}"

    async def pay_with_agreement(self, *, out_trade_no: str, amount_fen: int, **_: Any) -> dict[str, Any]:
        self._enter("pay_with_agreement", out_trade_no)
        if self.debit_refusal is not None:
            raise self.debit_refusal
        if out_trade_no in self.trades:
            raise ProviderRejected("ACQ.TRADE_HAS_SUCCESS", "trade paid already")
        trade = self.pay(out_trade_no, amount_fen)
        return {"trade_no": trade["trade_no"], "total_amount": trade["total_amount"], "gmt_payment": self._wall()}

    async def query(self, out_trade_no: str) -> dict[str, Any] | None:
        self._enter("query", out_trade_no)
        trade = self.trades.get(out_trade_no)
        return None if trade is None else dict(trade)

    async def close(self, out_trade_no: str) -> None:
        self._enter("close", out_trade_no)
        trade = self.trades.get(out_trade_no)
        if trade is None:
            raise ProviderRejected("ACQ.TRADE_NOT_EXIST", "trade does not exist")
        if trade["trade_status"] != "WAIT_BUYER_PAY":
            raise ProviderRejected("ACQ.TRADE_STATUS_ERROR", f"trade is {trade['trade_status']}")
        trade["trade_status"] = "TRADE_CLOSED"

    async def refund(
        self, out_trade_no: str, out_request_no: str, amount_fen: int, take_back: tuple[Royalty, ...] = ()
    ) -> dict[str, Any]:
        self._enter("refund", out_request_no)
        trade = self.trades.get(out_trade_no)
        if trade is None or trade["trade_status"] not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            raise ProviderRejected("ACQ.TRADE_STATUS_ERROR", "trade not paid")
        if out_request_no in self.refunds:
            return self._answer("refund", {"fund_change": "N", "trade_no": trade["trade_no"]})
        self.refunds[out_request_no] = {
            "out_trade_no": out_trade_no,
            "refund_amount": fen_to_yuan(amount_fen),
            "gmt_refund_pay": self._wall(),
            "trade_no": trade["trade_no"],
        }
        return self._answer(
            "refund", {"fund_change": "Y", "trade_no": trade["trade_no"], "gmt_refund_pay": self._wall()}
        )

    async def refund_query(self, out_trade_no: str, out_request_no: str) -> dict[str, Any]:
        self._enter("refund_query", out_request_no)
        found = self.refunds.get(out_request_no)
        if found is None:
            return {"out_request_no": out_request_no}
        return {**found, "refund_status": "REFUND_SUCCESS"}

    def agreement_sign_url(self, agreement_id: str, notify_url: str) -> str:
        return f"https://alipay.fake/sign?external_agreement_no={agreement_id}"

    def verify_notification(self, *_: Any) -> Any:
        raise AssertionError("use-case tests deliver notices, not signed notifications")

    async def unsign(self, agreement_no: str, notify_url: str) -> None:
        self._enter("unsign", agreement_no)

    def refunded_fen(self, out_trade_no: str) -> int:
        return sum(yuan_to_fen(r["refund_amount"]) for r in self.refunds.values() if r["out_trade_no"] == out_trade_no)


def as_wechat(fake: FakeWechat) -> WechatPayClient:
    return cast(WechatPayClient, fake)


def as_alipay(fake: FakeAlipay) -> AlipayClient:
    return cast(AlipayClient, fake)


NO_FILE = Path("/nonexistent")  # the fakes read no keys


def fake_payment_settings(**overrides: Any) -> PaymentSettings:
    """Payment's settings for use-case tests over the fakes: no key files, no waiting between provider attempts."""
    values: dict[str, Any] = {
        "mongo_url": "mongodb://memory/",
        "amqp_url": "amqp://memory/",
        "internal_token": "unit-test-internal-token",
        "otel_enabled": False,
        "public_base_url": "https://fishbridge.test",
        "wechat_api_base": "https://wechat.fake",
        "wechat_appid": "wx_fake",
        "wechat_mchid": "1900000001",
        "wechat_apiv3_key": "0" * 32,
        "wechat_merchant_private_key_file": NO_FILE,
        "wechat_merchant_cert_file": NO_FILE,
        "wechat_pay_public_key_file": NO_FILE,
        "wechat_pay_public_key_id": "PUB_KEY_ID_0119000000012026120100000000000001",
        "alipay_gateway_url": "https://alipay.fake/gateway.do",
        "alipay_app_id": "2021000000000001",
        "alipay_seller_id": "2088000000000001",
        "alipay_app_private_key_file": NO_FILE,
        "alipay_public_key_file": NO_FILE,
        "provider_retry_delay_s": 0,
    }
    return PaymentSettings(**{**values, **overrides})
