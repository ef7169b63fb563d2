"""The latency method: nothing but the timed call runs while the clock runs (memory has its own pass), the median
comes with an order-statistics interval, and a cell whose interval is wide is flagged instead of reported clean."""
import threading
import time

from hwcov.core import timing


def test_no_sampler_thread_is_alive_while_the_clock_runs_and_memory_is_still_measured():
    alive_during_calls = []

    def fn():
        alive_during_calls.append(any(t.name == timing.RssSampler.THREAD_NAME for t in threading.enumerate()))
        sum(range(2000))

    stats = timing.measure(fn, warmup=2, min_iters=20, min_duration_s=0.05)
    calls_timed = 2 + stats["iterations"]  # warmup, then the timed loop
    assert not any(alive_during_calls[:calls_timed])
    assert all(alive_during_calls[calls_timed:]) and len(alive_during_calls) == calls_timed + timing.MEMORY_RUNS
    assert stats["peak_rss_mb"] > 0 and stats["memory_method"].startswith("separate pass")
    off = timing.measure(fn, warmup=1, min_iters=5, min_duration_s=0.0, memory=False)
    assert off["peak_rss_mb"] != off["peak_rss_mb"] and off["memory_method"] == ""  # NaN: not measured


def test_median_interval_holds_the_median_and_narrows_with_more_samples():
    few = sorted([10.0 + (i % 7) for i in range(20)])
    many = sorted([10.0 + (i % 7) for i in range(2000)])
    lo, hi = timing.median_interval(few)
    assert lo <= timing.percentile(few, 0.5) <= hi
    mlo, mhi = timing.median_interval(many)
    assert mhi - mlo <= hi - lo


def test_a_wide_interval_is_flagged_unstable():
    steady = timing.summarize([10.0] * 30, batch=1, warmup=1)
    assert steady["unstable"] == "" and steady["p50_ci_low_ms"] == steady["p50_ci_high_ms"] == 10.0
    noisy = timing.summarize([5.0, 20.0] * 15, batch=1, warmup=1)
    assert noisy["unstable"].startswith("p50 95% interval reaches")


def test_a_slow_call_is_timed_not_the_sampler():
    stats = timing.measure(lambda: time.sleep(0.002), warmup=1, min_iters=10, min_duration_s=0.0, memory=False)
    assert 1.9 <= stats["p50_ms"] < 50
