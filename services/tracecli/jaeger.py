"""Reading a trace from Jaeger's stable API (`GET /api/v3/traces/{trace_id}`) with the standard library, and waiting
for one whose spans are still being exported (services export in batches)."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from services.tracecli.otlp import MalformedTrace, Span, parse_trace

DEFAULT_JAEGER_API = "http://127.0.0.1:16686"
TRACE_ID = re.compile(r"[0-9a-f]{32}")


class TraceCliError(Exception):
    exit_code = 2


class InvalidInput(TraceCliError):
    """A bad trace id or Jaeger address."""


class JaegerUnavailable(TraceCliError):
    """Jaeger answered something other than a trace (an HTTP error, not JSON, not OTLP)."""


class JaegerUnreachable(JaegerUnavailable):
    """Jaeger could not be reached at all (refused, timed out, no such host)."""


class TraceNotFound(TraceCliError):
    exit_code = 1


def jaeger_api_from_env() -> str:
    return os.environ.get("JAEGER_API") or DEFAULT_JAEGER_API


def validate_trace_id(value: str) -> str:
    """32 hex characters (any case), not all zeros; answered in lowercase."""
    trace_id = value.strip().lower()
    if not TRACE_ID.fullmatch(trace_id) or not trace_id.strip("0"):
        raise InvalidInput(f"not a trace id: {value!r} (expected 32 hex characters)")
    return trace_id


def validate_jaeger_api(value: str) -> str:
    url = urllib.parse.urlsplit(value.strip())
    if url.scheme not in ("http", "https") or not url.netloc:
        raise InvalidInput(f"not a Jaeger address: {value!r} (expected http://host:port)")
    return value.strip().rstrip("/")


def _error_message(body: bytes) -> str:
    try:
        answer = json.loads(body)
        return str(answer["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace").strip()[:200]


def fetch_answer(jaeger_api: str, trace_id: str, *, timeout_s: float = 5.0) -> Any | None:
    """Jaeger's JSON answer for the trace, or None when it has no such trace (404)."""
    url = f"{jaeger_api}/api/v3/traces/{trace_id}"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise JaegerUnavailable(f"Jaeger answered {exc.code} for {url}: {_error_message(exc.read())}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise JaegerUnreachable(f"Jaeger is unreachable at {jaeger_api}: {reason}") from exc
    try:
        return json.loads(body)
    except ValueError as exc:
        raise JaegerUnavailable(f"Jaeger's answer for {url} is not JSON: {exc}") from exc


def fetch_spans(jaeger_api: str, trace_id: str, *, timeout_s: float = 5.0) -> list[Span] | None:
    """The trace's spans, or None when Jaeger has none of them yet."""
    answer = fetch_answer(jaeger_api, trace_id, timeout_s=timeout_s)
    if answer is None:
        return None
    try:
        spans = parse_trace(answer)
    except MalformedTrace as exc:
        raise JaegerUnavailable(f"Jaeger's answer for trace {trace_id} is not OTLP JSON: {exc}") from exc
    return spans or None


def wait_for_spans(
    fetch: Callable[[], list[Span] | None],
    *,
    wait_s: float,
    settle_s: float = 1.0,
    poll_s: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Span]:
    """Poll `fetch` until the trace is there and its span count has not changed for `settle_s`, or `wait_s` has
    passed (then what was seen last is answered). `wait_s` 0 fetches once. While waiting, an unreachable Jaeger is
    retried; at the deadline it fails as unreachable if the trace was never seen."""
    deadline = clock() + max(0.0, wait_s)
    spans: list[Span] | None = None
    changed_at = clock()
    last_error: JaegerUnreachable | None = None
    while True:
        try:
            current = fetch()
            last_error = None
        except JaegerUnreachable as exc:
            if wait_s <= 0:
                raise
            current, last_error = None, exc
        now = clock()
        if current is not None:
            if spans is None or len(current) != len(spans):
                changed_at = now
            spans = current
            if now - changed_at >= settle_s:
                return spans
        if now >= deadline:
            if spans is not None:
                return spans
            if last_error is not None:
                raise last_error
            raise TraceNotFound("trace not found in Jaeger" + (f" after waiting {wait_s:g}s" if wait_s > 0 else ""))
        sleep(max(0.0, min(poll_s, deadline - now)))
