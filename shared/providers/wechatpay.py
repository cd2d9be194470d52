"""WeChat Pay v3 client of the platform as e-commerce service provider (平台收付通): signed requests, verified answers
under the keys WeChat signs with now, sensitive fields encrypted, one HTTP pool; every API the services call.

Errors (shared/providers/errors.py): ProviderUnavailable for "we do not know what happened" (5xx, time-out, connection
error, an answer that does not verify: retry with the same numbers); ProviderBusy for a temporary refusal (429,
SYSTEM_ERROR, BANK_ERROR, FREQUENCY_LIMITED, NOT_ENOUGH — payments.md §F); ProviderRejected for a definite no;
ProviderMisconfigured when WeChat refuses *our* signature (401 SIGN_ERROR), which no retry fixes.

Verification keys (docs/providers.md §6): the WeChat Pay public key under the id WeChat assigned, and the platform
certificates by serial, downloaded from `/v3/certificates` and refreshed; `Wechatpay-Serial` picks the key, so a
merchant switching over accepts both at once. A serial we do not know triggers a certificate download (at most once a
minute) and the answer is treated as unverifiable until then.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.protocols import wechatpay as wp
from shared.providers.errors import ProviderBusy, ProviderMisconfigured, ProviderRejected, ProviderUnavailable
from shared.providers.settings import WechatPaySettings

log = logging.getLogger("shared.providers.wechatpay")
BEIJING = timezone(timedelta(hours=8))  # WeChat's wall clock

TEMPORARY = frozenset({"SYSTEM_ERROR", "SYSTEMERROR", "BANK_ERROR", "BANKERROR", "FREQUENCY_LIMITED", "NOT_ENOUGH"})
CERTIFICATES_PATH = "/v3/certificates"
UNKNOWN_SERIAL_REFRESH_S = 60.0


def refusal(status: int, body: Mapping[str, Any], what: str) -> ProviderUnavailable | ProviderRejected:
    """What a verified WeChat 4xx answer means: come back later (429, temporary codes) or a definite no."""
    code, message = str(body.get("code", status)), str(body.get("message", ""))
    if status == 429 or code in TEMPORARY:
        return ProviderBusy(code, f"{what}: HTTP {status} {message}")
    return ProviderRejected(code, message, status)


def rfc3339(at: datetime) -> str:
    return at.astimezone(BEIJING).isoformat(timespec="seconds")


def _rsa_public(cert: x509.Certificate) -> rsa.RSAPublicKey:
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise wp.InvalidKeyError("a WeChat Pay platform certificate must hold an RSA key")
    return key


class Keyring:
    """The keys WeChat Pay signs with, by the id `Wechatpay-Serial` names: the public key under its assigned id, and
    each platform certificate under its serial. Also the key sensitive fields are encrypted for."""

    def __init__(self, public_key: rsa.RSAPublicKey | None, public_key_id: str | None) -> None:
        self.public_key = public_key
        self.public_key_id = public_key_id
        self.certificates: dict[str, x509.Certificate] = {}

    def add(self, cert: x509.Certificate) -> bool:
        """Trust a platform certificate; True when it was new."""
        serial = wp.certificate_serial_no(cert)
        known = serial in self.certificates
        self.certificates[serial] = cert
        return not known

    def keys(self) -> dict[str, rsa.RSAPublicKey]:
        keys = {serial: _rsa_public(cert) for serial, cert in self.certificates.items()}
        if self.public_key is not None and self.public_key_id is not None:
            keys[self.public_key_id] = self.public_key
        return keys

    def encryption_key(self, now: datetime) -> tuple[str, rsa.RSAPublicKey]:
        """(the id for `Wechatpay-Serial`, the key): the public key when configured (new merchants have only that),
        else the valid platform certificate that expires last."""
        if self.public_key is not None and self.public_key_id is not None:
            return self.public_key_id, self.public_key
        valid = [c for c in self.certificates.values() if c.not_valid_before_utc <= now < c.not_valid_after_utc]
        if not valid:
            raise ProviderUnavailable("no valid WeChat Pay platform certificate to encrypt for (not downloaded yet)")
        cert = max(valid, key=lambda c: c.not_valid_after_utc)
        return wp.certificate_serial_no(cert), _rsa_public(cert)


def encrypt_sensitive(text: str, key: rsa.RSAPublicKey) -> str:
    """A sensitive field as WeChat wants it: RSA/ECB/OAEPWithSHA-1AndMGF1Padding over UTF-8, Base64."""
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    return base64.b64encode(key.encrypt(text.encode("utf-8"), oaep)).decode("ascii")


class WechatPayClient:
    def __init__(self, http: aiohttp.ClientSession, settings: WechatPaySettings, timeout_s: float = 10.0) -> None:
        self.http = http
        self.base = settings.wechat_api_base.rstrip("/")
        self.appid = settings.wechat_appid
        self.mchid = settings.wechat_mchid
        self.apiv3_key = settings.wechat_apiv3_key.get_secret_value()
        self.private_key = wp.load_private_key(settings.wechat_merchant_private_key_file.read_bytes())
        self.serial_no = wp.certificate_serial_no(wp.load_certificate(settings.wechat_merchant_cert_file.read_bytes()))
        public = None
        if settings.wechat_pay_public_key_file is not None:
            public = wp.load_public_key(settings.wechat_pay_public_key_file.read_bytes())
        self.keyring = Keyring(public, settings.wechat_pay_public_key_id)
        if settings.wechat_platform_cert_file is not None:
            self.keyring.add(wp.load_certificate(settings.wechat_platform_cert_file.read_bytes()))
        self.uses_certificates = settings.wechat_platform_certificates
        self.refresh_s = settings.wechat_certificates_refresh_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._last_refresh = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------------- signed calls

    async def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, serial: str | None = None
    ) -> dict[str, Any]:
        """One signed call; the verified JSON answer (`{}` for 204). `serial` is sent as `Wechatpay-Serial` (the key
        the body's sensitive fields were encrypted for)."""
        status, data, headers = await self._send(method, path, body, serial)
        if status == 401:
            # Our signature was refused (SIGN_ERROR): such an answer may come unsigned, or signed by a key we do not
            # hold yet; either way no retry fixes it.
            self._misconfigured(method, path, data)
        try:
            wp.verify_response(headers, data, public_key=self.keyring.keys(), now=int(time.time()))
        except wp.WechatPayUnknownSerial as exc:
            self.refresh_soon()
            raise ProviderUnavailable(
                f"wechatpay {method} {path}: signed under a key we do not know yet ({exc})"
            ) from exc
        except wp.WechatPayError as exc:
            # An answer we cannot verify may be forged: act as if none came, and ask again.
            raise ProviderUnavailable(f"wechatpay {method} {path}: unverifiable answer ({exc})") from exc
        parsed: dict[str, Any] = json.loads(data) if data else {}
        if status >= 400:
            raise refusal(status, parsed, f"wechatpay {method} {path}")
        return parsed

    async def _send(
        self, method: str, path: str, body: Mapping[str, Any] | None, serial: str | None
    ) -> tuple[int, bytes, dict[str, str]]:
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
        if serial is not None:
            headers[wp.HEADER_SERIAL] = serial
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
        return status, data, answer_headers

    def _misconfigured(self, method: str, path: str, data: bytes) -> None:
        """WeChat refused our signature (401, SIGN_ERROR whether or not the answer is signed): the merchant key, its
        serial or the mchid is wrong. Loud, and never retried as if WeChat were down."""
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = {}
        code = answer.get("code", "SIGN_ERROR") if isinstance(answer, dict) else "SIGN_ERROR"
        message = answer.get("message", "") if isinstance(answer, dict) else ""
        log.critical(
            "WeChat Pay refused our credentials on %s %s: %s %s (check WECHAT_MCHID, the merchant key and its "
            "certificate serial)",
            method,
            path,
            code,
            message,
        )
        raise ProviderMisconfigured(
            f"WeChat Pay refused our signature: {code}", details={"provider_code": code, "message": message}
        )

    # ------------------------------------------------------------------------------------------- certificates

    async def refresh_certificates(self) -> int:
        """Download the platform certificates (`GET /v3/certificates`), trust the new ones; how many were new.

        The answer may be signed by a certificate it carries (the first download, or a rotation): the certificates
        are decrypted first — AES-GCM under the APIv3 key, which only WeChat and we hold, authenticates them — and the
        answer is then verified with the key its `Wechatpay-Serial` names among them and what we trust already."""
        if not self.uses_certificates:
            return 0
        self._last_refresh = time.monotonic()
        status, data, headers = await self._send("GET", CERTIFICATES_PATH, None, None)
        if status == 401:
            self._misconfigured("GET", CERTIFICATES_PATH, data)
        if status >= 400:
            raise ProviderUnavailable(f"wechatpay GET {CERTIFICATES_PATH}: HTTP {status}")
        try:
            entries = json.loads(data).get("data") or []
            downloaded = [
                wp.load_certificate(wp.decrypt_resource(e["encrypt_certificate"], apiv3_key=self.apiv3_key))
                for e in entries
            ]
        except (ValueError, KeyError, TypeError, AttributeError, wp.WechatPayError) as exc:
            raise ProviderUnavailable(f"wechatpay certificates: unreadable answer ({exc})") from exc
        candidates = self.keyring.keys() | {wp.certificate_serial_no(c): _rsa_public(c) for c in downloaded}
        try:
            wp.verify_response(headers, data, public_key=candidates, now=int(time.time()))
        except wp.WechatPayError as exc:
            raise ProviderUnavailable(f"wechatpay certificates: unverifiable answer ({exc})") from exc
        now = datetime.now(UTC)
        new = sum(self.keyring.add(c) for c in downloaded if c.not_valid_after_utc > now)
        if new:
            log.info("trusting %d new WeChat Pay platform certificate(s)", new)
        return new

    def refresh_soon(self) -> None:
        """A serial we do not know arrived: download the certificates in the background, at most once a minute."""
        if not self.uses_certificates or (self._refreshing is not None and not self._refreshing.done()):
            return
        if time.monotonic() - self._last_refresh < UNKNOWN_SERIAL_REFRESH_S:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not in the service's loop (a script): the periodic download catches up
        self._last_refresh = time.monotonic()
        self._refreshing = loop.create_task(self._refresh_logged())

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh_certificates()
        except (ProviderUnavailable, ProviderMisconfigured) as exc:
            log.warning("WeChat Pay certificates not refreshed: %s", exc)

    async def keep_certificates(self, stop: asyncio.Event) -> None:
        """Background task: download at start, then every `refresh_s` (sooner after a failure)."""
        if not self.uses_certificates:
            return
        while not stop.is_set():
            wait = self.refresh_s
            try:
                await self.refresh_certificates()
            except (ProviderUnavailable, ProviderMisconfigured) as exc:
                log.warning("WeChat Pay certificates not refreshed: %s", exc)
                wait = min(self.refresh_s, 30.0)
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except TimeoutError:
                pass

    def encrypt(self, text: str) -> tuple[str, str]:
        """(ciphertext, the Wechatpay-Serial to send with it) for a sensitive field."""
        serial, key = self.keyring.encryption_key(datetime.now(UTC))
        return encrypt_sensitive(text, key), serial

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> wp.Notification:
        """A callback verified under either key mode and decrypted; an unknown serial also fetches certificates."""
        try:
            return wp.verify_notification(
                headers, body, public_key=self.keyring.keys(), now=int(time.time()), apiv3_key=self.apiv3_key
            )
        except wp.WechatPayUnknownSerial:
            self.refresh_soon()
            raise

    # ------------------------------------------------------------------------- partner (e-commerce) payments

    async def partner_jsapi(
        self,
        *,
        sub_mchid: str,
        out_trade_no: str,
        description: str,
        amount_fen: int,
        sp_openid: str,
        notify_url: str,
        expires_at: datetime,
        profit_sharing: bool = True,
    ) -> str:
        """A mini-program order paid to the seller's sub-merchant, frozen for profit sharing; the prepay_id."""
        body = {
            "sp_appid": self.appid,
            "sp_mchid": self.mchid,
            "sub_mchid": sub_mchid,
            "description": description[:127],
            "out_trade_no": out_trade_no,
            "time_expire": rfc3339(expires_at),
            "notify_url": notify_url,
            "settle_info": {"profit_sharing": profit_sharing},
            "amount": {"total": amount_fen, "currency": "CNY"},
            "payer": {"sp_openid": sp_openid},
        }
        answer = await self.call("POST", "/v3/pay/partner/transactions/jsapi", body)
        return str(answer["prepay_id"])

    def request_payment(self, prepay_id: str) -> dict[str, str]:
        """`wx.requestPayment` parameters: appId is the platform's mini-program, paySign by the platform's key."""
        params = wp.request_payment_params(
            app_id=self.appid,
            prepay_id=prepay_id,
            private_key=self.private_key,
            timestamp=int(time.time()),
            nonce_str=wp.new_nonce(),
        )
        return {"appId": self.appid, **{key: str(value) for key, value in params.items()}}

    async def partner_query(self, out_trade_no: str, sub_mchid: str) -> dict[str, Any]:
        query = urlencode({"sp_mchid": self.mchid, "sub_mchid": sub_mchid})
        return await self.call("GET", f"/v3/pay/partner/transactions/out-trade-no/{quote(out_trade_no)}?{query}")

    async def partner_close(self, out_trade_no: str, sub_mchid: str) -> None:
        """Close an unpaid order. A 204 proves nothing about the order (docs/providers.md §8): query it afterwards."""
        try:
            await self.call(
                "POST",
                f"/v3/pay/partner/transactions/out-trade-no/{quote(out_trade_no)}/close",
                {"sp_mchid": self.mchid, "sub_mchid": sub_mchid},
            )
        except ProviderRejected as exc:
            if exc.provider_code != "ORDER_CLOSED":
                raise

    # -------------------------------------------------------------------------------------- e-commerce refunds

    async def refund(
        self,
        *,
        sub_mchid: str,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        notify_url: str,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """`/v3/ecommerce/refunds/apply`: accepted (PROCESSING) or already decided; the same number refunds once."""
        body: dict[str, Any] = {
            "sub_mchid": sub_mchid,
            "sp_appid": self.appid,
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
            "notify_url": notify_url,
        }
        if reason:
            body["reason"] = reason[:80]
        return await self.call("POST", "/v3/ecommerce/refunds/apply", body)

    async def query_refund(self, out_refund_no: str, sub_mchid: str) -> dict[str, Any]:
        query = urlencode({"sub_mchid": sub_mchid})
        return await self.call("GET", f"/v3/ecommerce/refunds/out-refund-no/{quote(out_refund_no)}?{query}")

    # --------------------------------------------------------------------------------- sub-merchant onboarding

    async def submit_applyment(self, body: Mapping[str, Any], serial: str) -> dict[str, Any]:
        """`POST /v3/ecommerce/applyments/` with sensitive fields already encrypted (see `encrypt`) for `serial`."""
        return await self.call("POST", "/v3/ecommerce/applyments/", body, serial=serial)

    async def query_applyment(self, out_request_no: str) -> dict[str, Any]:
        return await self.call("GET", f"/v3/ecommerce/applyments/out-request-no/{quote(out_request_no)}")

    # ---------------------------------------------------------------------------------------- profit sharing

    async def profit_share(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str, amount_fen: int, description: str, finish: bool
    ) -> dict[str, Any]:
        """Split `amount_fen` of the order to the platform (a receiver by default); `finish` unfreezes the rest."""
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
        return await self.call("POST", "/v3/ecommerce/profitsharing/orders", body)

    async def query_profit_share(self, *, sub_mchid: str, transaction_id: str, out_order_no: str) -> dict[str, Any]:
        query = urlencode({"sub_mchid": sub_mchid, "transaction_id": transaction_id, "out_order_no": out_order_no})
        return await self.call("GET", f"/v3/ecommerce/profitsharing/orders?{query}")

    async def finish_profit_sharing(
        self, *, sub_mchid: str, transaction_id: str, out_order_no: str, description: str
    ) -> dict[str, Any]:
        body = {
            "sub_mchid": sub_mchid,
            "transaction_id": transaction_id,
            "out_order_no": out_order_no,
            "description": description,
        }
        return await self.call("POST", "/v3/ecommerce/profitsharing/finish-order", body)

    async def return_profit_share(
        self, *, sub_mchid: str, out_order_no: str, out_return_no: str, amount_fen: int, description: str
    ) -> dict[str, Any]:
        """Take a split back from the platform to the seller (before refunding an order already split)."""
        body = {
            "sub_mchid": sub_mchid,
            "out_order_no": out_order_no,
            "out_return_no": out_return_no,
            "return_mchid": self.mchid,
            "amount": amount_fen,
            "description": description,
        }
        return await self.call("POST", "/v3/ecommerce/profitsharing/returnorders", body)

    async def unsplit_amount(self, transaction_id: str) -> int:
        answer = await self.call("GET", f"/v3/ecommerce/profitsharing/orders/{quote(transaction_id)}/amounts")
        return int(answer["unsplit_amount"])

    # ------------------------------------------------------------------------------ balances and withdrawals

    async def balance(self, sub_mchid: str, account_type: str = "BASIC") -> dict[str, Any]:
        return await self.call(
            "GET", f"/v3/ecommerce/fund/balance/{quote(sub_mchid)}?{urlencode({'account_type': account_type})}"
        )

    async def withdraw(
        self, *, sub_mchid: str, out_request_no: str, amount_fen: int, remark: str, notify_url: str | None = None
    ) -> dict[str, Any]:
        """To the sub-merchant's settlement card. On INIT or no answer, send the identical request again."""
        body: dict[str, Any] = {
            "sub_mchid": sub_mchid,
            "out_request_no": out_request_no,
            "amount": amount_fen,
            "remark": remark[:56],
            "account_type": "BASIC",
        }
        if notify_url:
            body["notify_url"] = notify_url
        return await self.call("POST", "/v3/ecommerce/fund/withdraw", body)

    async def query_withdrawal(self, out_request_no: str, sub_mchid: str) -> dict[str, Any]:
        query = urlencode({"sub_mchid": sub_mchid})
        return await self.call("GET", f"/v3/ecommerce/fund/withdraw/out-request-no/{quote(out_request_no)}?{query}")

    async def modify_settlement(
        self, sub_mchid: str, *, account_type: str, account_bank: str, bank_address_code: str, account_number: str,
        account_name: str,
    ) -> dict[str, Any]:  # fmt: skip
        number, serial = self.encrypt(account_number)
        name, _ = self.encrypt(account_name)
        body = {
            "modify_mode": "MODIFY_MODE_ASYNC",
            "account_type": account_type,
            "account_bank": account_bank,
            "bank_address_code": bank_address_code,
            "account_number": number,
            "account_name": name,
        }
        return await self.call(
            "POST", f"/v3/apply4sub/sub_merchants/{quote(sub_mchid)}/modify-settlement", body, serial=serial
        )

    async def settlement_application(self, sub_mchid: str, application_no: str) -> dict[str, Any]:
        return await self.call(
            "GET", f"/v3/apply4sub/sub_merchants/{quote(sub_mchid)}/application/{quote(application_no)}"
        )

    async def settlement(self, sub_mchid: str) -> dict[str, Any]:
        return await self.call("GET", f"/v3/apply4sub/sub_merchants/{quote(sub_mchid)}/settlement")
