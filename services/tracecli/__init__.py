"""A Jaeger trace as an indented waterfall in the terminal: `python -m services.tracecli <trace_id>` (`make trace`).

Pure parts: `otlp` (Jaeger's /api/v3 OTLP JSON → `Span` records), `waterfall` (the tree and its text or JSON
lines); I/O: `jaeger` (urllib, waiting for batches to arrive), `cli` (arguments, exit codes, `render_trace`).
"""

from services.tracecli.cli import main, render_trace
from services.tracecli.jaeger import InvalidInput, JaegerUnavailable, JaegerUnreachable, TraceCliError, TraceNotFound

__all__ = [
    "InvalidInput",
    "JaegerUnavailable",
    "JaegerUnreachable",
    "TraceCliError",
    "TraceNotFound",
    "main",
    "render_trace",
]
