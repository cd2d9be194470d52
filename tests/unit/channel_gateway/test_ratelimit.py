"""The rate limiter: fixed windows per rule and subject; past the limit 429 `rate_limited` with a Retry-After that
points at the next window, which starts counting afresh."""

from __future__ import annotations

import pytest

from services.channel_gateway.ratelimit import RateLimiter, Rule
from shared.errors import RateLimited

RULE = Rule("login_per_client", limit=3, window_s=60.0)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def hits(limiter: RateLimiter, rule: Rule, subject: str, n: int) -> None:
    for _ in range(n):
        limiter.hit(rule, subject)


def test_the_limit_is_allowed_and_the_next_request_refused() -> None:
    clock = Clock(600.0)  # the start of a window
    limiter = RateLimiter(clock=clock)
    hits(limiter, RULE, "1.2.3.4", RULE.limit)
    clock.now = 605.0
    with pytest.raises(RateLimited) as exc:
        limiter.hit(RULE, "1.2.3.4")
    err = exc.value
    assert (err.status, err.code) == (429, "rate_limited")
    assert err.retry_after_s == 55  # until 660, where the next window starts
    assert err.details == {"rule": RULE.name, "limit": RULE.limit, "window_s": RULE.window_s}


def test_retry_after_rounds_up_and_is_at_least_one_second() -> None:
    clock = Clock(600.0)
    limiter = RateLimiter(clock=clock)
    hits(limiter, RULE, "a", RULE.limit)
    for now, expected in ((600.0, 60), (630.2, 30), (659.5, 1), (659.999, 1)):
        clock.now = now
        with pytest.raises(RateLimited) as exc:
            limiter.hit(RULE, "a")
        assert exc.value.retry_after_s == expected, now


def test_refused_requests_do_not_count_and_the_next_window_starts_afresh() -> None:
    clock = Clock(600.0)
    limiter = RateLimiter(clock=clock)
    hits(limiter, RULE, "a", RULE.limit)
    for _ in range(10):
        with pytest.raises(RateLimited):
            limiter.hit(RULE, "a")
    clock.now = 660.0  # the next window
    hits(limiter, RULE, "a", RULE.limit)
    with pytest.raises(RateLimited):
        limiter.hit(RULE, "a")


def test_windows_are_fixed_not_sliding() -> None:
    clock = Clock(659.0)  # the last second of a window
    limiter = RateLimiter(clock=clock)
    hits(limiter, RULE, "a", RULE.limit)
    clock.now = 660.0  # one second later, a new window: the full limit again
    hits(limiter, RULE, "a", RULE.limit)
    with pytest.raises(RateLimited) as exc:
        limiter.hit(RULE, "a")
    assert exc.value.retry_after_s == 60


def test_subjects_and_rules_are_counted_apart() -> None:
    clock = Clock(600.0)
    limiter = RateLimiter(clock=clock)
    other_rule = Rule("checkout_per_user", limit=1, window_s=10.0)
    hits(limiter, RULE, "a", RULE.limit)
    hits(limiter, RULE, "b", RULE.limit)  # another client
    limiter.hit(other_rule, "a")  # another rule, same subject
    with pytest.raises(RateLimited) as exc:
        limiter.hit(other_rule, "a")
    assert exc.value.retry_after_s == 10
    with pytest.raises(RateLimited):
        limiter.hit(RULE, "b")


def test_pruning_many_subjects_keeps_the_current_windows_counts() -> None:
    clock = Clock(600.0)
    limiter = RateLimiter(clock=clock, max_keys=5)
    hits(limiter, RULE, "old", RULE.limit)  # full in this window
    clock.now = 660.0
    hits(limiter, RULE, "kept", RULE.limit)
    for i in range(10):  # more subjects than max_keys: old windows are dropped
        limiter.hit(RULE, f"s{i}")
    assert (RULE.name, "old") not in limiter._counts  # a past window's count is what pruning drops
    with pytest.raises(RateLimited):
        limiter.hit(RULE, "kept")  # its count in the current window survived the pruning
    hits(limiter, RULE, "old", RULE.limit)  # a new window for it anyway
