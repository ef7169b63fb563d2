"""`hwcov`: the seed's verbs, each a Dagster materialization or a read of the DuckDB file.

Bad input (unknown model, category, hardware, format; an unusable or empty database) gets
one line on stderr and exit code 2 before anything is written.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hwcov.backends.platforms import PlatformError
from hwcov.core.schedule_config import ScheduleError

EPILOG = """examples:
  hwcov --hardware cpu                          full CPU sweep: inventory -> tests -> results -> patterns -> report
  hwcov --model bert,gpt2 --hardware cpu        only these architectures (others keep their stored results)
  hwcov --model-category vision --hardware cpu  one category
  hwcov --all                                   every hardware that can run (absent ones are recorded unavailable)
  hwcov --report                                coverage report (markdown) from the database
  hwcov --analyze-failures                      failure patterns with explanation and suggested template fix
  hwcov --diagnostics --model llava --hardware cpu   full error + standalone repro script
  hwcov --export-results --format csv --output results.csv
  hwcov --generate-dashboard --output dashboard/   then open dashboard/index.html
The database defaults to ./benchmark_db.duckdb (or $HWCOV_DB_PATH); the Dagster instance to
./.dagster (or $DAGSTER_HOME), the one `DAGSTER_HOME=$PWD/.dagster dagster dev` shows."""

EXPORT_FORMATS = ("csv", "parquet", "json")
# Read-only verbs: flag -> function name in hwcov.cli.commands (each reads the database).
READ_VERBS = {
    "report": "print_report", "analyze_coverage": "analyze_coverage", "analyze_failures": "analyze_failures",
    "error_pattern_analysis": "analyze_failures", "group_failures": "group_failures",
    "hardware_failure_analysis": "hardware_failure_analysis", "analyze_trends": "analyze_trends",
    "generate_coverage_plan": "coverage_plan", "estimate_effort": "estimate_effort",
    "generate_error_resolution_guide": "error_resolution_guide", "validation_report": "validation_report",
    "diagnostics": "diagnostics", "export_results": "export_results", "list_all_hf_models": "list_all_models",
    "create_model_subsets": "create_model_subsets", "generate_dashboard": "generate_dashboard",
    "identify_patch_patterns": "identify_patch_patterns", "suggest_manual_patches": "suggest_manual_patches",
    "auto_patch_generators": "auto_patch_generators",
}
NEEDS_OUTPUT = ("export_results", "list_all_hf_models", "create_model_subsets")
# Benchmark and profiling verbs (hwcov/cli/bench_commands.py): flag -> function name in hwcov.cli.commands.
BENCH_VERBS = {v: v for v in ("benchmark", "benchmark_baseline", "benchmark_optimized", "optimization_impact",
                              "compare_hardware_performance", "optimal_hardware_analysis", "batch_scaling",
                              "performance_trends", "layer_profile", "memory_profile")}
READ_VERBS.update(BENCH_VERBS)
# --hardware filters or targets; no sweep first (the benchmark verbs sweep only what has no stored result)
NO_SWEEP = ("optimization_impact", "compare_hardware_performance", "optimal_hardware_analysis", "batch_scaling",
            "performance_trends", "layer_profile", "memory_profile", "benchmark", "benchmark_baseline",
            "benchmark_optimized")
CREATES_DB = ("benchmark", "benchmark_baseline", "benchmark_optimized", "layer_profile", "memory_profile")


class UsageError(Exception):
    """Bad user input: reported as one line, exit code 2."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hwcov", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Which HuggingFace Transformers architectures run on which hardware, measured for real.")
    run = p.add_argument_group("run (materialize assets on the local Dagster instance)")
    run.add_argument("--hardware", help="comma-separated hardware keys to run on (e.g. cpu)")
    run.add_argument("--all", action="store_true", help="run on every hardware key hwcov has a backend for")
    run.add_argument("--model", help="comma-separated model types (default: every architecture)")
    run.add_argument("--model-category", help="run only this model category (e.g. vision)")
    run.add_argument("--force", action="store_true", help="rerun cases whose stored result is still valid")
    run.add_argument("--resume", action="store_true",
                     help="continue a long run: keep every stored row, even one made by older code or templates "
                          "(each row names its versions); run only what has none, or crashed or timed out. "
                          "With the benchmark verbs: skip cells already measured")
    run.add_argument("--workers", type=int, default=0, help="parallel workers (default: one per CPU core)")
    run.add_argument("--timeout", type=float, default=180.0, help="seconds per case before it is a timeout")
    run.add_argument("--batch-size", default="1", help="comma-separated batch sizes to run (default 1), e.g. 1,2,4,8: "
                     "one run_results materialization per size; rows are kept per (model, precision, batch)")
    run.add_argument("--precision", default="", help="run only this precision (fp32, fp16, bf16, int8; default: each "
                     "precision the hardware's generated tests declare)")
    run.add_argument("--generate-tests", action="store_true", help="only refresh the inventory and regenerate tests")
    run.add_argument("--expand-hf-models", action="store_true",
                     help="the seed's name for it: take every architecture of the installed transformers into the "
                     "inventory and (re)generate their tests; with --hardware, run them too")
    run.add_argument("--ci-mode", action="store_true",
                     help="run --priority on the hardware present (or --hardware); exit 1 on regressions")
    run.add_argument("--priority", default="high", help="for --ci-mode and --generate-ci-config: highest (seed "
                     "phase 1), high (phases 1-2), medium, all (default high)")
    run.add_argument("--test-by-popularity", action="store_true",
                     help="run the --top N most downloaded architectures (templates/popularity.yaml, dated, source "
                     "named) on --hardware (default cpu)")
    run.add_argument("--top", type=int, default=10, help="how many for --test-by-popularity (default 10)")
    run.add_argument("--generate-ci-config", action="store_true",
                     help="write a CI workflow running --ci-mode to --output")
    plat = p.add_argument_group("hardware platforms")
    plat.add_argument("--define-hardware", metavar="KEY", help="add a hardware platform from --properties FILE.json")
    plat.add_argument("--properties", help="platform JSON in the seed's format (for --define-hardware)")
    plat.add_argument("--generate-schedule-config", action="store_true",
                      help="write the default schedule config (the seed's daily/weekly/monthly) to --output")
    rep = p.add_argument_group("reports and analysis (read the database; --output writes to a file)")
    for flag, text in [
        ("--report", "coverage report: status per hardware, pass rates, failures, gaps by priority"),
        ("--analyze-coverage", "pass rates by hardware and category; gaps by priority"),
        ("--analyze-failures", "failure patterns with explanation, suggested fix and examples"),
        ("--error-pattern-analysis", "same as --analyze-failures"),
        ("--group-failures", "failure counts by pattern x hardware"),
        ("--hardware-failure-analysis", "failures on a hardware of architectures that pass on cpu"),
        ("--analyze-trends", "pass rate per hardware over coverage_report snapshots"),
        ("--generate-coverage-plan", "prioritized template fixes (markdown)"),
        ("--estimate-effort", "template changes needed per pattern and family"),
        ("--generate-error-resolution-guide", "every catalog pattern with its fix and real examples"),
        ("--validation-report", "one --model across hardware: status, |diff|, tolerance, evidence"),
        ("--diagnostics", "one --model on one --hardware: full error, environment, standalone repro script"),
        ("--generate-dashboard", "static HTML dashboard + coverage_report.md in the --output folder (./dashboard)"),
    ]:
        rep.add_argument(flag, action="store_true", help=text)
    rep.add_argument("--screenshots", action="store_true",
                     help="with --generate-dashboard: also a PNG of every page in <output>/screenshots (headless Chromium)")
    fix = p.add_argument_group("template repair (the generator loop, from the stored failures; --hardware filters)")
    fix.add_argument("--identify-patch-patterns", action="store_true",
                     help="failure patterns with a machine-applicable fix in the catalog, and the archs affected")
    fix.add_argument("--auto-patch-generators", action="store_true",
                     help="apply those fixes as override data, rerun the affected archs on --hardware (default cpu), "
                     "keep a fix only if their pass rate rises (recorded in generator_updates); --force retries "
                     "fixes reverted before")
    fix.add_argument("--suggest-manual-patches", action="store_true",
                     help="the failures no machine fix covers, as template-edit suggestions (markdown; --output)")
    ben = p.add_argument_group("benchmarks and profiling (templates/benchmarks.yaml: the seed's matrix and variants)")
    for flag, text in [
        ("--benchmark", "measure --model (default: every architecture passing there) on --hardware with its default "
                        "variant, the sweep's own configuration"),
        ("--benchmark-baseline", "measure --model (default: all passing) on --hardware with its baseline variant"),
        ("--benchmark-optimized", "the same cells with the hardware's optimization variants (torch.compile, ORT "
                                  "graph optimization levels, OpenVINO hints/streams)"),
        ("--optimization-impact", "measured speedup and parity cost of each variant against the baseline"),
        ("--compare-hardware-performance", "p50 per cell across hardware; median speedup against cpu"),
        ("--optimal-hardware-analysis", "fastest hardware per architecture and batch; wins per category"),
        ("--batch-scaling", "throughput per batch size against the smallest batch (scaling efficiency)"),
        ("--performance-trends", "latest p50 of every cell against its previous run; REGRESSION when > 10% slower"),
        ("--layer-profile", "per-layer time of one --model on each --hardware (torch.profiler, OpenVINO perf "
                            "counts, ORT profiler), stored in hwcov.layer_profiles"),
        ("--memory-profile", "RSS peak per stage (build, export, load, first run, steady) of one --model on each "
                             "--hardware, stored in hwcov.memory_profiles"),
    ]:
        ben.add_argument(flag, action="store_true", help=text)
    ben.add_argument("--batch-sizes", help="comma-separated batch sizes (default: the hardware's matrix; profiles: 1)")
    ben.add_argument("--seq-lens", help="comma-separated sequence lengths (default: the matrix; profiles: 128)")
    ben.add_argument("--precisions", help="comma-separated precisions (default: the hardware's matrix; profiles: fp32)")
    ben.add_argument("--min-duration", type=float, default=1.0, help="seconds each timed cell runs at least (1.0)")
    ben.add_argument("--full-matrix-models", type=int, default=None,
                     help="how many architectures (by priority) get every batch x sequence cell; the rest get the "
                          "first batch and sequence only (default: 30, or every --model given)")
    exp = p.add_argument_group("export and inventory")
    exp.add_argument("--export-results", action="store_true", help="run results to --output (see --format)")
    exp.add_argument("--format", default="csv", help=f"export format: {', '.join(EXPORT_FORMATS)} (default csv)")
    exp.add_argument("--list-all-hf-models", action="store_true", help="the inventory as JSON to --output")
    exp.add_argument("--create-model-subsets", action="store_true",
                     help="model-type lists per category and priority, as JSON files in the --output folder")
    exp.add_argument("--output", help="output file (or folder for --create-model-subsets, --diagnostics)")
    where = p.add_argument_group("paths")
    where.add_argument("--db-path", help="DuckDB file (default ./benchmark_db.duckdb or $HWCOV_DB_PATH)")
    where.add_argument("--generated-dir", help="where generated tests go (default ./generated_tests)")
    return p


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _validate_db_path(path: Path, must_exist: bool) -> None:
    if path.is_dir():
        raise UsageError(f"--db-path {path} is a directory; give a file such as {path / 'benchmark_db.duckdb'}")
    if must_exist and not path.exists():
        raise UsageError(f"no database at {path}; run `hwcov --hardware cpu` first or pass --db-path")
    if not path.parent.is_dir():
        raise UsageError(f"--db-path {path}: directory {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--db-path {path} is not writable")
    if path.exists():
        import duckdb

        from hwcov.store import database as store

        try:
            store.connect(path, read_only=True).close()
        except duckdb.Error as exc:
            raise UsageError(f"--db-path {path} is not a usable DuckDB database: {str(exc).splitlines()[0]}")


def _validate_models(models: list[str]) -> None:
    from hwcov.models.inventory import model_types

    known = model_types()
    unknown = [m for m in models if m not in known]
    if unknown:
        import transformers

        raise UsageError(f"unknown model {', '.join(unknown)}; accepted: one of the {len(known)} model types "
                         f"of transformers {transformers.__version__} (e.g. bert, gpt2, t5, vit, whisper)")


def validate(args, verbs: list[str]) -> dict:
    from hwcov.backends.registry import RUNNABLE, all_hardware, custom_platforms
    from hwcov.models.inventory import CATEGORIES

    hardware = _split(args.hardware)
    known = all_hardware()
    bad = [h for h in hardware if h not in known]
    if bad:
        raise UsageError(f"unknown hardware {', '.join(bad)}; accepted: {', '.join(known)}")
    runs = bool(hardware or args.all) and not {"diagnostics", "auto_patch_generators", "identify_patch_patterns",
                                                 "suggest_manual_patches"} & set(verbs)
    runs = runs and not set(NO_SWEEP) & set(verbs)
    not_built = [h for h in hardware if h not in RUNNABLE and h not in custom_platforms()]
    if runs and not_built:
        raise UsageError(f"hardware {', '.join(not_built)} has no backend yet; runnable: {', '.join(RUNNABLE)}")
    if args.all:
        hardware = list(RUNNABLE) + list(custom_platforms())
    if args.model_category and args.model_category not in CATEGORIES:
        raise UsageError(f"unknown model category {args.model_category!r}; accepted: {', '.join(CATEGORIES)}")
    models = _split(args.model)
    if models:
        _validate_models(models)
    try:
        batch_sizes = [int(b) for b in _split(args.batch_size)]
    except ValueError:
        batch_sizes = []
    if not batch_sizes or min(batch_sizes) < 1:
        raise UsageError(f"--batch-size {args.batch_size!r}: give positive integers, e.g. 1,2,4,8")
    from hwcov.backends.platforms import PRECISIONS

    if args.precision and args.precision not in PRECISIONS:
        raise UsageError(f"unknown precision {args.precision!r}; accepted: {', '.join(PRECISIONS)}")
    if args.export_results and args.format not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {args.format!r}; accepted: {', '.join(EXPORT_FORMATS)}")
    missing_output = [v for v in verbs if v in NEEDS_OUTPUT and not args.output]
    if missing_output:
        raise UsageError(f"--{missing_output[0].replace('_', '-')} needs --output")
    if ("validation_report" in verbs or "diagnostics" in verbs) and len(models) != 1:
        raise UsageError("--validation-report and --diagnostics need exactly one --model")
    if "diagnostics" in verbs and len(hardware) != 1:
        raise UsageError("--diagnostics needs exactly one --hardware")
    profiles = [v for v in verbs if v in ("layer_profile", "memory_profile")]
    if profiles and (len(models) != 1 or not hardware):
        raise UsageError(f"--{profiles[0].replace('_', '-')} needs exactly one --model and at least one --hardware")
    benches = [v for v in verbs if v in ("benchmark", "benchmark_baseline", "benchmark_optimized")]
    if benches and not hardware:
        raise UsageError(f"--{benches[0].replace('_', '-')} needs --hardware")
    if args.full_matrix_models is not None and args.full_matrix_models < 0:
        raise UsageError(f"--full-matrix-models must be ≥ 0, got {args.full_matrix_models}")
    if args.workers < 0 or args.timeout <= 0:
        raise UsageError("--workers must be ≥ 0 and --timeout > 0")
    _validate_db_path(Path(os.environ.get("HWCOV_DB_PATH", "benchmark_db.duckdb")).resolve(),
                      must_exist=bool(set(verbs) - set(CREATES_DB)) and not runs and not args.generate_tests)
    return {"hardware": hardware, "models": models, "runs": runs, "batch_sizes": list(dict.fromkeys(batch_sizes))}


def select_by_popularity(args) -> None:
    """--test-by-popularity: the top N ranked architectures of the installed transformers become --model."""
    from hwcov.models import popularity

    if args.model or args.model_category:
        raise UsageError("--test-by-popularity chooses the models itself; drop --model / --model-category")
    try:
        top = popularity.top_models(args.top)
        source = popularity.describe()
    except popularity.PopularityError as exc:
        raise UsageError(str(exc))
    print(f"hwcov: top {len(top)} by popularity ({source}): {', '.join(top)}", file=sys.stderr)
    args.model, args.hardware = ",".join(top), args.hardware or "cpu"


def define_hardware(key: str, properties: str | None) -> None:
    from hwcov.backends import platforms
    from hwcov.backends.registry import HARDWARE

    if not properties:
        raise UsageError("--define-hardware needs --properties FILE.json")
    target = platforms.define(key, Path(properties), reserved=HARDWARE)
    print(f"hardware platform '{key}' defined in {target}; run it with: hwcov --hardware {key}")


def ci(args) -> int:
    from hwcov.cli import commands

    if args.priority not in commands.PRIORITIES:
        raise UsageError(f"unknown priority {args.priority!r}; accepted: {', '.join(commands.PRIORITIES)}")
    if args.generate_ci_config:
        if not args.output:
            raise UsageError("--generate-ci-config needs --output (e.g. .github/workflows/hwcov.yml)")
        commands.write_ci_config(Path(args.output), args.priority)
        return 0
    chosen = validate(args, [])
    return commands.ci_mode(chosen["hardware"], args.priority, args.workers, args.timeout)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.generate_tests = args.generate_tests or args.expand_hf_models
    verbs = [v for v in READ_VERBS if getattr(args, v)]
    if not (args.hardware or args.all or verbs or args.generate_tests or args.define_hardware or args.test_by_popularity
            or args.generate_schedule_config or args.ci_mode or args.generate_ci_config):
        parser().print_help()
        return 0
    if args.db_path:
        os.environ["HWCOV_DB_PATH"] = str(Path(args.db_path).resolve())
    if args.generated_dir:
        os.environ["HWCOV_GENERATED_DIR"] = str(Path(args.generated_dir).resolve())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        if args.generate_schedule_config:
            from hwcov.core import schedule_config as schedules

            if not args.output:
                raise UsageError("--generate-schedule-config needs --output (e.g. schedule.json)")
            path = schedules.write_default(Path(args.output))
            print(f"schedule config written to {path}; the Dagster definitions read ./{schedules.DEFAULT_FILE} "
                  f"or ${schedules.SCHEDULE_ENV}")
            return 0
        if args.ci_mode or args.generate_ci_config:
            return ci(args)
        if args.define_hardware:
            define_hardware(args.define_hardware, args.properties)
            if not (args.hardware or args.all or verbs or args.generate_tests):
                return 0
        if args.test_by_popularity:
            select_by_popularity(args)
        chosen = validate(args, verbs)
        from hwcov.cli import commands

        if chosen["runs"] or args.generate_tests:
            ok = commands.run_pipeline(chosen["hardware"] if chosen["runs"] else [], chosen["models"],
                                       args.model_category, force=args.force, resume=args.resume,
                                       workers=args.workers,
                                       timeout=args.timeout, regenerate=args.generate_tests or args.force,
                                       batch_sizes=chosen["batch_sizes"], precision=args.precision)
            if not ok:
                return 1
        for verb in verbs:
            getattr(commands, READ_VERBS[verb])(args=args, **{k: chosen[k] for k in ("hardware", "models")})
    except (UsageError, PlatformError, ScheduleError) as exc:
        print(f"hwcov: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
