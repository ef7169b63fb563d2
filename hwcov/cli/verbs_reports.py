"""The report verbs: the coverage report, the failure and coverage analyses, trends, one model's validation
report and diagnostics, the static dashboard. Each reads DuckDB (hwcov.reports renders) and prints or writes
--output.
"""
from __future__ import annotations

from pathlib import Path

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.core import paths
from hwcov.core.errors import UsageError


def print_report(args, hardware, models) -> None:
    from hwcov.reports import report

    output.emit(report.markdown(output.inventory(), output.results()), args.output if not args.export_results else None)


def analysis(name: str, *tables):
    """A verb printing hwcov.reports.analysis.<name> of the given tables (output.results, output.inventory)."""
    def verb(args, hardware, models) -> None:
        from hwcov.reports import analysis as reports

        output.emit(getattr(reports, name)(*[t() for t in tables]), args.output)

    verb.__name__ = name
    return verb


def analyze_trends(args, hardware, models) -> None:
    from hwcov.reports import analysis as reports
    from hwcov.store import database as store

    with output.connect() as con:
        history = store.history(con)
    if history.empty:
        raise output.nothing_stored("coverage snapshots")
    output.emit(reports.analyze_trends(history), args.output)


def validation_report(args, hardware, models) -> None:
    from hwcov.reports import analysis as reports

    results = output.results()
    if models[0] not in set(results["model_type"]):
        raise UsageError(f"no results for model {models[0]!r} in {paths.db_path()}; run it first")
    output.emit(reports.validation_report(results, models[0]), args.output)


def diagnostics(args, hardware, models) -> None:
    """Full error, environment and a standalone repro for one case, in --output (default ./diagnostics/)."""
    from hwcov.cases import generate
    from hwcov.reports import diagnostics as diag
    from hwcov.run.sweep import load_module, test_class

    query = ("SELECT * FROM hwcov.run_results r JOIN hwcov.generated_tests t USING (model_type) "
             "WHERE model_type = ? AND hardware = ? ORDER BY test_timestamp")
    rows = output.read(query, [models[0], hardware[0]]) if paths.db_path().exists() else None
    if rows is None or rows.empty:  # nothing stored for the pair yet: run it, then diagnose what it gave
        from hwcov.orchestration import pipeline

        if not pipeline.run_pipeline([hardware[0]], [models[0]], None, workers=args.workers):
            raise UsageError(f"no result for {models[0]} on {hardware[0]} and running it failed")
        rows = output.read(query, [models[0], hardware[0]])
    row = rows.iloc[-1].to_dict()
    # The stored path is data: only the generated test this model's name gives, in the generated-tests folder, is
    # imported (a crafted row must not make --diagnostics run another file).
    expected = (paths.generated_dir() / generate.filename(models[0])).resolve()
    if Path(str(row["path"])).resolve() != expected or not expected.is_file():
        raise UsageError(f"the stored test of {models[0]} is not {expected}; regenerate with `hwcov --generate-tests` "
                         f"(or pass the --generated-dir it was written to)")
    case = test_class(load_module(str(expected))).case
    out = diag.folder(Path(args.output or "diagnostics"), models[0], hardware[0])
    path = diag.write(row, case, out)
    print(path.read_text(encoding="utf-8"))
    print(f"written to {path}" + (f" with {out / 'repro.py'}" if (out / "repro.py").exists() else ""))


def generate_dashboard(args, hardware, models) -> None:
    from hwcov.reports import dashboard
    from hwcov.store import database as store

    with output.connect() as con:
        history = store.history(con)
        benchmarks = store.read_table(con, "benchmark_results")
        checkpoints = store.read_table(con, "checkpoint_results")
    index = dashboard.write(output.inventory(), output.results(), history, Path(args.output or "dashboard"),
                            benchmarks, checkpoints)
    print(f"dashboard written to {index} (with coverage_report.md beside it)")
    if getattr(args, "screenshots", False):
        from hwcov.reports import screenshots

        shots = screenshots.take(index.parent, index.parent / "screenshots")
        print(f"screenshots: {', '.join(str(s) for s in shots)}")


INV, RES = output.inventory, output.results
VERBS = [
    Verb("report", "run", "coverage report: status per hardware, pass rates, failures, gaps by priority",
         print_report),
    Verb("analyze_coverage", "database", "pass rates by hardware and category; gaps by priority",
         analysis("analyze_coverage", INV, RES)),
    Verb("analyze_failures", "results", "failure patterns with explanation, suggested fix and examples",
         analysis("analyze_failures", RES)),
    Verb("error_pattern_analysis", "errors", "same as --analyze-failures", analysis("analyze_failures", RES)),
    Verb("group_failures", "results", "failure counts by pattern x hardware", analysis("group_failures", RES)),
    Verb("hardware_failure_analysis", "results", "failures on a hardware of architectures that pass on cpu",
         analysis("hardware_failure_analysis", RES)),
    Verb("analyze_trends", "database", "pass rate per hardware over coverage_report snapshots", analyze_trends),
    Verb("generate_coverage_plan", "results", "prioritized template fixes (markdown)",
         analysis("coverage_plan", INV, RES)),
    Verb("estimate_effort", "results", "template changes needed per pattern and family",
         analysis("estimate_effort", RES)),
    Verb("generate_error_resolution_guide", "errors", "every catalog pattern with its fix and real examples",
         analysis("error_resolution_guide", RES)),
    Verb("validation_report", "validation", "one --model across hardware: status, |diff|, tolerance, evidence",
         validation_report, one_model=True),
    Verb("diagnostics", "errors", "one --model on one --hardware (run first if nothing is stored): full error, "
         "environment, standalone repro script", diagnostics, sweeps=False, reads_db=False, one_model=True,
         hardware="one"),
    Verb("generate_dashboard", "advanced",
         "static HTML dashboard + coverage_report.md in the --output folder (./dashboard)", generate_dashboard),
]
