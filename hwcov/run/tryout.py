"""`python -m hwcov.run.tryout MODEL [MODEL ...]`: the template author's loop, without Dagster or a database.

Renders each architecture's generated test into a scratch folder, evaluates it in this process on one
hardware (the same code the sweep and the generated file run) and prints status, message and, with
--traceback, where it failed. Nothing is stored: rerun after editing templates/ until it passes.
"""
from __future__ import annotations

import argparse
import math
import tempfile
import traceback
from pathlib import Path

from hwcov.core.schema import EXTRA_MODES


def evaluate(model_type: str, out_dir: Path, hardware: str, batch: int, reference_dir: Path) -> dict:
    from hwcov.cases import generate
    from hwcov.models import inventory
    from hwcov.run import sweep

    arch = inventory.by_type()[model_type]
    path = out_dir / generate.filename(model_type)
    path.write_text(generate.render(arch)[0], encoding="utf-8")
    return sweep.test_class(sweep.load_module(str(path))).evaluate(hardware, "fp32", batch, reference_dir)


def what_it_proves(row: dict) -> str:
    """The cpu row's signal and mutation evidence (issue 24), for a template author fixing a tiny config: how far the
    weakest block moves the outputs, which blocks are inert or unused, which outputs carried no signal."""
    parts = []
    weakest = row.get("mutation_sensitivity")
    if isinstance(weakest, float) and weakest == weakest:
        parts.append(f"weakest block moves the outputs by {weakest:.3g} tightest bounds")
    for key, label in (("inert_blocks", "inert"), ("unused_blocks", "unused"), ("uninformative_outputs", "no signal")):
        if row.get(key):
            parts.append(f"{label}: {str(row[key])[:400]}")
    return "; ".join(parts)


def mode_verdicts(row: dict) -> str:
    """An exported runtime's verdicts beyond the forward (issue 25): each mode's status, its shapes or first divergent
    step, and its message when it did not pass."""
    parts = []
    for mode in EXTRA_MODES:
        status = row.get(f"{mode}_status")
        if not status:
            continue
        step = row.get("generate_first_divergence")
        stepped = isinstance(step, (int, float)) and not math.isnan(step) and status != "pass"
        detail = row.get("dynamic_shapes") if mode == "dynamic" else (f"first divergent step {step}" if stepped else "")
        message = row.get(f"{mode}_message") if status != "pass" else ""
        parts.append(" ".join(str(p)[:300] for p in (f"{mode} {status}", detail, message) if p))
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hwcov.run.tryout", description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="model types (e.g. sam llama4)")
    p.add_argument("--hardware", default="cpu")
    p.add_argument("--batch", default="1", help="comma-separated batch sizes (default 1)")
    p.add_argument("--traceback", action="store_true", help="print the traceback of failures")
    args = p.parse_args(argv)
    from hwcov.models import inventory

    known = inventory.by_type()
    unknown = [m for m in args.models if m not in known]
    if unknown:
        p.error(f"unknown model type(s): {', '.join(unknown)}")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="hwcov-tryout-") as tmp:
        for model_type in args.models:
            for batch in (int(b) for b in args.batch.split(",")):
                try:
                    row = evaluate(model_type, Path(tmp), args.hardware, batch, Path(tmp) / "reference")
                except Exception as exc:  # a broken template shows as a failure here, not a crash of the loop
                    row = {"status": "error", "error_message": f"{type(exc).__name__}: {exc}",
                           "traceback": traceback.format_exc(limit=-14)}
                failed += row["status"] != "pass"
                print(f"{model_type:40s} b{batch} {row['status']:14s} {row.get('inputs', '')} "
                      f"{(row.get('error_message') or '')[:300]}", flush=True)
                for said in (what_it_proves(row), mode_verdicts(row)):
                    if said:
                        print(f"{'':40s}    {said}", flush=True)
                if args.traceback and row["status"] != "pass" and row.get("traceback"):
                    print(row["traceback"])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
