"""Reading spans back from Jaeger: span kinds, and the chain from a consumer span up to its root."""

from __future__ import annotations

from typing import Any

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP span kinds


def kind(span: dict[str, Any]) -> int:
    value = span.get("kind", 0)
    names = {"SPAN_KIND_SERVER": SERVER, "SPAN_KIND_PRODUCER": PRODUCER, "SPAN_KIND_CONSUMER": CONSUMER}
    return names.get(value, 0) if isinstance(value, str) else int(value)


def chain_to_root(spans: list[dict[str, Any]], service: str) -> list[dict[str, Any]]:
    """The consumer span of `service` followed by its ancestors up to the root (empty if none is there yet)."""
    by_id = {s["spanId"]: s for s in spans}
    for span in spans:
        if span["service"] == service and kind(span) == CONSUMER:
            chain = [span]
            while chain[-1].get("parentSpanId") in by_id:
                chain.append(by_id[chain[-1]["parentSpanId"]])
            return chain
    return []
