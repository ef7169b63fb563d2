"""The seed guide's optimization workflow on hwcov's benchmarks: --identify-optimizations,
--generate-optimization-patches, --apply-optimization-patches, --validate-optimizations, --apply-optimizations.

A patch is a YAML file naming a benchmark variant the hardware's backend really switches, and the precisions to
measure it at (hwcov.bench.patches). Applying one adds the variant to what the hardware's optimized benchmarks
measure; validating runs those cells beside the baseline through the benchmark_results asset and prints the
measured speedup and parity cost (--optimization-impact's report).
"""
from __future__ import annotations

from pathlib import Path

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.cli.verbs_bench import not_passing, run_benchmark
from hwcov.core import paths
from hwcov.core.errors import UsageError

DEFAULT_FOLDER = "optimization_patches"
SHOWN = ["hardware", "variant", "precisions", "models", "evidence"]


def measured(hardware: list[str], models: list[str]):
    """The stored benchmark cells of these hardware and models; UsageError when there are none at all."""
    from hwcov.store import database as store

    with output.connect() as con:
        df = store.read_table(con, "benchmark_results")
    if df.empty:
        raise UsageError(f"{paths.db_path()} holds no benchmark cells yet; run `hwcov --benchmark-all` (or "
                         "`hwcov --benchmark --model bert --hardware cpu`) first")
    df = df[df["hardware"].isin(hardware)] if hardware else df
    return df[df["model_type"].isin(models)] if models else df


def found(hardware: list[str], models: list[str]):
    from hwcov.bench import patches

    return patches.opportunities(measured(hardware, models))


def show(table) -> str:
    from hwcov.reports import report

    if table.empty:
        return "No optimization opportunity: no hardware has a passing cell with an unmeasured or faster variant.\n"
    shown = table[SHOWN].assign(precisions=table["precisions"].map(", ".join), models=table["models"].map(", ".join))
    return report.table(shown)


def identify_optimizations(args, hardware, models) -> None:
    output.emit("# Optimization opportunities\n\nVariants each hardware's backend switches that its stored cells "
                "have not measured, or measured faster than the baseline; precisions not measured yet.\n\n"
                + show(found(hardware, models)), args.output)


def generate_optimization_patches(args, hardware, models) -> None:
    from hwcov.bench import patches

    table = found(hardware, models)
    folder = Path(args.output or DEFAULT_FOLDER)
    written = patches.write(table, folder)
    print(show(table))
    print(f"{len(written)} optimization patches written to {folder}; apply with "
          f"`hwcov --apply-optimization-patches --input {folder}`")


def apply_folder(folder: Path, hardware: list[str]) -> dict:
    from hwcov.bench import cells, patches

    if not folder.is_dir():
        raise UsageError(f"no optimization patches in {folder}; write them with "
                         f"`hwcov --generate-optimization-patches --output {folder}` first")
    table = patches.apply(patches.load(folder), hardware or None)
    for hw, entry in sorted(table.items()):
        print(f"{hw}: optimized variants now {', '.join(cells.variants_for(hw, 'optimized'))} "
              f"(patched: {', '.join(entry['variants'])}; precisions {', '.join(entry['precisions'])})")
    print(f"recorded in {cells.applied_patches_path()}; measure with `hwcov --validate-optimizations`")
    return table


def apply_optimization_patches(args, hardware, models) -> None:
    apply_folder(Path(args.input or DEFAULT_FOLDER), hardware)


def apply_optimizations(args, hardware, models) -> None:
    """Identify, write and apply in one step for --model on --hardware (the seed's "apply optimizations" between
    its baseline and optimized benchmarks)."""
    from hwcov.bench import cells, patches

    reasons = [not_passing(hw, models) for hw in hardware]  # before reading cells: there may be none at all
    table = found(hardware, models) if not all(reasons) else None
    if table is None or table.empty:
        why = "; ".join(filter(None, reasons)) or "no variant left to try"
        print(f"nothing to apply: no passing cell of {', '.join(models) or 'any model'} on {', '.join(hardware)} "
              f"to derive an optimization from ({why}); --benchmark-optimized measures templates/benchmarks.yaml's "
              f"optimized variants: " + "; ".join(f"{hw}: {', '.join(cells.variants_for(hw, 'optimized')) or 'none'}"
                                                  for hw in hardware))
        return
    folder = Path(args.input or DEFAULT_FOLDER)
    patches.write(table, folder)
    apply_folder(folder, hardware)


def validate_optimizations(args, hardware, models) -> int:
    """Benchmark each applied patch's variants beside the baseline on their models and precisions, then report
    the measured speedup and parity cost."""
    from hwcov.bench import cells
    from hwcov.reports import analysis
    from hwcov.store import database as store

    applied = {hw: e for hw, e in cells.applied_patches().items() if not hardware or hw in hardware}
    if not applied:
        raise UsageError("no optimization patches applied" + (f" for {', '.join(hardware)}" if hardware else "") +
                         f"; run `hwcov --apply-optimization-patches --input {DEFAULT_FOLDER}/` first")
    given_precisions = args.precisions
    for hw, entry in sorted(applied.items()):
        variants = [*cells.variants_for(hw, "baseline"), *entry["variants"]]
        args.precisions = given_precisions or ",".join(entry["precisions"])
        code = run_benchmark(args, [hw], models or entry["models"], "all", variants)
        if code:
            return code
    with output.connect() as con:
        bench = store.read_table(con, "benchmark_results")
    chosen = models or sorted({m for e in applied.values() for m in e["models"]})
    bench = bench[bench["hardware"].isin(applied) & (bench["model_type"].isin(chosen) if chosen else True)]
    output.emit(analysis.optimization_impact(bench), args.output)
    return 0


def optimize(name: str, text: str, run, **needs) -> Verb:
    return Verb(name, "optimize", text, run, sweeps=False, **needs)


VERBS = [
    optimize("identify_optimizations", "variants and precisions worth measuring, from the stored benchmark cells",
             identify_optimizations),
    optimize("generate_optimization_patches", "one patch file (YAML: hardware, variant, precisions, models, "
             "evidence) per opportunity, in --output (default optimization_patches/)", generate_optimization_patches),
    optimize("apply_optimization_patches", "validate the patches in --input and add their variants to what "
             "--benchmark-optimized measures (templates/optimization_patches.yaml)", apply_optimization_patches,
             reads_db=False),
    optimize("validate_optimizations", "benchmark the applied variants beside the baseline; speedup and parity "
             "cost per cell", validate_optimizations),
    optimize("apply_optimizations", "identify, write and apply patches for --model on --hardware in one step",
             apply_optimizations, hardware="some"),
]
