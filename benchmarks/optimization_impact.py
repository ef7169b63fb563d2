"""Speedup and parity cost of every optimization variant, measured with interleaved repetitions.

    HF_HUB_OFFLINE=1 python benchmarks/optimization_impact.py [--model bert] [--hardware cpu,onnxruntime,openvino]
        [--batch 1] [--seq 128] [--repeats 3] [--min-duration 1.0]

For each hardware, the baseline and each optimized variant (templates/benchmarks.yaml) are measured in turn,
`--repeats` rounds (ABAB..., as the TorchInductor HF suite interleaves, so drift on a shared machine hits every
variant alike), each cell in a fresh forked worker with 1 thread through hwcov.bench.cells.run_cell. Prints, per
variant, the median p50 over rounds, the speedup against the baseline's median p50 and the max |diff| against
the CPU fp32 reference.
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics


def run_variant(case, precision: str, batch: int, seq: int, min_duration: float, export_dir, task) -> dict:
    """One round of one (hardware, variant) cell, in its worker (module level: the case fork server pickles it)."""
    from hwcov.bench import cells as benchmark

    hw, variant, _ = task
    return benchmark.run_cell(case, hw, precision, batch, seq, min_duration, variant=variant, export_dir=export_dir)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="bert")
    p.add_argument("--hardware", default="cpu,onnxruntime,openvino")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--min-duration", type=float, default=1.0)
    p.add_argument("--export-dir", default=".hwcov/exports")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from hwcov.bench import cells as benchmark
    from hwcov.cases import generate
    from hwcov.models import inventory
    from hwcov.run.runner import Limits, preload, run_isolated

    case = generate.case_for(inventory.by_type()[args.model])
    hardware = [h for h in args.hardware.split(",") if h]
    tasks = [(hw, v, r) for r in range(args.repeats) for hw in hardware for v in benchmark.variants_for(hw, "all")]
    results: dict = {}

    def on_result(task, row, seconds):
        results.setdefault(task[:2], []).append(row)

    preload()
    run_one = functools.partial(run_variant, case, args.precision, args.batch, args.seq, args.min_duration,
                                args.export_dir)
    run_isolated(tasks, run_one, on_result, Limits(workers=1, timeout_s=900, memory_mb=0, torch_threads=1))
    print(f"{args.model} {args.precision} batch {args.batch} seq {args.seq}; {args.repeats} interleaved rounds; "
          f"machine: {benchmark.machine()}")
    print("| hardware | variant | p50 ms (median of rounds) | p50 per round | speedup vs baseline | max abs diff | status |")
    print("|---|---|---|---|---|---|---|")
    for hw in hardware:
        names = benchmark.variants_for(hw, "all")
        medians = {}
        for v in names:
            rows = results.get((hw, v), [])
            ok = [r["p50_ms"] for r in rows if r.get("status") == "pass"]
            medians[v] = statistics.median(ok) if ok else float("nan")
        for v in names:
            rows = results.get((hw, v), [])
            ok = [r for r in rows if r.get("status") == "pass"]
            status = ok[0]["status"] if ok else (rows[0].get("status", "?") + ": " + rows[0].get("error_message", "")[:120]
                                                 if rows else "no result")
            diff = max((r["max_abs_diff"] for r in ok), default=float("nan"))
            rounds = ", ".join(f"{r['p50_ms']:.4f}" for r in ok)
            print(f"| {hw} | {v}{' (baseline)' if v == names[0] else ''} | {medians[v]:.4f} | "
                  f"{rounds} | {medians[names[0]] / medians[v]:.3f} | "
                  f"{diff:.3g} | {status} |")


if __name__ == "__main__":
    main()
