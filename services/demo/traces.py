"""What the demo reads back from Jaeger: a trace's spans (services.tracecli's reader), whether a consumer's chain of
parents leads across RabbitMQ up to the trace's root, and the notification trace that links to a checkout (the
provider's callback starts a trace of its own; payment links its span to the checkout's)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.demo.client import Demo, DemoFailure
from services.tracecli.jaeger import JaegerUnavailable, fetch_spans
from services.tracecli.otlp import MalformedTrace, Span, parse_trace


@dataclass(frozen=True)
class TraceExpectation:
    """A request's trace and what must be in it: spans of these services, and (across) a consumer whose chain of
    parents leads up to the root span of `root_service` — the trace crossed RabbitMQ and stayed one trace."""

    label: str
    trace_id: str
    services: frozenset[str]
    root_service: str
    across: bool = True


@dataclass(frozen=True)
class TraceSeen:
    label: str
    trace_id: str
    services: tuple[str, ...]  # in order of first appearance
    spans: int
    crosses_rabbitmq: bool


def services_of(spans: list[Span]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for span in sorted(spans, key=lambda s: s.start_ns):
        seen.setdefault(span.service, None)
    return tuple(seen)


def consumer_chains(spans: list[Span]) -> list[list[Span]]:
    """Each consumer span followed by its ancestors, as far up as the trace holds them."""
    by_id = {s.span_id: s for s in spans}
    chains = []
    for span in spans:
        if span.kind != "consumer":
            continue
        chain = [span]
        while chain[-1].parent_id in by_id and len(chain) <= len(spans):
            chain.append(by_id[chain[-1].parent_id])
        chains.append(chain)
    return chains


def crosses_rabbitmq_to_root(spans: list[Span], root_service: str) -> bool:
    """Some consumer span's ancestors lead to the trace's root, a span of `root_service` without a parent."""
    for chain in consumer_chains(spans):
        root = chain[-1]
        if root.service == root_service and not root.parent_id and root is not chain[0]:
            return True
    return False


async def spans_of(jaeger: str, trace_id: str) -> list[Span]:
    try:
        found = await asyncio.to_thread(fetch_spans, jaeger, trace_id)
    except JaegerUnavailable as exc:
        raise DemoFailure(str(exc)) from exc
    return found or []


async def await_trace(demo: Demo, expected: TraceExpectation, *, timeout_s: float = 45.0) -> TraceSeen:
    """The trace once every expected service has reported into it (and, if asked, a consumer's chain reaches the
    root): services export their spans in batches, so they arrive over a moment."""

    def holds(spans: list[Span]) -> bool:
        present = {s.service for s in spans}
        if not expected.services <= present:
            return False
        return not expected.across or crosses_rabbitmq_to_root(spans, expected.root_service)

    def describe(spans: list[Span]) -> str:
        missing = sorted(expected.services - {s.service for s in spans})
        text = f"{len(spans)} spans"
        if missing:
            text += f", none yet from {', '.join(missing)}"
        elif expected.across:
            text += ", no consumer chain to the root yet"
        return text

    spans = await demo.wait(
        f"the {expected.label} trace in Jaeger",
        lambda: spans_of(demo.endpoints.jaeger, expected.trace_id),
        holds,
        describe=describe,
        timeout_s=timeout_s,
    )
    return TraceSeen(
        label=expected.label,
        trace_id=expected.trace_id,
        services=services_of(spans),
        spans=len(spans),
        crosses_rabbitmq=crosses_rabbitmq_to_root(spans, expected.root_service),
    )


def _search(jaeger: str, service: str, operation: str, since: datetime, limit: int) -> list[Span]:
    now = datetime.now(UTC) + timedelta(minutes=1)
    query = urllib.parse.urlencode(
        {
            "query.service_name": service,
            "query.operation_name": operation,
            "query.start_time_min": since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "query.start_time_max": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "query.num_traces": str(limit),
        }
    )
    url = f"{jaeger}/api/v3/traces?{query}"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # nothing matched
            return []
        raise DemoFailure(f"Jaeger answered {exc.code} to a search at {url}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DemoFailure(f"Jaeger search failed at {url}: {exc}") from exc
    try:
        return parse_trace(answer)
    except MalformedTrace as exc:
        raise DemoFailure(f"Jaeger's search answer is not OTLP JSON: {exc}") from exc


async def _linked(
    jaeger: str,
    service: str,
    operation: str,
    links_to: str,
    since: datetime,
    having: Callable[[list[Span]], bool] | None,
) -> str | None:
    spans = await asyncio.to_thread(_search, jaeger, service, operation, since, 200)
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    for trace_id, members in by_trace.items():
        linked = any(
            s.service == service and s.name == operation and any(link.trace_id == links_to for link in s.links)
            for s in members
        )
        if linked and (having is None or having(members)):
            return trace_id
    return None


async def linked_trace(
    demo: Demo,
    *,
    service: str,
    operation: str,
    links_to: str,
    since: datetime,
    having: Callable[[list[Span]], bool] | None = None,
    what: str = "",
    timeout_s: float = 45.0,
) -> str:
    """The trace of a `service` span named `operation` that links to trace `links_to` (a provider notification's
    trace: payment links its span to the checkout that created the payment) and, if given, whose spans satisfy
    `having` (one payment has several notifications: paid, refunded)."""
    found = await demo.wait(
        what or f"the trace of {service}'s {operation} linked to {links_to}",
        lambda: _linked(demo.endpoints.jaeger, service, operation, links_to, since, having),
        lambda t: t is not None,
        describe=lambda _: "not in Jaeger yet",
        timeout_s=timeout_s,
    )
    assert found is not None
    return found


async def trace_that_published(
    demo: Demo,
    event_type: str,
    *,
    checkout: str,
    service: str,
    operation: str,
    since: datetime,
    what: str = "",
    timeout_s: float = 45.0,
) -> str:
    """The trace in which a synchronous payment's `event_type` (payment.succeeded) was published: the checkout's
    own when payment recorded the provider's answer first, else the provider's notification (`operation` of
    `service`, linked to the checkout), which may arrive before the answer is recorded — either is the one fact."""
    has = publishes(event_type)

    async def probe() -> str | None:
        if has(await spans_of(demo.endpoints.jaeger, checkout)):
            return checkout
        return await _linked(demo.endpoints.jaeger, service, operation, checkout, since, has)

    found = await demo.wait(
        what or f"the trace that published {event_type} for checkout {checkout}",
        probe,
        lambda t: t is not None,
        describe=lambda _: "not in Jaeger yet",
        timeout_s=timeout_s,
    )
    assert found is not None
    return found


def publishes(event_type: str) -> Callable[[list[Span]], bool]:
    """Whether a trace's spans include the producer span that published `event_type` (e.g. payment.refunded)."""
    return lambda spans: any(s.kind == "producer" and f",{event_type}." in s.name for s in spans)
