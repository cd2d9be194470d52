"""A checkout trace as Jaeger v1.76's /api/v3/traces answers it: three services, int and string kinds, an orphan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.tracecli.otlp import Span, parse_trace

CHECKOUT_TRACE_ID = "5b8aa5a2d2c872e8321cf37308d69df2"
T0 = 1796150000000000000  # the root span's start


def checkout_answer() -> dict[str, Any]:
    answer: dict[str, Any] = json.loads((Path(__file__).parent / "checkout_trace.json").read_text())
    return answer


@pytest.fixture
def answer() -> dict[str, Any]:
    return checkout_answer()


@pytest.fixture
def spans() -> list[Span]:
    return parse_trace(checkout_answer())


def raw_span(span_id: str, parent: str = "", *, start_ms: float = 0, end_ms: float = 1, **extra: Any) -> dict[str, Any]:
    """One span in Jaeger's spelling, for traces built in a test."""
    return {
        "traceId": CHECKOUT_TRACE_ID,
        "spanId": span_id,
        **({"parentSpanId": parent} if parent else {}),
        "name": extra.pop("name", f"span {span_id}"),
        "kind": extra.pop("kind", 1),
        "startTimeUnixNano": str(T0 + int(start_ms * 1e6)),
        "endTimeUnixNano": str(T0 + int(end_ms * 1e6)),
        "status": {},
        **extra,
    }


def answer_of(*spans_by_service: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "result": {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": raw}],
                }
                for service, raw in spans_by_service
            ]
        }
    }
