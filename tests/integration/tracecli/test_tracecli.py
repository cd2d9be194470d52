"""`python -m services.tracecli` on a trace exported to the real Jaeger over OTLP by two services of the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, set_span_in_context

from tests.support.infra import JAEGER_API, OTLP_ENDPOINT, ROOT


def provider(service: str) -> TracerProvider:
    p = TracerProvider(resource=Resource.create({"service.name": service}))
    p.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{OTLP_ENDPOINT}/v1/traces")))
    return p


@pytest.fixture
def providers(infra: None) -> Iterator[tuple[TracerProvider, TracerProvider]]:
    run = uuid.uuid4().hex[:8]
    pair = provider(f"tracecli-front-{run}"), provider(f"tracecli-wallet-{run}")
    yield pair
    for p in pair:
        p.shutdown()


def tracecli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "JAEGER_API": JAEGER_API}
    return subprocess.Popen(
        [sys.executable, "-m", "services.tracecli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def service_of(p: TracerProvider) -> str:
    return str(p.resource.attributes["service.name"])


def test_a_two_service_trace_is_printed_nested_with_its_error_and_link(
    providers: tuple[TracerProvider, TracerProvider],
) -> None:
    front, wallet = providers
    front_tracer, wallet_tracer = front.get_tracer("tracecli-test"), wallet.get_tracer("tracecli-test")
    # Another trace the client span links to, as the notification trace links to the checkout's.
    with front_tracer.start_as_current_span("checkout") as linked:
        linked_ctx = linked.get_span_context()
    with front_tracer.start_as_current_span(
        "GET /wallets/{user_id}",
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "GET", "url.path": "/wallets/u1", "http.response.status_code": 200},
    ) as root:
        root_ctx = root.get_span_context()
        with (
            wallet_tracer.start_as_current_span(
                "wallet.find",
                context=set_span_in_context(root),
                kind=SpanKind.CLIENT,
                attributes={"db.operation.name": "find", "db.collection.name": "wallets"},
                links=[Link(linked_ctx)],
            ) as client,
            wallet_tracer.start_as_current_span("balance", context=set_span_in_context(client)) as failing,
        ):
            failing.set_status(Status(StatusCode.ERROR, "wallet down"))
    trace_id = format(root_ctx.trace_id, "032x")
    linked_ref = f"{linked_ctx.trace_id:032x}/{linked_ctx.span_id:016x}"

    # The CLI starts before the spans are exported: --wait polls until they are in and their count settles.
    waiting = tracecli("--wait", "10", "--width", "120", trace_id)
    assert front.force_flush(10_000) and wallet.force_flush(10_000)
    out, err = waiting.communicate(timeout=60)
    assert (waiting.returncode, err) == (0, "")

    head, _columns, *lines = out.splitlines()
    assert head.startswith(f"trace {trace_id} · ")
    assert f"3 spans · 2 services: {service_of(front)}, {service_of(wallet)} · 1 error" in head
    root_line, client_line, link_line, error_line = lines
    text_of = [line.split("|", 2)[2][2:] for line in (root_line, client_line, error_line)]  # after the waterfall
    assert text_of[0] == f"{service_of(front)} server GET /wallets/{{user_id}} path=/wallets/u1 status=200"
    assert text_of[1] == f"  {service_of(wallet)} client wallet.find db=find coll=wallets"
    assert text_of[2] == f"    {service_of(wallet)} internal balance  !! ERROR: wallet down"
    assert link_line.strip() == f"↪ link {linked_ref}"  # right under the client span, one level deeper
    assert link_line.index("↪") == client_line.index(service_of(wallet)) + 2

    as_json = tracecli("--json", trace_id)
    out, err = as_json.communicate(timeout=30)
    assert (as_json.returncode, err) == (0, "")
    spans = [json.loads(line) for line in out.splitlines()]
    assert [(s["service"], s["kind"], s["depth"]) for s in spans] == [
        (service_of(front), "server", 0),
        (service_of(wallet), "client", 1),
        (service_of(wallet), "internal", 2),
    ]
    assert spans[1]["parent_span_id"] == spans[0]["span_id"] == f"{root_ctx.span_id:016x}"
    assert spans[2]["status"] == {"code": "error", "message": "wallet down"}
    assert spans[1]["links"][0]["trace_id"] == f"{linked_ctx.trace_id:032x}"


def test_a_trace_jaeger_does_not_have_exits_1(infra: None) -> None:
    missing = tracecli(uuid.uuid4().hex)
    out, err = missing.communicate(timeout=30)
    assert (missing.returncode, out) == (1, "")
    assert "trace not found" in err
