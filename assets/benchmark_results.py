"""benchmark_results: latency/throughput/memory per (architecture, batch, sequence) on a hardware partition,
for the architectures that pass there. Measured in isolated workers, one at a time (timing fidelity)."""
import pandas as pd
from dagster import AllPartitionMapping, AssetExecutionContext, AssetIn, Config, Failure, MetadataValue, asset

from hwcov import benchmark, sweep
from hwcov.assets.guards import non_empty
from hwcov.assets.partitions import hardware_partitions, single_run
from hwcov.runner import Limits, preload, run_isolated
from hwcov.schema import conform


class BenchmarkConfig(Config):
    models: list[str] = []  # default: every architecture that passes on the partition
    full_matrix_models: int = 30  # the first N (by priority) get the whole batch x sequence matrix
    batch_sizes: list[int] = []  # override the seed matrix (templates/benchmarks.yaml)
    seq_lens: list[int] = []
    min_duration_s: float = 1.0


def plan(passing: pd.DataFrame, hardware: str, config: BenchmarkConfig) -> list[tuple]:
    from hwcov.backends import RUNNABLE

    if hardware not in ("cpu", "cuda", "rocm", "mps") or hardware not in RUNNABLE:
        raise Failure(f"benchmarks for '{hardware}' are not built yet; available: cpu, cuda, rocm, mps")
    m = benchmark.matrix(hardware)
    batches, seqs = config.batch_sizes or m["batch_sizes"], config.seq_lens or m["seq_lens"]
    ranked = passing.sort_values(["priority", "model_type"])
    tasks = []
    for i, row in enumerate(ranked.to_dict("records")):
        full = i < config.full_matrix_models
        for precision in m["precisions"]:
            for b in (batches if full else batches[:1]):
                for s in (seqs if full else seqs[:1]):
                    tasks.append((row["path"], precision, b, s))
    return tasks


@asset(partitions_def=hardware_partitions, backfill_policy=single_run, key_prefix="hwcov",
       metadata={"partition_expr": "hardware"}, group_name="results",
       ins={"run_results": AssetIn(key_prefix="hwcov"),
            "generated_tests": AssetIn(key_prefix="hwcov", partition_mapping=AllPartitionMapping())},
       description="Measured latency percentiles, throughput and peak memory per benchmark cell.")
def benchmark_results(context: AssetExecutionContext, config: BenchmarkConfig, run_results: pd.DataFrame,
                      generated_tests: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for hardware in context.partition_keys:
        ok = run_results[(run_results["hardware"] == hardware) & (run_results["status"] == "pass")]["model_type"]
        passing = generated_tests[generated_tests["model_type"].isin(set(ok))]
        if config.models:
            passing = passing[passing["model_type"].isin(config.models)]
        rows = []

        def run_one(task, hardware=hardware):
            path, precision, batch, seq = task
            case = sweep.test_class(sweep.load_module(path)).case
            return benchmark.run_cell(case, hardware, precision, batch, seq, config.min_duration_s)

        def on_result(task, result, seconds, hardware=hardware):
            path, precision, batch, seq = task  # a crashed or timed-out cell still gets its row
            case = sweep.test_class(sweep.load_module(path)).case
            rows.append({"model_type": case.model_type, "category": case.category, "family": case.family,
                         "hardware": hardware, "precision": precision, "batch_size": batch, "seq_len": seq,
                         **result})

        preload()
        # One worker with the cores to itself: concurrent cases would time each other.
        run_isolated(plan(passing, hardware, config), run_one, on_result,
                     Limits(workers=1, timeout_s=600, memory_mb=0, torch_threads=1))
        frames.append(conform(rows, benchmark.BENCH_COLUMNS))
    df = non_empty(pd.concat(frames, ignore_index=True), "benchmark_results")
    counts = df["status"].value_counts().to_dict()
    context.add_output_metadata({"cells": len(df), "status_counts": MetadataValue.json(counts)})
    return df
