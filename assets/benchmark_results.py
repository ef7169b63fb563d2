"""benchmark_results: latency/throughput/memory per (architecture, precision, batch, sequence, variant) on a
hardware partition, for the architectures that pass there. Measured in isolated workers, one at a time (timing
fidelity). Each cell is journaled as it ends; the table holds the latest measurement of every cell, and
`hwcov.benchmark_history` every measurement (what --performance-trends reads)."""
import functools

import pandas as pd
from dagster import AllPartitionMapping, AssetExecutionContext, AssetIn, Config, Failure, MetadataValue, asset

from hwcov.assets.guards import device, non_empty
from hwcov.assets.partitions import hardware_partitions, per_hardware
from hwcov.bench import cells as benchmark
from hwcov.core.schema import conform
from hwcov.run import sweep
from hwcov.run.runner import Limits, preload, run_isolated

GROUPS = ("default", "baseline", "optimized", "all")


class BenchmarkConfig(Config):
    models: list[str] = []  # default: every architecture that passes on the partition
    full_matrix_models: int = 30  # the first N (by priority) get the whole batch x sequence matrix
    batch_sizes: list[int] = []  # override the seed matrix (templates/benchmarks.yaml)
    seq_lens: list[int] = []
    precisions: list[str] = []
    variants: list[str] = []  # variant names or default/baseline/optimized/all (default: the hardware's default)
    min_duration_s: float = 1.0
    resume: bool = False  # skip cells the hardware's journal already measured (crashed/timed-out ones rerun)


def chosen_variants(hardware: str, names: list[str]) -> list[str]:
    from hwcov.bench.variants import VARIANTS

    out: list[str] = []
    for name in names or ["default"]:
        if name in GROUPS:
            out += benchmark.variants_for(hardware, name)
        elif name in VARIANTS:
            out.append(name)
        else:
            raise Failure(f"unknown variant '{name}'; accepted: {', '.join(GROUPS + tuple(VARIANTS))}")
    return list(dict.fromkeys(out)) or [""]


RERUN = ("crash", "timeout")  # what --resume measures again


def plan(passing: pd.DataFrame, hardware: str, config: BenchmarkConfig, measured: dict | None = None) -> list[tuple]:
    """Tasks (path, precision, batch, seq, variant, route); with config.resume, none for a cell in `measured`
    (the journal's latest row per cell) unless that row crashed or timed out."""
    from hwcov.backends.registry import RUNNABLE, custom_platforms

    if hardware not in RUNNABLE and hardware not in custom_platforms():
        raise Failure(f"no backend for '{hardware}'; runnable: {', '.join(RUNNABLE)}")
    m = benchmark.matrix(hardware)
    batches, seqs = config.batch_sizes or m["batch_sizes"], config.seq_lens or m["seq_lens"]
    precisions = config.precisions or m["precisions"]
    ranked = passing.sort_values(["priority", "model_type"])
    tasks = []
    for i, row in enumerate(ranked.to_dict("records")):
        full = i < config.full_matrix_models
        for variant in chosen_variants(hardware, config.variants):
            for precision in precisions:
                for b in (batches if full else batches[:1]):
                    for s in (seqs if full else seqs[:1]):
                        key = (row["model_type"], hardware, precision, b, s, variant)
                        if config.resume and (measured or {}).get(key, {}).get("status", "crash") not in RERUN:
                            continue
                        tasks.append((row["path"], precision, b, s, variant, row.get("export_route") or ""))
    return tasks


@asset(partitions_def=hardware_partitions, backfill_policy=per_hardware, key_prefix="hwcov",
       metadata={"partition_expr": "hardware"}, group_name="results", required_resource_keys={"settings"},
       ins={"run_results": AssetIn(key_prefix="hwcov"),
            "generated_tests": AssetIn(key_prefix="hwcov", partition_mapping=AllPartitionMapping())},
       description="Measured latency percentiles, throughput, peak memory, load and first-run time and parity cost "
                   "per benchmark cell (precision x batch x sequence x optimization variant).")
def benchmark_results(context: AssetExecutionContext, config: BenchmarkConfig, run_results: pd.DataFrame,
                      generated_tests: pd.DataFrame) -> pd.DataFrame:
    from hwcov.store import database as store

    settings = context.resources.settings
    artifacts = settings.artifacts_path()
    frames, fresh_all = [], []
    for hardware in context.partition_keys:
        ok = run_results[(run_results["hardware"] == hardware) & (run_results["status"] == "pass")]
        passing = generated_tests.merge(ok[["model_type", "export_route"]].drop_duplicates("model_type"),
                                        on="model_type")
        if config.models:
            passing = passing[passing["model_type"].isin(config.models)]
        journal = benchmark.BenchJournal(artifacts, hardware)
        first_seq = (config.seq_lens or benchmark.matrix(hardware)["seq_lens"])[0]
        rows = []

        def on_result(task, result, seconds, hardware=hardware, journal=journal):
            path, precision, batch, seq, variant, _ = task  # a crashed or timed-out cell still gets its row
            case = sweep.test_class(sweep.load_module(path)).case
            row = {"model_type": case.model_type, "category": case.category, "family": case.family,
                   "hardware": hardware, "precision": precision, "batch_size": batch, "seq_len": seq,
                   "variant": variant, "machine": benchmark.machine(), **result, "run_id": context.run.run_id}
            rows.append(row)
            journal.append(row)

        preload()
        # One worker with the cores to itself: concurrent cases would time each other. No address-space cap:
        # Chromium (wasm, webgpu) can't start under one.
        with device(context, hardware):
            run_one = functools.partial(benchmark.run_generated_cell, hardware, artifacts / "exports",
                                        config.min_duration_s, first_seq)
            run_isolated(plan(passing, hardware, config, journal.latest_by_cell(planned=True)), run_one, on_result,
                         Limits(workers=1, timeout_s=600, memory_mb=0, torch_threads=1,
                                log_path=str(artifacts / "logs" / f"benchmark-{hardware}.log")))
        fresh = {tuple(r.get(k, "") for k in benchmark.CELL) for r in rows}
        kept = [r for k, r in journal.latest_by_cell().items()
                if k not in fresh and r["model_type"] in set(generated_tests["model_type"])]
        frames.append(conform(rows + kept, benchmark.BENCH_COLUMNS))
        fresh_all += rows
    df = non_empty(pd.concat(frames, ignore_index=True), "benchmark_results")
    with store.connect(settings.database()) as con:
        store.add_missing_columns(con, "benchmark_results", benchmark.BENCH_COLUMNS)
        if fresh_all:
            store.append_benchmark_history(con, conform(fresh_all, benchmark.BENCH_COLUMNS))
    counts = df["status"].value_counts().to_dict()
    context.add_output_metadata({"cells": len(df), "measured_now": len(fresh_all),
                                 "status_counts": MetadataValue.json(counts)})
    return df
