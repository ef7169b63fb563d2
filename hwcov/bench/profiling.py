"""Where the time and the memory go, measured: a per-layer time breakdown and the memory peak per stage.

Layer profile, by backend family:
  torch        torch.profiler over the timed runs, with a record_function range around every module's forward
               (forward pre/post hooks): inclusive time per module, and self time = inclusive minus its direct
               children's inclusive time.
  openvino     the compiled model's per-layer performance counts (PERF_COUNT=YES; infer request
               get_profiling_info()), summed over the runs: one row per executed node, with its kernel.
  onnxruntime  the session's own profiler (SessionOptions.enable_profiling): node kernel times per run.
Memory profile: process RSS (sampled from a side thread) before, peak and after each stage -- build (random-weight
model and inputs), export (exported backends), load (to device / session create / compile), first run, steady
state; on CUDA also torch's peak allocated bytes per stage. Rows are stored in hwcov.layer_profiles and
hwcov.memory_profiles (hwcov/store/database.py), replacing the same cell's earlier profile.
"""
from __future__ import annotations

import collections
import json
import math
import time
from dataclasses import replace
from pathlib import Path


def _prepare(case, hardware, precision, batch, seq_len, variant):
    """(backend, family, variant, built, row) for a profile; raises ValueError when it can't run here."""
    from hwcov.bench import cells as benchmark
    from hwcov.bench import variants
    from hwcov.backends.registry import get_backend
    from hwcov.models.build import build_case

    backend = get_backend(hardware)
    probe = backend.probe()
    if not probe.available:
        raise ValueError(f"{hardware} unavailable: {probe.error}")
    variant = variant or next(iter(benchmark.variants_for(hardware)), "")
    kind = variants.family(backend)
    if kind not in ("torch", "onnxruntime", "openvino"):
        raise ValueError(f"no profiler for {hardware} ({kind or type(backend).__name__}); profiled: torch "
                         f"(cpu, cuda, rocm, mps), onnxruntime, openvino")
    variants.check(variant, backend)
    gate = benchmark._precision_gate(backend, precision)
    if gate:
        raise ValueError(gate)
    row = {"model_type": case.model_type, "hardware": hardware, "precision": precision, "batch_size": batch,
           "seq_len": seq_len, "variant": variant, "runtime_version": backend.versions(),
           "machine": benchmark.machine(), "profiled_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    return backend, kind, variant, replace(case, input_spec={**case.input_spec, "seq_len": seq_len}), row


# -- layer profile -----------------------------------------------------------------------------------
def layer_profile(case, hardware: str, precision: str = "fp32", batch: int = 1, seq_len: int = 128,
                  variant: str = "", iterations: int = 10, export_dir=None) -> list[dict]:
    from hwcov.bench import cells as benchmark
    from hwcov.models.build import build_case

    backend, kind, variant, case, row = _prepare(case, hardware, precision, batch, seq_len, variant)
    built = build_case(case, batch)
    too_long = benchmark._positions_exceeded(built, case)
    if too_long:
        raise ValueError(too_long)
    if kind == "torch":
        if variant != "eager":
            raise ValueError(f"the torch layer profile hooks eager modules; {variant} replaces them")
        loaded, _ = benchmark._load(backend, kind, built, case, batch, precision, variant, export_dir, "")
        layers, source = _torch_layers(loaded.extra["model"], loaded.run, loaded.sync, iterations), "torch.profiler"
    elif kind == "openvino":
        loaded, _ = benchmark._load(backend, kind, built, case, batch, precision, variant, export_dir, "",
                                    perf_count=True)
        layers, source = _openvino_layers(loaded, iterations), "openvino PERF_COUNT"
    else:
        import tempfile

        prefix = str(Path(tempfile.mkdtemp(prefix="hwcov-ort-profile-")) / "ort")
        loaded, _ = benchmark._load(backend, kind, built, case, batch, precision, variant, export_dir, "",
                                    profile_prefix=prefix)
        layers, source = _ort_layers(loaded, iterations), "onnxruntime profiler"
    total = sum(layer["self_ms"] for layer in layers) or float("nan")
    return [{**row, **layer, "source": source, "device_name": loaded.device_name,
             "share_pct": 100 * layer["self_ms"] / total} for layer in layers]


def _torch_layers(model, run, sync, iterations: int) -> list[dict]:
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    names = {id(m): (n, type(m).__name__) for n, m in model.named_modules()}
    ranges, handles = [], []

    def pre(module, args):
        name, kind = names[id(module)]
        ranges.append(record_function(f"hwcov.module::{name or '<model>'}::{kind}"))
        ranges[-1].__enter__()

    def post(module, args, out):
        ranges.pop().__exit__(None, None, None)

    for module in model.modules():
        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        run()  # warm (first-run allocations out of the profile)
        (sync or (lambda: None))()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
        with profile(activities=activities) as prof:
            for _ in range(iterations):
                run()
                (sync or (lambda: None))()
    finally:
        for h in handles:
            h.remove()
    inclusive = {}
    for event in prof.key_averages():
        if event.key.startswith("hwcov.module::"):
            _, name, kind = event.key.split("::", 2)
            inclusive[name] = (kind, event.count, event.cpu_time_total / 1000 / iterations)
    children: dict = collections.defaultdict(float)
    for name, (_, _, total_ms) in inclusive.items():
        if name != "<model>":  # parent: the nearest enclosing module that ran (a ModuleList never does)
            parts = name.split(".")
            parent = next((".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)
                           if ".".join(parts[:i]) in inclusive), "<model>")
            children[parent] += total_ms
    rows = [{"layer": name, "layer_type": kind, "depth": 0 if name == "<model>" else name.count(".") + 1,
             "calls": math.ceil(count / iterations), "total_ms": total_ms,
             "self_ms": max(0.0, total_ms - children[name])}
            for name, (kind, count, total_ms) in inclusive.items()]
    return sorted(rows, key=lambda r: -r["total_ms"])


def _openvino_layers(loaded, iterations: int) -> list[dict]:
    loaded.run()  # warm
    request = loaded.extra["request"]
    totals: dict = collections.defaultdict(lambda: [0.0, 0, ""])
    for _ in range(iterations):
        loaded.run()
        for info in request.get_profiling_info():
            if str(info.status).endswith("EXECUTED"):
                entry = totals[info.node_name]
                entry[0] += info.real_time.total_seconds() * 1000
                entry[1] += 1
                entry[2] = f"{info.node_type} ({info.exec_type})"
    rows = [{"layer": name, "layer_type": kind, "depth": 1, "calls": math.ceil(n / iterations),
             "total_ms": ms / iterations, "self_ms": ms / iterations} for name, (ms, n, kind) in totals.items()]
    return sorted(rows, key=lambda r: -r["total_ms"])


def _ort_layers(loaded, iterations: int) -> list[dict]:
    session = loaded.extra["session"]
    for _ in range(iterations + 1):
        loaded.run()
    trace = json.loads(Path(session.end_profiling()).read_text())
    runs = sum(1 for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run") or iterations + 1
    totals: dict = collections.defaultdict(lambda: [0.0, 0, ""])
    for event in trace:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            entry = totals[event["name"][: -len("_kernel_time")]]
            entry[0] += event["dur"] / 1000
            entry[1] += 1
            entry[2] = event.get("args", {}).get("op_name", "")
    rows = [{"layer": name, "layer_type": kind, "depth": 1, "calls": math.ceil(n / runs), "total_ms": ms / runs,
             "self_ms": ms / runs} for name, (ms, n, kind) in totals.items()]
    return sorted(rows, key=lambda r: -r["total_ms"])


# -- memory profile ----------------------------------------------------------------------------------
class _Stage:
    """RSS before / peak / after (and torch's CUDA peak) of one stage."""

    def __init__(self, rows: list, name: str, cuda: bool):
        self.rows, self.name, self.cuda = rows, name, cuda

    def __enter__(self):
        from hwcov.bench import method as bench

        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.before = bench._rss_mb()
        self.t0 = time.perf_counter()
        self.sampler = bench.RssSampler(0.002).__enter__()
        return self

    def __exit__(self, *exc):
        from hwcov.bench import method as bench

        if self.cuda:
            import torch

            torch.cuda.synchronize()
        self.sampler.__exit__(*exc)
        device_peak = float("nan")
        if self.cuda:
            import torch

            device_peak = torch.cuda.max_memory_allocated() / 2**20
        if exc[0] is None:
            self.rows.append({"stage": self.name, "rss_before_mb": self.before, "peak_rss_mb": self.sampler.peak_mb,
                              "peak_delta_mb": self.sampler.peak_mb - self.before, "rss_after_mb": bench._rss_mb(),
                              "device_peak_mb": device_peak, "seconds": time.perf_counter() - self.t0})


def memory_profile(case, hardware: str, precision: str = "fp32", batch: int = 1, seq_len: int = 128,
                   variant: str = "", min_duration_s: float = 1.0, export_dir=None) -> list[dict]:
    from hwcov.bench import method as bench
    from hwcov.bench import cells as benchmark
    from hwcov.bench import variants
    from hwcov.models.build import build_case

    backend, kind, variant, case, row = _prepare(case, hardware, precision, batch, seq_len, variant)
    cuda = hardware in ("cuda", "rocm")
    stages: list = []
    with _Stage(stages, "build", cuda):
        built = build_case(case, batch)
    too_long = benchmark._positions_exceeded(built, case)
    if too_long:
        raise ValueError(too_long)
    if kind == "torch":
        with _Stage(stages, "load", cuda):
            loaded = variants.load_torch(backend, built, precision, variant)
    else:
        with _Stage(stages, "export", cuda):
            exported = benchmark.export_for(backend, built, case, batch, export_dir)
        with _Stage(stages, "load", cuda):
            load = variants.load_onnxruntime if kind == "onnxruntime" else variants.load_openvino
            loaded = load(backend, exported, precision, variant)
    with _Stage(stages, "first_run", cuda):
        loaded.run()
        (loaded.sync or (lambda: None))()
    with _Stage(stages, "steady", cuda):
        bench.measure(loaded.run, batch=batch, sync=loaded.sync, warmup=0, min_duration_s=min_duration_s)
    return [{**row, **stage, "device_name": loaded.device_name} for stage in stages]
