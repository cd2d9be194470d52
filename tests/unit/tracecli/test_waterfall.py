"""The waterfall: depth-first order, indentation, columns, bars, error and orphan marks, links, JSON lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.tracecli.otlp import Event, Span, parse_trace
from services.tracecli.waterfall import (
    ASCII,
    UNICODE,
    bar,
    bar_width,
    error_of,
    key_attributes,
    order_spans,
    render_json,
    render_text,
)
from tests.unit.tracecli.conftest import CHECKOUT_TRACE_ID, T0, answer_of, raw_span

ORDER = ["01", "02", "04", "05", "06", "07", "03", "08"]  # span ids a0000000000000NN, depth first by start time
DEPTHS = [0, 1, 2, 3, 3, 4, 1, 0]


def sid(n: str) -> str:
    return f"a0000000000000{n}"


def span_lines(text: str) -> list[str]:
    """The span lines of a rendering: after the header and the column line, without link lines."""
    return [line for line in text.splitlines()[2:] if "|" in line]


def after_bar(line: str) -> str:
    return line.split("|", 2)[2][2:]


def span(span_id: str = "00000000000000aa", **fields: Any) -> Span:
    base: dict[str, Any] = {
        "trace_id": CHECKOUT_TRACE_ID,
        "span_id": span_id,
        "parent_id": "",
        "name": "work",
        "kind": "internal",
        "service": "svc",
        "start_ns": T0,
        "end_ns": T0 + 1_000_000,
    }
    return Span(**{**base, **fields})


def test_spans_are_depth_first_from_the_roots_in_start_time_order(spans: list[Span]) -> None:
    rows = order_spans(spans)
    assert [r.span.span_id for r in rows] == [sid(n) for n in ORDER]
    assert [r.depth for r in rows] == DEPTHS


def test_a_span_whose_parent_is_not_in_the_trace_is_an_extra_root_in_time_order(spans: list[Span]) -> None:
    rows = order_spans(spans)
    assert [r.span.span_id for r in rows if r.orphan] == [sid("08")]
    orphan = rows[-1]
    assert orphan.depth == 0 and orphan.span.parent_id == "ffffffffffffffff"


def test_each_level_is_indented_two_more_spaces(spans: list[Span]) -> None:
    lines = span_lines(render_text(CHECKOUT_TRACE_ID, spans, width=160))
    assert len(lines) == 8
    for line, depth in zip(lines, DEPTHS, strict=True):
        text = after_bar(line)
        assert text.startswith("  " * depth) and text[2 * depth] != " ", line
    assert after_bar(lines[2]) == "    listing server POST /internal/v1/orders status=201"


def test_offsets_and_durations_are_milliseconds_from_the_trace_start(spans: list[Span]) -> None:
    lines = span_lines(render_text(CHECKOUT_TRACE_ID, spans, width=160))
    columns = [tuple(line.split()[:2]) for line in lines]
    assert columns == [
        ("0.00", "40.00"),
        ("2.00", "28.00"),
        ("3.00", "26.00"),
        ("5.00", "3.00"),
        ("20.00", "8.00"),
        ("21.00", "6.00"),
        ("31.00", "8.00"),
        ("25.00", "10.00"),
    ]


def test_the_header_names_the_trace_its_duration_spans_services_errors_and_orphans(spans: list[Span]) -> None:
    head = render_text(CHECKOUT_TRACE_ID, spans).splitlines()[0]
    assert head == (
        f"trace {CHECKOUT_TRACE_ID} · 40.00 ms · 8 spans · 3 services: gateway, listing, payment · 2 errors · 1 orphan"
    )


def test_each_span_line_shows_service_kind_name_and_key_attributes(spans: list[Span]) -> None:
    texts = [after_bar(line).strip() for line in span_lines(render_text(CHECKOUT_TRACE_ID, spans, width=200))]
    assert texts[0] == "gateway server POST /app/v1/orders status=201"  # method and path are the name already
    assert texts[1] == "gateway client POST path=/internal/v1/orders status=201"  # old semantic conventions
    assert texts[3] == "listing client listing.insert db=insert coll=orders"
    assert texts[4] == "listing internal order.created.v1 relay"
    assert texts[5] == "listing producer fishbridge.events send key=order.created.v1"  # the name has the exchange


def test_errors_are_marked_from_the_status_or_an_http_status_of_500_or_more(spans: list[Span]) -> None:
    lines = span_lines(render_text(CHECKOUT_TRACE_ID, spans, width=200))
    assert lines[6].endswith("gateway client GET path=/internal/v1/wallets/u1 status=503  !! ERROR: HTTP 503")
    assert "consumer fishbridge.events receive" in lines[7]
    assert "  !! ERROR: payment declined" in lines[7]
    assert [i for i, line in enumerate(lines) if "!! ERROR" in line] == [6, 7]


def test_an_orphan_is_marked_with_its_missing_parent(spans: list[Span]) -> None:
    lines = span_lines(render_text(CHECKOUT_TRACE_ID, spans, width=200))
    assert lines[7].endswith("?? orphan: parent ffffffffffffffff not in trace")
    assert not any("orphan" in line for line in lines[:7])


def test_links_are_listed_under_their_span_one_level_deeper(spans: list[Span]) -> None:
    text_lines = render_text(CHECKOUT_TRACE_ID, spans, width=200).splitlines()
    consumer = next(i for i, line in enumerate(text_lines) if "consumer" in line)
    link = text_lines[consumer + 1]
    assert link.strip() == "↪ link 0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331"
    text_column = text_lines[consumer].index("payment")
    assert link.index("↪") == text_column + 2
    assert len(text_lines) == 2 + 8 + 1


def test_a_link_into_the_same_trace_says_so() -> None:
    raw = raw_span("00000000000000bb", links=[{"traceId": CHECKOUT_TRACE_ID, "spanId": "00000000000000aa"}])
    text = render_text(CHECKOUT_TRACE_ID, parse_trace(answer_of(("svc", [raw_span("00000000000000aa"), raw]))))
    assert f"↪ link {CHECKOUT_TRACE_ID}/00000000000000aa (this trace)" in text


@pytest.mark.parametrize("width", [60, 100, 160, 400])
def test_the_waterfall_column_is_sized_to_the_width(spans: list[Span], width: int) -> None:
    cells = bar_width(width)
    lines = span_lines(render_text(CHECKOUT_TRACE_ID, spans, width=width))
    for line in lines:
        assert len(line.split("|")[1]) == cells
    # The columns line up: the bar starts and ends at the same column on every line.
    assert {(line.index("|"), line.index("|", line.index("|") + 1)) for line in lines} == {(21, 22 + cells)}
    assert len(lines[0]) == 22 + cells + 3 + len("gateway server POST /app/v1/orders status=201")


def test_wider_lines_get_a_wider_waterfall_within_bounds() -> None:
    assert bar_width(80) < bar_width(120) < bar_width(200)
    assert bar_width(20) == 8 and bar_width(10_000) == 80


def test_bars_are_proportional_to_start_and_duration() -> None:
    s = span(start_ns=T0 + 10_000_000, end_ns=T0 + 30_000_000)
    assert bar(s, T0, 40_000_000, 40, UNICODE) == "|" + "·" * 10 + "█" * 20 + "·" * 10 + "|"
    assert bar(s, T0, 40_000_000, 8, ASCII) == "|..####..|"
    tiny = span(start_ns=T0 + 39_999_999, end_ns=T0 + 40_000_000)
    assert bar(tiny, T0, 40_000_000, 10, ASCII) == "|.........#|"  # never less than one cell


def test_a_trace_of_zero_duration_fills_every_bar() -> None:
    text = render_text(CHECKOUT_TRACE_ID, [span(end_ns=T0)], width=100, glyphs=ASCII)
    assert span_lines(text)[0].split("|")[1] == "#" * bar_width(100)


def test_ascii_glyphs_give_ascii_only_output(spans: list[Span]) -> None:
    text = render_text(CHECKOUT_TRACE_ID, spans, glyphs=ASCII)
    text.encode("ascii")
    assert "-> link 0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331" in text
    assert text.splitlines()[0].startswith(f"trace {CHECKOUT_TRACE_ID} | 40.00 ms | 8 spans")


def test_an_error_without_message_names_its_exception_or_just_says_error() -> None:
    exception = Event("exception", T0, {"exception.type": "ValueError", "exception.message": "boom"})
    assert error_of(span(status_code="error", events=(exception,))) == "ValueError: boom"
    assert error_of(span(status_code="error", attributes={"http.response.status_code": 502})) == "HTTP 502"
    assert error_of(span(status_code="error")) == ""
    text = render_text(CHECKOUT_TRACE_ID, [span(status_code="error")])
    assert span_lines(text)[0].endswith("svc internal work  !! ERROR")


@pytest.mark.parametrize("status", [200, 404, 499])
def test_an_http_status_below_500_is_no_error(status: int) -> None:
    assert error_of(span(attributes={"http.status_code": status})) is None


def test_a_multiline_error_message_stays_on_one_line() -> None:
    text = render_text(CHECKOUT_TRACE_ID, [span(status_code="error", status_message="first\nsecond\tthird")])
    assert len(text.splitlines()) == 3
    assert text.endswith("!! ERROR: first second third")


def test_key_attributes_of_http_server_client_messaging_and_db_spans() -> None:
    assert key_attributes(
        span(name="GET /items/{id}", attributes={"http.request.method": "GET", "url.path": "/items/9"})
    )
    assert key_attributes(
        span(name="GET /items/{id}", attributes={"http.request.method": "GET", "url.path": "/items/9"})
    ) == ["path=/items/9"]
    assert key_attributes(span(name="HTTP call", attributes={"http.method": "PUT", "http.target": "/x?y=1"})) == [
        "method=PUT",
        "path=/x?y=1",
    ]
    assert key_attributes(span(attributes={"db.operation.name": "find", "db.collection.name": "items"})) == [
        "db=find",
        "coll=items",
    ]
    assert key_attributes(span(attributes={"messaging.destination.name": "q"})) == ["dest=q"]
    pika = {"messaging.destination": "fishbridge.events,order.paid.v1"}
    assert key_attributes(span(name="fishbridge.events,order.paid.v1 send", attributes=pika)) == []
    assert key_attributes(span(attributes={"unrelated": 1})) == []


def test_a_span_exported_twice_is_shown_once() -> None:
    a = span("00000000000000aa")
    assert [r.span for r in order_spans([a, a])] == [a]


def test_spans_whose_parents_form_a_cycle_are_still_shown_as_orphans() -> None:
    a = span("00000000000000aa", parent_id="00000000000000bb", start_ns=T0)
    b = span("00000000000000bb", parent_id="00000000000000aa", start_ns=T0 + 1)
    rows = order_spans([b, a])
    assert [(r.span.span_id, r.depth, r.orphan) for r in rows] == [
        ("00000000000000aa", 0, True),
        ("00000000000000bb", 1, False),
    ]


def test_json_mode_prints_one_object_per_span_in_waterfall_order(spans: list[Span]) -> None:
    lines = render_json(spans).splitlines()
    objects = [json.loads(line) for line in lines]
    assert [o["span_id"] for o in objects] == [sid(n) for n in ORDER]
    assert [o["depth"] for o in objects] == DEPTHS
    root, consumer = objects[0], objects[-1]
    assert root == {
        "trace_id": CHECKOUT_TRACE_ID,
        "span_id": sid("01"),
        "parent_span_id": None,
        "depth": 0,
        "orphan": False,
        "service": "gateway",
        "kind": "server",
        "name": "POST /app/v1/orders",
        "start_unix_nano": T0,
        "end_unix_nano": T0 + 40_000_000,
        "offset_ms": 0.0,
        "duration_ms": 40.0,
        "status": {"code": "unset", "message": ""},
        "error": None,
        "attributes": root["attributes"],
        "events": [],
        "links": [],
    }
    assert root["attributes"]["http.response.status_code"] == 201
    assert consumer["orphan"] is True and consumer["parent_span_id"] == "ffffffffffffffff"
    assert consumer["error"] == "payment declined"
    assert consumer["offset_ms"] == 25.0
    assert consumer["links"] == [
        {
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": "b7ad6b7169203331",
            "attributes": {"fishbridge.link": "checkout"},
        }
    ]
    assert consumer["events"][0]["name"] == "exception"
    assert objects[6]["error"] == "HTTP 503"
