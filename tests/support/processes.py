"""Service processes for tests: started with their environment, ready when /readyz says so, stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp

from tests.support.infra import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Every process started and not yet stopped: at the end of the session they are all asked to stop at once
# (`terminate_all`), so the fixtures' `stop()` calls, run one after the other, find them gone instead of waiting
# for each shutdown in turn.
RUNNING: set[ServiceProcess] = set()


def terminate_all() -> None:
    for process in list(RUNNING):
        if process.proc is not None and process.proc.poll() is None:
            process.proc.terminate()


class ServiceProcess:
    def __init__(self, module: str, env: dict[str, str], log_dir: Path) -> None:
        self.module = module
        self.port = free_port()
        self.env = {**os.environ, **env, "HTTP_PORT": str(self.port), "HTTP_HOST": "127.0.0.1"}
        self.log_path = log_dir / f"{env.get('SERVICE_NAME', module)}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout_s: float = 30.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 (spawning returns at once; only the wait polls)
            [sys.executable, "-m", self.module], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        RUNNING.add(self)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last = "no answer"
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.module} exited with {self.proc.returncode}; log: {self.log_tail()}")
                try:
                    async with session.get(f"{self.url}/readyz") as resp:
                        last = await resp.text()
                        if resp.status == 200:
                            return
                except aiohttp.ClientError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.module} not ready after {timeout_s}s: {last}; log: {self.log_tail()}")

    def stop(self) -> None:
        RUNNING.discard(self)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash: none of the process's shutdown runs. `start()` runs it again, on the same port."""
        RUNNING.discard(self)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"
