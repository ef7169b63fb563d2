"""The benchmark and profiling verbs.

--benchmark / --benchmark-baseline / --benchmark-optimized materialize benchmark_results for the chosen hardware
with the hardware's default, baseline or optimized variants (sweeping first only the models with no stored
result); --optimization-impact, --compare-hardware-performance, --optimal-hardware-analysis, --batch-scaling and
--performance-trends read DuckDB; --layer-profile and --memory-profile measure one --model on each --hardware in
an isolated worker and store the rows.
"""
from __future__ import annotations

import functools

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.cli.verbs_run import print_summary, timeout
from hwcov.core import paths
from hwcov.core.errors import UsageError

SHOWN_CELLS = 60  # more cells than this print as a per-status summary
DEFAULT_FULL_MATRIX_MODELS = 30
PROFILE_TIMEOUT_S = 600  # one model, every stage or layer: longer than a single case


def ints(value) -> list[int]:
    try:
        out = [int(v) for v in str(value or "").split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"expected comma-separated integers, got {value!r}") from None
    if any(v <= 0 for v in out):
        raise UsageError(f"expected positive integers, got {value!r}")
    return out


def bench_config(args, models: list[str], variants: list[str]) -> dict:
    n = getattr(args, "full_matrix_models", None)
    return {"models": models, "variants": variants, "batch_sizes": ints(getattr(args, "batch_sizes", None)),
            "seq_lens": ints(getattr(args, "seq_lens", None)),
            "precisions": [p for p in (getattr(args, "precisions", None) or "").split(",") if p],
            "min_duration_s": float(getattr(args, "min_duration", None) or 1.0),
            "full_matrix_models": (len(models) if models else DEFAULT_FULL_MATRIX_MODELS) if n is None else n,
            "resume": bool(getattr(args, "resume", False))}


def unswept(hardware: str, models: list[str]) -> list[str] | None:
    """What to sweep before benchmarking: the --model names with no stored result on `hardware` ([] = all, when
    it has none), or None. Benchmarks measure what the database says passes; stored rows are not rerun, so a
    code change doesn't turn a benchmark into a full sweep (run `hwcov --hardware H` for that)."""
    import duckdb

    stored: set = set()
    if paths.db_path().exists():
        try:
            with output.connect() as con:
                stored = {r[0] for r in con.execute(
                    "SELECT DISTINCT model_type FROM hwcov.run_results WHERE hardware = ?", [hardware]).fetchall()}
        except duckdb.CatalogException:
            pass
    if models:
        return [m for m in models if m not in stored] or None
    return None if stored else []


def not_passing(hardware: str, models: list[str]) -> str:
    """'' when any of `models` (all: []) passes on `hardware`; else what their stored rows say instead (a benchmark
    measures what passes: an absent device has nothing to time)."""
    where, params = "hardware = ?", [hardware]
    if models:
        where += f" AND model_type IN ({', '.join('?' * len(models))})"
        params += models
    rows = output.read(f"SELECT status, any_value(error_message) AS why, count(*) AS n FROM hwcov.run_results "
                       f"WHERE {where} GROUP BY status", params)
    if (rows["status"] == "pass").any():
        return ""
    said = "; ".join(f"{r.n} {r.status}" + (f" ({str(r.why)[:160]})" if r.why else "") for r in rows.itertuples())
    return f"no architecture passes on {hardware} ({said or 'no results'})"


def run_benchmark(args, hardware: list[str], models: list[str], group: str, variants: list[str] | None = None) -> int:
    """Benchmark `models` on each hardware with a variant group (default, baseline, optimized, all) or the named
    `variants`; print the cells. Exit code."""
    from hwcov.bench import cells as benchmark
    from hwcov.orchestration import pipeline
    from hwcov.reports import report
    from hwcov.store import database as store

    if getattr(args, "checkpoint", None):  # --checkpoint X --benchmark: the checkpoint verb timed X, not the archs
        return 0
    for hw in hardware:
        todo = unswept(hw, models)
        if todo is not None:
            if not pipeline.run_pipeline([hw], todo, None, workers=getattr(args, "workers", 0), timeout=timeout(args)):
                return 1
            print_summary([hw], todo, None)
        reason = not_passing(hw, models)
        if reason:
            print(f"hwcov: nothing to benchmark on {hw}: {reason}")
            continue
        if not pipeline.run_benchmark(hw, bench_config(args, models, variants or [group])):
            return 1
    with output.connect() as con:
        df = store.read_table(con, "benchmark_results")
    df = df[df["hardware"].isin(hardware) & (df["model_type"].isin(models) if models else True)]
    names = set(variants or [v for hw in hardware for v in benchmark.variants_for(hw, group)])
    part = df[df["variant"].isin(names)]
    cols = ["model_type", "hardware", "variant", "precision", "batch_size", "seq_len", "status", "p50_ms",
            "throughput_items_s", "max_abs_diff"]
    if len(part) <= SHOWN_CELLS:
        print(report.table(part[cols].round({"p50_ms": 4, "throughput_items_s": 2})))
    else:  # hundreds of cells read better as a summary; the table has every one
        summary = part.groupby(["hardware", "variant", "precision", "status"]).agg(
            cells=("model_type", "size"), architectures=("model_type", "nunique"),
            median_p50_ms=("p50_ms", "median")).reset_index()
        print(report.table(summary.round({"median_p50_ms": 4})))
    print(f"{len(part)} {group} cells in {paths.db_path()} (hwcov.benchmark_results)")
    return 0


def benchmark_verb(group: str):
    def verb(args, hardware, models) -> int:
        return run_benchmark(args, hardware, models, group)

    verb.__name__ = f"benchmark_{group}"
    return verb


def read_verb(name: str, table: str = "benchmark_results"):
    """A verb printing hwcov.reports.analysis.<name> of a benchmark table, filtered to --hardware/--model."""
    def verb(args, hardware, models) -> None:
        from hwcov.reports import analysis
        from hwcov.store import database as store

        with output.connect() as con:
            df = store.read_table(con, table)
        if df.empty:
            raise UsageError(f"{paths.db_path()} holds no benchmark cells yet; run "
                             "`hwcov --benchmark-baseline --model bert --hardware cpu` first")
        if hardware:
            df = df[df["hardware"].isin(hardware)]
        if models:
            df = df[df["model_type"].isin(models)]
        output.emit(getattr(analysis, name)(df), args.output)

    verb.__name__ = name
    return verb


def profile(args, hardware: list[str], models: list[str], kind: str) -> int:
    """Run profiling.<kind> for one model on each hardware in an isolated worker; store and print the rows."""
    from hwcov.bench import profiling
    from hwcov.cases import generate
    from hwcov.core.schema import conform
    from hwcov.models import inventory
    from hwcov.reports import report
    from hwcov.run.runner import Limits, preload, run_isolated
    from hwcov.store import database as store

    columns = store.LAYER_PROFILE_COLUMNS if kind == "layer_profile" else store.MEMORY_PROFILE_COLUMNS
    table = "layer_profiles" if kind == "layer_profile" else "memory_profiles"
    case = generate.case_for(inventory.by_type()[models[0]])
    batch = (ints(getattr(args, "batch_sizes", None)) or [1])[0]
    seq = (ints(getattr(args, "seq_lens", None)) or [128])[0]
    precision = ((getattr(args, "precisions", None) or "fp32").split(",") or ["fp32"])[0]
    export_dir = paths.artifacts_dir() / "exports"
    results: dict = {}

    def on_result(hw, result, seconds):
        results[hw] = result

    preload()
    run_one = functools.partial(profiling.profile_rows, kind, case, precision, batch, seq, export_dir)
    run_isolated(list(hardware), run_one, on_result,
                 Limits(workers=1, timeout_s=PROFILE_TIMEOUT_S, memory_mb=0, torch_threads=1))
    failed = {hw: r.get("error_message", r.get("status")) for hw, r in results.items() if "rows" not in r}
    absent = {hw: m for hw, m in failed.items() if str(m).startswith(profiling.HardwareUnavailable.__name__)}
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
    return 1 if len(failed) > len(absent) and not stored else 0  # absent hardware: said, not a failure


def profile_verb(kind: str):
    def verb(args, hardware, models) -> int:
        return profile(args, hardware, models, kind)

    verb.__name__ = kind
    return verb


def bench(name: str, text: str, run, group: str = "bench", **needs) -> Verb:
    return Verb(name, group, text, run, sweeps=False, **needs)


VERBS = [
    bench("benchmark", "measure --model (default: every architecture passing there) on --hardware with its default "
          "variant, the sweep's own configuration", benchmark_verb("default"), reads_db=False, hardware="some"),
    bench("benchmark_baseline", "measure --model (default: all passing) on --hardware with its baseline variant",
          benchmark_verb("baseline"), "optimize", reads_db=False, hardware="some"),
    bench("benchmark_optimized", "the same cells with the hardware's optimization variants (torch.compile, ORT "
          "graph optimization levels, OpenVINO hints/streams)", benchmark_verb("optimized"), "optimize", reads_db=False,
          hardware="some"),
    bench("optimization_impact", "measured speedup and parity cost of each variant against the baseline",
          read_verb("optimization_impact"), "optimize"),
    bench("compare_hardware_performance", "p50 per cell across hardware; median speedup against cpu",
          read_verb("compare_hardware_performance")),
    bench("optimal_hardware_analysis", "fastest hardware per architecture and batch; wins per category",
          read_verb("optimal_hardware")),
    bench("batch_scaling", "throughput per batch size against the smallest batch (scaling efficiency)",
          read_verb("batch_scaling")),
    bench("performance_trends", "latest p50 of every cell against its previous run; REGRESSION when > 10% slower",
          read_verb("performance_trends", "benchmark_history")),
    bench("layer_profile", "per-layer time of one --model on each --hardware (torch.profiler, OpenVINO perf "
          "counts, ORT profiler), stored in hwcov.layer_profiles", profile_verb("layer_profile"), "profile", reads_db=False,
          one_model=True, hardware="some"),
    bench("memory_profile", "RSS peak per stage (build, export, load, first run, steady) of one --model on each "
          "--hardware, stored in hwcov.memory_profiles", profile_verb("memory_profile"), "profile", reads_db=False,
          one_model=True, hardware="some"),
]
