"""run_results: every generated test executed on one hardware partition (cpu fp32 = reference)."""
import pandas as pd
from dagster import AllPartitionMapping, AssetExecutionContext, AssetIn, Config, Failure, MetadataValue, asset

from hwcov.assets.guards import non_empty
from hwcov.assets.partitions import hardware_partitions, single_run
from hwcov import sweep
from hwcov.schema import conform
from hwcov.journal import ResultJournal
from hwcov.resources.backends import RESOURCE_KEYS, resource_key


class RunResultsConfig(Config):
    models: list[str] = []  # model types; empty = every architecture
    categories: list[str] = []  # model categories; empty = all
    force: bool = False  # rerun even when an unchanged result exists
    precision: str = "fp32"
    batch_size: int = 1


def select_tests(tests: pd.DataFrame, models: list[str], categories: list[str]) -> pd.DataFrame:
    unknown = sorted(set(models) - set(tests["model_type"]))
    if unknown:
        raise Failure(f"unknown model type(s) {', '.join(unknown)}; accepted: the {len(tests)} generated "
                      f"architectures (e.g. {', '.join(tests['model_type'].head(5))})")
    if models:
        tests = tests[tests["model_type"].isin(models)]
    if categories:
        tests = tests[tests["category"].isin(categories)]
    return tests


@asset(partitions_def=hardware_partitions, backfill_policy=single_run, key_prefix="hwcov",
       metadata={"partition_expr": "hardware"}, group_name="results",
       required_resource_keys={"settings", *RESOURCE_KEYS.values()},
       ins={"generated_tests": AssetIn(key_prefix="hwcov", partition_mapping=AllPartitionMapping())},
       description="One row per (architecture, hardware, precision, batch) with status and evidence.")
def run_results(context: AssetExecutionContext, config: RunResultsConfig,
                generated_tests: pd.DataFrame) -> pd.DataFrame:
    tests = select_tests(generated_tests, config.models, config.categories)
    artifacts = context.resources.settings.artifacts_path()
    frames = []
    for hardware in context.partition_keys:
        backend = getattr(context.resources, resource_key(hardware))
        rows = sweep.sweep(tests.to_dict("records"), hardware, artifacts, precision=config.precision,
                           batch=config.batch_size, force=config.force, limits=backend.limits(hardware),
                           log=context.log.info)
        rows = sweep.assemble(rows, ResultJournal(artifacts, hardware), set(generated_tests["model_type"]))
        frames.append(conform(rows))
    df = pd.concat(frames, ignore_index=True)
    counts = df["status"].value_counts().to_dict()
    context.add_output_metadata({"rows": len(df), "status_counts": MetadataValue.json(counts),
                                 "pass_rate": round(counts.get("pass", 0) / max(1, len(df)), 4)})
    return non_empty(df, f"run_results[{','.join(context.partition_keys)}]")
