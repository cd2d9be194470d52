"""The memory of the whole suite at rest, from /proc: each service process, the RabbitMQ node it uses, FerretDB, its
PostgreSQL, Jaeger. RSS counts a shared page in every process that maps it (PostgreSQL's shared buffers once per
backend), so the total is given as PSS as well (each shared page divided among its sharers), the fair sum."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass
class Memory:
    name: str
    processes: int
    rss_kb: int
    pss_kb: int


def _rollup(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB; (0, 0) once it is gone."""
    rss = pss = 0
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key == "Rss":
            rss = int(rest.split()[0])
        elif key == "Pss":
            pss = int(rest.split()[0])
    return rss, pss


def _comm(pid: int) -> str:
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])


def all_pids() -> list[int]:
    return [int(p.name) for p in PROC.iterdir() if p.name.isdigit()]


def with_descendants(roots: list[int], pids: list[int] | None = None) -> list[int]:
    parents = {pid: _parent(pid) for pid in (pids if pids is not None else all_pids())}
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return sorted(found)


def by_command(prefixes: tuple[str, ...]) -> list[int]:
    """The machine's processes whose command name starts with one of `prefixes` (the infrastructure runs as users of
    its own: postgres, rabbitmq)."""
    return [pid for pid in all_pids() if _comm(pid).startswith(prefixes)]


def measure(name: str, pids: list[int]) -> Memory:
    rss = pss = alive = 0
    for pid in pids:
        r, p = _rollup(pid)
        if r:
            alive += 1
        rss += r
        pss += p
    return Memory(name, alive, rss, pss)


def report(rows: list[Memory], goal_mb: float) -> list[str]:
    width = max(len(r.name) for r in rows)
    lines = [f"  {'':<{width}}  procs    RSS MB    PSS MB"]
    for r in rows:
        lines.append(f"  {r.name:<{width}}  {r.processes:>5}  {r.rss_kb / 1024:>8.1f}  {r.pss_kb / 1024:>8.1f}")
    rss = sum(r.rss_kb for r in rows) / 1024
    pss = sum(r.pss_kb for r in rows) / 1024
    lines.append(f"  {'total':<{width}}  {sum(r.processes for r in rows):>5}  {rss:>8.1f}  {pss:>8.1f}")
    lines.append(f"  goal <= {goal_mb:.0f} MB with infrastructure (PSS): {'met' if pss <= goal_mb else 'missed'}")
    return lines
