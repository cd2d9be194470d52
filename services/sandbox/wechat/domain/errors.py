"""How the WeChat sandbox refuses: v3 error bodies, the app's refusals to a user, disallowed test transitions."""

from __future__ import annotations

from typing import Any


class WechatError(Exception):
    """A refusal as WeChat Pay v3 answers it: an HTTP status and ``{"code", "message"[, "detail"]}``."""

    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail:
            body["detail"] = self.detail
        return body


def param_error(message: str, detail: dict[str, Any] | None = None) -> WechatError:
    return WechatError(400, "PARAM_ERROR", message, detail)


def invalid_request(message: str) -> WechatError:
    return WechatError(400, "INVALID_REQUEST", message)


def sign_error(message: str) -> WechatError:
    return WechatError(401, "SIGN_ERROR", message)


def system_error() -> WechatError:
    return WechatError(500, "SYSTEM_ERROR", "系统异常，请稍后重试 (system error: retry with the same parameters)")


def order_not_exist() -> WechatError:
    return WechatError(404, "ORDER_NOT_EXIST", "订单不存在 (no such order)")


def resource_not_exists(message: str) -> WechatError:
    return WechatError(404, "RESOURCE_NOT_EXISTS", message)


def transfer_not_found() -> WechatError:
    return WechatError(404, "NOT_FOUND", "记录不存在 (no transfer bill with this number)")


def order_closed() -> WechatError:
    return WechatError(400, "ORDER_CLOSED", "订单已关闭 (the order is closed: place a new order under a new number)")


def order_paid() -> WechatError:
    # v3 documents no code for closing a paid order; ORDERPAID is the code the v2 close API documents for it.
    return WechatError(400, "ORDERPAID", "订单已支付 (the order is paid: refund it instead)")


class PayRefused(Exception):
    """The WeChat app refuses what a user tried on their phone (paying, receiving a transfer); ``code`` is a stable
    snake_case reason, ``status`` its HTTP status."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


class StateError(Exception):
    """A test action asked for a transition the state machine does not allow."""
