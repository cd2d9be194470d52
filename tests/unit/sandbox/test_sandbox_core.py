"""Sandbox fault rules and notification schedules, as pure logic."""

from __future__ import annotations

from services.sandbox.faults import FaultRegistry, FaultRule
from services.sandbox.notifier import SCHEDULES_S, succeeded


def test_a_fault_fires_for_matching_attributes_the_given_number_of_times() -> None:
    reg = FaultRegistry()
    reg.add(FaultRule(target="wechat.jsapi", action="error_5xx", times=2, match={"out_trade_no": "T1"}))
    assert reg.take("wechat.jsapi", {"out_trade_no": "T2"}) is None
    assert reg.take("wechat.refund", {"out_trade_no": "T1"}) is None
    assert reg.take("wechat.jsapi", {"out_trade_no": "T1"}) is not None
    assert reg.take("wechat.jsapi", {"out_trade_no": "T1"}) is not None
    assert reg.take("wechat.jsapi", {"out_trade_no": "T1"}) is None
    assert reg.list() == []


def test_an_unlimited_fault_fires_until_cleared_and_actions_can_be_filtered() -> None:
    reg = FaultRegistry()
    reg.add(FaultRule(target="alipay.notify", action="drop", times=None))
    assert reg.take("alipay.notify", actions={"delay"}) is None
    for _ in range(5):
        rule = reg.take("alipay.notify")
        assert rule is not None and rule.action == "drop"
    reg.clear()
    assert reg.take("alipay.notify") is None


def test_a_fault_with_a_window_fires_until_the_window_ends_and_then_lapses() -> None:
    now = [100.0]
    reg = FaultRegistry(clock=lambda: now[0])
    reg.add(FaultRule(target="wechat.jsapi", action="error_5xx", times=None, for_s=20))
    reg.add(FaultRule(target="wechat.query", action="error_5xx", times=2, for_s=20))
    for _ in range(10):
        assert reg.take("wechat.jsapi") is not None  # as often as asked within the window
    assert reg.take("wechat.query") is not None and reg.take("wechat.query") is not None
    assert reg.take("wechat.query") is None  # a count still ends a windowed rule early
    now[0] = 119.9
    assert reg.take("wechat.jsapi") is not None
    assert [r.target for r in reg.list()] == ["wechat.jsapi"]
    now[0] = 120.0
    assert reg.take("wechat.jsapi") is None
    assert reg.list() == []


def test_wechat_retries_fifteen_times_over_24h4m_and_alipay_three_at_once_then_seven_within_25h() -> None:
    assert len(SCHEDULES_S["wechat"]) == 15
    assert sum(SCHEDULES_S["wechat"]) == 24 * 3600 + 4 * 60
    assert SCHEDULES_S["alipay"][:3] == (0, 0, 0)  # 3 immediate re-sends
    assert SCHEDULES_S["alipay"][3:] == (240, 600, 600, 3600, 7200, 21600, 54000)  # 4m 10m 10m 1h 2h 6h 15h
    assert sum(SCHEDULES_S["alipay"]) <= 25 * 3600


def test_alipay_success_is_the_exact_body_success_and_wechat_any_2xx() -> None:
    assert succeeded("alipay", 200, "success")
    assert not succeeded("alipay", 200, "success\n")
    assert not succeeded("alipay", 200, "SUCCESS")
    assert not succeeded("alipay", 200, "fail")
    assert not succeeded("alipay", 500, "success")
    assert succeeded("wechat", 204, "")
    assert succeeded("wechat", 200, '{"code":"SUCCESS"}')
    assert not succeeded("wechat", 500, '{"code":"FAIL"}')
