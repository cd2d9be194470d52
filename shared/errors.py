"""Application errors with stable codes; the HTTP layer renders them as {"error": {code, message, details}}."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error a caller can act on: a stable snake_case code, an HTTP status, a message and details."""

    status = 400
    code = "bad_request"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, status: int | None = None, details: Any = None
    ) -> None:
        self.code = code or type(self).code
        self.status = status or type(self).status
        self.message = message or self.code.replace("_", " ")
        self.details = details if details is not None else {}
        super().__init__(self.message)


class ValidationFailed(AppError):
    status, code = 422, "validation_error"


class Unauthenticated(AppError):
    status, code = 401, "unauthenticated"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class InvalidState(AppError):
    status, code = 409, "invalid_state"


class RateLimited(AppError):
    """429 with `Retry-After` (whole seconds, at least 1) in the response."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after_s: float, details: object = None) -> None:
        self.retry_after_s = max(1, int(-(-retry_after_s // 1)))
        super().__init__(message, details=details if details is not None else {"retry_after_s": self.retry_after_s})


class Unavailable(AppError):
    status, code = 503, "unavailable"
