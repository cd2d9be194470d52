"""Tracing and logging, set up once per process: OTLP to Jaeger, W3C trace context, JSON log lines with trace_id."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_state: dict[str, Any] = {}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, carrying the current trace and span ids so logs join traces in Jaeger."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service_name,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            line["trace_id"] = format(ctx.trace_id, "032x")
            line["span_id"] = format(ctx.span_id, "016x")
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            line.update(extra)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(service_name: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLogFormatter(service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The broker client logs every reconnect attempt at ERROR with a traceback; ours say it once, in context.
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("pymongo").setLevel(logging.WARNING)


def setup_telemetry(
    service_name: str, *, otlp_endpoint: str = "http://127.0.0.1:4318", enabled: bool = True, log_level: str = "INFO"
) -> TracerProvider:
    """Call once, before building the aiohttp app (the server instrumentation patches the Application class)."""
    if "provider" in _state:
        provider: TracerProvider = _state["provider"]
        return provider
    setup_logging(service_name, log_level)
    propagate.set_global_textmap(CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()]))
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if enabled:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)

    from opentelemetry.instrumentation.aio_pika import AioPikaInstrumentor
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

    AioHttpServerInstrumentor().instrument()
    AioHttpClientInstrumentor().instrument()
    AioPikaInstrumentor().instrument()
    PymongoInstrumentor().instrument()
    _state["provider"] = provider
    return provider


def shutdown_telemetry() -> None:
    provider = _state.get("provider")
    if provider is not None:
        provider.force_flush(5_000)


def current_trace_carrier() -> dict[str, str]:
    """The W3C headers (traceparent, tracestate, baggage) of the current context, for storing with an entry."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_carrier(carrier: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(dict(carrier))


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
