"""What the CLI verbs do: materialize assets on the local Dagster instance, or read DuckDB."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from hwcov.core import paths

EXPORT_COLUMNS = ["model_type", "category", "family", "hardware", "precision", "batch_size", "status",
                  "error_pattern", "error_message", "max_abs_diff", "tolerance", "device_name", "runtime_version",
                  "output_checksum", "execution_time_ms", "memory_usage_mb", "test_timestamp"]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def instance():
    """The persistent local instance ($DAGSTER_HOME, default ./.dagster) with the project's dagster.yaml."""
    from dagster import DagsterInstance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    project_yaml = paths.PACKAGE_DIR / "dagster.yaml"
    target = home / "dagster.yaml"
    if project_yaml.exists() and (not target.exists() or target.read_bytes() != project_yaml.read_bytes()):
        shutil.copyfile(project_yaml, target)
    return DagsterInstance.get()


def _materialize(defs, inst, selection, **kwargs) -> bool:
    from dagster import materialize

    result = materialize(list(defs.assets), instance=inst, resources=defs.resources, selection=selection,
                         raise_on_error=False, **kwargs)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                err = event.step_failure_data.error
                msg = (err.cause or err).message.strip().splitlines()[-1] if err else "step failed"
                print(f"hwcov: {event.step_key} failed: {msg}", file=sys.stderr)
    return result.success


FINGERPRINT_TAG = "hwcov/inventory_fingerprint"


def _last_fingerprint(inst) -> str | None:
    """The fingerprint tag of the last successful inventory run on this instance, if any."""
    from dagster import DagsterRunStatus, RunsFilter

    from hwcov.cases.generate import fingerprint

    runs = inst.get_runs(RunsFilter(tags={FINGERPRINT_TAG: fingerprint()},
                                    statuses=[DagsterRunStatus.SUCCESS]), limit=1)
    return runs[0].tags.get(FINGERPRINT_TAG) if runs else None


def run_pipeline(hardware: list[str], models: list[str], category: str | None, *, force: bool = False,
                 resume: bool = False,
                 workers: int = 0, timeout: float = 180.0, regenerate: bool = False, max_priority: int = 0,
                 batch_sizes: list[int] = (1,), precision: str = "") -> bool:
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    from hwcov.definitions import build_defs
    from hwcov.models.inventory import CATEGORIES
    from hwcov.resources.backends import TorchBackendResource

    defs = build_defs()
    defs.resources["torch_backend"] = TorchBackendResource(workers=workers, timeout_s=timeout)
    inst = instance()
    from hwcov.cases.generate import fingerprint as inventory_fingerprint

    fingerprint = inventory_fingerprint()
    if not regenerate and _last_fingerprint(inst) == fingerprint and paths.generated_dir().is_dir():
        print("hwcov: inventory and generated tests are up to date", file=sys.stderr)
    else:
        print(f"hwcov: inventory and test generation -> {paths.generated_dir()}", file=sys.stderr)
        # All categories in one run (a single-run backfill): generation is incremental and cheap.
        if not _materialize(defs, inst, ["hwcov/model_inventory", "hwcov/generated_tests"], run_config=QUIET,
                            tags={ASSET_PARTITION_RANGE_START_TAG: CATEGORIES[0],
                                  ASSET_PARTITION_RANGE_END_TAG: CATEGORIES[-1], FINGERPRINT_TAG: fingerprint}):
            return False
    config = {"models": models, "categories": [category] if category else [], "force": force, "resume": resume,
              "max_priority": max_priority, "precision": precision}
    for hw in hardware:
        for batch in batch_sizes:  # one materialization per batch size; the others' rows are kept
            print(f"hwcov: running on {hw}{f' at batch {batch}' if batch != 1 else ''} (results stream to "
                  f"{paths.artifacts_dir() / 'results'})", file=sys.stderr)
            run_config = {**QUIET, "ops": {"hwcov__run_results": {"config": {**config, "batch_size": batch}}}}
            if not _materialize(defs, inst, ["hwcov/run_results", "hwcov/error_patterns"], partition_key=hw,
                                run_config=run_config):
                return False
    if hardware and not _materialize(defs, inst, ["hwcov/coverage_report"], run_config=QUIET):
        return False
    if hardware:
        print_summary(hardware, models, category)
    return True


PRIORITIES = {"highest": 1, "high": 2, "medium": 3, "all": 0}


def available_hardware() -> list[str]:
    """Runnable hardware whose probe finds the device here."""
    from hwcov.backends.registry import RUNNABLE, custom_platforms, get_backend

    return [hw for hw in list(RUNNABLE) + list(custom_platforms()) if get_backend(hw).probe().available]


def _statuses(hardware: list[str]) -> dict:
    from hwcov.store import database as store

    if not paths.db_path().exists():
        return {}
    with store.connect(paths.db_path(), read_only=True) as con:
        try:
            rows = con.execute("SELECT model_type, hardware, status FROM hwcov.run_results WHERE hardware IN "
                               f"({', '.join('?' * len(hardware))})", hardware).fetchall()
        except Exception:  # noqa: BLE001 - a first run has nothing to regress from
            return {}
    return {(m, h): s for m, h, s in rows}


def ci_mode(hardware: list[str], priority: str, workers: int, timeout: float) -> int:
    """Run the chosen priority on the hardware present; exit 1 if a cell that passed no longer does."""
    hardware = hardware or available_hardware()
    print(f"hwcov ci-mode: priority {priority} on {', '.join(hardware)}", file=sys.stderr)
    before = _statuses(hardware)
    if not run_pipeline(hardware, [], None, workers=workers, timeout=timeout, max_priority=PRIORITIES[priority]):
        return 1
    after = _statuses(hardware)
    regressions = sorted(k for k, s in before.items() if s == "pass" and after.get(k, "pass") != "pass")
    for model, hw in regressions:
        print(f"REGRESSION {model} on {hw}: pass -> {after[(model, hw)]}")
    print(f"ci-mode: {len(regressions)} regressions")
    return 1 if regressions else 0


CI_WORKFLOW = """# Written by `hwcov --generate-ci-config`: install hwcov and fail on coverage regressions.
name: hwcov
on:
  push:
  schedule:
    - cron: "0 1 * * *"
jobs:
  hwcov:
    runs-on: ubuntu-latest
    timeout-minutes: 90
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Set up hwcov (chromium, venv with pinned CPU torch, onnxruntime-web)
        run: sudo bash .ci/setup
      - name: Highest-priority architectures on the hardware present
        env:
          HF_HUB_OFFLINE: "1"
        run: . .venv/bin/activate && hwcov --ci-mode --priority {priority}
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: hwcov-results
          path: |
            benchmark_db.duckdb
            .hwcov/coverage_report.md
"""


def write_ci_config(output: Path, priority: str) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(CI_WORKFLOW.replace("{priority}", priority), encoding="utf-8")
    print(f"CI workflow written to {output}")


def _connect():
    from hwcov.store import database as store

    return store.connect(paths.db_path(), read_only=True)


def _read(sql: str, params: list | None = None):
    import duckdb

    from hwcov.cli.main import UsageError

    try:
        with _connect() as con:
            return con.execute(sql, params or []).df()
    except duckdb.CatalogException:
        raise UsageError(f"{paths.db_path()} holds no hwcov results yet; run `hwcov --hardware cpu` first")


def print_summary(hardware: list[str], models: list[str], category: str | None) -> None:
    where = [f"hardware IN ({', '.join(repr(h) for h in hardware)})"]
    if models:
        where.append(f"model_type IN ({', '.join(repr(m) for m in models)})")
    if category:
        where.append(f"category = {category!r}")
    # One line per (hardware, precision, batch): fp16/int8 run only where fp32 passed, so a rate over all
    # precisions would mean nothing.
    df = _read(f"SELECT hardware, precision, batch_size, status, count(*) AS n FROM hwcov.run_results WHERE "
               f"{' AND '.join(where)} GROUP BY ALL ORDER BY hardware, batch_size, n DESC")
    order = {p: i for i, p in enumerate(("fp32", "fp16", "bf16", "int8"))}
    cells = sorted(df.groupby(["hardware", "batch_size", "precision"]),
                   key=lambda kv: (kv[0][0], kv[0][1], order.get(kv[0][2], 9), kv[0][2]))
    for (hw, batch, precision), part in cells:
        total = int(part["n"].sum())
        passed = int(part.loc[part["status"] == "pass", "n"].sum())
        detail = ", ".join(f"{s} {n}" for s, n in zip(part["status"], part["n"]))
        label = f"{hw} {precision}" + (f" batch {batch}" if batch != 1 else "")
        print(f"{label}: {passed}/{total} pass ({100 * passed / max(1, total):.1f}%) — {detail}")
    print(f"database: {paths.db_path()}\nreport:   {paths.artifacts_dir() / 'coverage_report.md'}")


def _emit(text: str, output: str | None) -> None:
    """Print a report, or write it to --output."""
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        print(f"written to {output}")
    else:
        print(text)


def _results():
    return _read("SELECT * FROM hwcov.run_results")


def _inventory():
    return _read("SELECT * FROM hwcov.model_inventory")


def print_report(args, **_) -> None:
    from hwcov.reports import report

    _emit(report.markdown(_inventory(), _results()), args.output if not args.export_results else None)


def _analysis(name: str, *tables):
    def verb(args, **_) -> None:
        from hwcov.reports import analysis

        _emit(getattr(analysis, name)(*[t() for t in tables]), args.output)

    verb.__name__ = name
    return verb


analyze_coverage = _analysis("analyze_coverage", _inventory, _results)
analyze_failures = _analysis("analyze_failures", _results)
group_failures = _analysis("group_failures", _results)
hardware_failure_analysis = _analysis("hardware_failure_analysis", _results)
coverage_plan = _analysis("coverage_plan", _inventory, _results)
estimate_effort = _analysis("estimate_effort", _results)
error_resolution_guide = _analysis("error_resolution_guide", _results)


def analyze_trends(args, **_) -> None:
    from hwcov.reports import analysis
    from hwcov.store import database as store

    with _connect() as con:
        history = store.history(con)
    if history.empty:
        raise _usage(f"{paths.db_path()} holds no coverage snapshots yet; run `hwcov --hardware cpu` first")
    _emit(analysis.analyze_trends(history), args.output)


def validation_report(args, models, **_) -> None:
    from hwcov.reports import analysis

    results = _results()
    if models[0] not in set(results["model_type"]):
        raise _usage(f"no results for model {models[0]!r} in {paths.db_path()}; run it first")
    _emit(analysis.validation_report(results, models[0]), args.output)


def diagnostics(args, models, hardware, **_) -> None:
    """Full error, environment and a standalone repro for one case, in --output (default ./diagnostics/)."""
    from hwcov.reports import diagnostics as diag
    from hwcov.run.sweep import load_module, test_class

    rows = _read("SELECT * FROM hwcov.run_results r JOIN hwcov.generated_tests t USING (model_type) "
                 "WHERE model_type = ? AND hardware = ? ORDER BY test_timestamp", [models[0], hardware[0]])
    if rows.empty:
        raise _usage(f"no result for {models[0]} on {hardware[0]} in {paths.db_path()}; run it first")
    row = rows.iloc[-1].to_dict()
    case = test_class(load_module(row["path"])).case
    out = Path(args.output or "diagnostics") / f"{models[0]}-{hardware[0]}"
    path = diag.write(row, case, out)
    print(path.read_text(encoding="utf-8"))
    print(f"written to {path}" + (f" with {out / 'repro.py'}" if (out / "repro.py").exists() else ""))


def list_all_models(args, **_) -> None:
    inv = _inventory().sort_values("model_type")
    inv.to_json(args.output, orient="records", indent=1)
    print(f"{len(inv)} architectures written to {args.output}")


def create_model_subsets(args, **_) -> None:
    """JSON lists of model types: one per category, per priority, and the seed's `high_priority` (1-2)."""
    import json

    inv = _inventory()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    subsets = {f"category_{c}": g for c, g in inv.groupby("category")}
    subsets |= {f"priority_{p}": g for p, g in inv.groupby("priority")}
    subsets["high_priority"] = inv[inv["priority"] <= 2]
    for name, group in subsets.items():
        (out / f"{name}.json").write_text(json.dumps(sorted(group["model_type"]), indent=1))
    print(f"{len(subsets)} subsets written to {out}")


def export_results(args, **_) -> None:
    output = Path(args.output)
    df = _results().sort_values(["hardware", "model_type", "precision", "batch_size"])
    df = df[EXPORT_COLUMNS + [c for c in df.columns if c not in EXPORT_COLUMNS]]
    output.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "csv":
        df.to_csv(output, index=False)
    elif args.format == "parquet":
        df.to_parquet(output, index=False)
    else:
        df.to_json(output, orient="records", indent=1, date_format="iso")
    print(f"exported {len(df)} rows to {output}")


def generate_dashboard(args, **_) -> None:
    from hwcov.reports import dashboard
    from hwcov.store import database as store

    with _connect() as con:
        history = store.history(con)
        benchmarks = store.read_table(con, "benchmark_results")
    index = dashboard.write(_inventory(), _results(), history, Path(args.output or "dashboard"), benchmarks)
    print(f"dashboard written to {index} (with coverage_report.md beside it)")
    if getattr(args, "screenshots", False):
        from hwcov.reports import screenshots

        shots = screenshots.take(index.parent, index.parent / "screenshots")
        print(f"screenshots: {', '.join(str(s) for s in shots)}")


def _repair_plan(hardware: list[str], models: list[str]):
    from hwcov.repair import loop as repair

    results = _results()
    with _connect() as con:
        reverted = repair.reverted_trials(con)
    return repair.plan(results, reverted, hardware or None, models or None)


def identify_patch_patterns(args, hardware, models, **_) -> None:
    """Failure patterns with a machine-applicable fix in the catalog, and the architectures they affect."""
    from hwcov.repair import loop as repair

    _emit(repair.identify_markdown(*_repair_plan(hardware, models)), args.output)


def suggest_manual_patches(args, hardware, models, **_) -> None:
    """The failures no machine fix covers, as concrete template-edit suggestions."""
    from hwcov.repair import loop as repair

    _emit(repair.manual_markdown(_repair_plan(hardware, models)[1]), args.output)


def auto_patch_generators(args, hardware, models, **_) -> None:
    """Apply the catalog's machine fixes as override data, rerun the affected architectures, keep what helps."""
    import json

    from hwcov.repair import loop as repair
    from hwcov.backends.registry import RUNNABLE, custom_platforms

    hardware = hardware or ["cpu"]
    not_runnable = [h for h in hardware if h not in RUNNABLE and h not in custom_platforms()]
    if not_runnable:
        raise _usage(f"hardware {', '.join(not_runnable)} has no backend yet; runnable: {', '.join(RUNNABLE)}")
    trials = repair.auto_patch(_results(), hardware, models or None,
                               rerun=repair.default_rerun(args.workers, args.timeout), retry_reverted=args.force)
    if not trials:
        print("auto-patch: no stored failure has a machine-applicable fix (see --suggest-manual-patches)")
    for t in trials:
        print(f"{'KEPT' if t['kept'] else 'REVERTED'} {t['generator_name']} on {t['hardware_platform']}: "
              f"{t['success_rate_before']} -> {t['success_rate_after']} for {', '.join(json.loads(t['model_types']))}")
    print(f"auto-patch: {sum(t['kept'] for t in trials)} of {len(trials)} fixes kept in "
          f"{repair.auto_path()}; recorded in hwcov.generator_updates")


def _usage(message: str):
    from hwcov.cli.main import UsageError

    return UsageError(message)


# Benchmark and profiling verbs live in their own module.
from hwcov.cli.bench_commands import (  # noqa: E402,F401
    batch_scaling, benchmark, benchmark_baseline, benchmark_optimized, compare_hardware_performance, layer_profile,
    memory_profile, optimal_hardware_analysis, optimization_impact, performance_trends)
