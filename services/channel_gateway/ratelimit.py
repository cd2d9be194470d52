"""Per-user and per-client rate limits: fixed windows counted in this process (each gateway replica limits what
reaches it; behind N replicas a client gets at most N times the limit, which is what these limits are for:
stopping floods of logins, checkouts and withdrawals, not metering)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import RateLimited


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window_s: float


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        # (rule, subject) -> (window number, window length, count in it)
        self._counts: dict[tuple[str, str], tuple[int, float, int]] = {}

    def hit(self, rule: Rule, subject: str) -> None:
        """Count one request of `subject` under `rule`; 429 with Retry-After once the window's limit is passed."""
        now = self.clock()
        window = int(now // rule.window_s)
        key = (rule.name, subject)
        seen, _, count = self._counts.get(key, (window, rule.window_s, 0))
        count = count + 1 if seen == window else 1
        if count > rule.limit:
            raise RateLimited(
                f"too many requests ({rule.name}); retry later",
                retry_after_s=(window + 1) * rule.window_s - now,
                details={"rule": rule.name, "limit": rule.limit, "window_s": rule.window_s},
            )
        self._counts[key] = (window, rule.window_s, count)
        if len(self._counts) > self.max_keys:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == int(now // v[1])}
