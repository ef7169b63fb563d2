"""Benchmark cells (architecture x precision x batch x sequence length x variant) on any runnable backend.

torch (cpu/cuda/rocm/mps) times the eager module (or torch.compile'd: a variant); onnxruntime and openvino time
the exported graph loaded as the sweep loads it (with the variant's one setting changed); wasm/webgpu time
onnxruntime-web's session.run on the page's own clock. Every timed cell is measured with hwcov.bench.method's method;
a cell the model, runtime or device can't hold (sequence longer than the model's positions, a precision the
runtime lacks, a variant of another backend) is `not_applicable` with the reason. Nothing is estimated.

Per row: build (synthesize the model), load (runtime session/compile; torch: move to the device), first run
(cold, includes torch.compile) apart from the steady-state statistics; the parity cost, max |diff| of the
cell's outputs against the CPU fp32 torch reference of the same built model; the machine and versions.
"""
from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import replace
from pathlib import Path

from hwcov.core import data
from hwcov.run.journal import ResultJournal

# New columns go at the end: stored tables gain them by ALTER TABLE (store.add_missing_columns).
BENCH_COLUMNS = {
    "model_type": "str", "category": "str", "family": "str", "hardware": "str", "precision": "str",
    "batch_size": "int", "seq_len": "int", "status": "str", "error_message": "str", "iterations": "int",
    "mean_ms": "float", "p50_ms": "float", "p90_ms": "float", "p95_ms": "float", "p99_ms": "float",
    "stdev_pct": "float", "throughput_items_s": "float", "peak_rss_mb": "float", "load_ms": "float",
    "device_name": "str", "runtime_version": "str", "cpu_threads": "int", "test_timestamp": "str",
    "variant": "str", "build_ms": "float", "first_run_ms": "float", "max_abs_diff": "float",
    "export_route": "str", "machine": "str", "run_id": "str",
    "warmup": "int",  # last: add_missing_columns appends to older tables (the IO manager inserts by position)
}
CELL = ("model_type", "hardware", "precision", "batch_size", "seq_len", "variant")


def matrix(hardware: str) -> dict:
    """{"batch_sizes", "precisions", "seq_lens", "variants": {"default", "baseline", "optimized"}} for a hardware
    key (a custom platform: its base hardware's)."""
    spec = data.load("benchmarks.yaml")
    key = _base_hardware(hardware)
    return {**spec["defaults"], **(spec.get("hardware", {}).get(key) or {})}


def _base_hardware(hardware: str) -> str:
    from hwcov.backends.registry import HARDWARE, custom_platforms

    if hardware in HARDWARE:
        return hardware
    platform = custom_platforms().get(hardware)
    return platform.base_hardware if platform else hardware


def variants_for(hardware: str, which: str = "default") -> list[str]:
    """The variants a hardware measures: `default` (the main matrix), `baseline`, `optimized`, or `all`."""
    v = matrix(hardware).get("variants") or {}
    chosen = {"default": [v.get("default")], "baseline": [v.get("baseline")], "optimized": v.get("optimized", []),
              "all": [v.get("baseline")] + list(v.get("optimized", []))}[which]
    return [x for x in dict.fromkeys(chosen) if x]


def cells(case, hardware: str) -> list[tuple[str, int, int]]:
    m = matrix(hardware)
    return [(p, b, s) for p in m["precisions"] for b in m["batch_sizes"] for s in m["seq_lens"]]


@functools.cache
def machine() -> str:
    """The machine every row ran on: CPU model, logical cores, memory, OS."""
    import platform

    from hwcov.core.system import cpu_name

    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            mem = f"; {int(fh.readline().split()[1]) / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu_name()}; {os.cpu_count()} logical cores{mem}; {platform.system()} {platform.release()}"


class BenchJournal(ResultJournal):
    """Every measured cell, appended as it ends (`<artifacts>/benchmarks/<hardware>.jsonl`): a run filtered to a
    few models or variants keeps the partition's other cells."""

    def __init__(self, root, hardware: str):
        self.path = Path(root) / "benchmarks" / f"{hardware}.jsonl"

    def latest_by_cell(self, planned: bool = False) -> dict[tuple, dict]:
        """The latest row of each cell. A row measured at the model's positions instead of the planned sequence
        (planned_seq_len) supersedes the planned cell's older rows; `planned=True` keys it by the planned cell."""
        out: dict[tuple, dict] = {}
        for r in self.rows():
            key = tuple(r.get(k, "") for k in CELL)
            if r.get("planned_seq_len"):
                asked = key[:4] + (r["planned_seq_len"],) + key[5:]
                out.pop(asked, None)
                key = asked if planned else key
            out[key] = r
        return out


def max_positions(config, model=None) -> int:
    """The longest sequence the text model takes: its max_position_embeddings (multimodal configs keep it in their
    text config; xlnet's -1: 0 = unbounded), less the offset of a position table that starts after its padding
    index (RoBERTa's family counts positions from padding_idx + 1); Reformer's axial position embeddings hold
    the product of axial_pos_shape."""
    try:
        text = config.get_text_config()
    except (AttributeError, ValueError):
        text = config
    positions = getattr(text, "max_position_embeddings", None) or getattr(config, "max_position_embeddings", None)
    if not (isinstance(positions, int) and positions > 0):
        return 0
    if getattr(text, "axial_pos_embds", False) and getattr(text, "axial_pos_shape", None):
        positions = min(positions, math.prod(text.axial_pos_shape))
    for name, module in (model.named_modules() if model is not None else ()):
        if name.endswith("position_embeddings") and getattr(module, "num_embeddings", None) == positions \
                and getattr(module, "padding_idx", None) is not None:
            return positions - module.padding_idx - 1
    return positions


def seq_limit(built, case=None) -> tuple[int, str]:
    """The longest text the case takes (0 = unbounded) and what sets it (a format string for the limit): the input
    template's max_seq_len where the text length is tied to another input (a streaming model's tokens to its
    audio frames), else the positions."""
    fixed = int((case.input_spec if case is not None else {}).get("max_seq_len") or 0)
    if fixed:
        return fixed, "max_seq_len {} (templates/inputs.yaml: the text length is tied to another input)"
    return max_positions(built.config, built.model), \
        "max positions {} (config max_position_embeddings, or axial_pos_shape)"


def _positions_exceeded(built, case=None) -> str:
    limit, source = seq_limit(built, case)
    ids = built.feed.get("input_ids")
    if ids is not None and limit and ids.shape[-1] > limit:
        return f"sequence {ids.shape[-1]} > {source.format(limit)}"
    return ""


BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}


def _weights_exceed_memory(backend, built, precision: str) -> str:
    """'' unless the model's own weights (counted, at the precision's width) can't fit the memory the hardware
    has: a custom platform's memory_constraint_mb, else the host's MemAvailable (or the CUDA device's free memory)."""
    need = sum(p.numel() for p in built.model.parameters()) * BYTES.get(precision, 4) / 2**20
    platform = getattr(backend, "platform", None)
    limit, source = (platform.memory_constraint_mb, f"{platform.platform_key}'s memory_constraint_mb") \
        if platform is not None and getattr(platform, "memory_constraint_mb", 0) else (None, "")
    if limit is None and getattr(backend, "hardware", "") in ("cuda", "rocm"):
        import torch

        limit, source = torch.cuda.mem_get_info()[0] / 2**20, "free device memory"
    if limit is None:
        try:
            with open("/proc/meminfo", encoding="utf-8") as fh:
                avail = next(line for line in fh if line.startswith("MemAvailable:"))
            limit, source = int(avail.split()[1]) / 1024, "MemAvailable"
        except (OSError, StopIteration, ValueError):
            return ""
    if need > limit:
        return f"{precision} weights alone need {need:.0f} MB > {limit:.0f} MB ({source})"
    return ""


def run_cell(case, hardware: str, precision: str, batch: int, seq_len: int, min_duration_s: float = 1.0,
             variant: str = "", export_dir=None, route: str = "", warmup: int = 5, min_iters: int = 10,
             fit_positions: bool = False) -> dict:
    """Build the case at this batch/sequence length, load it on the hardware's runtime, and measure.
    fit_positions: a sequence longer than the model's positions is measured at that limit instead (the row's
    seq_len says which; `planned_seq_len` keeps the cell asked for) rather than being not_applicable."""
    import torch

    from hwcov.bench import variants
    from hwcov.backends.registry import get_backend
    from hwcov.models.build import TextOnlyMultimodal, build_case

    variant = variant or next(iter(variants_for(hardware)), "")
    row = {"model_type": case.model_type, "category": case.category, "family": case.family, "hardware": hardware,
           "precision": precision, "batch_size": batch, "seq_len": seq_len, "variant": variant,
           "cpu_threads": torch.get_num_threads(), "machine": machine(),
           "test_timestamp": time.strftime("%Y-%m-%d %H:%M:%S")}
    backend = get_backend(hardware)
    row["runtime_version"] = backend.versions()
    probe = backend.probe()
    if not probe.available:
        return {**row, "status": "unavailable", "error_message": probe.error}
    try:
        if not variant:
            raise variants.VariantNotApplicable(f"templates/benchmarks.yaml defines no variant for {hardware}")
        variants.check(variant, backend)
    except variants.VariantNotApplicable as exc:
        return {**row, "status": "not_applicable", "error_message": str(exc)}
    gate = _precision_gate(backend, precision)
    if gate:
        return {**row, "status": "not_applicable", "error_message": gate}
    started = time.perf_counter()
    try:
        built = build_case(replace(case, input_spec={**case.input_spec, "seq_len": seq_len}), batch)
    except TextOnlyMultimodal as exc:
        return {**row, "status": "fail_to_run", "error_message": str(exc)}
    limit, _ = seq_limit(built, case)
    if fit_positions and limit and "input_ids" in built.feed and built.feed["input_ids"].shape[-1] > limit:
        started = time.perf_counter()
        built = build_case(replace(case, input_spec={**case.input_spec, "seq_len": limit}), batch)
        row.update(seq_len=limit, planned_seq_len=seq_len)
    row["build_ms"] = (time.perf_counter() - started) * 1000
    too_long = _positions_exceeded(built, case) or _weights_exceed_memory(backend, built, precision)
    if too_long:
        return {**row, "status": "not_applicable", "error_message": too_long}
    from hwcov.backends.exported import reference_outputs

    reference, _ = reference_outputs(built, case, batch, None)  # CPU fp32 torch, before any dtype move
    kind = variants.family(backend)
    try:
        if kind == "browser":
            return {**row, **_browser_cell(backend, built, case, batch, precision, reference, export_dir, route,
                                           min_duration_s, warmup, min_iters)}
        loaded, extra = _load(backend, kind, built, case, batch, precision, variant, export_dir, route)
    except variants.VariantNotApplicable as exc:
        return {**row, "status": "not_applicable", "error_message": str(exc)}
    row.update(extra)
    return {**row, **measure_loaded(loaded, batch, reference, min_duration_s, warmup, min_iters, variant)}


def _precision_gate(backend, precision: str) -> str:
    from hwcov.bench import variants

    inner = getattr(backend, "inner", backend)
    platform = getattr(backend, "platform", None)
    if platform is not None and precision not in platform.supported_precisions:
        return f"{precision} not in {platform.platform_key}'s supported_precisions {list(platform.supported_precisions)}"
    if variants.family(backend) == "torch":
        from hwcov.backends.torch import DTYPES

        return "" if precision in DTYPES else f"torch eager runs {list(DTYPES)}, not {precision}"
    if variants.family(backend) == "browser":
        gate = inner.gate(precision)
        return gate["error_message"] if gate else ""
    return "" if precision in inner.precisions else f"{inner.hardware} runs {list(inner.precisions)}, not {precision}"


def export_for(backend, built, case, batch: int, export_dir, route: str = ""):
    """The cached export (the route the sweep passed with, else the first route that exports)."""
    inner = getattr(backend, "inner", backend)
    export_dir = Path(export_dir) if export_dir else inner._export_dir(None)
    errors = []
    for r in ([route] if route else list(inner.routes)):
        base, exported, failed = inner._export(built, case, batch, r, export_dir)
        if exported is not None:
            return exported
        errors.append(failed["error_message"])
    raise RuntimeError(" | ".join(errors)[:3000])


def _load(backend, kind, built, case, batch, precision, variant, export_dir, route, **options):
    from hwcov.bench import variants

    if kind == "torch":
        return variants.load_torch(backend, built, precision, variant), {}
    exported = export_for(backend, built, case, batch, export_dir, route)
    extra = {"export_route": exported.route}
    if kind == "onnxruntime":
        return variants.load_onnxruntime(backend, exported, precision, variant, **options), extra
    return variants.load_openvino(backend, exported, precision, variant, **options), extra


def parity(reference: dict, result: dict) -> float:
    """Max |diff| over the float outputs both hold (NaN when none; inf on a shape mismatch)."""
    import numpy as np

    worst = float("nan")
    for name in sorted(set(reference) & set(result)):
        a, b = np.asarray(reference[name]), np.asarray(result[name])
        if not (np.issubdtype(a.dtype, np.floating) and np.issubdtype(b.dtype, np.floating)):
            continue
        if a.shape != b.shape:
            return float("inf")
        d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
        worst = d if worst != worst else max(worst, d)
    return worst


def measure_loaded(loaded, batch: int, reference: dict, min_duration_s: float, warmup: int, min_iters: int,
                   variant: str) -> dict:
    """First (cold) run timed apart, parity against the reference, then the steady-state statistics."""
    from hwcov.bench import method as bench
    from hwcov.bench import variants

    try:
        t0 = time.perf_counter()
        result = loaded.outputs()
        first_ms = (time.perf_counter() - t0) * 1000
    except Exception as exc:  # noqa: BLE001 - the variant's own failure is the cell's result
        reason = variants.torch_compile_error(exc) if variant == "torch_compile" else ""
        if reason:
            return {"status": "not_applicable", "error_message": f"torch.compile can't run here: {reason}",
                    "device_name": loaded.device_name, "load_ms": loaded.load_ms}
        raise
    diff = parity(reference, result)
    stats = bench.measure(loaded.run, batch=batch, sync=loaded.sync, warmup=warmup, min_iters=min_iters,
                          min_duration_s=min_duration_s)
    return {**stats, "status": "pass", "load_ms": loaded.load_ms, "first_run_ms": first_ms,
            "max_abs_diff": diff, "device_name": loaded.device_name}


# -- browser (wasm, webgpu): timed on the page's clock, in a forked Playwright job ------------------------
def _browser_job(hardware, model, external, feeds, threads, warmup, min_iters, min_duration_ms, limit_s) -> dict:
    from playwright.sync_api import sync_playwright

    from hwcov.backends import browser
    from hwcov.bench.method import WARMUP_BUDGET_S

    job_started = time.perf_counter()
    provider, bundle = browser.PROVIDERS[hardware]
    with browser.PageServer() as server, sync_playwright() as p:
        chromium = browser._launch(p)
        try:
            console: list = []
            page = browser._open_page(chromium, server, bundle, threads, console, log="verbose")
            spec = {"model": server.add(model), "provider": provider, "severity": 0,
                    "externalData": [{"path": n, "data": server.add(model.parent / n)} for n in external]}
            created = page.evaluate("spec => window.hwcov.create(spec)", spec)
            run = "([f, n, b]) => window.hwcov.run(f, n, b)"
            first = page.evaluate(run, [feeds, 1, 0])
            # the same warmup budget as bench.measure: on a software GPU one 60-s forward is warm enough
            warm = page.evaluate(run, [feeds, warmup - 1, WARMUP_BUDGET_S * 1000]) if warmup > 1 else first
            # a cell whose timed runs can't end within the page limit is said so now, from the warm run's time,
            # rather than after the limit kills it (SwiftShader takes a minute a forward for some models)
            each_ms = min(warm["times"])
            need_ms = max(min_iters * each_ms, min_duration_ms)
            left_ms = (limit_s - _CLOSE_MARGIN_S - (time.perf_counter() - job_started)) * 1000
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
            return {"browser": f"Chromium {chromium.version}", "created": created, "first": first["times"][0],
                    "warmup": 1 + (len(warm["times"]) if warmup > 1 else 0), "threads": threads, "times": times,
                    "outputs": outputs, "too_slow": too_slow, "placements": browser.placements(console),
                    "rss_mb": _tree_rss_mb(os.getpid())}
        finally:
            chromium.close()


_CLOSE_MARGIN_S = 5.0  # of the page limit, kept for closing Chromium and returning the result


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and its descendants (the job, Playwright's driver, Chromium's processes)."""
    parents, rss = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", encoding="utf-8") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            parents[int(entry.name)] = int(fields["PPid"])
            rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
        except (OSError, ValueError, KeyError):
            continue
    tree, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - tree
        tree |= frontier
    return sum(rss.get(pid, 0.0) for pid in tree)


def _browser_cell(backend, built, case, batch, precision, reference, export_dir, route, min_duration_s,
                  warmup, min_iters) -> dict:
    from hwcov.bench import method as bench
    from hwcov.backends import browser
    from hwcov.backends.onnxruntime import OnnxRuntimeBackend

    inner = getattr(backend, "inner", backend)
    exported = export_for(backend, built, case, batch, export_dir, route)
    model = OnnxRuntimeBackend.model_file(inner, exported, precision)
    graph_inputs, external = browser.graph_io(model)
    fed = browser.fed_tensors(exported, graph_inputs)
    try:
        job = browser.in_fork(_browser_job, inner.hardware, model, external,
                              [browser.encode(k, v) for k, v in fed.items()], browser.threads(), warmup, min_iters,
                              min_duration_s * 1000, browser.JOB_TIMEOUT_S,
                              timeout_s=browser.JOB_TIMEOUT_S + 2 * min_duration_s)
    except browser.BrowserJobError as exc:  # named as the sweep names it; --resume measures timeouts again
        return {"status": browser.job_status(str(exc)), "error_message": f"{inner.hardware}: {exc}"[:2000],
                "export_route": exported.route}
    result = browser.decode_outputs(exported, job["outputs"])
    fallback = browser.placement_fallback(inner.hardware, job["placements"])
    row = {"load_ms": job["created"]["createMs"], "first_run_ms": job["first"], "warmup": job["warmup"],
           "max_abs_diff": parity(reference, result), "device_name": inner.device_text(job),
           "export_route": exported.route, "peak_rss_mb": job["rss_mb"]}
    if job["too_slow"]:
        return {**row, "status": "not_applicable", "error_message": f"too slow to time here: {job['too_slow']}"}
    row.update(bench.summarize(job["times"], batch=batch, warmup=job["warmup"], peak_rss_mb=job["rss_mb"]))
    if fallback:
        return {**row, "status": "unsupported_op", "error_message": fallback}
    return {**row, "status": "pass"}
