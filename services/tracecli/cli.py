"""The command line, and `render_trace` for code that prints a trace (e.g. `make demo` after its checkout)."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from typing import TextIO

from services.tracecli.jaeger import (
    TraceCliError,
    fetch_spans,
    jaeger_api_from_env,
    validate_jaeger_api,
    validate_trace_id,
    wait_for_spans,
)
from services.tracecli.waterfall import ASCII, UNICODE, render_json, render_text

DEFAULT_WIDTH = 120


def terminal_width() -> int:
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def render_trace(
    trace_id: str,
    jaeger_api: str | None = None,
    *,
    wait_s: float = 0.0,
    width: int | None = None,
    as_json: bool = False,
    ascii_only: bool = False,
    timeout_s: float = 5.0,
) -> str:
    """The trace's waterfall (or its JSON lines), read from Jaeger; blocking (call it through asyncio.to_thread from
    async code). `jaeger_api` defaults to $JAEGER_API, then http://127.0.0.1:16686; `width` to the terminal's.
    Raises TraceNotFound (exit code 1), InvalidInput or JaegerUnavailable (exit code 2), all TraceCliError."""
    trace_id = validate_trace_id(trace_id)
    api = validate_jaeger_api(jaeger_api or jaeger_api_from_env())
    spans = wait_for_spans(lambda: fetch_spans(api, trace_id, timeout_s=timeout_s), wait_s=wait_s)
    if as_json:
        return render_json(spans)
    return render_text(trace_id, spans, width=width or terminal_width(), glyphs=ASCII if ascii_only else UNICODE)


def _width(value: str) -> int:
    width = int(value)
    if width < 40:
        raise argparse.ArgumentTypeError("at least 40 columns")
    return width


def _seconds(value: str) -> float:
    seconds = float(value)
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("between 0 and 3600 seconds")
    return seconds


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.tracecli",
        description="Print a Jaeger trace as an indented waterfall: one line per span, depth first from the roots.",
        epilog="Exit codes: 0 printed, 1 trace not found, 2 Jaeger unreachable or bad input.",
    )
    p.add_argument("trace_id", help="32 hex characters (in every error body, JSON log line and traceparent header)")
    p.add_argument(
        "--jaeger", metavar="URL", help="Jaeger's query API (default $JAEGER_API, else http://127.0.0.1:16686)"
    )
    p.add_argument(
        "--wait",
        metavar="SECONDS",
        type=_seconds,
        default=0.0,
        help="poll until the trace appears and its span count stops growing for 1 s (at most SECONDS)",
    )
    p.add_argument(
        "--width", metavar="COLUMNS", type=_width, help="line width the waterfall is sized to (default: the terminal's)"
    )
    p.add_argument("--json", action="store_true", help="print the spans as JSON lines, in waterfall order")
    p.add_argument(
        "--ascii", action="store_true", help="draw with ASCII only (the default when stdout cannot encode █)"
    )
    p.add_argument("--timeout", metavar="SECONDS", type=_seconds, default=5.0, help="timeout of each request to Jaeger")
    return p


def _takes_unicode(stream: TextIO) -> bool:
    encoding = getattr(stream, "encoding", None)
    if not encoding:  # e.g. io.StringIO: holds any text
        return True
    try:
        "█·↪".encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return False
    return True


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage
        return exc.code if isinstance(exc.code, int) else 2
    try:
        text = render_trace(
            args.trace_id,
            args.jaeger,
            wait_s=args.wait,
            width=args.width,
            as_json=args.json,
            ascii_only=args.ascii or not _takes_unicode(out),
            timeout_s=args.timeout or 5.0,
        )
    except TraceCliError as exc:
        print(f"tracecli: {exc}", file=err)
        return exc.exit_code
    print(text, file=out)
    out.flush()
    return 0
