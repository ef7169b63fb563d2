"""The cli's runs as runs of the named jobs (hwcov.assets.automation.JOBS) on the local instance: inventory and test
generation, one hardware_job run (run_results + error_patterns) per hardware and batch size, the coverage report;
benchmark and checkpoint runs. The UI lists them under the same jobs as its own launches.

Why here: this is where a cli request becomes Dagster runs. The paths chosen for this process
(hwcov.core.paths) reach the runs as values, through build_defs(db_path=..., ...) and its HwcovSettings resource.
A single-run backfill over every category needs Dagster's private range tags, allowed in this package only.
Progress goes to stderr; what a run produced is read from DuckDB by the caller.
"""
from __future__ import annotations

import sys
from pathlib import Path

from hwcov.core import library_log, paths
from hwcov.core.schema import MODES
from hwcov.orchestration.instance import instance, process_tag

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def library_log_path() -> Path:
    return paths.artifacts_dir() / "logs" / "libraries.log"


def route_library_warnings() -> None:
    """The libraries' warnings to <artifacts>/logs/libraries.log, so a run's terminal holds hwcov's progress and
    summary only (hwcov.core.library_log)."""
    library_log.route(library_log_path())


def definitions(workers: int = 0, timeout: float = 0.0):
    """The code location's Definitions, bound to this process's paths (workers/timeout 0: the registry's)."""
    from hwcov.definitions import build_defs

    return build_defs(db_path=str(paths.db_path()), generated_dir=str(paths.generated_dir()),
                      artifacts_dir=str(paths.artifacts_dir()), workers=workers, timeout_s=timeout)


def materialize(defs, inst, job: str, **kwargs) -> bool:
    """Run the named job of `defs` (hwcov.assets.automation.JOBS) in process: the UI lists the cli's runs under the
    jobs it also launches, not as ad-hoc materializations. Each failed step is named on stderr with its last error
    line, each failed asset check with its description. False when a step failed or an ERROR-severity check did
    (a WARN check is named and does not fail the run)."""
    # a run this process leaves unended is found; the UI's runs list says which command launched it
    kwargs["tags"] = {**kwargs.get("tags", {}), **process_tag(), **command_tag()}
    result = defs.resolve_job_def(job).execute_in_process(instance=inst, raise_on_error=False, **kwargs)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                err = event.step_failure_data.error
                msg = (err.cause or err).message.strip().splitlines()[-1] if err else "step failed"
                print(f"hwcov: {event.step_key} failed: {msg}", file=sys.stderr)
    return failed_checks(result, kwargs.get("partition_key")) and result.success


COMMAND_TAG = "hwcov/command"


def command_tag() -> dict[str, str]:
    """{"hwcov/command": "hwcov --hardware cpu ..."} for a run the cli launched (its arguments, as typed, cut to
    200 characters: a tag is for reading), {} when no hwcov command line launched it (tests, a script)."""
    import os

    if os.path.basename(sys.argv[0] or "") != "hwcov":
        return {}
    return {COMMAND_TAG: " ".join(["hwcov", *sys.argv[1:]])[:200]}


def failed_checks(result, partition_key: str | None = None) -> bool:
    """Name each failed asset check of a run on stderr; False when one of them has ERROR severity."""
    from dagster import AssetCheckSeverity

    ok = True
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        error = evaluation.severity == AssetCheckSeverity.ERROR
        ok = ok and not error
        where = evaluation.partition or partition_key
        asset = evaluation.asset_key.path[-1] + (f"[{where}]" if where else "")
        print(f"hwcov: check {evaluation.check_name} failed{'' if error else ' (warning)'} on {asset}: "
              f"{evaluation.description or 'no description'}", file=sys.stderr)
    return ok


def last_fingerprint(inst) -> str | None:
    """The fingerprint tag of the last successful inventory run for the current fingerprint, if any."""
    from dagster import DagsterRunStatus, RunsFilter

    from hwcov.assets.automation import FINGERPRINT_TAG
    from hwcov.cases.generate import fingerprint

    runs = inst.get_runs(RunsFilter(tags={FINGERPRINT_TAG: fingerprint()},
                                    statuses=[DagsterRunStatus.SUCCESS]), limit=1)
    return runs[0].tags.get(FINGERPRINT_TAG) if runs else None


def generate(defs, inst, regenerate: bool = False) -> bool:
    """Inventory and test generation, skipped when the last successful one was for the same fingerprint."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from hwcov.assets.automation import FINGERPRINT_TAG
    from hwcov.cases.generate import fingerprint
    from hwcov.models.inventory import CATEGORIES

    current = fingerprint()
    if not regenerate and last_fingerprint(inst) == current and paths.generated_dir().is_dir():
        print("hwcov: inventory and generated tests are up to date", file=sys.stderr)
        return True
    print(f"hwcov: inventory and test generation -> {paths.generated_dir()}", file=sys.stderr)
    # All categories in one run (a single-run backfill): generation is incremental and cheap.
    return materialize(defs, inst, "inventory_job", run_config=QUIET,
                       tags={ASSET_PARTITION_RANGE_START_TAG: CATEGORIES[0],
                             ASSET_PARTITION_RANGE_END_TAG: CATEGORIES[-1], FINGERPRINT_TAG: current})


def run_pipeline(hardware: list[str], models: list[str], category: str | None, *, force: bool = False,
                 resume: bool = False, workers: int = 0, timeout: float = 0.0, regenerate: bool = False,
                 max_priority: int = 0, batch_sizes: list[int] = (1,), precision: str = "",
                 modes: list[str] = MODES) -> bool:
    """Generate (if needed), then run every batch size on every hardware, then the coverage report.
    timeout 0: each hardware's own default (hwcov.backends.registry). `modes`: what an exported runtime's case checks
    beyond its forward (hwcov.core.schema.MODES). False as soon as a run fails."""
    if hardware:  # the case fork server preloads while Dagster and the inventory check run here
        from hwcov.run.runner import start_server

        library_log.announce(library_log_path())  # before the server starts: it routes its own warnings there too
        start_server()
    route_library_warnings()
    defs, inst = definitions(workers, timeout), instance()
    if not generate(defs, inst, regenerate):
        return False
    config = {"models": models, "categories": [category] if category else [], "force": force, "resume": resume,
              "max_priority": max_priority, "precision": precision, "modes": list(modes)}
    for hw in hardware:
        for batch in batch_sizes:  # one materialization per batch size; the others' rows are kept
            print(f"hwcov: running on {hw}{f' at batch {batch}' if batch != 1 else ''} (results stream to "
                  f"{paths.artifacts_dir() / 'results'})", file=sys.stderr)
            run_config = {**QUIET, "ops": {"hwcov__run_results": {"config": {**config, "batch_size": batch}}}}
            if not materialize(defs, inst, "hardware_job", partition_key=hw, run_config=run_config):
                return False
    return not hardware or materialize(defs, inst, "report_job", run_config=QUIET)


def run_benchmark(hardware: str, config: dict) -> bool:
    """One benchmark_results materialization of a hardware partition with the benchmark op's config."""
    route_library_warnings()
    run_config = {**QUIET, "ops": {"hwcov__benchmark_results": {"config": config}}}
    return materialize(definitions(), instance(), "benchmark_job", partition_key=hardware,
                       run_config=run_config)


def run_checkpoints(hardware: list[str], checkpoints: list[str], *, trust_remote_code: bool = False,
                    precision: str = "", force: bool = False, workers: int = 0, timeout: float = 0.0,
                    batch_size: int = 1) -> bool:
    """One checkpoint_results materialization per hardware for these checkpoints (folders or cached hub ids)."""
    route_library_warnings()
    defs, inst = definitions(workers, timeout), instance()
    config = {"checkpoints": checkpoints, "trust_remote_code": trust_remote_code, "precision": precision,
              "force": force, "batch_size": batch_size}
    for hw in hardware:
        print(f"hwcov: checkpoints on {hw} (results stream to {paths.artifacts_dir() / 'checkpoints'})",
              file=sys.stderr)
        run_config = {**QUIET, "ops": {"hwcov__checkpoint_results": {"config": config}}}
        if not materialize(defs, inst, "checkpoint_job", partition_key=hw, run_config=run_config):
            return False
    return True


def run_checkpoint_benchmarks(hardware: list[str], checkpoints: list[str], config: dict) -> bool:
    """One checkpoint_benchmarks materialization per hardware (what passed in checkpoint_results, timed)."""
    route_library_warnings()
    defs, inst = definitions(), instance()
    for hw in hardware:
        run_config = {**QUIET, "ops": {"hwcov__checkpoint_benchmarks": {"config": {**config,
                                                                                    "checkpoints": checkpoints}}}}
        if not materialize(defs, inst, "checkpoint_benchmark_job", partition_key=hw, run_config=run_config):
            return False
    return True
