"""`hwcov`: the seed's verbs, each a Dagster materialization or a read of the DuckDB file.

Bad input (unknown model, category, hardware, format; an unusable database path) gets
one line on stderr and exit code 2 before anything is written.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hwcov.platforms import PlatformError

EPILOG = """examples:
  hwcov --hardware cpu                          full CPU sweep: inventory -> tests -> results -> patterns -> report
  hwcov --model bert,gpt2 --hardware cpu        only these architectures (others keep their stored results)
  hwcov --model-category vision --hardware cpu  one category
  hwcov --report                                coverage report (markdown) from the database
  hwcov --export-results --format csv --output results.csv
The database defaults to ./benchmark_db.duckdb (or $HWCOV_DB_PATH); the Dagster instance to
./.dagster (or $DAGSTER_HOME), the one `DAGSTER_HOME=$PWD/.dagster dagster dev` shows."""

EXPORT_FORMATS = ("csv", "parquet", "json")


class UsageError(Exception):
    """Bad user input: reported as one line, exit code 2."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hwcov", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Which HuggingFace Transformers architectures run on which hardware, measured for real.")
    p.add_argument("--hardware", help="comma-separated hardware keys to run on (e.g. cpu)")
    p.add_argument("--model", help="comma-separated model types (default: every architecture)")
    p.add_argument("--model-category", help="run only this model category (e.g. vision)")
    p.add_argument("--force", action="store_true", help="rerun cases whose stored result is still valid")
    p.add_argument("--workers", type=int, default=0, help="parallel workers (default: one per CPU core)")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds per case before it is a timeout")
    p.add_argument("--define-hardware", metavar="KEY", help="add a hardware platform from --properties FILE.json")
    p.add_argument("--properties", help="platform JSON in the seed's format (for --define-hardware)")
    p.add_argument("--generate-tests", action="store_true", help="only refresh the inventory and regenerate tests")
    p.add_argument("--report", action="store_true", help="print the coverage report from the database")
    p.add_argument("--export-results", action="store_true", help="export run results (see --format/--output)")
    p.add_argument("--format", default="csv", help=f"export format: {', '.join(EXPORT_FORMATS)} (default csv)")
    p.add_argument("--output", help="output file for --export-results or --report")
    p.add_argument("--db-path", help="DuckDB file (default ./benchmark_db.duckdb or $HWCOV_DB_PATH)")
    p.add_argument("--generated-dir", help="where generated tests go (default ./generated_tests)")
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

        try:
            duckdb.connect(str(path), read_only=True).close()
        except duckdb.Error as exc:
            raise UsageError(f"--db-path {path} is not a usable DuckDB database: {str(exc).splitlines()[0]}")


def validate(args) -> dict:
    from hwcov.backends import RUNNABLE, all_hardware, custom_platforms
    from hwcov.inventory import CATEGORIES

    hardware = _split(args.hardware)
    known = all_hardware()
    bad = [h for h in hardware if h not in known]
    if bad:
        raise UsageError(f"unknown hardware {', '.join(bad)}; accepted: {', '.join(known)}")
    not_built = [h for h in hardware if h not in RUNNABLE and h not in custom_platforms()]
    if not_built:
        raise UsageError(f"hardware {', '.join(not_built)} has no backend yet; runnable: {', '.join(RUNNABLE)}")
    if args.model_category and args.model_category not in CATEGORIES:
        raise UsageError(f"unknown model category {args.model_category!r}; accepted: {', '.join(CATEGORIES)}")
    models = _split(args.model)
    if models:
        from hwcov.inventory import model_types

        known = model_types()
        unknown = [m for m in models if m not in known]
        if unknown:
            import transformers

            raise UsageError(f"unknown model {', '.join(unknown)}; accepted: one of the {len(known)} model types "
                             f"of transformers {transformers.__version__} (e.g. bert, gpt2, t5, vit, whisper)")
    if args.export_results and args.format not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {args.format!r}; accepted: {', '.join(EXPORT_FORMATS)}")
    if args.export_results and not args.output:
        raise UsageError("--export-results needs --output FILE")
    if args.workers < 0 or args.timeout <= 0:
        raise UsageError("--workers must be ≥ 0 and --timeout > 0")
    reading_only = (args.report or args.export_results) and not hardware and not args.generate_tests
    _validate_db_path(Path(args.db_path or os.environ.get("HWCOV_DB_PATH", "benchmark_db.duckdb")).resolve(),
                      must_exist=bool(reading_only))
    return {"hardware": hardware, "models": models}


def define_hardware(key: str, properties: str | None) -> None:
    from hwcov import platforms
    from hwcov.backends import HARDWARE

    if not properties:
        raise UsageError("--define-hardware needs --properties FILE.json")
    target = platforms.define(key, Path(properties), reserved=HARDWARE)
    print(f"hardware platform '{key}' defined in {target}; run it with: hwcov --hardware {key}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not (args.hardware or args.report or args.export_results or args.generate_tests or args.define_hardware):
        parser().print_help()
        return 0
    if args.db_path:
        os.environ["HWCOV_DB_PATH"] = str(Path(args.db_path).resolve())
    if args.generated_dir:
        os.environ["HWCOV_GENERATED_DIR"] = str(Path(args.generated_dir).resolve())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        if args.define_hardware:
            define_hardware(args.define_hardware, args.properties)
            if not (args.hardware or args.report or args.export_results or args.generate_tests):
                return 0
        chosen = validate(args)
        from hwcov import commands

        if args.hardware or args.generate_tests:
            ok = commands.run_pipeline(chosen["hardware"], chosen["models"], args.model_category, force=args.force,
                                       workers=args.workers, timeout=args.timeout,
                                       regenerate=args.generate_tests or args.force)
            if not ok:
                return 1
        if args.report:
            commands.print_report(args.output if not args.export_results else None)
        if args.export_results:
            commands.export_results(args.format, Path(args.output))
    except (UsageError, PlatformError) as exc:
        print(f"hwcov: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
