"""Benchmark cells of users' checkpoints: what their sweep passed, timed with the same method as every architecture.

Why apart from cells.run_cell's callers: a checkpoint's text comes from its own tokenizer, so a cell's sequence
length pads or truncates that text (`pad_text` in the case's input spec) instead of synthesizing ids; its cells go to
the checkpoint's own folder (<artifacts>/checkpoints/<slug>/benchmarks/<hardware>.jsonl), never among the
architectures'. Only cells whose precision passed in checkpoint_results are measured: a failure has no speed.
"""
from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Callable

from hwcov.bench import cells
from hwcov.cases.generate import checkpoint_test_path
from hwcov.run import checkpoint_sweep, sweep
from hwcov.run.runner import Limits, preload, run_isolated

CELL = (*cells.CELL, "checkpoint")


def journal(artifacts: Path, slug: str, hardware: str) -> cells.BenchJournal:
    return cells.BenchJournal(checkpoint_sweep.root(artifacts) / slug, hardware)


def plan(artifacts: Path, generated: Path, hardware: str, keys: list[str], batch_sizes: list[int],
         seq_lens: list[int], precisions: list[str]) -> list[tuple]:
    """(checkpoint key, slug, test path, precision, batch, seq) for every passing (checkpoint, precision)."""
    registry = checkpoint_sweep.registry(artifacts)
    tasks = []
    for row in checkpoint_sweep.rows(artifacts, hardware):
        key = row["checkpoint"]
        if row["status"] != "pass" or (keys and key not in keys) or (precisions and row["precision"] not in precisions):
            continue
        slug = checkpoint_sweep.slug_of(artifacts, key, registry[key])
        path = checkpoint_test_path(generated, slug)
        tasks += [(key, slug, str(path), row["precision"], b, s) for b in batch_sizes for s in seq_lens]
    return tasks


def measure(artifacts: Path, generated: Path, hardware: str, keys: list[str], batch_sizes: list[int],
            seq_lens: list[int], precisions: list[str], min_duration_s: float = 1.0,
            log: Callable[[str], None] = print) -> list[dict]:
    """Measure the planned cells, one isolated worker with the cores to itself (concurrent cells would time each
    other); each row is journaled the moment it ends."""
    tasks = plan(artifacts, generated, hardware, keys, batch_sizes, seq_lens, precisions)
    log(f"{hardware}: {len(tasks)} checkpoint benchmark cells")
    rows: list[dict] = []

    def on_result(task, result: dict, seconds: float) -> None:
        key, slug, _, precision, batch, seq = task
        row = {"hardware": hardware, "precision": precision, "batch_size": batch, "seq_len": seq,
               "machine": cells.machine(), **result, "checkpoint": key}
        rows.append(row)
        journal(artifacts, slug, hardware).append(row)

    if tasks:
        preload()
        run_one = functools.partial(run_checkpoint_cell, hardware, Path(artifacts), min_duration_s)
        run_isolated(tasks, run_one, on_result, Limits(workers=1, timeout_s=600, memory_mb=0, torch_threads=1,
                                                       log_path=str(Path(artifacts) / "logs" / "checkpoint-bench.log")))
    return rows


def run_checkpoint_cell(hardware: str, artifacts: Path, min_duration_s: float, task: tuple) -> dict:
    """One planned cell, in its worker (module level, so the case fork server's child can be handed it)."""
    key, slug, path, precision, batch, seq = task
    case = sweep.test_class(sweep.load_module(path)).case
    case = replace(case, input_spec={**case.input_spec, "pad_text": True})
    return cells.run_cell(case, hardware, precision, batch, seq, min_duration_s,
                          export_dir=checkpoint_sweep.root(artifacts) / slug / "exports")


def stored(artifacts: Path, hardware: str) -> list[dict]:
    """Every registered checkpoint's latest cells on `hardware`: what its benchmark partition holds."""
    out = []
    for key, entry in sorted(checkpoint_sweep.registry(artifacts).items()):
        for r in journal(artifacts, checkpoint_sweep.slug_of(artifacts, key, entry), hardware).rows():
            if r.get("checkpoint") == key:
                out.append(r)
    latest = {tuple(r.get(k, "") for k in CELL): r for r in out}
    return list(latest.values())
