"""The measurement method: real clocks, both stopping rules, percentiles, throughput = batch / latency."""
import time

import pytest

from hwcov.core import timing as bench


def test_measure_obeys_both_stopping_rules_and_reports_real_latency():
    calls = []
    stats = bench.measure(lambda: (calls.append(1), time.sleep(0.002)), batch=4, warmup=3, min_iters=5,
                          min_duration_s=0.1)
    assert len(calls) == stats["iterations"] + 3 + bench.MEMORY_RUNS and stats["iterations"] >= 5  # + memory pass
    assert stats["iterations"] * stats["mean_ms"] >= 100 * 0.9  # ran for the minimum duration
    assert 2.0 <= stats["p50_ms"] <= stats["p90_ms"] <= stats["p99_ms"]
    assert stats["throughput_items_s"] == pytest.approx(4 / (stats["mean_ms"] / 1000))
    assert stats["peak_rss_mb"] > 10


def test_slow_calls_warm_up_within_the_warmup_budget():
    calls = []
    stats = bench.measure(lambda: (calls.append(1), time.sleep(0.2)), warmup=5, min_iters=2, min_duration_s=0,
                          warmup_budget_s=0.3)
    assert 1 <= stats["warmup"] <= 2  # not 5 warmups of a slow call
    assert len(calls) == stats["warmup"] + 2 + bench.MEMORY_RUNS


def test_min_iterations_win_over_a_short_duration():
    stats = bench.measure(lambda: None, min_iters=50, min_duration_s=0.0, warmup=0)
    assert stats["iterations"] == 50


def test_sync_runs_around_every_timed_call():
    events = []
    bench.measure(lambda: events.append("run"), sync=lambda: events.append("sync"), warmup=1, min_iters=3,
                  min_duration_s=0)
    assert events == ["run", "sync"] + ["sync", "run", "sync"] * 3 + ["run", "sync"] * bench.MEMORY_RUNS


def test_percentiles_interpolate_like_numpy():
    import numpy as np

    values = sorted([5.0, 1.0, 9.0, 3.0, 7.0, 2.0])
    for q in (0.5, 0.9, 0.99):
        assert bench.percentile(values, q) == pytest.approx(float(np.percentile(values, q * 100)))


def test_rss_sampler_sees_a_peak():
    with bench.RssSampler() as rss:
        block = bytearray(200 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
        time.sleep(0.05)
        del block
    assert rss.peak_mb > 200


def _history(p50s, cell=("bert", "cpu", "fp32", 1, 128, "eager")):
    import pandas as pd

    keys = ["model_type", "hardware", "precision", "batch_size", "seq_len", "variant"]
    return pd.DataFrame([{**dict(zip(keys, cell)), "status": "pass", "p50_ms": p,
                          "test_timestamp": f"2026-11-28 0{i}:00:00"} for i, p in enumerate(p50s)])


def test_regression_flag_compares_the_latest_p50_with_the_previous_run_of_the_same_cell():
    import pandas as pd

    from hwcov.reports import analysis

    slower = _history([1.0, 0.5, 1.0])  # the previous run, not the first or the best, is the reference
    assert len(analysis.regressions(slower)) == 1
    assert "REGRESSION" in analysis.performance_trends(slower)
    assert analysis.regressions(_history([1.0, 1.09])).empty  # within 10 %
    assert "IMPROVED" in analysis.performance_trends(_history([1.0, 0.8]))
    other = _history([1.0], ("bert", "openvino", "fp32", 1, 128, "ov_latency"))
    assert analysis.regressions(pd.concat([_history([1.0]), other])).empty  # different cells never compared
