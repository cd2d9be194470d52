"""One typed client per service the gateway fronts: listing, payment, refund and wallet, over one pooled aiohttp
session, with the internal token, a time-out, and the caller's trace context on every call (the aiohttp client
instrumentation injects `traceparent`; each call is a client span of the request's trace).

A service's 4xx is the caller's answer (its code, message and details pass through, re-statused where the public
contract says otherwise); a 5xx, a time-out or a refused connection is 503 `unavailable`, naming the service."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp

from shared.errors import AppError, NotFound, Unavailable

log = logging.getLogger("channel_gateway.clients")

# Public statuses of codes the services answer otherwise (API.md's table).
PUBLIC_STATUS = {"insufficient_funds": 422, "insufficient_funds_at_provider": 422, "limit_exceeded": 422}


class ServiceError(AppError):
    """A service's refusal, as the gateway passes it on."""


class ServiceClient:
    def __init__(self, name: str, base_url: str, http: aiohttp.ClientSession, token: str, timeout_s: float) -> None:
        self.name = name
        self.base = base_url.rstrip("/") + "/internal/v1"
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self.http.request(
                method,
                self.base + _quoted(path),
                params=query,
                json=body,
                headers=self.headers | (headers or {}),
                timeout=self.timeout,
            ) as resp:
                text = await resp.text()
                status = resp.status
        except TimeoutError:
            raise Unavailable(f"{self.name} did not answer in time", details={"service": self.name}) from None
        except aiohttp.ClientError as exc:
            raise Unavailable(f"{self.name} is unreachable", details={"service": self.name}) from exc
        data = _json(text)
        if status < 400:
            return data
        if status >= 500 or not isinstance(data, dict) or not isinstance(data.get("error"), dict):
            log.warning("%s %s %s answered %s: %s", self.name, method, path, status, text[:300])
            raise Unavailable(f"{self.name} failed", details={"service": self.name, "status": status})
        err = data["error"]
        code = str(err.get("code") or "error")
        raise ServiceError(
            str(err.get("message") or code),
            code=code,
            status=PUBLIC_STATUS.get(code, status),
            details=err.get("details") if isinstance(err.get("details"), dict) else {},
        )


def _quoted(path: str) -> str:
    """Each segment of an internal path percent-encoded, so no value a client sent can add a query, a fragment or a
    segment to the service's URL (the routes admit only plain ids already: this is the second line)."""
    segments = path.split("/")
    if any(seg in (".", "..") for seg in segments):
        raise NotFound("not found")
    return "/".join(quote(seg, safe="-_~:@!$&'()*+,;=") for seg in segments)


def _param(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


class ListingClient(ServiceClient):
    async def catalog(self, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/catalog", params=params)
        return result

    async def item(self, item_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/items/{item_id}")
        return result

    async def shop_of(self, seller_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/sellers/{seller_id}/shop")
        return result

    async def shop(self, shop_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/shops/{shop_id}")
        return result

    async def open_shop(self, seller_id: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "/shops", body={"seller_id": seller_id, "name": name})
        return result

    async def set_level(self, shop_id: str, level: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("PUT", f"/shops/{shop_id}/level", body={"level": level})
        return result

    async def draft_item(self, seller_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "/items", body={**fields, "seller_id": seller_id})
        return result

    async def edit_item(self, item_id: str, seller_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        body = {**fields, "seller_id": seller_id}
        result: dict[str, Any] = await self.call("PATCH", f"/items/{item_id}", body=body)
        return result

    async def item_action(self, item_id: str, seller_id: str, action: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/items/{item_id}/{action}", body={"seller_id": seller_id})
        return result

    async def seller_items(self, seller_id: str, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/items", params={**params, "seller_id": seller_id})
        return result

    async def place_order(
        self,
        item_id: str,
        buyer_id: str,
        channel: str,
        payment_method: str,
        request_id: str | None,
        share_code: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "item_id": item_id,
            "buyer_id": buyer_id,
            "channel": channel,
            "payment_method": payment_method,
            "request_id": request_id,
            "share_code": share_code,
        }
        result: dict[str, Any] = await self.call("POST", "/orders", body=body)
        return result

    async def share_item(self, item_id: str, sharer_id: str, channel: str) -> dict[str, Any]:
        body = {"sharer_id": sharer_id, "channel": channel}
        result: dict[str, Any] = await self.call("POST", f"/items/{item_id}/shares", body=body)
        return result

    async def share(self, code: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/shares/{code}")
        return result

    async def view_share(self, code: str, channel: str, viewer_id: str | None) -> dict[str, Any]:
        body = {"channel": channel, "viewer_id": viewer_id}
        result: dict[str, Any] = await self.call("POST", f"/shares/{code}/views", body=body)
        return result

    async def share_stats(self, item_id: str, seller_id: str) -> dict[str, Any]:
        params = {"seller_id": seller_id}
        result: dict[str, Any] = await self.call("GET", f"/items/{item_id}/share-stats", params=params)
        return result

    async def orders(self, role: str, user_id: str, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/orders", params={**params, "role": role, "user_id": user_id})
        return result

    async def order(self, order_id: str, viewer_id: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/orders/{order_id}", params={"viewer_id": viewer_id})
        return result

    async def order_action(self, order_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/orders/{order_id}/{action}", body=body)
        return result


class PaymentClient(ServiceClient):
    async def create(self, terms: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: dict[str, Any] = await self.call("POST", "/payments", body=terms, headers=headers)
        return result

    async def payment(self, payment_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/payments/{payment_id}")
        return result

    async def of_order(self, order_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/payments", params={"order_id": order_id})
        return result

    async def create_agreement(self, buyer_id: str, alipay_user_id: str, key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": key} if key else None
        body = {"buyer_id": buyer_id, "alipay_user_id": alipay_user_id}
        result: dict[str, Any] = await self.call("POST", "/agreements", body=body, headers=headers)
        return result

    async def agreements(self, buyer_id: str, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/agreements", params={**params, "buyer_id": buyer_id})
        return result

    async def agreement(self, agreement_id: str, buyer_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/agreements/{agreement_id}", params={"buyer_id": buyer_id})
        return result

    async def unsign(self, agreement_id: str, buyer_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("DELETE", f"/agreements/{agreement_id}", params={"buyer_id": buyer_id})
        return result


class RefundClient(ServiceClient):
    """The refund service's case API (routes in services/refund/api.py)."""

    async def open_case(self, order_id: str, terms: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key}
        result: dict[str, Any] = await self.call("POST", f"/orders/{order_id}/refunds", body=terms, headers=headers)
        return result

    async def case(self, refund_id: str, user_id: str, view: str = "full") -> dict[str, Any]:
        """The case if `user_id` is its order's buyer or seller (anyone else: 404)."""
        params = {"user_id": user_id, "view": view}
        result: dict[str, Any] = await self.call("GET", f"/refunds/{refund_id}", params=params)
        return result

    async def cases(self, role: str, user_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """A page of the cases where `user_id` is the buyer or the seller (`role`)."""
        result: dict[str, Any] = await self.call("GET", "/refunds", params={**params, f"{role}_id": user_id})
        return result

    async def case_action(self, refund_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """agree | reject | confirm-return (seller_id), escalate | withdraw | return-shipment (buyer_id), decide."""
        result: dict[str, Any] = await self.call("POST", f"/refunds/{refund_id}/{action}", body=body)
        return result


class WalletClient(ServiceClient):
    """The wallet's books, withdrawals and WeChat collection (routes in services/wallet/api.py, collection_api.py)."""

    async def summary(self, seller_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/sellers/{seller_id}/wallet")
        return result

    async def statement(self, seller_id: str, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/sellers/{seller_id}/statements", params=params)
        return result

    async def withdraw(self, seller_id: str, amount_fen: int, idempotency_key: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await self.call(
                "POST",
                f"/sellers/{seller_id}/withdrawals",
                body={"amount_fen": amount_fen},
                headers={"Idempotency-Key": idempotency_key},
            )
        except ServiceError as exc:
            if exc.code != "daily_limit_exceeded":
                raise
            # API.md has one code for a limit a payment or a withdrawal would pass: the daily one is named in details.
            details = {**exc.details, "limit": "daily"} if isinstance(exc.details, dict) else {"limit": "daily"}
            raise ServiceError(exc.message, code="limit_exceeded", status=422, details=details) from None
        return result

    async def withdrawal(self, seller_id: str, withdrawal_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/sellers/{seller_id}/withdrawals/{withdrawal_id}")
        return result

    async def withdrawals(self, seller_id: str, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/sellers/{seller_id}/withdrawals", params=params)
        return result

    async def collection(self, seller_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/sellers/{seller_id}/collection")
        return result

    async def activate(self, seller_id: str, activation: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/sellers/{seller_id}/collection/activation", body=activation)
        return result

    async def settlement_card(self, seller_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/sellers/{seller_id}/settlement-card")
        return result

    async def change_settlement_card(self, seller_id: str, card: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/sellers/{seller_id}/settlement-card", body=card)
        return result

    async def invitation_batch(self, body: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: dict[str, Any] = await self.call("POST", "/invitation-batches", body=body, headers=headers)
        return result

    async def ledger_check(self, params: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "/ledger/check", params=params)
        return result


class Clients:
    """The gateway's clients over one connection pool (closed with the application)."""

    def __init__(self, http: aiohttp.ClientSession, settings: Any) -> None:
        token = settings.internal_token.get_secret_value()
        t = settings.service_timeout_s
        self.http = http
        self.listing = ListingClient("listing", settings.listing_url, http, token, t)
        self.payment = PaymentClient("payment", settings.payment_url, http, token, t)
        self.refund = RefundClient("refund", settings.refund_url, http, token, t)
        self.wallet = WalletClient("wallet", settings.wallet_url, http, token, t)
