"""run_results: every generated test executed on one hardware partition (cpu fp32 = reference)."""
import os
from contextlib import ExitStack

import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from hwcov.assets.guards import device, non_empty
from hwcov.assets.partitions import hardware_partitions, per_hardware
from hwcov.backends.hardware import HARDWARE_TABLE
from hwcov.core.schema import MODES, conform
from hwcov.resources.backends import RESOURCE_KEYS, resource_key
from hwcov.run import checks, sweep
from hwcov.run.journal import ResultJournal


class RunResultsConfig(Config):
    models: list[str] = []  # model types; empty = every architecture
    categories: list[str] = []  # model categories; empty = all
    max_priority: int = 0  # only architectures of this seed phase or higher (1 = highest); 0 = all
    force: bool = False  # rerun even when an unchanged result exists
    resume: bool = False  # keep any stored row, even one made by older code or templates (crash/timeout rerun)
    precision: str = ""  # one precision; empty = each precision the generated tests declare for the hardware
    batch_size: int = 1
    modes: list[str] = Field(default=list(MODES), description=(
        "what an exported runtime's case checks (onnxruntime, openvino, wasm, webgpu): forward always; dynamic (other "
        "batch sizes and lengths) and generate (greedy decoding with a KV cache) after a passing fp32 forward. "
        "[\"forward\"] skips both (58% of the onnxruntime case time on the README's 60-architecture sample) and leaves "
        "the mode columns empty"))
    # "Materialize all" / a backfill over several partitions leaves the browser ones out unless this says so: a
    # browser sweep of every architecture takes hours on a CPU machine (README: wasm 111 min, webgpu ~18 s a case)
    include_browser_partitions: bool = False


BROWSER = tuple(h.key for h in HARDWARE_TABLE if h.device == "browser")


def browser_guard(partition_keys: list[str], allowed: bool, backfill: bool = False) -> str:
    """'' unless a run over several partitions, or one run of a backfill ("Materialize all" is one), would sweep a
    browser partition without being asked to: then why not."""
    slow = [k for k in partition_keys if k in BROWSER]
    if allowed or not slow or (len(partition_keys) < 2 and not backfill):
        return ""
    what = "a backfill" if backfill else f"this run covers {len(partition_keys)} hardware partitions and"
    return (f"{what} includes {', '.join(slow)}: a browser sweep of every architecture takes hours on a CPU machine "
            "(README: wasm 111 min). Materialize a browser partition on its own, or set "
            "include_browser_partitions: true in the run config")


def unknown_modes(modes: list[str]) -> str:
    """'' when every mode of the run config is one hwcov checks, else which is not (the UI's launchpad takes any
    string)."""
    unknown = [m for m in modes if m not in MODES]
    return f"unknown mode {unknown[0]!r} in the run config's modes; accepted: {', '.join(MODES)}" if unknown else ""


CHECKS = {
    "no_duplicate_rows": "one row per (model_type, hardware, precision, batch)",
    "pass_has_evidence": "every pass carries device, runtime versions and an output checksum",
    "selection_complete": "every architecture this run selected has a row in each hardware partition it ran",
    "inventory_complete": "every inventory architecture has a row in each materialized hardware partition "
                          "(a warning: a filtered run leaves the rest for later)",
    "pass_rate_not_dropping": "pass rate per hardware, precision and batch not more than 2 points below the previous "
                              "materialization",
}


def previous_pass_rates(context: AssetExecutionContext, hardware: list[str]) -> dict[str, float]:
    """Pass rates (hardware/precision/batch) recorded by the last materialization of each partition."""
    out = {}
    for hw in hardware:
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[hw]), limit=1).records
        meta = records[0].asset_materialization.metadata if records and records[0].asset_materialization else {}
        if "pass_rates" in meta:
            out.update({k: r for k, r in meta["pass_rates"].value.items() if k.split("/")[0] == hw})
    return out


WARNINGS = ("pass_rate_not_dropping", "inventory_complete")  # informative; the others block (CLI exits 1)


def check_results(df: pd.DataFrame, selected_types: set[str], inventory_types: set[str],
                  previous: dict) -> list[AssetCheckResult]:
    outcomes = {
        "no_duplicate_rows": checks.no_duplicate_rows(df),
        "pass_has_evidence": checks.pass_has_evidence(df),
        "selection_complete": checks.inventory_complete(df, selected_types),
        "inventory_complete": checks.inventory_complete(df, inventory_types),
        "pass_rate_not_dropping": checks.pass_rate_not_dropping(checks.pass_rates(df), previous),
    }
    return [AssetCheckResult(check_name=name, passed=ok, description=text, metadata={"details": MetadataValue.json(d)},
                             severity=AssetCheckSeverity.WARN if name in WARNINGS else AssetCheckSeverity.ERROR)
            for name, (ok, text, d) in outcomes.items()]


def partition_metadata(part: pd.DataFrame) -> dict:
    """One hardware partition's figures: rows, statuses, pass rates (also one float per precision/batch, which the
    UI plots over time)."""
    rates = checks.pass_rates(part)
    return {"rows": len(part), "status_counts": MetadataValue.json(part["status"].value_counts().to_dict()),
            "pass_rates": MetadataValue.json(rates),
            **{f"pass_rate {key}": MetadataValue.float(rate) for key, rate in rates.items()}}


def select_tests(tests: pd.DataFrame, models: list[str], categories: list[str], max_priority: int = 0) -> pd.DataFrame:
    unknown = sorted(set(models) - set(tests["model_type"]))
    if unknown:
        raise Failure(f"unknown model type(s) {', '.join(unknown)}; accepted: the {len(tests)} generated "
                      f"architectures (e.g. {', '.join(tests['model_type'].head(5))})")
    if models:
        tests = tests[tests["model_type"].isin(models)]
    if categories:
        tests = tests[tests["category"].isin(categories)]
    if max_priority:
        tests = tests[tests["priority"] <= max_priority]
    return tests


@asset(partitions_def=hardware_partitions, backfill_policy=per_hardware, key_prefix="hwcov",
       metadata={"partition_expr": "hardware"}, group_name="results",
       required_resource_keys={"settings", *RESOURCE_KEYS.values()},
       ins={"generated_tests": AssetIn(key_prefix="hwcov", partition_mapping=AllPartitionMapping())},
       # partitioned checks: each evaluation names the hardware partition its run made (one per run, backfills too)
       check_specs=[AssetCheckSpec(name, asset=AssetKey(["hwcov", "run_results"]), description=doc,
                                   partitions_def=hardware_partitions) for name, doc in CHECKS.items()],
       description="One row per (architecture, hardware, precision, batch) with status and evidence.")
def run_results(context: AssetExecutionContext, config: RunResultsConfig,
                generated_tests: pd.DataFrame):
    refused = browser_guard(list(context.partition_keys), config.include_browser_partitions,
                            backfill="dagster/backfill" in context.run.tags) or unknown_modes(config.modes)
    if refused:
        raise Failure(refused)
    tests = select_tests(generated_tests, config.models, config.categories, config.max_priority)
    artifacts = context.resources.settings.artifacts_path()
    database_dir = context.resources.settings.database().parent.resolve()
    swept = {}
    for hardware in context.partition_keys:
        backend = getattr(context.resources, resource_key(hardware))
        with device(context, hardware):
            swept[hardware] = sweep.sweep(tests.to_dict("records"), hardware, artifacts,
                                          precision=config.precision or None, batch=config.batch_size,
                                          force=config.force, resume=config.resume, limits=backend.limits(hardware),
                                          log=context.log.info, modes=tuple(config.modes))
    with ExitStack() as publishing:  # until the IO manager has written the partitions (it runs at the yield)
        journals = {hw: publishing.enter_context(ResultJournal(artifacts, hw).publishing()) for hw in sorted(swept)}
        frames = []
        for hardware, rows in swept.items():
            frames.append(conform(sweep.assemble(rows, journals[hardware], set(generated_tests["model_type"]))))
            frames[-1]["reference_path"] = frames[-1]["reference_path"].map(
                lambda p: os.path.relpath(p, database_dir) if os.path.isabs(p) else p)  # a copied folder keeps refs
        df = non_empty(pd.concat(frames, ignore_index=True), f"run_results[{','.join(context.partition_keys)}]")
        previous = previous_pass_rates(context, list(context.partition_keys))
        for hardware in context.partition_keys:  # each partition's materialization describes that partition only
            context.add_asset_metadata(partition_metadata(df[df["hardware"] == hardware]), partition_key=hardware)
        yield Output(df)
    yield from check_results(df, set(tests["model_type"]), set(generated_tests["model_type"]), previous)
