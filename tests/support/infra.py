"""Test access to the real infrastructure started by deploy/infra.sh: addresses, polling, Jaeger traces."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aio_pika

ROOT = Path(__file__).resolve().parents[2]
MONGO_URL = os.environ.get("TEST_MONGO_URL", "mongodb://127.0.0.1:27017/")
AMQP_BASE_URL = os.environ.get("TEST_AMQP_BASE_URL", "amqp://guest:guest@127.0.0.1:5672/")
# Each test session gets a RabbitMQ virtual host of its own, so its events never reach a running `make run` suite
# (which uses the default vhost) or another test session, and theirs never reach it. The pid in the name lets a
# later session remove the vhost of one that was killed before it could clean up.
VHOST_PREFIX = "fishbridge-test-"
VHOST = os.environ.get("TEST_AMQP_VHOST") or f"{VHOST_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
AMQP_URL = AMQP_BASE_URL.rstrip("/") + "/" + urllib.parse.quote(VHOST, safe="")
JAEGER_API = os.environ.get("TEST_JAEGER_API", "http://127.0.0.1:16686")
OTLP_ENDPOINT = os.environ.get("TEST_OTLP_ENDPOINT", "http://127.0.0.1:4318")

T = TypeVar("T")


DATA = Path(os.environ.get("FISHBRIDGE_DATA") or ROOT / ".data")


class LogTail:
    """The lines a log file gains from now on (a shared log: only what appears while a test runs counts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new_lines(self, *, matching: tuple[str, ...]) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode("utf-8", "replace")
        return [line for line in text.splitlines() if any(m in line for m in matching)]


def postgres_log() -> LogTail:
    """The log of the PostgreSQL cluster under FerretDB (deploy/infra.sh writes it)."""
    path = DATA / "logs" / "postgres.log"
    assert path.exists(), f"no PostgreSQL log at {path}: is FerretDB running on deploy/infra.sh's cluster?"
    return LogTail(path)


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


def rabbitmqctl(*args: str) -> str:
    result = subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=120)
    return result.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def create_test_vhost() -> None:
    """Create this session's vhost (guest may use it) and remove those left by test sessions that died."""
    for name in rabbitmqctl("list_vhosts", "--no-table-headers", "name").split():
        if not name.startswith(VHOST_PREFIX) or name == VHOST:
            continue
        pid = name[len(VHOST_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            rabbitmqctl("delete_vhost", name)
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")


def delete_test_vhost() -> None:
    rabbitmqctl("delete_vhost", VHOST)


def cut_off_rabbitmq() -> None:
    """An outage of RabbitMQ as this session's processes see it, without touching the broker others use: guest loses
    access to the session's vhost and its connections are closed, so reconnects fail until `restore_rabbitmq`."""
    rabbitmqctl("clear_permissions", "-p", VHOST, "guest")
    rabbitmqctl("close_all_connections", "-p", VHOST, "test outage")


def restore_rabbitmq() -> None:
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")


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


SERVICE_QUEUE_SUFFIXES = ("events", "events.dlq", "events.retry.200ms", "events.retry.500ms")


async def delete_service_queues(service: str) -> None:
    """Remove the queues a service process under test declared (its events, retries and dead letters)."""
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        for suffix in SERVICE_QUEUE_SUFFIXES:
            await channel.queue_delete(f"{service}.{suffix}")
