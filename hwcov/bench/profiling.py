"""Where the time and the memory go, measured: a per-layer time breakdown and the memory peak per stage.

Layer profile: each backend's own profiler (Backend.layer_profile over a load(profile=True)), by family:
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

import time
from dataclasses import replace

from hwcov.bench import cells as benchmark
from hwcov.bench import variants
from hwcov.core import timing
from hwcov.core.system import rss_mb
from hwcov.core.timing import RssSampler


class HardwareUnavailable(ValueError):
    """The hardware's runtime or device is absent here (its probe's own words): nothing to profile, not a failure."""


def _prepare(case, hardware, precision, batch, seq_len, variant):
    """(backend, variant, case at seq_len, row) for a profile; raises ValueError when it can't run here."""
    from hwcov.backends.registry import get_backend

    backend = get_backend(hardware)
    probe = backend.probe()
    if not probe.available:
        raise HardwareUnavailable(f"{hardware} unavailable: {probe.error}")
    variant = variant or next(iter(benchmark.variants_for(hardware)), "")
    backend.require_profiler()
    variants.check(variant, backend)
    gate = backend.gate(precision)
    if gate:
        raise ValueError(gate)
    row = {"model_type": case.model_type, "hardware": hardware, "precision": precision, "batch_size": batch,
           "seq_len": seq_len, "variant": variant, "runtime_version": backend.versions(),
           "machine": benchmark.machine(), "profiled_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    return backend, variant, replace(case, input_spec={**case.input_spec, "seq_len": seq_len}), row


# -- layer profile -----------------------------------------------------------------------------------
def layer_profile(case, hardware: str, precision: str = "fp32", batch: int = 1, seq_len: int = 128,
                  variant: str = "", iterations: int = 10, export_dir=None) -> list[dict]:
    from hwcov.models.build import build_case

    backend, variant, case, row = _prepare(case, hardware, precision, batch, seq_len, variant)
    built = build_case(case, batch)
    too_long = benchmark.positions_exceeded(built, case)
    if too_long:
        raise ValueError(too_long)
    loaded = backend.load(built, case, batch, precision, variant, export_dir, "", profile=True)
    layers, source = backend.layer_profile(loaded, iterations)
    total = sum(layer["self_ms"] for layer in layers) or float("nan")
    return [{**row, **layer, "source": source, "device_name": loaded.device_name,
             "share_pct": 100 * layer["self_ms"] / total} for layer in layers]


# -- memory profile ----------------------------------------------------------------------------------
class _Stage:
    """RSS before / peak / after (and torch's CUDA peak) of one stage."""

    def __init__(self, rows: list, name: str, cuda: bool):
        self.rows, self.name, self.cuda = rows, name, cuda

    def __enter__(self):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.before = rss_mb()
        self.t0 = time.perf_counter()
        self.sampler = RssSampler(0.002).__enter__()
        return self

    def __exit__(self, *exc):
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
                              "peak_delta_mb": self.sampler.peak_mb - self.before, "rss_after_mb": rss_mb(),
                              "device_peak_mb": device_peak, "seconds": time.perf_counter() - self.t0})


def memory_profile(case, hardware: str, precision: str = "fp32", batch: int = 1, seq_len: int = 128,
                   variant: str = "", min_duration_s: float = 1.0, export_dir=None) -> list[dict]:
    from hwcov.models.build import build_case

    backend, variant, case, row = _prepare(case, hardware, precision, batch, seq_len, variant)
    cuda = hardware in ("cuda", "rocm")
    stages: list = []
    with _Stage(stages, "build", cuda):
        built = build_case(case, batch)
    too_long = benchmark.positions_exceeded(built, case)
    if too_long:
        raise ValueError(too_long)
    exported = None
    if backend.exports:
        with _Stage(stages, "export", cuda):
            exported = backend.export_case(built, case, batch, export_dir)
    with _Stage(stages, "load", cuda):
        loaded = backend.load(built, case, batch, precision, variant, export_dir, exported=exported)
    with _Stage(stages, "first_run", cuda):
        loaded.run()
        (loaded.sync or (lambda: None))()
    with _Stage(stages, "steady", cuda):
        timing.measure(loaded.run, batch=batch, sync=loaded.sync, warmup=0, min_duration_s=min_duration_s)
    return [{**row, **stage, "device_name": loaded.device_name} for stage in stages]


def profile_rows(kind: str, case, precision: str, batch: int, seq: int, export_dir, hardware: str) -> dict:
    """`kind` (layer_profile or memory_profile) of one case on one hardware, as a worker's result (module level, so
    the case fork server's child can be handed it)."""
    return {"rows": PROFILES[kind](case, hardware, precision, batch, seq, export_dir=export_dir)}


PROFILES = {"layer_profile": layer_profile, "memory_profile": memory_profile}
