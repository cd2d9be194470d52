"""The command line: trace id and address validation, exit codes, waiting for batches, JSON mode, render_trace.

Jaeger is played by a standard-library HTTP server on an ephemeral port answering what Jaeger v1.76 answers
(the real one is in tests/integration/tracecli)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.tracecli import InvalidInput, TraceNotFound, main, render_trace
from services.tracecli.jaeger import (
    JaegerUnavailable,
    JaegerUnreachable,
    validate_jaeger_api,
    validate_trace_id,
    wait_for_spans,
)
from services.tracecli.otlp import Span
from tests.unit.tracecli.conftest import CHECKOUT_TRACE_ID, checkout_answer

MISSING = "0123456789abcdef0123456789abcdef"
BROKEN = "ffffffffffffffffffffffffffffffff"


class FakeJaeger(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        requested = self.path.removeprefix("/api/v3/traces/")
        if requested == CHECKOUT_TRACE_ID:
            self._answer(200, json.dumps(checkout_answer()).encode())
        elif requested == BROKEN:
            self._answer(200, b"<html>not json</html>")
        elif len(requested) == 32:
            self._answer(404, b'{"error":{"httpCode":404,"message":"No traces found"}}')
        else:
            self._answer(400, b'{"error":{"httpCode":400,"message":"malformed parameter trace_id"}}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def jaeger() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJaeger)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJaeger)
    port = server.server_address[1]
    server.server_close()  # nothing listens there any more
    return f"http://127.0.0.1:{port}"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_a_trace_is_printed_as_a_waterfall_with_exit_code_0(jaeger: str) -> None:
    code, out, err = run("--jaeger", jaeger, "--width", "120", CHECKOUT_TRACE_ID)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"trace {CHECKOUT_TRACE_ID} · 40.00 ms · 8 spans · 3 services")
    assert len(lines) == 2 + 8 + 1


def test_the_address_comes_from_jaeger_api_in_the_environment(jaeger: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAEGER_API", jaeger + "/")
    code, out, _ = run(CHECKOUT_TRACE_ID)
    assert code == 0 and CHECKOUT_TRACE_ID in out


def test_upper_case_trace_ids_are_accepted(jaeger: str) -> None:
    code, out, _ = run("--jaeger", jaeger, CHECKOUT_TRACE_ID.upper())
    assert code == 0 and f"trace {CHECKOUT_TRACE_ID}" in out


def test_json_mode_prints_json_lines_only(jaeger: str) -> None:
    code, out, _ = run("--jaeger", jaeger, "--json", CHECKOUT_TRACE_ID)
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert len(objects) == 8
    assert objects[0]["name"] == "POST /app/v1/orders" and objects[0]["depth"] == 0


def test_ascii_mode(jaeger: str) -> None:
    code, out, _ = run("--jaeger", jaeger, "--ascii", CHECKOUT_TRACE_ID)
    assert code == 0
    out.encode("ascii")


def test_a_missing_trace_exits_1_with_a_message_on_stderr(jaeger: str) -> None:
    code, out, err = run("--jaeger", jaeger, MISSING)
    assert (code, out) == (1, "")
    assert "trace not found" in err


@pytest.mark.parametrize(
    "trace_id", ["xyz", "0123456789abcdef", CHECKOUT_TRACE_ID + "0", "0" * 32, "g" * 32, f" {CHECKOUT_TRACE_ID[:-1]}"]
)
def test_a_bad_trace_id_exits_2_without_asking_jaeger(closed_port: str, trace_id: str) -> None:
    code, out, err = run("--jaeger", closed_port, trace_id)
    assert (code, out) == (2, "")
    assert "not a trace id" in err


def test_an_unreachable_jaeger_exits_2(closed_port: str) -> None:
    code, out, err = run("--jaeger", closed_port, CHECKOUT_TRACE_ID)
    assert (code, out) == (2, "")
    assert f"Jaeger is unreachable at {closed_port}" in err


def test_an_answer_that_is_not_json_exits_2(jaeger: str) -> None:
    code, _, err = run("--jaeger", jaeger, BROKEN)
    assert code == 2 and "not JSON" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--jaeger", "ftp://example.org", CHECKOUT_TRACE_ID],
        ["--jaeger", "127.0.0.1:16686", CHECKOUT_TRACE_ID],
        ["--width", "10", CHECKOUT_TRACE_ID],
        ["--width", "wide", CHECKOUT_TRACE_ID],
        ["--wait", "-1", CHECKOUT_TRACE_ID],
        [],
    ],
)
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(*argv)
    assert (code, out) == (2, "")


def test_render_trace_for_other_code(jaeger: str) -> None:
    text = render_trace(CHECKOUT_TRACE_ID, jaeger, width=100)
    assert text.splitlines()[0].startswith(f"trace {CHECKOUT_TRACE_ID}")
    assert "!! ERROR: payment declined" in text
    with pytest.raises(TraceNotFound):
        render_trace(MISSING, jaeger)
    with pytest.raises(InvalidInput):
        render_trace("nope", jaeger)


def test_validation() -> None:
    assert validate_trace_id(f" {CHECKOUT_TRACE_ID.upper()}\n") == CHECKOUT_TRACE_ID
    assert validate_jaeger_api("http://jaeger:16686/") == "http://jaeger:16686"
    with pytest.raises(InvalidInput):
        validate_jaeger_api("jaeger")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def spans_of(n: int) -> list[Span]:
    return [Span(CHECKOUT_TRACE_ID, f"{i:016x}", "", "s", "internal", "svc", 0, 1) for i in range(1, n + 1)]


def probe(answers: list[Any]) -> Any:
    """A fetch answering each of `answers` in turn (raising those that are exceptions), then the last forever."""
    calls = iter(answers)
    last: list[Any] = []

    def fetch() -> list[Span] | None:
        answer = next(calls, last[0] if last else None)
        last[:] = [answer]
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    return fetch


def test_without_waiting_jaeger_is_asked_once() -> None:
    clock = FakeClock()
    assert len(wait_for_spans(probe([spans_of(2)]), wait_s=0, clock=clock, sleep=clock.sleep)) == 2
    with pytest.raises(TraceNotFound):
        wait_for_spans(probe([None, spans_of(2)]), wait_s=0, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_waiting_goes_on_until_the_span_count_stops_growing_for_a_second() -> None:
    clock = FakeClock()
    answers = [None, None, spans_of(1), spans_of(1), spans_of(3), *[spans_of(5)] * 20]
    spans = wait_for_spans(probe(answers), wait_s=10, settle_s=1.0, poll_s=0.25, clock=clock, sleep=clock.sleep)
    assert len(spans) == 5
    # 5 spans first seen at the sixth poll (t=1.25), the same count from then on: answered one second later.
    assert clock.now == 2.25


def test_at_the_deadline_the_spans_seen_last_are_answered() -> None:
    clock = FakeClock()
    growing = [spans_of(n) for n in range(1, 100)]
    spans = wait_for_spans(probe(growing), wait_s=3, settle_s=1.0, poll_s=0.25, clock=clock, sleep=clock.sleep)
    assert clock.now == 3.0
    assert len(spans) == 13  # polled at t = 0, 0.25, …, 3.0


def test_a_trace_that_never_appears_is_not_found_after_the_wait() -> None:
    clock = FakeClock()
    with pytest.raises(TraceNotFound, match="after waiting 2s"):
        wait_for_spans(probe([None]), wait_s=2, clock=clock, sleep=clock.sleep)
    assert clock.now == 2.0


def test_while_waiting_an_unreachable_jaeger_is_asked_again() -> None:
    clock = FakeClock()
    down = JaegerUnreachable("Jaeger is unreachable")
    spans = wait_for_spans(probe([down, down, *[spans_of(2)] * 10]), wait_s=5, clock=clock, sleep=clock.sleep)
    assert len(spans) == 2
    with pytest.raises(JaegerUnreachable):
        wait_for_spans(probe([down]), wait_s=1, clock=clock, sleep=clock.sleep)
    with pytest.raises(JaegerUnreachable):
        wait_for_spans(probe([down]), wait_s=0, clock=clock, sleep=clock.sleep)


def test_an_error_answer_from_jaeger_is_not_waited_out() -> None:
    clock = FakeClock()
    with pytest.raises(JaegerUnavailable, match="answered 500"):
        wait_for_spans(probe([JaegerUnavailable("Jaeger answered 500")]), wait_s=5, clock=clock, sleep=clock.sleep)
    assert clock.now == 0.0
