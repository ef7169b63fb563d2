"""checkpoint_benchmarks: users' checkpoints timed on one hardware partition, beside their checkpoint_results.

Only what passed there is measured (a failure has no speed), with the method every architecture's benchmark uses
(hwcov.core.timing through the Backend interface), at sequence lengths of the checkpoint's own tokenized text.
"""
import pandas as pd
from dagster import AssetExecutionContext, AssetKey, Config, Failure, MetadataValue, asset
from pydantic import Field

from hwcov.assets.guards import device, non_empty
from hwcov.assets.partitions import hardware_partitions, per_hardware
from hwcov.bench import checkpoint_cells
from hwcov.core.errors import UsageError
from hwcov.core.schema import BENCH_COLUMNS, conform
from hwcov.resources.settings import HwcovSettings


class CheckpointBenchmarkConfig(Config):
    checkpoints: list[str] = Field(default=[], description="checkpoint keys as checkpoint_results stores them; "
                                   "empty = every checkpoint run here before")
    batch_sizes: list[int] = Field(default=[1], description="batch sizes to time")
    seq_lens: list[int] = Field(default=[32], description="tokens per sequence: the checkpoint's text, cut to it")
    precisions: list[str] = Field(default=[], description="empty = every precision that passed")
    min_duration_s: float = Field(default=1.0, description="seconds each cell is timed at least")


@asset(partitions_def=hardware_partitions, backfill_policy=per_hardware, key_prefix="hwcov",
       metadata={"partition_expr": "hardware"}, group_name="checkpoints",
       deps=[AssetKey(["hwcov", "checkpoint_results"])],
       description="Latency percentiles, throughput, peak memory and parity cost of your checkpoints' passing "
                   "precisions, per (checkpoint, precision, batch, sequence) cell.")
def checkpoint_benchmarks(context: AssetExecutionContext, settings: HwcovSettings,
                          config: CheckpointBenchmarkConfig) -> pd.DataFrame:
    artifacts, generated = settings.artifacts_path(), settings.generated_path()
    frames = []
    try:
        for hardware in context.partition_keys:
            with device(context, hardware):
                checkpoint_cells.measure(artifacts, generated, hardware, config.checkpoints, config.batch_sizes,
                                         config.seq_lens, config.precisions, config.min_duration_s,
                                         log=context.log.info)
            frames.append(conform(checkpoint_cells.stored(artifacts, hardware), BENCH_COLUMNS))
    except UsageError as exc:
        raise Failure(str(exc)) from exc
    df = non_empty(pd.concat(frames, ignore_index=True), "checkpoint_benchmarks (nothing passed to time: run "
                   "checkpoint_results first)")
    context.add_output_metadata({"cells": len(df), "median_p50_ms": MetadataValue.float(
        float(df["p50_ms"].median()) if df["p50_ms"].notna().any() else float("nan"))})
    return df
