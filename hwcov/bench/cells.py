"""Benchmark cells (architecture x precision x batch x sequence length x variant) on any runnable backend.

torch (cpu/cuda/rocm/mps) times the eager module (or torch.compile'd: a variant); onnxruntime and openvino time
the exported graph loaded as the sweep loads it (with the variant's one setting changed); wasm/webgpu time
onnxruntime-web's session.run on the page's own clock. Every timed cell is measured with hwcov.core.timing's method;
a cell the model, runtime or device can't hold (sequence longer than the model's positions, a precision the
runtime lacks, a variant of another backend) is `not_applicable` with the reason. Nothing is estimated.

Per row: build (synthesize the model), load (runtime session/compile; torch: move to the device), first run
(cold, includes torch.compile) apart from the steady-state statistics; the parity cost, max |diff| of the
cell's outputs against the CPU fp32 torch reference of the same built model; the machine and versions.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

from hwcov.backends.registry import BY_KEY, base_hardware, entry, get_backend
from hwcov.core import data, paths
from hwcov.core.schema import BENCH_COLUMNS  # noqa: F401 - the cell row's columns, read here by callers
from hwcov.core.system import machine  # the machine every row ran on (callers read it here too)
from hwcov.run import sweep
from hwcov.run.journal import ResultJournal

CELL = ("model_type", "hardware", "precision", "batch_size", "seq_len", "variant")


def matrix(hardware: str) -> dict:
    """{"batch_sizes", "precisions", "seq_lens", "variants": {"default", "baseline", "optimized"}} for a hardware
    key (a custom platform: its base hardware's)."""
    spec = data.load("benchmarks.yaml")
    key = entry(hardware).bench_key() if base_hardware(hardware) in BY_KEY else hardware
    return {**spec["defaults"], **(spec.get("hardware", {}).get(key) or {})}


APPLIED_PATCHES = "optimization_patches.yaml"  # written by hwcov.bench.patches.apply


def applied_patches_path() -> Path:
    return paths.templates_dir() / APPLIED_PATCHES


def applied_patches() -> dict:
    """hardware -> {"variants", "precisions", "models"} of the applied optimization patches (hwcov.bench.patches)."""
    path = applied_patches_path()
    return dict((data.read_yaml(path).get("hardware") or {}) if path.exists() else {})


def variants_for(hardware: str, which: str = "default") -> list[str]:
    """The variants a hardware measures: `default` (the main matrix), `baseline`, `optimized` (with the applied
    optimization patches, hwcov.bench.patches), or `all`."""
    v = matrix(hardware).get("variants") or {}
    optimized = list(dict.fromkeys([*v.get("optimized", []), *((applied_patches().get(hardware) or {}).get(
        "variants") or [])]))
    chosen = {"default": [v.get("default")], "baseline": [v.get("baseline")], "optimized": optimized,
              "all": [v.get("baseline")] + optimized}[which]
    return [x for x in dict.fromkeys(chosen) if x]


def cells(case, hardware: str) -> list[tuple[str, int, int]]:
    m = matrix(hardware)
    return [(p, b, s) for p in m["precisions"] for b in m["batch_sizes"] for s in m["seq_lens"]]


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


def positions_exceeded(built, case=None) -> str:
    """'' unless the built text is longer than the model takes (then: by how much, and what sets the limit)."""
    limit, source = seq_limit(built, case)
    ids = built.feed.get("input_ids")
    if ids is not None and limit and ids.shape[-1] > limit:
        return f"sequence {ids.shape[-1]} > {source.format(limit)}"
    return ""


BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}


def weights_exceed_memory(backend, built, precision: str) -> str:
    """'' unless the model's own weights (counted, at the precision's width) can't fit the memory the hardware
    has (Backend.memory_limit_mb: a custom platform's memory_constraint_mb, the CUDA device's free memory, else
    the host's MemAvailable)."""
    need = sum(p.numel() for p in built.model.parameters()) * BYTES.get(precision, 4) / 2**20
    limit, source = backend.memory_limit_mb()
    if limit and need > limit:
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
    gate = backend.gate(precision)
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
    too_long = positions_exceeded(built, case) or weights_exceed_memory(backend, built, precision)
    if too_long:
        return {**row, "status": "not_applicable", "error_message": too_long}
    from hwcov.backends.exported import reference_outputs

    reference, _ = reference_outputs(built, case, batch, None)  # CPU fp32 torch, before any dtype move
    try:
        loaded = backend.load(built, case, batch, precision, variant, export_dir, route)
    except variants.VariantNotApplicable as exc:
        return {**row, "status": "not_applicable", "error_message": str(exc)}
    row.update(loaded.fields)
    return {**row, **loaded.measure(batch, reference, min_duration_s, warmup, min_iters)}


def run_generated_cell(hardware: str, export_dir: Path, min_duration_s: float, first_seq: int, task: tuple) -> dict:
    """One planned cell of a generated test (path, precision, batch, seq, variant, route), in its worker: module level,
    so the case fork server's child can be handed it. The first sequence length is each architecture's coverage
    cell: measured at the model's positions when shorter, not skipped."""
    path, precision, batch, seq, variant, route = task
    case = sweep.test_class(sweep.load_module(path)).case
    return run_cell(case, hardware, precision, batch, seq, min_duration_s, variant=variant, export_dir=export_dir,
                    route=route, fit_positions=seq == first_seq)
