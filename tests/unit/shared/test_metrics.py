"""The Prometheus text exposition."""

from __future__ import annotations

from shared.http.metrics import Registry


def test_counters_and_histograms_render_in_prometheus_text_format() -> None:
    reg = Registry()
    reg.inc("jobs_total", "Jobs", {"kind": 'a"b'})
    reg.inc("jobs_total", "Jobs", {"kind": 'a"b'}, value=2)
    reg.observe("latency_seconds", "Latency", 0.03, {"route": "/x"})
    reg.observe("latency_seconds", "Latency", 20.0, {"route": "/x"})
    text = reg.render()
    assert "# TYPE jobs_total counter" in text
    assert 'jobs_total{kind="a\\"b"} 3' in text
    assert 'latency_seconds_bucket{route="/x",le="0.025"} 0' in text
    assert 'latency_seconds_bucket{route="/x",le="0.05"} 1' in text
    assert 'latency_seconds_bucket{route="/x",le="+Inf"} 2' in text
    assert 'latency_seconds_count{route="/x"} 2' in text
    assert 'latency_seconds_sum{route="/x"} 20.03' in text
