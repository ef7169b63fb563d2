"""Benchmark cells (architecture x batch x sequence length) on torch eager, measured with hwcov.bench.

The seed's matrix per hardware lives in templates/benchmarks.yaml. A cell the model or device can't
hold (sequence longer than the model's positions) is `not_applicable`; nothing is estimated.
"""
from __future__ import annotations

import time
from dataclasses import replace

from hwcov import data

BENCH_COLUMNS = {
    "model_type": "str", "category": "str", "family": "str", "hardware": "str", "precision": "str",
    "batch_size": "int", "seq_len": "int", "status": "str", "error_message": "str", "iterations": "int",
    "mean_ms": "float", "p50_ms": "float", "p90_ms": "float", "p95_ms": "float", "p99_ms": "float",
    "stdev_pct": "float", "throughput_items_s": "float", "peak_rss_mb": "float", "load_ms": "float",
    "device_name": "str", "runtime_version": "str", "cpu_threads": "int", "test_timestamp": "str",
}


def matrix(hardware: str) -> dict:
    """{"batch_sizes": [...], "precisions": [...], "seq_lens": [...]} for a hardware key."""
    spec = data.load("benchmarks.yaml")
    return {**spec["defaults"], **(spec.get("hardware", {}).get(hardware) or {})}


def cells(case, hardware: str) -> list[tuple[str, int, int]]:
    m = matrix(hardware)
    return [(p, b, s) for p in m["precisions"] for b in m["batch_sizes"] for s in m["seq_lens"]]


def run_cell(case, hardware: str, precision: str, batch: int, seq_len: int, min_duration_s: float = 1.0) -> dict:
    """Build the case at this batch/sequence length and measure its forward on the torch device."""
    import torch

    from hwcov import bench
    from hwcov.backends import get_backend
    from hwcov.backends.torch import DTYPES
    from hwcov.build import build_case

    row = {"model_type": case.model_type, "category": case.category, "family": case.family, "hardware": hardware,
           "precision": precision, "batch_size": batch, "seq_len": seq_len, "cpu_threads": torch.get_num_threads(),
           "test_timestamp": time.strftime("%Y-%m-%d %H:%M:%S")}
    backend = get_backend(hardware)
    probe = backend.probe()
    if not probe.available:
        return {**row, "status": "unavailable", "error_message": probe.error}
    if precision not in DTYPES:
        return {**row, "status": "not_applicable", "error_message": f"torch eager runs {list(DTYPES)}"}
    started = time.perf_counter()
    built = build_case(replace(case, input_spec={**case.input_spec, "seq_len": seq_len}), batch)
    positions = getattr(built.config, "max_position_embeddings", None)
    if "input_ids" in built.feed and isinstance(positions, int) and built.feed["input_ids"].shape[1] > positions:
        return {**row, "status": "not_applicable",
                "error_message": f"sequence {built.feed['input_ids'].shape[1]} > max_position_embeddings {positions}"}
    device, dtype = torch.device(backend.device()), getattr(torch, DTYPES[precision])
    model = built.model.to(device=device, dtype=dtype)
    feed = {k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device))
            if torch.is_tensor(v) else v for k, v in built.feed.items()}
    load_ms = (time.perf_counter() - started) * 1000

    def forward():
        with torch.no_grad():
            model(**feed)

    stats = bench.measure(forward, batch=batch, sync=backend._sync, min_duration_s=min_duration_s)
    return {**row, **stats, "status": "pass", "load_ms": load_ms, "device_name": probe.device_name,
            "runtime_version": probe.runtime_version}
