"""Jaeger's /api/v3 answer (OTLP JSON) read into plain span records; pure, no I/O.

The answer is `{"result": {"resourceSpans": [{"resource": {"attributes": [...]}, "scopeSpans": [{"spans": [...]}]}]}}`.
Jaeger v1.76 writes ids in hex, kinds and status codes as numbers and 64-bit integers as strings; the OTLP JSON
spelling of enums (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`) and base64 ids (older api_v3 gateways) are read too.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUSES = ("unset", "ok", "error")


@dataclass(frozen=True)
class Event:
    name: str
    time_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    trace_id: str
    span_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    name: str
    kind: str  # one of KINDS
    service: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any] = field(default_factory=dict)
    status_code: str = "unset"  # one of STATUSES
    status_message: str = ""
    events: tuple[Event, ...] = ()
    links: tuple[Link, ...] = ()

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


class MalformedTrace(ValueError):
    """The answer is not OTLP JSON as Jaeger writes it."""


def any_value(value: Any) -> Any:
    """An OTLP AnyValue (`{"stringValue": "x"}`, `{"intValue": "5"}`, arrays, key-value lists) as a Python value."""
    if not isinstance(value, Mapping):
        return None
    if "stringValue" in value:
        return str(value["stringValue"])
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "doubleValue" in value:
        try:
            return float(value["doubleValue"])
        except (TypeError, ValueError):
            return value["doubleValue"]
    if "arrayValue" in value:
        array = value["arrayValue"] if isinstance(value["arrayValue"], Mapping) else {}
        return [any_value(v) for v in _list(array.get("values"))]
    if "kvlistValue" in value:
        kvlist = value["kvlistValue"] if isinstance(value["kvlistValue"], Mapping) else {}
        return attributes(kvlist.get("values"))
    if "bytesValue" in value:
        return str(value["bytesValue"])
    return None


def attributes(items: Any) -> dict[str, Any]:
    """A list of OTLP KeyValue as a dict."""
    out: dict[str, Any] = {}
    for item in _list(items):
        if isinstance(item, Mapping) and isinstance(item.get("key"), str):
            out[item["key"]] = any_value(item.get("value"))
    return out


def normalize_id(value: Any, n_bytes: int) -> str:
    """A trace (16 bytes) or span (8 bytes) id as lowercase hex; "" when absent or all zeros."""
    if not isinstance(value, str) or not value:
        return ""
    text = value.strip()
    if len(text) == 2 * n_bytes:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if raw:
            return "" if not any(raw) else raw.hex()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == n_bytes:
        return "" if not any(raw) else raw.hex()
    return text.lower()  # unknown spelling: kept as is, so it still joins with the same spelling elsewhere


def span_kind(value: Any) -> str:
    if isinstance(value, str):
        name = value.removeprefix("SPAN_KIND_").lower()
        if name in KINDS:
            return name
        return KINDS[int(value)] if value.isdigit() and int(value) < len(KINDS) else "unspecified"
    if isinstance(value, int) and 0 <= value < len(KINDS):
        return KINDS[value]
    return "unspecified"


def status_code(value: Any) -> str:
    if isinstance(value, str):
        name = value.removeprefix("STATUS_CODE_").lower()
        if name in STATUSES:
            return name
        return STATUSES[int(value)] if value.isdigit() and int(value) < len(STATUSES) else "unset"
    if isinstance(value, int) and 0 <= value < len(STATUSES):
        return STATUSES[value]
    return "unset"


def _nanos(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_span(raw: Mapping[str, Any], service: str) -> Span:
    status = raw.get("status")
    if not isinstance(status, Mapping):
        status = {}
    events = tuple(
        Event(str(e.get("name", "")), _nanos(e.get("timeUnixNano")), attributes(e.get("attributes")))
        for e in _list(raw.get("events"))
        if isinstance(e, Mapping)
    )
    links = tuple(
        Link(normalize_id(lk.get("traceId"), 16), normalize_id(lk.get("spanId"), 8), attributes(lk.get("attributes")))
        for lk in _list(raw.get("links"))
        if isinstance(lk, Mapping)
    )
    start = _nanos(raw.get("startTimeUnixNano"))
    end = _nanos(raw.get("endTimeUnixNano")) or start
    return Span(
        trace_id=normalize_id(raw.get("traceId"), 16),
        span_id=normalize_id(raw.get("spanId"), 8),
        parent_id=normalize_id(raw.get("parentSpanId"), 8),
        name=str(raw.get("name", "")),
        kind=span_kind(raw.get("kind", 0)),
        service=service,
        start_ns=start,
        end_ns=end,
        attributes=attributes(raw.get("attributes")),
        status_code=status_code(status.get("code", 0)),
        status_message=str(status.get("message") or ""),
        events=events,
        links=links,
    )


def parse_trace(answer: Any) -> list[Span]:
    """Every span of a Jaeger /api/v3/traces answer, each with the service.name of its resource."""
    if not isinstance(answer, Mapping):
        raise MalformedTrace(f"expected a JSON object, got {type(answer).__name__}")
    result = answer.get("result", {})
    if not isinstance(result, Mapping):
        raise MalformedTrace("`result` is not an object")
    spans: list[Span] = []
    for resource_spans in _list(result.get("resourceSpans")):
        if not isinstance(resource_spans, Mapping):
            continue
        resource = resource_spans.get("resource")
        resource_attrs = attributes(resource.get("attributes")) if isinstance(resource, Mapping) else {}
        service = str(resource_attrs.get("service.name") or "unknown_service")
        for scope_spans in _list(resource_spans.get("scopeSpans")):
            if not isinstance(scope_spans, Mapping):
                continue
            for raw in _list(scope_spans.get("spans")):
                if isinstance(raw, Mapping) and raw.get("spanId"):
                    spans.append(parse_span(raw, service))
    return spans
