"""Jaeger's OTLP JSON read into span records: services, ids, kinds, statuses, attributes, events and links."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.tracecli.otlp import MalformedTrace, Span, normalize_id, parse_trace, span_kind, status_code
from tests.unit.tracecli.conftest import CHECKOUT_TRACE_ID, T0, answer_of, raw_span


def by_id(spans: list[Span]) -> dict[str, Span]:
    return {s.span_id: s for s in spans}


def test_every_span_is_read_with_the_service_name_of_its_resource(spans: list[Span]) -> None:
    assert len(spans) == 8
    services = {s.span_id: s.service for s in spans}
    assert services["a000000000000001"] == "gateway"
    assert services["a000000000000004"] == "listing"
    assert services["a000000000000008"] == "payment"
    assert {s.trace_id for s in spans} == {CHECKOUT_TRACE_ID}


def test_times_are_integer_nanoseconds_read_from_strings(spans: list[Span]) -> None:
    root = by_id(spans)["a000000000000001"]
    assert (root.start_ns, root.end_ns, root.duration_ns) == (T0, T0 + 40_000_000, 40_000_000)


def test_int_and_string_kinds_both_read(spans: list[Span]) -> None:
    kinds = {s.span_id: s.kind for s in spans}
    assert kinds["a000000000000001"] == "server"  # 2
    assert kinds["a000000000000002"] == "client"  # 3
    assert kinds["a000000000000008"] == "consumer"  # 5
    assert kinds["a000000000000004"] == "server"  # SPAN_KIND_SERVER
    assert kinds["a000000000000005"] == "client"  # SPAN_KIND_CLIENT
    assert kinds["a000000000000007"] == "producer"  # SPAN_KIND_PRODUCER
    assert kinds["a000000000000006"] == "internal"  # SPAN_KIND_INTERNAL


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (0, "unspecified"),
        (1, "internal"),
        (4, "producer"),
        ("SPAN_KIND_CONSUMER", "consumer"),
        ("SPAN_KIND_UNSPECIFIED", "unspecified"),
        ("3", "client"),
        (9, "unspecified"),
        (None, "unspecified"),
        ("nonsense", "unspecified"),
    ],
)
def test_span_kinds(value: Any, kind: str) -> None:
    assert span_kind(value) == kind


@pytest.mark.parametrize(
    ("value", "status"),
    [(0, "unset"), (1, "ok"), (2, "error"), ("STATUS_CODE_ERROR", "error"), ("STATUS_CODE_OK", "ok"), (7, "unset")],
)
def test_status_codes(value: Any, status: str) -> None:
    assert status_code(value) == status


def test_statuses_and_their_messages(spans: list[Span]) -> None:
    s = by_id(spans)
    assert (s["a000000000000008"].status_code, s["a000000000000008"].status_message) == ("error", "payment declined")
    assert s["a000000000000004"].status_code == "ok"
    assert s["a000000000000001"].status_code == "unset"  # Jaeger writes an unset status as {}


def test_a_root_has_no_parent_and_a_missing_parent_is_kept(spans: list[Span]) -> None:
    s = by_id(spans)
    assert s["a000000000000001"].parent_id == ""
    assert s["a000000000000008"].parent_id == "ffffffffffffffff"


@pytest.mark.parametrize("parent", ["", "0000000000000000"])
def test_an_empty_or_zero_parent_is_no_parent(parent: str) -> None:
    (span,) = parse_trace(answer_of(("svc", [{**raw_span("00000000000000aa"), "parentSpanId": parent}])))
    assert span.parent_id == ""


def test_attribute_values_of_every_type(spans: list[Span]) -> None:
    attrs = by_id(spans)["a000000000000001"].attributes
    assert attrs["http.request.method"] == "POST"
    assert attrs["http.response.status_code"] == 201  # intValue is a string in JSON
    assert attrs["server.port"] == 8080
    assert attrs["sampled"] is True
    assert attrs["ratio"] == 0.25
    assert attrs["tags"] == ["a", 2]
    assert attrs["nested"] == {"k": "v"}


def test_events_and_links(spans: list[Span]) -> None:
    consumer = by_id(spans)["a000000000000008"]
    (event,) = consumer.events
    assert event.name == "exception"
    assert event.time_ns == T0 + 34_000_000
    assert event.attributes["exception.type"] == "PaymentDeclined"
    (link,) = consumer.links
    assert (link.trace_id, link.span_id) == ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    assert link.attributes == {"fishbridge.link": "checkout"}
    assert by_id(spans)["a000000000000001"].links == ()


def test_ids_in_base64_or_upper_case_hex_become_lowercase_hex() -> None:
    trace = bytes.fromhex(CHECKOUT_TRACE_ID)
    span = bytes.fromhex("00f067aa0ba902b7")
    assert normalize_id(base64.b64encode(trace).decode(), 16) == CHECKOUT_TRACE_ID
    assert normalize_id(base64.b64encode(span).decode(), 8) == "00f067aa0ba902b7"
    assert normalize_id("00F067AA0BA902B7", 8) == "00f067aa0ba902b7"
    assert normalize_id(None, 8) == ""


def test_a_span_without_end_ends_at_its_start() -> None:
    raw = raw_span("00000000000000aa")
    del raw["endTimeUnixNano"]
    (span,) = parse_trace(answer_of(("svc", [raw])))
    assert span.duration_ns == 0


def test_a_resource_without_service_name_is_unknown_service() -> None:
    answer = answer_of(("svc", [raw_span("00000000000000aa")]))
    answer["result"]["resourceSpans"][0]["resource"] = {}
    assert parse_trace(answer)[0].service == "unknown_service"


@pytest.mark.parametrize("answer", [{}, {"result": {}}, {"result": {"resourceSpans": []}}])
def test_an_empty_answer_has_no_spans(answer: Any) -> None:
    assert parse_trace(answer) == []


@pytest.mark.parametrize("answer", [[], "trace", {"result": []}])
def test_a_malformed_answer_is_refused(answer: Any) -> None:
    with pytest.raises(MalformedTrace):
        parse_trace(answer)
