"""What runs on a page: the probe (browser, WebGPU adapter, WebNN context; in a forked job of its own,
jobs.in_fork), and, on a case's page in a page host (hwcov.backends.browser.host), the sweep's session (one cold
run and STEADY_RUNS more) and the benchmark's timed runs on the page's own clock (the warmup budget and stopping
rules of hwcov.core.timing, passed in by the caller)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from hwcov.backends.browser.jobs import launch, open_page
from hwcov.backends.browser.placements import placements
from hwcov.backends.browser.server import PageServer
from hwcov.core.system import tree_rss_mb

# hardware key -> (onnxruntime-web execution provider, the dist bundle that carries it)
PROVIDERS = {
    "wasm": ("wasm", "ort.wasm.min.mjs"),
    "webgpu": ("webgpu", "ort.webgpu.min.mjs"),
    "webnn": ("webnn", "ort.all.min.mjs"),
}
STEADY_RUNS = 5  # timed runs after the first (cold) one; execution_time_ms is their median
STEADY_BUDGET_MS = 3000  # ... stopping early (after at least one) once they took this long: slow software GPUs
CLOSE_MARGIN_S = 5.0  # of a benchmark page's limit, kept for closing Chromium and returning the result


def probe_job() -> dict:
    """The page's report (browser, WebGPU adapter, WebNN context): the same for the three hardware keys."""
    from playwright.sync_api import sync_playwright

    with PageServer() as server, sync_playwright() as p:
        browser = launch(p)
        try:
            console: list = []
            page = open_page(browser, server, PROVIDERS["wasm"][1], 1, console)
            info = page.evaluate("() => window.hwcov.probe()")
            info["browser"] = f"Chromium {browser.version}"
            return info
        finally:
            browser.close()


@dataclass
class Tab:
    """A case's page in a page host's Chromium (hwcov.backends.browser.host): what the jobs below run on."""
    page: object
    server: PageServer
    console: list  # what the page logged since the request began
    browser: str  # "Chromium <version>"

    def served(self, model, external: list) -> dict:
        """The graph and its external data files as the page fetches them from this host's server."""
        model = Path(model)
        return {"model": self.server.add(model),
                "externalData": [{"path": name, "data": self.server.add(model.parent / name)} for name in external]}

    def spec(self, hardware: str, model, external: list) -> dict:
        """A session spec for the page: the hardware's provider, the graph served."""
        return {"provider": PROVIDERS[hardware][0], "severity": 0, **self.served(model, external)}


def session_job(tab: Tab, hardware: str, model, external: list, feeds: list, threads: int) -> dict:
    """Load `model` on the tab's page (fresh for the case) on the hardware's provider, run it once cold and
    STEADY_RUNS more."""
    page = tab.page
    created = page.evaluate("spec => window.hwcov.create(spec)", tab.spec(hardware, model, external))
    first = page.evaluate("([f, n, b]) => window.hwcov.run(f, n, b)", [feeds, 1, 0])
    steady = page.evaluate("([f, n, b]) => window.hwcov.run(f, n, b)", [feeds, STEADY_RUNS, STEADY_BUDGET_MS])
    return {"browser": tab.browser, "created": created, "first": first["times"][0], "times": steady["times"],
            "outputs": steady["outputs"], "threads": threads, "placements": placements(tab.console)}


def bench_job(tab: Tab, hardware, model, external, feeds, threads, warmup, warmup_budget_ms, min_iters,
              min_duration_ms, limit_s) -> dict:
    """The benchmark's runs: a cold one, warm ones within the warmup budget (the caller's
    timing.WARMUP_BUDGET_S), then timed ones until both min_iters
    and min_duration_ms are reached -- or, when the warm run's time says they can't end within the page limit,
    the warm runs stand in and `too_slow` says why."""
    job_started = time.perf_counter()
    page = tab.page
    created = page.evaluate("spec => window.hwcov.create(spec)", tab.spec(hardware, model, external))
    run = "([f, n, b]) => window.hwcov.run(f, n, b)"
    first = page.evaluate(run, [feeds, 1, 0])
    # the same warmup budget as timing.measure: on a software GPU one 60-s forward is warm enough
    warm = page.evaluate(run, [feeds, warmup - 1, warmup_budget_ms]) if warmup > 1 else first
    # a cell whose timed runs can't end within the page limit is said so now, from the warm run's time,
    # rather than after the limit kills it (SwiftShader takes a minute a forward for some models)
    each_ms = min(warm["times"])
    need_ms = max(min_iters * each_ms, min_duration_ms)
    left_ms = (limit_s - CLOSE_MARGIN_S - (time.perf_counter() - job_started)) * 1000
    too_slow = ""
    if need_ms > left_ms:  # the warm runs stand in for the timed ones in device_text and parity
        times, outputs = warm["times"], warm["outputs"]
        too_slow = (f"{min_iters} timed runs at {each_ms / 1000:.1f} s (the warm run's time) need "
                    f"{need_ms / 1000:.0f} s; {max(0.0, left_ms) / 1000:.0f} s of the {limit_s:.0f}-s page "
                    f"limit (HWCOV_BROWSER_TIMEOUT_S) were left")
    else:
        times, started = [], time.perf_counter()
        while len(times) < min_iters or (time.perf_counter() - started) * 1000 < min_duration_ms:
            left = max(1.0, min_duration_ms - (time.perf_counter() - started) * 1000)
            chunk = page.evaluate(run, [feeds, max(1, min_iters - len(times)) if len(times) < min_iters
                                        else 100_000, left])
            times += chunk["times"]
        outputs = chunk["outputs"]
    return {"browser": tab.browser, "created": created, "first": first["times"][0],
            "warmup": 1 + (len(warm["times"]) if warmup > 1 else 0), "threads": threads, "times": times,
            "outputs": outputs, "too_slow": too_slow, "placements": placements(tab.console),
            "rss_mb": tree_rss_mb(os.getpid())}
