"""A small Prometheus text-format registry: request counters and latency histograms, plus counters for workers."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LabelKey = tuple[tuple[str, str], ...]


def _labels(labels: LabelKey, extra: Iterable[tuple[str, str]] = ()) -> str:
    pairs = [*labels, *extra]
    if not pairs:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Registry:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[LabelKey, float]] = defaultdict(lambda: defaultdict(float))
        self._hist: dict[str, dict[LabelKey, list[float]]] = defaultdict(dict)
        self._help: dict[str, tuple[str, str]] = {}

    def inc(self, name: str, help_text: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            self._help.setdefault(name, ("counter", help_text))
            self._counters[name][key] += value

    def observe(self, name: str, help_text: str, seconds: float, labels: Mapping[str, str] | None = None) -> None:
        key = tuple(sorted((labels or {}).items()))
        with self._lock:
            self._help.setdefault(name, ("histogram", help_text))
            # counts per bucket, then +Inf count, then sum
            series = self._hist[name].setdefault(key, [0.0] * (len(_BUCKETS) + 2))
            for i, bound in enumerate(_BUCKETS):
                if seconds <= bound:
                    series[i] += 1
            series[len(_BUCKETS)] += 1
            series[len(_BUCKETS) + 1] += seconds

    def render(self) -> str:
        out: list[str] = []
        with self._lock:
            for name, (kind, help_text) in sorted(self._help.items()):
                out.append(f"# HELP {name} {help_text}")
                out.append(f"# TYPE {name} {kind}")
                if kind == "counter":
                    for key, value in sorted(self._counters[name].items()):
                        out.append(f"{name}{_labels(key)} {value:g}")
                else:
                    for key, series in sorted(self._hist[name].items()):
                        for i, bound in enumerate(_BUCKETS):
                            out.append(f"{name}_bucket{_labels(key, [('le', f'{bound:g}')])} {series[i]:g}")
                        out.append(f"{name}_bucket{_labels(key, [('le', '+Inf')])} {series[len(_BUCKETS)]:g}")
                        out.append(f"{name}_count{_labels(key)} {series[len(_BUCKETS)]:g}")
                        out.append(f"{name}_sum{_labels(key)} {series[len(_BUCKETS) + 1]:g}")
        return "\n".join(out) + "\n"


REGISTRY = Registry()
