"""The benchmark and profiling verbs of the CLI (re-exported by hwcov.cli.commands).

--benchmark-baseline / --benchmark-optimized materialize benchmark_results for the chosen hardware with the
hardware's baseline or optimized variants; --optimization-impact, --compare-hardware-performance,
--optimal-hardware-analysis, --batch-scaling and --performance-trends read DuckDB; --layer-profile and
--memory-profile measure one --model on each --hardware in an isolated worker and store the rows.
"""
from __future__ import annotations

from hwcov.core import paths


SHOWN_CELLS = 60  # more cells than this print as a per-status summary


def _ints(value) -> list[int]:
    from hwcov.cli.main import UsageError

    try:
        out = [int(v) for v in str(value or "").split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"expected comma-separated integers, got {value!r}") from None
    if any(v <= 0 for v in out):
        raise UsageError(f"expected positive integers, got {value!r}")
    return out


def _bench_config(args, models: list[str], variants: list[str]) -> dict:
    return {"models": models, "variants": variants, "batch_sizes": _ints(getattr(args, "batch_sizes", None)),
            "seq_lens": _ints(getattr(args, "seq_lens", None)),
            "precisions": [p for p in (getattr(args, "precisions", None) or "").split(",") if p],
            "min_duration_s": float(getattr(args, "min_duration", None) or 1.0),
            "full_matrix_models": _full_matrix_models(args, models),
            "resume": bool(getattr(args, "resume", False))}


def _full_matrix_models(args, models: list[str]) -> int:
    n = getattr(args, "full_matrix_models", None)
    return (len(models) if models else 30) if n is None else n


def _benchmark(args, hardware: list[str], models: list[str], group: str) -> None:
    from hwcov.cli import commands
    from hwcov.cli.main import UsageError
    from hwcov.definitions import build_defs

    if not hardware:
        raise UsageError(f"--benchmark{'' if group == 'default' else '-' + group} needs --hardware")
    defs, inst = build_defs(), commands.instance()
    for hw in hardware:
        unswept = _unswept(hw, models)
        if unswept is not None and not commands.run_pipeline(
                [hw], unswept, None, workers=getattr(args, "workers", 0), timeout=getattr(args, "timeout", 180.0)):
            raise SystemExit(1)
        run_config = {**commands.QUIET, "ops": {"hwcov__benchmark_results": {
            "config": _bench_config(args, models, [group])}}}
        if not commands._materialize(defs, inst, ["hwcov/benchmark_results"], partition_key=hw,
                                     run_config=run_config):
            raise SystemExit(1)
    df = _bench()
    df = df[df["hardware"].isin(hardware) & (df["model_type"].isin(models) if models else True)]
    from hwcov.bench import cells as benchmark

    names = {v for hw in hardware for v in benchmark.variants_for(hw, group)}
    part = df[df["variant"].isin(names)]
    cols = ["model_type", "hardware", "variant", "precision", "batch_size", "seq_len", "status", "p50_ms",
            "throughput_items_s", "max_abs_diff"]
    from hwcov.reports import report

    if len(part) <= SHOWN_CELLS:
        print(report.table(part[cols].round({"p50_ms": 4, "throughput_items_s": 2})))
    else:  # hundreds of cells read better as a summary; the table has every one
        summary = part.groupby(["hardware", "variant", "precision", "status"]).agg(
            cells=("model_type", "size"), architectures=("model_type", "nunique"),
            median_p50_ms=("p50_ms", "median")).reset_index()
        print(report.table(summary.round({"median_p50_ms": 4})))
    print(f"{len(part)} {group} cells in {paths.db_path()} (hwcov.benchmark_results)")


def _unswept(hardware: str, models: list[str]) -> list[str] | None:
    """What to sweep before benchmarking: the --model names with no stored result on `hardware` ([] = all, when
    it has none), or None. Benchmarks measure what the database says passes; stored rows are not rerun, so a
    code change doesn't turn a benchmark into a full sweep (run `hwcov --hardware H` for that)."""
    import duckdb

    from hwcov.store import database as store

    stored: set = set()
    if paths.db_path().exists():
        try:
            with store.connect(paths.db_path(), read_only=True) as con:
                stored = {r[0] for r in con.execute(
                    "SELECT DISTINCT model_type FROM hwcov.run_results WHERE hardware = ?", [hardware]).fetchall()}
        except duckdb.CatalogException:
            pass
    if models:
        return [m for m in models if m not in stored] or None
    return None if stored else []


def benchmark(args, hardware, models, **_) -> None:
    _benchmark(args, hardware, models, "default")


def benchmark_baseline(args, hardware, models, **_) -> None:
    _benchmark(args, hardware, models, "baseline")


def benchmark_optimized(args, hardware, models, **_) -> None:
    _benchmark(args, hardware, models, "optimized")


def _bench():
    from hwcov.cli import commands
    from hwcov.store import database as store

    with commands._connect() as con:
        return store.read_table(con, "benchmark_results")


def _filtered(df, hardware, models):
    if hardware:
        df = df[df["hardware"].isin(hardware)]
    if models:
        df = df[df["model_type"].isin(models)]
    return df


def _read_verb(name: str, table: str = "benchmark_results"):
    def verb(args, hardware=(), models=(), **_) -> None:
        from hwcov.reports import analysis
        from hwcov.cli import commands
        from hwcov.store import database as store

        with commands._connect() as con:
            df = store.read_table(con, table)
        if df.empty:
            raise commands._usage(f"{paths.db_path()} holds no benchmark cells yet; run "
                                  "`hwcov --benchmark-baseline --model bert --hardware cpu` first")
        commands._emit(getattr(analysis, name)(_filtered(df, hardware, models)), args.output)

    verb.__name__ = name
    return verb


compare_hardware_performance = _read_verb("compare_hardware_performance")
optimal_hardware_analysis = _read_verb("optimal_hardware")
batch_scaling = _read_verb("batch_scaling")
performance_trends = _read_verb("performance_trends", "benchmark_history")
optimization_impact = _read_verb("optimization_impact")


def _profile(args, hardware, models, kind: str) -> None:
    """Run profiling.<kind> for one model on each hardware in an isolated worker; store and print the rows."""
    import pandas as pd

    from hwcov.cli import commands
    from hwcov.cases import generate
    from hwcov.models import inventory
    from hwcov.bench import profiling
    from hwcov.reports import report
    from hwcov.store import database as store
    from hwcov.run.runner import Limits, preload, run_isolated
    from hwcov.core.schema import conform

    columns = store.LAYER_PROFILE_COLUMNS if kind == "layer_profile" else store.MEMORY_PROFILE_COLUMNS
    table = "layer_profiles" if kind == "layer_profile" else "memory_profiles"
    case = generate.case_for(inventory.by_type()[models[0]])
    batch = (_ints(getattr(args, "batch_sizes", None)) or [1])[0]
    seq = (_ints(getattr(args, "seq_lens", None)) or [128])[0]
    precision = ((getattr(args, "precisions", None) or "fp32").split(",") or ["fp32"])[0]
    export_dir = paths.artifacts_dir() / "exports"
    results: dict = {}

    def run_one(hw):
        return {"rows": getattr(profiling, kind)(case, hw, precision, batch, seq, export_dir=export_dir)}

    def on_result(hw, result, seconds):
        results[hw] = result

    preload()
    run_isolated(list(hardware), run_one, on_result, Limits(workers=1, timeout_s=600, memory_mb=0, torch_threads=1))
    failed = {hw: r.get("error_message", r.get("status")) for hw, r in results.items() if "rows" not in r}
    stored = [row for r in results.values() for row in r.get("rows", [])]
    if stored:
        df = conform(stored, columns)
        with store.connect(paths.db_path()) as con:
            store.replace_profile(con, table, df)
        for hw, part in df.groupby("hardware"):
            if kind == "layer_profile":
                top = part.sort_values("self_ms", ascending=False).head(25)
                cols = ["layer", "layer_type", "depth", "calls", "total_ms", "self_ms", "share_pct"]
                text = (f"## {models[0]} on {hw} ({precision}, batch {batch}, sequence {seq}; {part['source'].iloc[0]}"
                        f"): {len(part)} layers, self time {part['self_ms'].sum():.3f} ms per run\n\n"
                        + report.table(top[cols].round(4)))
            else:
                cols = ["stage", "rss_before_mb", "peak_rss_mb", "peak_delta_mb", "rss_after_mb", "device_peak_mb",
                        "seconds"]
                text = (f"## {models[0]} on {hw} ({precision}, batch {batch}, sequence {seq})\n\n"
                        + report.table(part[cols].round(3)))
            print(text)
        print(f"{len(df)} rows stored in hwcov.{table} ({paths.db_path()})")
    for hw, message in failed.items():
        print(f"hwcov: {kind.replace('_', '-')} on {hw}: {str(message)[:500]}")
    if failed and not stored:
        raise SystemExit(1)


def layer_profile(args, hardware, models, **_) -> None:
    _profile(args, hardware, models, "layer_profile")


def memory_profile(args, hardware, models, **_) -> None:
    _profile(args, hardware, models, "memory_profile")


__all__ = ["benchmark_baseline", "benchmark_optimized", "compare_hardware_performance", "optimal_hardware_analysis",
           "batch_scaling", "performance_trends", "optimization_impact", "layer_profile", "memory_profile"]
