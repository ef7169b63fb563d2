"""checkpoint_results: users' own checkpoints (a folder or a hub id in the local cache) on one hardware partition.

Beside run_results, never in it: the same columns, keyed by `checkpoint` too, so the architecture matrix (random
weights) and the checkpoint matrix never mix. Launch it from the UI with the run config's `checkpoints` list, or
with none to rerun every checkpoint run before.
"""
import os

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from hwcov.assets.guards import device, non_empty
from hwcov.assets.partitions import hardware_partitions, per_hardware
from hwcov.core.errors import UsageError
from hwcov.core.schema import conform
from hwcov.reports import report
from hwcov.resources.backends import RESOURCE_KEYS, resource_key
from hwcov.run import checkpoint_sweep, checks
from hwcov.run.journal import ResultJournal


class CheckpointConfig(Config):
    checkpoints: list[str] = Field(default=[], description="folders (save_pretrained layout) or hub ids found in "
                                   "the local Hugging Face cache; empty = every checkpoint run here before")
    trust_remote_code: bool = Field(default=False, description="let the named checkpoints run their own code "
                                    "(auto_map); recorded in each row's remote_code")
    precision: str = Field(default="", description="one precision; empty = every precision the test declares")
    force: bool = Field(default=False, description="rerun even when an unchanged result exists")
    batch_size: int = 1


CHECKS = {
    "no_duplicate_rows": "one row per (checkpoint, model_type, hardware, precision, batch)",
    "pass_has_evidence": "every pass carries device, runtime versions and an output checksum",
}


@asset(partitions_def=hardware_partitions, backfill_policy=per_hardware, key_prefix="hwcov",
       metadata={"partition_expr": "hardware"}, group_name="checkpoints",
       required_resource_keys={"settings", *RESOURCE_KEYS.values()},
       check_specs=[AssetCheckSpec(name, asset=AssetKey(["hwcov", "checkpoint_results"]), description=doc,
                                   partitions_def=hardware_partitions) for name, doc in CHECKS.items()],
       description="Your own checkpoints with their trained weights and their own tokenizer/processor: one row per "
                   "(checkpoint, hardware, precision, batch), the weights' sha256 and the inputs' source in each. "
                   "Read from a folder or the local HF cache only; remote code only when allowed.")
def checkpoint_results(context: AssetExecutionContext, config: CheckpointConfig):
    settings = context.resources.settings
    artifacts, database_dir = settings.artifacts_path(), settings.database().parent.resolve()
    try:
        chosen = checkpoint_sweep.chosen(artifacts, config.checkpoints, config.trust_remote_code)
    except UsageError as exc:
        raise Failure(str(exc)) from exc
    if not chosen:
        raise Failure("no checkpoint named and none run here before: give run config `checkpoints` (folders or "
                      "hub ids in the local Hugging Face cache)")
    for hardware in context.partition_keys:
        backend = getattr(context.resources, resource_key(hardware))
        with device(context, hardware):
            checkpoint_sweep.run(chosen, hardware, artifacts, settings.generated_path(),
                                 precision=config.precision or None, batch=config.batch_size, force=config.force,
                                 limits=backend.limits(hardware), log=context.log.info)
    lock = ResultJournal(checkpoint_sweep.root(artifacts), "checkpoints")
    with lock.publishing():  # until the IO manager has written the partitions (it runs at the yield)
        frames = [conform(checkpoint_sweep.rows(artifacts, hw)) for hw in context.partition_keys]
        df = non_empty(pd.concat(frames, ignore_index=True), f"checkpoint_results[{','.join(context.partition_keys)}]")
        df["reference_path"] = df["reference_path"].map(
            lambda p: os.path.relpath(p, database_dir) if os.path.isabs(p) else p)
        yield Output(df, metadata={"rows": len(df), "checkpoints": len(set(df["checkpoint"])),
                                   "status_counts": MetadataValue.json(df["status"].value_counts().to_dict()),
                                   "results": MetadataValue.md(report.table(report.checkpoint_matrix(df)))})
    outcomes = {"no_duplicate_rows": checks.no_duplicate_rows(df, checks.CHECKPOINT_KEY),
                "pass_has_evidence": checks.pass_has_evidence(df)}
    for name, (ok, text, details) in outcomes.items():
        yield AssetCheckResult(check_name=name, passed=ok, description=text, severity=AssetCheckSeverity.ERROR,
                               metadata={"details": MetadataValue.json(details)})
