"""Alipay OpenAPI client of the platform's app: RSA2 in public-key or public-key-certificate mode, requests laid out
as the official SDKs send them, verified answers, one HTTP pool; every method the services call.

Money model (docs/providers.md §7, 商家分账): trades are collected in the platform's account frozen for royalty
(`extend_params.royalty_freeze`), the seller's part is settled to the seller's own Alipay account with
`alipay.trade.order.settle` (receivers bound once with `alipay.trade.royalty.relation.bind`), and the platform keeps
its fee when the settlement finishes (`royalty_finish` unfreezes the rest to the collecting account).

Users are identified by `user_id` (2088…) for apps created before the OpenID regime, and by `open_id` since: every
method takes either, and answers are read for both (`buyer_id` / `buyer_open_id`, `user_id` / `open_id`).

Errors as in shared/providers/errors.py: temporary codes (gateway 20000, ACQ.SYSTEM_ERROR,
ACQ.SELLER_BALANCE_NOT_ENOUGH, ACQ.REASON_TRADE_BEEN_FREEZEN; 10003 "in process") are ProviderBusy or
ProviderUnavailable; an answer refusing our app id, signature or certificate (`isv.invalid-app-id`,
`isv.invalid-signature`, certificate-SN mismatches) is ProviderMisconfigured; other failures ProviderRejected.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.money import fen_to_yuan
from shared.protocols import alipay as ap
from shared.providers.errors import ProviderBusy, ProviderMisconfigured, ProviderRejected, ProviderUnavailable
from shared.providers.settings import AlipaySettings

log = logging.getLogger("shared.providers.alipay")
BEIJING = timezone(timedelta(hours=8))

TEMPORARY = frozenset(
    {
        "ACQ.SYSTEM_ERROR",
        "SYSTEM_ERROR",
        "aop.ACQ.SYSTEM_ERROR",
        "isp.unknow-error",
        "ACQ.SELLER_BALANCE_NOT_ENOUGH",
        "ACQ.REASON_TRADE_BEEN_FREEZEN",
    }
)
# Refusals of our own identity or signature: configuration, not an outage (checked by prefix).
MISCONFIGURED_PREFIXES = (
    "isv.missing-app-id",
    "isv.invalid-app-id",
    "isv.missing-signature",
    "isv.invalid-signature",
    "isv.app-cert",
    "isv.alipay-root-cert",
    "isv.invalid-app-cert",
    "isv.invalid-alipay-root-cert",
    "isv.cert",
)
COMMON_IN_BODY = ("biz_content",)  # what goes in the form body; every other parameter goes in the URL query

IdType = Literal["userId", "openId", "loginName"]


def refusal(answer: Mapping[str, Any], what: str) -> ProviderUnavailable | ProviderRejected:
    """What a verified Alipay answer other than 10000 means: in process, come back later, or a definite no."""
    code = str(answer.get("sub_code") or answer.get("code") or "UNKNOWN")
    message = str(answer.get("sub_msg") or answer.get("msg") or "")
    if answer.get("code") == "10003":
        # Accepted and still in process (a charge waiting for the buyer's bank): not a refusal; query it.
        return ProviderUnavailable(f"{what}: in process ({code})")
    if code in TEMPORARY or answer.get("code") == "20000":
        return ProviderBusy(code, f"{what}: {message}")
    return ProviderRejected(code, message)


def user_fields(alipay_user: str) -> tuple[str, str]:
    """('userId' | 'openId', the id): 2088… ids are user ids, anything else an OpenID."""
    return (
        ("userId", alipay_user) if alipay_user.startswith("2088") and alipay_user.isdigit() else ("openId", alipay_user)
    )


def buyer_of(answer: Mapping[str, Any]) -> str | None:
    """The buyer an answer or notification names, whichever id regime the app is under."""
    for name in ("buyer_open_id", "buyer_id", "buyer_user_id"):
        value = answer.get(name)
        if isinstance(value, str) and value:
            return value
    return None


@dataclass(frozen=True)
class Royalty:
    """One royalty transfer of a settlement: to a bound receiver (userId or openId), amount in fen."""

    trans_in: str
    amount_fen: int
    desc: str
    royalty_scene: str = "其他"

    def as_param(self) -> dict[str, str]:
        kind, account = user_fields(self.trans_in)
        return {
            "royalty_type": "transfer",
            "trans_in_type": kind,
            "trans_in": account,
            "amount": fen_to_yuan(self.amount_fen),
            "desc": self.desc[:100],
            "royalty_scene": self.royalty_scene,
        }


def _cert_module() -> Any:
    # Certificate serial numbers as the official SDK computes them (shared/protocols/alipay_cert.py).
    import importlib

    return importlib.import_module("shared.protocols.alipay_cert")


class AlipayClient:
    def __init__(self, http: aiohttp.ClientSession, settings: AlipaySettings, timeout_s: float = 10.0) -> None:
        self.http = http
        self.gateway = settings.alipay_gateway_url
        self.app_id = settings.alipay_app_id
        self.seller_id = settings.alipay_seller_id
        self.private_key = ap.load_private_key(settings.alipay_app_private_key_file.read_bytes())
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.cert_mode = settings.alipay_sign_mode == "cert"
        self.common: dict[str, str] = {}
        # Alipay's verification keys by the certificate SN that names them ("" in public-key mode).
        self.alipay_keys: dict[str, rsa.RSAPublicKey] = {}
        if self.cert_mode:
            assert settings.alipay_app_cert_file and settings.alipay_cert_file and settings.alipay_root_cert_file
            certs = _cert_module()
            app_cert = x509.load_pem_x509_certificate(settings.alipay_app_cert_file.read_bytes())
            alipay_cert = x509.load_pem_x509_certificate(settings.alipay_cert_file.read_bytes())
            self.root_pem = settings.alipay_root_cert_file.read_bytes()
            self.common = {
                "app_cert_sn": certs.cert_sn(app_cert),
                "alipay_root_cert_sn": certs.root_cert_sn(self.root_pem),
            }
            key = alipay_cert.public_key()
            assert isinstance(key, rsa.RSAPublicKey)
            self.alipay_keys[certs.cert_sn(alipay_cert)] = key
        else:
            assert settings.alipay_public_key_file is not None
            self.alipay_keys[""] = ap.load_public_key(settings.alipay_public_key_file.read_bytes())

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The key Alipay signs with now (the newest certificate's in certificate mode)."""
        return list(self.alipay_keys.values())[-1]

    def params(
        self,
        method: str,
        biz: Mapping[str, Any] | None,
        notify_url: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        signed = ap.build_request_params(
            app_id=self.app_id,
            method=method,
            biz_content=biz or {},
            private_key=self.private_key,
            now=datetime.now(UTC),
            notify_url=notify_url,
            extra={**self.common, **(extra or {})},
        )
        if biz is None:
            # Methods whose arguments are common parameters (oauth.token) send no biz_content at all.
            del signed["biz_content"]
            signed = ap.sign_params({k: v for k, v in signed.items() if k != "sign"}, self.private_key)
        return signed

    async def call(
        self,
        method: str,
        biz: Mapping[str, Any] | None,
        notify_url: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The verified response object of a successful call (code 10000). Laid out as the official SDKs send it:
        common parameters in the URL query, only `biz_content` in the form body."""
        body = await self._post(method, biz, notify_url, extra)
        sn = self._cert_sn_of(body)
        if sn and sn not in self.alipay_keys:
            # Alipay rotated its certificate: fetch the one it names (checked against our roots), then verify.
            await self.download_alipay_cert(sn)
        try:
            answer = ap.verify_response(body, method, self.alipay_keys.get(sn or "", self.public_key))
        except (ap.AlipayError, KeyError, ValueError) as exc:
            self._raise_if_misconfigured(method, body)
            raise ProviderUnavailable(f"alipay {method}: unverifiable answer ({exc})") from exc
        if answer.get("code") != "10000" and "code" in answer:
            self._raise_if_misconfigured(method, body)
            raise refusal(answer, f"alipay {method}")
        return answer

    async def _post(
        self, method: str, biz: Mapping[str, Any] | None, notify_url: str | None, extra: Mapping[str, str] | None
    ) -> bytes:
        params = self.params(method, biz, notify_url, extra)
        query = {k: v for k, v in params.items() if k not in COMMON_IN_BODY}
        form = {k: v for k, v in params.items() if k in COMMON_IN_BODY}
        url = f"{self.gateway}?{ap.encode_params(query)}"
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}
        try:
            async with self.http.post(
                url, data=ap.encode_params(form).encode(), headers=headers, timeout=self.timeout
            ) as resp:
                body = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ProviderUnavailable(f"alipay {method}: {type(exc).__name__}") from exc
        if status >= 500:
            raise ProviderUnavailable(f"alipay {method}: HTTP {status}")
        return body

    def _cert_sn_of(self, body: bytes) -> str | None:
        """In certificate mode, the `alipay_cert_sn` an answer names (the certificate whose key signed it)."""
        if not self.cert_mode:
            return None
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        sn = parsed.get("alipay_cert_sn") if isinstance(parsed, dict) else None
        return sn if isinstance(sn, str) and sn else None

    def _raise_if_misconfigured(self, method: str, body: bytes) -> None:
        try:
            parsed = json.loads(body)
        except ValueError:
            return
        if not isinstance(parsed, dict):
            return
        for value in parsed.values():
            if isinstance(value, dict):
                sub_code = str(value.get("sub_code", ""))
                if sub_code.startswith(MISCONFIGURED_PREFIXES):
                    log.critical("Alipay refused our credentials on %s: %s %s", method, sub_code, value.get("sub_msg"))
                    raise ProviderMisconfigured(
                        f"Alipay refused our app or signature: {sub_code}",
                        details={"provider_code": sub_code, "message": value.get("sub_msg", "")},
                    )

    async def download_alipay_cert(self, alipay_cert_sn: str) -> None:
        """Rotate: fetch the Alipay certificate an answer named (`alipay.open.app.alipaycert.download`), check it was
        issued by one of our root certificates, verify the download's own answer with it, and trust it."""
        method = "alipay.open.app.alipaycert.download"
        body = await self._post(method, {"alipay_cert_sn": alipay_cert_sn}, None, None)
        try:
            content = json.loads(ap.extract_response_text(body, method))["alipay_cert_content"]
            cert = x509.load_pem_x509_certificate(base64.b64decode(content))
            issuers = [root for root in x509.load_pem_x509_certificates(self.root_pem) if root.subject == cert.issuer]
            if not issuers:
                raise ValueError("not issued under our Alipay root certificates")
            cert.verify_directly_issued_by(issuers[0])
            key = cert.public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("not an RSA certificate")
            ap.verify_response(body, method, key)
        except (ap.AlipayError, KeyError, ValueError, TypeError) as exc:
            raise ProviderUnavailable(f"alipay certificate {alipay_cert_sn} not trusted: {exc}") from exc
        sn = _cert_module().cert_sn(cert)
        if sn != alipay_cert_sn:
            raise ProviderUnavailable(f"alipay certificate download answered {sn}, not {alipay_cert_sn}")
        self.alipay_keys[sn] = key
        log.info("trusting Alipay certificate %s", sn)

    def verify_notification(self, form: Mapping[str, str]) -> None:
        """A notification is verified with each key Alipay may sign with now (one, except while rotating)."""
        errors = []
        for key in reversed(list(self.alipay_keys.values())):
            try:
                ap.verify_notification(form, key)
                return
            except ap.AlipayBadSignature as exc:
                errors.append(exc)
        raise errors[0]

    # ------------------------------------------------------------------------------------------------ login

    async def oauth_token(self, code: str) -> dict[str, Any]:
        """An auth code → `user_id` (older apps) or `open_id` (OpenID apps), with the access token."""
        return await self.call(
            "alipay.system.oauth.token", None, extra={"grant_type": "authorization_code", "code": code}
        )

    # ------------------------------------------------------------------------------------------------ trades

    def app_order_string(
        self,
        *,
        out_trade_no: str,
        amount_fen: int,
        subject: str,
        expires_at: datetime,
        notify_url: str,
        royalty_freeze: bool = True,
    ) -> str:
        biz: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan(amount_fen),
            "subject": subject[:256],
            "product_code": ap.APP_PAY_PRODUCT_CODE,
            "time_expire": expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        }
        if royalty_freeze:
            biz["extend_params"] = {"royalty_freeze": "true"}
        params = self.params(ap.APP_PAY_METHOD, biz, notify_url)
        return ap.encode_params(params)

    async def pay_with_agreement(
        self, *, out_trade_no: str, amount_fen: int, subject: str, agreement_no: str, notify_url: str,
        royalty_freeze: bool = True,
    ) -> dict[str, Any]:  # fmt: skip
        biz: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan(amount_fen),
            "subject": subject[:256],
            "product_code": "GENERAL_WITHHOLDING",
            "agreement_params": {"agreement_no": agreement_no},
        }
        if royalty_freeze:
            biz["extend_params"] = {"royalty_freeze": "true"}
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

    async def refund(
        self, out_trade_no: str, out_request_no: str, amount_fen: int, take_back: Sequence[Royalty] = ()
    ) -> dict[str, Any]:
        """Refund; before any settlement it comes out of the frozen trade. After one, `take_back` names what each
        receiver gives back (`refund_royalty_parameters`, trans_out = the receiver); without it the collecting
        account pays all of it (docs/providers.md §7)."""
        biz: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "refund_amount": fen_to_yuan(amount_fen),
            "out_request_no": out_request_no,
        }
        if take_back:
            biz["refund_royalty_parameters"] = [
                {
                    "royalty_type": "transfer",
                    "trans_out_type": user_fields(r.trans_in)[0],
                    "trans_out": r.trans_in,
                    "amount": fen_to_yuan(r.amount_fen),
                    "desc": r.desc[:100],
                }
                for r in take_back
            ]
        return await self.call("alipay.trade.refund", biz)

    async def refund_query(self, out_trade_no: str, out_request_no: str) -> dict[str, Any]:
        return await self.call(
            "alipay.trade.fastpay.refund.query", {"out_trade_no": out_trade_no, "out_request_no": out_request_no}
        )

    # ---------------------------------------------------------------------------------- royalty settlement

    async def bind_receivers(self, out_request_no: str, receivers: Sequence[tuple[str, str | None]]) -> dict[str, Any]:
        """Bind (account, real name or None) receivers, at most 20 per call; an account is a user id or an open id."""
        if not 0 < len(receivers) <= 20:
            raise ValueError("Alipay binds 1 to 20 receivers per call")
        receiver_list = []
        for account, name in receivers:
            kind, value = user_fields(account)
            entry = {"type": kind, "account": value}
            if name:
                entry["name"] = name
            receiver_list.append(entry)
        return await self.call(
            "alipay.trade.royalty.relation.bind", {"out_request_no": out_request_no, "receiver_list": receiver_list}
        )

    async def settle(
        self, *, out_request_no: str, trade_no: str, royalties: Sequence[Royalty], finish: bool
    ) -> dict[str, Any]:
        """`alipay.trade.order.settle` (sync): transfer each royalty from the frozen trade; `finish` unfreezes what
        remains to the collecting account. A finish-only call passes no royalties. Same out_request_no = same call."""
        biz: dict[str, Any] = {"out_request_no": out_request_no, "trade_no": trade_no}
        if royalties:
            biz["royalty_parameters"] = [r.as_param() for r in royalties]
        if finish:
            biz["extend_params"] = {"royalty_finish": "true"}
        return await self.call("alipay.trade.order.settle", biz)

    async def settle_query(self, *, trade_no: str, out_request_no: str) -> dict[str, Any]:
        return await self.call(
            "alipay.trade.order.settle.query", {"out_request_no": out_request_no, "trade_no": trade_no}
        )

    # ------------------------------------------------------------------------------------ password-free

    def agreement_sign_url(self, agreement_id: str, notify_url: str) -> str:
        biz = {
            "personal_product_code": "GENERAL_WITHHOLDING_P",
            "product_code": "GENERAL_WITHHOLDING",
            "sign_scene": "INDUSTRY|DIGITAL_MEDIA",
            "external_agreement_no": agreement_id,
            "access_params": {"channel": "ALIPAYAPP"},
        }
        params = self.params("alipay.user.agreement.page.sign", biz, notify_url)
        return f"{self.gateway}?{ap.encode_params(params)}"

    async def unsign(self, agreement_no: str, notify_url: str) -> None:
        try:
            await self.call("alipay.user.agreement.unsign", {"agreement_no": agreement_no}, notify_url)
        except ProviderRejected as exc:
            if exc.provider_code != "USER_AGREEMENT_NOT_EXIST":
                raise
