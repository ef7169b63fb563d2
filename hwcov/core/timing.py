"""Latency measurement the way optimum-benchmark does it: warmup, then both a minimum iteration
count and a minimum duration, a device sync before every clock read, percentiles with a confidence
interval for the median, and peak RSS measured in a pass of its own after the clock stopped (a sampler
thread waking every few ms competes for the GIL and a core: on a 2-core machine it put p50 10-17 % above
torch.utils.benchmark's). Every figure returned is measured; none is derived from a guess.
Backends time with it too (a browser page's own clock is summarized here), so it sits in core.
"""
from __future__ import annotations

import statistics
import threading
import time
from typing import Callable

from hwcov.core.system import rss_mb


class RssSampler:
    """Peak resident memory of this process while the block runs (sampled every `period_s`)."""

    def __init__(self, period_s: float = 0.005):
        self.period_s, self.peak_mb, self._stop = period_s, 0.0, threading.Event()

    THREAD_NAME = "hwcov-rss-sampler"

    def __enter__(self):
        self.peak_mb = rss_mb()
        self._thread = threading.Thread(target=self._run, daemon=True, name=self.THREAD_NAME)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.period_s):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        raise ValueError("no samples")
    pos = (len(sorted_values) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


WARMUP_BUDGET_S = 2.0
MEMORY_RUNS = 3  # the memory pass: enough runs to reach the steady-state peak (allocator caches filled by warmup)
UNSTABLE_PCT = 5.0  # a p50 whose 95% interval reaches further than this from it is flagged, not reported clean
MEMORY_METHOD = f"separate pass after timing: peak RSS over {MEMORY_RUNS} runs, sampled every 5 ms"


def median_interval(sorted_values: list[float], z: float = 1.96) -> tuple[float, float]:
    """A distribution-free ~95% interval for the median from order statistics: ranks n/2 -/+ z*sqrt(n)/2 (the
    normal approximation of the binomial; latencies are skewed, so no normality of the samples is assumed)."""
    import math

    n = len(sorted_values)
    if n < 6:  # too few ranks for an interval: the whole range
        return sorted_values[0], sorted_values[-1]
    half = z * math.sqrt(n) / 2
    lo, hi = max(0, math.floor(n / 2 - half) - 1), min(n - 1, math.ceil(n / 2 + half) - 1)
    return sorted_values[lo], sorted_values[hi]


def measure(fn: Callable[[], object], *, batch: int = 1, sync: Callable[[], None] | None = None,
            warmup: int = 5, min_iters: int = 10, min_duration_s: float = 1.0, max_iters: int = 100_000,
            warmup_budget_s: float = WARMUP_BUDGET_S, memory: bool = True) -> dict:
    """Time fn() until both min_iters and min_duration_s are reached; latencies in ms. Warmup runs stop early once
    they took warmup_budget_s (at least one runs): a 15-s forward is warm after one, and five would add a minute.
    Nothing but fn and the clock runs while timing; peak RSS comes from a pass of its own afterwards."""
    sync = sync or (lambda: None)
    warm_started, warmed = time.perf_counter(), 0
    while warmed < warmup and (warmed == 0 or time.perf_counter() - warm_started < warmup_budget_s):
        fn()
        sync()
        warmed += 1
    warmup = warmed
    samples: list[float] = []
    started = time.perf_counter()
    while (len(samples) < min_iters or time.perf_counter() - started < min_duration_s) and len(samples) < max_iters:
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        samples.append((time.perf_counter() - t0) * 1000)
    peak = float("nan")
    if memory:
        with RssSampler() as rss:
            for _ in range(MEMORY_RUNS):
                fn()
                sync()
        peak = rss.peak_mb
    return summarize(samples, batch=batch, warmup=warmup, peak_rss_mb=peak,
                     memory_method=MEMORY_METHOD if memory else "")


def summarize(samples: list[float], *, batch: int, warmup: int, peak_rss_mb: float = float("nan"),
              memory_method: str = "") -> dict:
    """Statistics of measured latencies (ms): also for samples timed elsewhere (a browser page's own clock)."""
    ordered = sorted(samples)
    mean = statistics.fmean(samples)
    p50 = percentile(ordered, 0.50)
    low, high = median_interval(ordered)
    spread_pct = 100 * max(p50 - low, high - p50) / p50 if p50 else 0.0
    return {
        "iterations": len(samples), "warmup": warmup, "mean_ms": mean,
        "p50_ms": p50, "p90_ms": percentile(ordered, 0.90),
        "p95_ms": percentile(ordered, 0.95), "p99_ms": percentile(ordered, 0.99),
        "stdev_pct": 100 * statistics.stdev(samples) / mean if len(samples) > 1 and mean else 0.0,
        "throughput_items_s": batch / (mean / 1000), "peak_rss_mb": peak_rss_mb,
        "p50_ci_low_ms": low, "p50_ci_high_ms": high,
        "unstable": f"p50 95% interval reaches {spread_pct:.1f}% from it (> {UNSTABLE_PCT:g}%)"
                    if spread_pct > UNSTABLE_PCT else "",
        "memory_method": memory_method,
    }
