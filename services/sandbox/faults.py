"""Fault injection: rules that tests set through /sandbox/faults and provider handlers consult at named points."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal[
    "decline",  # the buyer's payment (or a refund, a transfer) fails at the provider
    "error_5xx",  # the API call answers 500 without doing anything
    "timeout",  # the API call does its work, then answers only after delay_s (the caller times out)
    "delay",  # a notification is first sent after delay_s
    "duplicate",  # a notification is sent twice
    "out_of_order",  # a notification is held back until the next one of the same provider has been delivered
    "drop",  # a notification is never sent (the merchant must query)
    "corrupt_signature",  # the response or notification signature is garbled
    "refuse",  # the API call is refused with `code` (WeChat: and HTTP `status`; Alipay: as sub_code), nothing done
]


class FaultRule(BaseModel):
    """`target` names a point such as `wechat.jsapi`, `wechat.notify`, `alipay.trade.refund`, `alipay.notify`;
    `match` narrows it to requests whose attributes (e.g. out_trade_no) have these values."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(min_length=1, max_length=100)
    action: Action
    times: int | None = Field(default=1, ge=1, description="how many times it fires; null: until cleared")
    # A window instead of (or as well as) a count: the rule lapses this many real seconds after it was added — a
    # provider down for a minute, say (`times: null, for_s: 60`). Not scaled by TIME_SCALE: it is the tests' clock.
    for_s: float | None = Field(default=None, gt=0, le=3600, description="lapses this long after it is added")
    match: dict[str, str] = Field(default_factory=dict)
    delay_s: float = Field(default=0.0, ge=0, le=600)
    # For `refuse`: WeChat's error code and HTTP status (e.g. FREQUENCY_LIMITED 429, NOT_ENOUGH 403), or Alipay's
    # sub_code (e.g. ACQ.SELLER_BALANCE_NOT_ENOUGH; code 40004, or 20000 for aop.* / isp.* sub_codes).
    code: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    status: int | None = Field(default=None, ge=400, le=599)
    message: str | None = Field(default=None, max_length=256)


class ActiveFault(FaultRule):
    id: int
    fired: int = 0


class FaultRegistry:
    """In the sandbox process's memory: faults are test controls, not provider state."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._rules: list[ActiveFault] = []
        self._ids = itertools.count(1)
        self._clock = clock
        self._ends: dict[int, float] = {}  # rule id → when its `for_s` window ends (the clock's seconds)

    def add(self, rule: FaultRule) -> ActiveFault:
        active = ActiveFault(id=next(self._ids), **rule.model_dump())
        if rule.for_s is not None:
            self._ends[active.id] = self._clock() + rule.for_s
        self._rules.append(active)
        return active

    def _lapse(self) -> None:
        """Remove the rules whose window has ended."""
        now = self._clock()
        for rule in [r for r in self._rules if r.id in self._ends and self._ends[r.id] <= now]:
            self._remove(rule)

    def _remove(self, rule: ActiveFault) -> None:
        self._rules.remove(rule)
        self._ends.pop(rule.id, None)

    def take(
        self, target: str, attrs: dict[str, str] | None = None, *, actions: set[str] | None = None
    ) -> ActiveFault | None:
        """The first matching rule (consuming one of its firings), or None."""
        attrs = attrs or {}
        self._lapse()
        for rule in self._rules:
            if rule.target != target or (actions is not None and rule.action not in actions):
                continue
            if any(attrs.get(k) != v for k, v in rule.match.items()):
                continue
            rule.fired += 1
            if rule.times is not None and rule.fired >= rule.times:
                self._remove(rule)
            return rule
        return None

    def list(self) -> list[ActiveFault]:
        self._lapse()
        return list(self._rules)

    def clear(self) -> None:
        self._rules.clear()
        self._ends.clear()
