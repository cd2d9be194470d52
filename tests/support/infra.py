"""Test access to the real infrastructure started by deploy/infra.sh: addresses, polling, Jaeger traces."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
MONGO_URL = os.environ.get("TEST_MONGO_URL", "mongodb://127.0.0.1:27017/")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
JAEGER_API = os.environ.get("TEST_JAEGER_API", "http://127.0.0.1:16686")
OTLP_ENDPOINT = os.environ.get("TEST_OTLP_ENDPOINT", "http://127.0.0.1:4318")

T = TypeVar("T")


def start_infra() -> None:
    """Start (or reuse) RabbitMQ, FerretDB and Jaeger through the project's own script; a failure fails the run."""
    result = subprocess.run(
        [str(ROOT / "deploy" / "infra.sh"), "start"], capture_output=True, text=True, timeout=1800, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"deploy/infra.sh start failed:\n{result.stdout}\n{result.stderr}")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, until: Callable[[T], bool], timeout_s: float = 20.0, what: str = "condition"
) -> T:
    """Poll `probe` until `until(result)` holds; on timeout fail with the last thing seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: Any = None
    while True:
        last = await probe()
        if until(last):
            return last
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last seen: {last!r}")
        await asyncio.sleep(0.1)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def jaeger_trace_spans(trace_id: str) -> list[dict[str, Any]]:
    """Every span of a trace, read back through Jaeger's stable /api/v3 API, each with its service name."""
    try:
        data = _get_json(f"{JAEGER_API}/api/v3/traces/{trace_id}")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    spans: list[dict[str, Any]] = []
    for rs in data.get("result", {}).get("resourceSpans", []):
        attrs = {a["key"]: a["value"].get("stringValue") for a in rs.get("resource", {}).get("attributes", [])}
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                spans.append({**span, "service": attrs.get("service.name")})
    return spans
