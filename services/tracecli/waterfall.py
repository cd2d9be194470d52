"""A trace's spans as a tree (depth first from the roots, in start-time order) and its rendering; pure, no I/O.

Text: a header line, a column line, then one line per span,

    trace 93237b98f7d8284e0019e25cfea73613 · 59.04 ms · 12 spans · 2 services: counter-producer, counter-consumer
     start ms    dur ms  waterfall                  span
         0.00      8.10  |███····················|  counter-producer server POST /counters/{counter_id}/increments …
         1.04      1.36  |█······················|    counter-producer client t_8dd8d1_p.find db=find coll=stream_…
        36.19     22.85  |··············█████████|        counter-consumer consumer fishbridge.events receive

indented two spaces a level under the waterfall column; errors end with `!! ERROR: message`, spans whose parent is not
in the trace are extra roots ending with `?? orphan: …`, and a span's links follow it as `↪ link <trace>/<span>`.
JSON: one object per span, in the same order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.tracecli.otlp import Span

OFFSET_W = 9  # "123456.78": the offset and duration columns, in milliseconds
MIN_BAR, MAX_BAR = 8, 80
MAX_MESSAGE = 160


@dataclass(frozen=True)
class Glyphs:
    fill: str
    empty: str
    edge: str
    link: str
    sep: str


UNICODE = Glyphs(fill="█", empty="·", edge="|", link="↪", sep=" · ")
ASCII = Glyphs(fill="#", empty=".", edge="|", link="->", sep=" | ")


@dataclass(frozen=True)
class Row:
    span: Span
    depth: int
    orphan: bool  # its parent is not in the trace (or the spans' parents form a cycle)


def _start_order(span: Span) -> tuple[int, int, str, str]:
    return (span.start_ns, span.end_ns, span.name, span.span_id)


def _root_order(span: Span) -> tuple[int, bool, int, str, str]:
    # True roots before orphans starting at the same instant.
    return (span.start_ns, bool(span.parent_id), span.end_ns, span.name, span.span_id)


def order_spans(spans: Iterable[Span]) -> list[Row]:
    """Depth first from the roots, children in start-time order; a span whose parent is missing is an extra root."""
    unique: dict[str, Span] = {}
    for span in spans:
        unique.setdefault(span.span_id, span)  # a span exported twice is shown once
    children: dict[str, list[Span]] = defaultdict(list)
    roots: list[Span] = []
    for span in unique.values():
        if span.parent_id and span.parent_id in unique and span.parent_id != span.span_id:
            children[span.parent_id].append(span)
        else:
            roots.append(span)
    for siblings in children.values():
        siblings.sort(key=_start_order)
    rows: list[Row] = []
    seen: set[str] = set()

    def walk(root: Span) -> None:
        stack: list[tuple[Span, int]] = [(root, 0)]
        while stack:
            span, depth = stack.pop()
            if span.span_id in seen:
                continue
            seen.add(span.span_id)
            rows.append(Row(span, depth, orphan=depth == 0 and bool(span.parent_id)))
            stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, [])))

    for root in sorted(roots, key=_root_order):
        walk(root)
    # Spans in a parent cycle are reachable from no root: each cycle is shown from its earliest span, as an orphan.
    while len(seen) < len(unique):
        walk(min((s for s in unique.values() if s.span_id not in seen), key=_root_order))
    return rows


def _one_line(value: Any, limit: int = MAX_MESSAGE) -> str:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first(attrs: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return value
    return None


def http_status(span: Span) -> int | None:
    value = _first(span.attributes, "http.response.status_code", "http.status_code")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _exception_text(span: Span) -> str:
    for event in span.events:
        if event.name == "exception":
            kind = event.attributes.get("exception.type") or ""
            message = event.attributes.get("exception.message") or ""
            return f"{kind}: {message}" if kind and message else str(kind or message)
    return ""


def error_of(span: Span) -> str | None:
    """None if the span did not fail, else what went wrong ("" when nothing says): status ERROR or HTTP ≥ 500."""
    status = http_status(span)
    if span.status_code == "error":
        message = span.status_message or _exception_text(span)
        if not message and status is not None and status >= 500:
            message = f"HTTP {status}"
        return _one_line(message)
    if status is not None and status >= 500:
        return f"HTTP {status}"
    return None


def key_attributes(span: Span) -> list[str]:
    """The few attributes worth a glance: HTTP method, path and status; messaging destination; database operation."""
    attrs = span.attributes
    out: list[str] = []
    method = _first(attrs, "http.request.method", "http.method")
    path = _first(attrs, "url.path", "http.target")
    if method is not None and path is not None and span.name == f"{method} {path}":
        method = path = None  # the name says it already
    if method is not None and span.name != method and not span.name.startswith(f"{method} "):
        out.append(f"method={_one_line(method, 12)}")
    if path is not None:
        out.append(f"path={_one_line(path, 100)}")
    status = http_status(span)
    if status is not None:
        out.append(f"status={status}")
    # aio-pika names its spans after the destination ("<exchange>,<routing key> send"): not said twice.
    destination = _first(attrs, "messaging.destination.name", "messaging.destination")
    if destination is not None and str(destination) not in span.name:
        out.append(f"dest={_one_line(destination, 80)}")
    routing_key = _first(attrs, "messaging.rabbitmq.destination.routing_key")
    if routing_key is not None and str(routing_key) not in span.name:
        out.append(f"key={_one_line(routing_key, 80)}")
    operation = _first(attrs, "db.operation.name", "db.operation")
    if operation is None and (statement := _first(attrs, "db.statement", "db.query.text")) is not None:
        operation = str(statement).split(maxsplit=1)[0] if str(statement).strip() else None
    if operation is not None:
        out.append(f"db={_one_line(operation, 40)}")
        collection = _first(attrs, "db.collection.name", "db.mongodb.collection", "db.sql.table")
        if collection is not None:
            out.append(f"coll={_one_line(collection, 60)}")
    return out


def fmt_ms(ns: int) -> str:
    return f"{ns / 1e6:.2f}"


def bar_width(total_width: int) -> int:
    """The waterfall's cells for a line of `total_width` columns: a third of what the number columns leave."""
    return max(MIN_BAR, min(MAX_BAR, (total_width - 2 * OFFSET_W - 6) // 3))


def bar(span: Span, t0: int, total_ns: int, width: int, glyphs: Glyphs) -> str:
    if total_ns <= 0:
        first, last = 0, width
    else:
        first = (span.start_ns - t0) * width // total_ns
        last = -(-(span.end_ns - t0) * width // total_ns)  # ceiling
        first = min(max(first, 0), width - 1)
        last = min(max(last, first + 1), width)
    cells = glyphs.empty * first + glyphs.fill * (last - first) + glyphs.empty * (width - last)
    return f"{glyphs.edge}{cells}{glyphs.edge}"


def services_in(rows: Sequence[Row]) -> list[str]:
    """The services in the order they first appear in the waterfall."""
    return list(dict.fromkeys(row.span.service for row in rows))


def header(trace_id: str, rows: Sequence[Row], glyphs: Glyphs = UNICODE) -> str:
    t0 = min((r.span.start_ns for r in rows), default=0)
    t1 = max((r.span.end_ns for r in rows), default=0)
    services = services_in(rows)
    parts = [
        f"trace {trace_id}",
        f"{fmt_ms(t1 - t0)} ms",
        f"{len(rows)} span{'s' if len(rows) != 1 else ''}",
        f"{len(services)} service{'s' if len(services) != 1 else ''}: {', '.join(services)}",
    ]
    errors = sum(1 for r in rows if error_of(r.span) is not None)
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    orphans = sum(1 for r in rows if r.orphan)
    if orphans:
        parts.append(f"{orphans} orphan{'s' if orphans != 1 else ''}")
    return glyphs.sep.join(parts)


def span_text(row: Row) -> str:
    span = row.span
    parts = [span.service, span.kind, _one_line(span.name, 120), *key_attributes(span)]
    text = " ".join(p for p in parts if p)
    error = error_of(span)
    if error is not None:
        text += "  !! ERROR" + (f": {error}" if error else "")
    if row.orphan:
        text += f"  ?? orphan: parent {span.parent_id} not in trace"
    return text


def render_text(trace_id: str, spans: Iterable[Span], *, width: int = 120, glyphs: Glyphs = UNICODE) -> str:
    """The waterfall, as lines of text (no trailing newline)."""
    rows = order_spans(spans)
    t0 = min((r.span.start_ns for r in rows), default=0)
    total = max((r.span.end_ns for r in rows), default=0) - t0
    cells = bar_width(width)
    lead = " " * (2 * OFFSET_W + 1 + 2 + (cells + 2) + 2)  # under the span text
    lines = [
        header(trace_id, rows, glyphs),
        f"{'start ms':>{OFFSET_W}} {'dur ms':>{OFFSET_W}}  {'waterfall':<{cells + 2}}  span",
    ]
    for row in rows:
        span = row.span
        indent = "  " * row.depth
        lines.append(
            f"{fmt_ms(span.start_ns - t0):>{OFFSET_W}} {fmt_ms(span.duration_ns):>{OFFSET_W}}  "
            f"{bar(span, t0, total, cells, glyphs)}  {indent}{span_text(row)}"
        )
        for link in span.links:
            note = " (this trace)" if link.trace_id == span.trace_id else ""
            lines.append(f"{lead}{indent}  {glyphs.link} link {link.trace_id}/{link.span_id}{note}")
    return "\n".join(lines)


def row_json(row: Row, t0: int) -> dict[str, Any]:
    span = row.span
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_id or None,
        "depth": row.depth,
        "orphan": row.orphan,
        "service": span.service,
        "kind": span.kind,
        "name": span.name,
        "start_unix_nano": span.start_ns,
        "end_unix_nano": span.end_ns,
        "offset_ms": round((span.start_ns - t0) / 1e6, 3),
        "duration_ms": round(span.duration_ns / 1e6, 3),
        "status": {"code": span.status_code, "message": span.status_message},
        "error": error_of(span),
        "attributes": dict(span.attributes),
        "events": [
            {"name": e.name, "time_unix_nano": e.time_ns, "attributes": dict(e.attributes)} for e in span.events
        ],
        "links": [
            {"trace_id": lk.trace_id, "span_id": lk.span_id, "attributes": dict(lk.attributes)} for lk in span.links
        ],
    }


def render_json(spans: Iterable[Span]) -> str:
    """One JSON object per span (JSON lines), in waterfall order (no trailing newline)."""
    rows = order_spans(spans)
    t0 = min((r.span.start_ns for r in rows), default=0)
    return "\n".join(json.dumps(row_json(row, t0), ensure_ascii=False, sort_keys=False) for row in rows)
