"""A RabbitMQ node of a test module's own, so its fault tests can stop and start a real broker (`stop_app` /
`start_app`, as an operator restarting RabbitMQ) without touching the shared one that other test sessions and a
`make run` suite use. It runs Debian's rabbitmq-server (the one deploy/infra.sh installs) under a node name, ports
and directories of its own; the name carries the test session's pid, so a later session stops a node whose session
died before it could."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import aio_pika

from tests.support.processes import free_port

PREFIX = "fishbridge-faults-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ctl(node: str, *args: str, timeout_s: float = 120) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "-q", "-n", node, *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl -n {node} {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout


def remove_orphans() -> None:
    """Stop the nodes, and remove the directories, of test sessions that died before they cleaned up."""
    try:
        names = subprocess.run(["epmd", "-names"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        names = ""
    for name in re.findall(rf"^name ({re.escape(PREFIX)}(\d+)-\w+) at port", names, re.M):
        if not _pid_alive(int(name[1])):
            try:
                _ctl(f"{name[0]}@localhost", "stop", timeout_s=30)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        pid = path.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


class PrivateBroker:
    """One RabbitMQ node on free ports, reachable as guest from localhost on its default vhost."""

    def __init__(self, log_dir: Path) -> None:
        tag = f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.node = f"{tag}@localhost"
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
        self.log_path = log_dir / f"{tag}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),  # none: no management port
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),  # none: nothing of /etc/rabbitmq
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    async def start(self, timeout_s: float = 120.0) -> None:
        (self.dir / "enabled_plugins").write_text("[].\n")
        if os.geteuid() == 0:  # Debian's wrapper runs the server as the rabbitmq user: the node's files are its
            shutil.chown(self.dir, "rabbitmq", "rabbitmq")
            shutil.chown(self.dir / "enabled_plugins", "rabbitmq", "rabbitmq")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (spawning returns at once; only the wait polls)
            ["rabbitmq-server"], env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        await self.wait_ready(timeout_s)

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until an AMQP connection opens (the listener opens once the broker's applications have started)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                # A plain TCP connect first: aio-pika logs every refused connection as an error.
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                connection = await aio_pika.connect(self.url, timeout=2)
            except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as exc:
                if loop.time() > deadline:
                    raise RuntimeError(f"RabbitMQ node {self.node} not ready after {timeout_s}s: {exc!r}") from exc
                await asyncio.sleep(0.2)
                continue
            await connection.close()
            return

    async def stop_app(self) -> None:
        """The broker stops (its connections are closed, its listener goes); the Erlang node stays up."""
        await asyncio.to_thread(_ctl, self.node, "stop_app")

    async def start_app(self) -> None:
        await asyncio.to_thread(_ctl, self.node, "start_app")
        await self.wait_ready()

    async def depths(self, *queues: str) -> dict[str, int]:
        """The messages ready in each queue (a queue that does not exist counts as none)."""
        found: dict[str, int] = {}
        connection = await aio_pika.connect(self.url)
        async with connection:
            for name in queues:
                channel = await connection.channel()
                try:
                    queue = await channel.declare_queue(name, passive=True)
                except aio_pika.exceptions.ChannelClosed:
                    found[name] = 0
                    continue
                found[name] = int(queue.declaration_result.message_count or 0)
                await channel.close()
        return found

    def stop(self) -> None:
        try:
            _ctl(self.node, "stop", timeout_s=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        pid_file = self.dir / "pid"
        if pid_file.exists() and pid_file.read_text().strip().isdigit():
            pid = int(pid_file.read_text().strip())
            if _pid_alive(pid):  # the node's own VM, which this broker started
                os.kill(pid, 9)
        shutil.rmtree(self.dir, ignore_errors=True)
