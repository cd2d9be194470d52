"""The aiohttp app factory: JSON errors, traceparent on every response, /healthz, /readyz, /metrics."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from opentelemetry import trace
from pydantic import BaseModel, ValidationError

from shared.errors import AppError, RateLimited, Unauthenticated, ValidationFailed
from shared.http.inputs import first_unstorable, first_unstorable_param
from shared.http.metrics import REGISTRY
from shared.telemetry import current_trace_id

log = logging.getLogger("shared.http")

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ReadinessCheck = Callable[[], Awaitable[None]]
"""Raises (any exception) when the dependency is not ready; its message is shown in /readyz."""

READINESS = web.AppKey("readiness", dict[str, ReadinessCheck])
SERVICE_NAME = web.AppKey("service_name", str)
MAX_BODY_BYTES = web.AppKey("max_body_bytes", int)
PUBLIC_PATHS = ("/healthz", "/readyz", "/metrics")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message, "details": details if details is not None else {}}
    trace_id = current_trace_id()
    if trace_id:
        err["trace_id"] = trace_id
    return {"error": err}


def error_response(status: int, code: str, message: str, details: Any = None) -> web.Response:
    return web.json_response(error_body(code, message, details), status=status)


def validation_details(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """Pydantic errors as {"field.path": "message"}: what a client form needs to point at the bad field."""
    details: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(body)"
        key = f"{prefix}{loc}" if prefix else loc
        details.setdefault(key, err["msg"])
    return details


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RateLimited as exc:
        resp = error_response(exc.status, exc.code, exc.message, exc.details)
        resp.headers["Retry-After"] = str(exc.retry_after_s)
        return resp
    except AppError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            limit = request.app[MAX_BODY_BYTES]
            return error_response(
                413, "payload_too_large", f"the request body exceeds {limit} bytes", {"max_bytes": limit}
            )
        code = _HTTP_CODES.get(exc.status, "http_error")
        resp = error_response(exc.status, code, exc.reason)
        if exc.status == 405 and "Allow" in exc.headers:
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except RequestPayloadError:
        # A body that cannot be read as sent (a broken Content-Encoding, a truncated chunk): the client's fault.
        return error_response(400, "bad_request", "the request body could not be read")
    except Exception:
        # The stack trace goes to the log (with the trace id), never to the client.
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error")


@web.middleware
async def storable_params_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A path or query parameter no database can carry (a `%00` in an id) is the client's error, 422, before any
    handler can put it in a query: on FerretDB over PostgreSQL such a query fails as a whole."""
    found = first_unstorable_param({"path": dict(request.match_info), "query": dict(request.query)})
    if found is not None:
        raise ValidationFailed("invalid request parameters", details={found[0]: found[1]})
    return await handler(request)


@web.middleware
async def trace_and_metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid and not response.prepared:
            response.headers["traceparent"] = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
        return response
    finally:
        route = request.match_info.route.resource
        path = route.canonical if route is not None else "(unmatched)"
        labels = {"method": request.method, "route": path, "status": str(status)}
        REGISTRY.inc("http_requests_total", "HTTP requests handled", labels)
        REGISTRY.observe("http_request_duration_seconds", "HTTP request latency", time.perf_counter() - started, labels)


def internal_auth_middleware(token: str, *, public_prefixes: Sequence[str] = ()) -> Any:
    """Every route but health, metrics and the given prefixes needs `Authorization: Bearer <internal token>`."""
    expected = f"Bearer {token}".encode()
    open_paths = (*PUBLIC_PATHS, *public_prefixes)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(open_paths):
            # A header that was not UTF-8 arrives surrogate-escaped: back to its bytes, which then do not match.
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):
                raise Unauthenticated("missing or wrong internal service token")
        return await handler(request)

    return middleware


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE_NAME]})


async def _readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    ok = True
    for name, check in request.app[READINESS].items():
        try:
            await check()
            checks[name] = "ok"
        except Exception as exc:
            ok = False
            checks[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
    return web.json_response({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(text=REGISTRY.render(), content_type="text/plain", charset="utf-8")


def create_app(
    service_name: str, *, middlewares: Iterable[Any] = (), client_max_size: int = 1024**2
) -> web.Application:
    """A service's application with the standard middlewares and operational routes; add readiness checks with
    `app[READINESS]["mongo"] = check`. A body larger than `client_max_size` bytes is refused with 413."""
    app = web.Application(
        middlewares=[trace_and_metrics_middleware, error_middleware, storable_params_middleware, *middlewares],
        client_max_size=client_max_size,
    )
    app[SERVICE_NAME] = service_name
    app[MAX_BODY_BYTES] = client_max_size
    app[READINESS] = {}
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    return app


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: web.Request) -> Any:
    """The body as strict JSON (no NaN or Infinity), storable as BSON and nested at most MAX_DEPTH; 422 otherwise."""
    if not request.body_exists:
        raise ValidationFailed("a JSON body is required", details={"(body)": "missing"})
    try:
        data = json.loads(await request.read(), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationFailed("the body is not valid JSON", details={"(body)": "invalid JSON"}) from None
    found = first_unstorable(data)
    if found is not None:
        raise ValidationFailed("invalid request body", details={found[0]: found[1]})
    return data


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Validate the JSON body against a pydantic model; 422 validation_error with per-field details otherwise."""
    data = await read_json(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("invalid request body", details=validation_details(exc)) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ValidationFailed("invalid query parameters", details=validation_details(exc, "query.")) from None


def json_response(model: BaseModel | dict[str, Any], status: int = 200) -> web.Response:
    if isinstance(model, BaseModel):
        return web.Response(text=model.model_dump_json(), status=status, content_type="application/json")
    return web.json_response(model, status=status)
