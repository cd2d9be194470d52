"""Merchant-side clients of WeChat Pay v3 and Alipay OpenAPI: signed requests, verified responses, one HTTP pool.

The errors are the port's (services/payment/port.py), raised here with the provider's own codes; the adapters
(services/payment/adapters.py) give them ours. ProviderUnavailable means "we do not know what happened" (5xx, time-out,
connection error, an answer that does not verify): the caller retries with the same provider numbers. ProviderBusy (a
ProviderUnavailable) is a temporary refusal the provider asks us to retry later (rate limit, balance short, system
busy): retried the same way, never a final failure. ProviderRejected is the provider's definite "no".

Which refusals are temporary (sources: /work/shared/reference/payments.md §F "Temporary refusals to retry", and the
providers' error tables as the WeChat Pay v3 and Alipay OpenAPI docs list them, which say for these codes
"请使用相同参数再次调用" / "请稍后重试"):
- WeChat Pay v3: HTTP 429 (any code, FREQUENCY_LIMITED: also one refund per order per minute), SYSTEM_ERROR, BANK_ERROR
  (bank system error), NOT_ENOUGH (refunds and payouts: the merchant's balance is short until it is topped up).
- Alipay: gateway code 20000 (service unavailable: isp.unknow-error, aop.ACQ.SYSTEM_ERROR), ACQ.SYSTEM_ERROR,
  SYSTEM_ERROR, ACQ.SELLER_BALANCE_NOT_ENOUGH (refunds: the merchant's balance is short),
  ACQ.REASON_TRADE_BEEN_FREEZEN (a trade frozen for a dispute or by risk control cannot be refunded until it thaws),
  and code 10003 (ORDER_SUCCESS_PAY_INPROCESS: a charge still in process; its outcome comes from a query).
  ACQ.REFUND_AMT_NOT_EQUAL_TOTAL is not temporary: the refund is more than is left, and stays so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa

from services.payment.domain import Payment, Refund
from services.payment.port import ProviderBusy, ProviderRejected, ProviderUnavailable
from services.payment.settings import PaymentSettings
from shared.money import fen_to_yuan
from shared.protocols import alipay as ap
from shared.protocols import wechatpay as wp

log = logging.getLogger("services.payment.providers")
BEIJING = timezone(timedelta(hours=8))  # providers' wall clock


WECHAT_TEMPORARY = frozenset(
    {"SYSTEM_ERROR", "SYSTEMERROR", "BANK_ERROR", "BANKERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH"}
)
ALIPAY_TEMPORARY = frozenset(
    {
        "ACQ.SYSTEM_ERROR",
        "SYSTEM_ERROR",
        "aop.ACQ.SYSTEM_ERROR",
        "isp.unknow-error",
        "ACQ.SELLER_BALANCE_NOT_ENOUGH",
        "ACQ.REASON_TRADE_BEEN_FREEZEN",
    }
)


def wechat_refusal(status: int, body: Mapping[str, Any], what: str) -> ProviderUnavailable | ProviderRejected:
    """What a verified WeChat 4xx answer means: come back later (429, temporary codes) or a definite no."""
    code, message = str(body.get("code", status)), str(body.get("message", ""))
    if status == 429 or code in WECHAT_TEMPORARY:
        return ProviderBusy(code, f"{what}: HTTP {status} {message}")
    return ProviderRejected(code, message, status)


def alipay_refusal(answer: Mapping[str, Any], what: str) -> ProviderUnavailable | ProviderRejected:
    """What a verified Alipay answer other than 10000 means: in process, come back later, or a definite no."""
    code = str(answer.get("sub_code") or answer.get("code") or "UNKNOWN")
    message = str(answer.get("sub_msg") or answer.get("msg") or "")
    if answer.get("code") == "10003":
        # Accepted and still in process (a charge waiting for the buyer's bank): not a refusal; query it.
        return ProviderUnavailable(f"{what}: in process ({code})")
    if code in ALIPAY_TEMPORARY or answer.get("code") == "20000":
        return ProviderBusy(code, f"{what}: {message}")
    return ProviderRejected(code, message)


def rfc3339(at: datetime) -> str:
    return at.astimezone(BEIJING).isoformat(timespec="seconds")


class WechatPay:
    def __init__(self, http: aiohttp.ClientSession, settings: PaymentSettings) -> None:
        self.http = http
        self.base = settings.wechat_api_base.rstrip("/")
        self.appid = settings.wechat_appid
        self.mchid = settings.wechat_mchid
        self.apiv3_key = settings.wechat_apiv3_key.get_secret_value()
        self.private_key = wp.load_private_key(settings.wechat_merchant_private_key_file.read_bytes())
        self.serial_no = wp.certificate_serial_no(wp.load_certificate(settings.wechat_merchant_cert_file.read_bytes()))
        platform = wp.load_certificate(settings.wechat_platform_cert_file.read_bytes())
        public = platform.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        # Trusted under the certificate's serial and under its public-key id (WeChat's public-key mode).
        self.platform_keys: dict[str, rsa.RSAPublicKey] = {
            wp.certificate_serial_no(platform): public,
            wp.public_key_id(public): public,
        }
        self.timeout = aiohttp.ClientTimeout(total=settings.provider_timeout_s)

    async def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        auth = wp.build_authorization(
            method=method,
            url=path,
            body=raw,
            mchid=self.mchid,
            serial_no=self.serial_no,
            private_key=self.private_key,
            timestamp=int(time.time()),
            nonce=wp.new_nonce(),
        )
        headers = {"Authorization": auth, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self.http.request(
                method, self.base + path, data=raw if body is not None else None, headers=headers, timeout=self.timeout
            ) as resp:
                data = await resp.read()
                status = resp.status
                answer_headers = dict(resp.headers)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ProviderUnavailable(f"wechatpay {method} {path}: {type(exc).__name__}") from exc
        if status >= 500:
            raise ProviderUnavailable(f"wechatpay {method} {path}: HTTP {status}")
        try:
            wp.verify_response(answer_headers, data, public_key=self.platform_keys, now=int(time.time()))
        except wp.WechatPayError as exc:
            # An answer we cannot verify may be forged: act as if none came, and ask again.
            raise ProviderUnavailable(f"wechatpay {method} {path}: unverifiable answer ({exc})") from exc
        parsed: dict[str, Any] = json.loads(data) if data else {}
        if status >= 400:
            raise wechat_refusal(status, parsed, f"wechatpay {method} {path}")
        return parsed

    async def jsapi(self, payment: Payment, notify_url: str) -> str:
        assert payment.expires_at is not None and payment.openid
        body = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": payment.description[:127],
            "out_trade_no": payment.out_trade_no,
            "time_expire": rfc3339(payment.expires_at),
            "notify_url": notify_url,
            "amount": {"total": payment.amount_fen, "currency": "CNY"},
            "payer": {"openid": payment.openid},
        }
        answer = await self.call("POST", "/v3/pay/transactions/jsapi", body)
        return str(answer["prepay_id"])

    def request_payment(self, prepay_id: str) -> dict[str, str]:
        params = wp.request_payment_params(
            app_id=self.appid,
            prepay_id=prepay_id,
            private_key=self.private_key,
            timestamp=int(time.time()),
            nonce_str=wp.new_nonce(),
        )
        return {"appId": self.appid, **{key: str(value) for key, value in params.items()}}

    async def query(self, out_trade_no: str) -> dict[str, Any]:
        return await self.call("GET", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}?mchid={self.mchid}")

    async def close(self, out_trade_no: str) -> None:
        try:
            await self.call(
                "POST", f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no)}/close", {"mchid": self.mchid}
            )
        except ProviderRejected as exc:
            if exc.provider_code != "ORDER_CLOSED":
                raise

    async def refund(self, payment: Payment, refund: Refund, notify_url: str) -> dict[str, Any]:
        body = {
            "out_trade_no": payment.out_trade_no,
            "out_refund_no": refund.out_refund_no,
            "notify_url": notify_url,
            "amount": {"refund": refund.amount_fen, "total": payment.amount_fen, "currency": "CNY"},
        }
        return await self.call("POST", "/v3/refund/domestic/refunds", body)

    async def query_refund(self, out_refund_no: str) -> dict[str, Any]:
        return await self.call("GET", f"/v3/refund/domestic/refunds/{quote(out_refund_no)}")

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> wp.Notification:
        return wp.verify_notification(
            headers, body, public_key=self.platform_keys, now=int(time.time()), apiv3_key=self.apiv3_key
        )


class Alipay:
    def __init__(self, http: aiohttp.ClientSession, settings: PaymentSettings) -> None:
        self.http = http
        self.gateway = settings.alipay_gateway_url
        self.app_id = settings.alipay_app_id
        self.seller_id = settings.alipay_seller_id
        self.private_key = ap.load_private_key(settings.alipay_app_private_key_file.read_bytes())
        self.public_key = ap.load_public_key(settings.alipay_public_key_file.read_bytes())
        self.timeout = aiohttp.ClientTimeout(total=settings.provider_timeout_s)

    def _params(self, method: str, biz: Mapping[str, Any], notify_url: str | None = None) -> dict[str, str]:
        return ap.build_request_params(
            app_id=self.app_id,
            method=method,
            biz_content=biz,
            private_key=self.private_key,
            now=datetime.now(UTC),
            notify_url=notify_url,
        )

    async def call(self, method: str, biz: Mapping[str, Any], notify_url: str | None = None) -> dict[str, Any]:
        """The verified response object of a successful call (code 10000); ProviderRejected on a business error."""
        params = self._params(method, biz, notify_url)
        try:
            async with self.http.post(self.gateway, data=params, timeout=self.timeout) as resp:
                body = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ProviderUnavailable(f"alipay {method}: {type(exc).__name__}") from exc
        if status >= 500:
            raise ProviderUnavailable(f"alipay {method}: HTTP {status}")
        try:
            answer = ap.verify_response(body, method, self.public_key)
        except (ap.AlipayError, KeyError, ValueError) as exc:
            raise ProviderUnavailable(f"alipay {method}: unverifiable answer ({exc})") from exc
        if answer.get("code") != "10000":
            raise alipay_refusal(answer, f"alipay {method}")
        return answer

    def app_order_string(self, payment: Payment, notify_url: str) -> str:
        assert payment.expires_at is not None
        biz = {
            "out_trade_no": payment.out_trade_no,
            "total_amount": fen_to_yuan(payment.amount_fen),
            "subject": payment.description[:256],
            "product_code": ap.APP_PAY_PRODUCT_CODE,
            "time_expire": payment.expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        }
        return ap.build_app_pay_order_string(
            app_id=self.app_id,
            biz_content=biz,
            private_key=self.private_key,
            now=datetime.now(UTC),
            notify_url=notify_url,
        )

    async def pay_with_agreement(self, payment: Payment, notify_url: str) -> dict[str, Any]:
        biz = {
            "out_trade_no": payment.out_trade_no,
            "total_amount": fen_to_yuan(payment.amount_fen),
            "subject": payment.description[:256],
            "product_code": "GENERAL_WITHHOLDING",
            "agreement_params": {"agreement_no": payment.agreement_no},
        }
        return await self.call("alipay.trade.pay", biz, notify_url)

    async def query(self, out_trade_no: str) -> dict[str, Any] | None:
        """The trade, or None when Alipay has none (an app payment the buyer never opened)."""
        try:
            return await self.call("alipay.trade.query", {"out_trade_no": out_trade_no})
        except ProviderRejected as exc:
            if exc.provider_code == "ACQ.TRADE_NOT_EXIST":
                return None
            raise

    async def close(self, out_trade_no: str) -> None:
        """Close the trade; ProviderRejected("ACQ.TRADE_NOT_EXIST") when Alipay has none. For an app payment that only
        means the buyer has not opened the cashier yet: the order string stays payable until its time_expire, so the
        caller decides what the answer is worth."""
        await self.call("alipay.trade.close", {"out_trade_no": out_trade_no})

    async def refund(self, out_trade_no: str, refund: Refund) -> dict[str, Any]:
        biz = {
            "out_trade_no": out_trade_no,
            "refund_amount": fen_to_yuan(refund.amount_fen),
            "out_request_no": refund.out_refund_no,
        }
        return await self.call("alipay.trade.refund", biz)

    async def refund_query(self, out_trade_no: str, out_request_no: str) -> dict[str, Any]:
        return await self.call(
            "alipay.trade.fastpay.refund.query", {"out_trade_no": out_trade_no, "out_request_no": out_request_no}
        )

    def agreement_sign_url(self, agreement_id: str, notify_url: str) -> str:
        biz = {
            "personal_product_code": "GENERAL_WITHHOLDING_P",
            "product_code": "GENERAL_WITHHOLDING",
            "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
            "external_agreement_no": agreement_id,
            "access_params": {"channel": "ALIPAYAPP"},
        }
        params = self._params("alipay.user.agreement.page.sign", biz, notify_url)
        return f"{self.gateway}?{ap.encode_params(params)}"

    async def unsign(self, agreement_no: str, notify_url: str) -> None:
        try:
            await self.call("alipay.user.agreement.unsign", {"agreement_no": agreement_no}, notify_url)
        except ProviderRejected as exc:
            if exc.provider_code != "USER_AGREEMENT_NOT_EXIST":
                raise

    def verify_notification(self, form: Mapping[str, str]) -> None:
        ap.verify_notification(form, self.public_key)


async def with_retries(attempts: int, delay_s: float, call: Any) -> Any:
    """Run `call()` up to `attempts` times while the provider gives no definite answer (or asks us to come back),
    waiting longer each time."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except ProviderUnavailable as exc:
            if attempt == attempts:
                raise
            log.warning("provider unavailable (attempt %d/%d): %s", attempt, attempts, exc)
            await asyncio.sleep(delay_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")
