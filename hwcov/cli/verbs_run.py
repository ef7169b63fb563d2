"""The run verbs: `--hardware` / `--all` (sweep, then a summary line per hardware, precision and batch),
`--ci-mode` (exit 1 on a regression) and `--test-by-popularity` (choose the models, then sweep).

The runs themselves are hwcov.orchestration's (Dagster materializations); this module picks what to run and prints
what came of it.
"""
from __future__ import annotations

import sys

from hwcov.cli import output
from hwcov.cli.validate import Chosen, validate
from hwcov.core import paths
from hwcov.core.errors import UsageError

PRECISION_ORDER = ("fp32", "fp16", "bf16", "int8")


def timeout(args) -> float:
    """--timeout, or 0: each hardware's own default."""
    return getattr(args, "timeout", None) or 0.0


def print_summary(hardware: list[str], models: list[str], category: str | None) -> None:
    """One line per (hardware, precision, batch): fp16/int8 run only where fp32 passed, so a rate over all
    precisions would mean nothing."""
    where = [f"hardware IN ({', '.join(repr(h) for h in hardware)})"]
    if models:
        where.append(f"model_type IN ({', '.join(repr(m) for m in models)})")
    if category:
        where.append(f"category = {category!r}")
    df = output.read(f"SELECT hardware, precision, batch_size, status, count(*) AS n FROM hwcov.run_results WHERE "
                     f"{' AND '.join(where)} GROUP BY ALL ORDER BY hardware, batch_size, n DESC")
    order = {p: i for i, p in enumerate(PRECISION_ORDER)}
    cells = sorted(df.groupby(["hardware", "batch_size", "precision"]),
                   key=lambda kv: (kv[0][0], kv[0][1], order.get(kv[0][2], 9), kv[0][2]))
    for (hw, batch, precision), part in cells:
        total = int(part["n"].sum())
        passed = int(part.loc[part["status"] == "pass", "n"].sum())
        detail = ", ".join(f"{s} {n}" for s, n in zip(part["status"], part["n"]))
        label = f"{hw} {precision}" + (f" batch {batch}" if batch != 1 else "")
        print(f"{label}: {passed}/{total} pass ({100 * passed / max(1, total):.1f}%) — {detail}")
    for mode, label, of in (("dynamic", "dynamic shapes", "its fp32 passes"),  # the modes of issue #25
                            ("generate", "generate", "its fp32 passes with a generative head")):
        found = output.read(f"SELECT hardware, {mode}_status AS verdict, count(*) AS n FROM hwcov.run_results WHERE "
                            f"{' AND '.join(where)} AND precision = 'fp32' AND status = 'pass' AND batch_size = 1 "
                            f"AND coalesce({mode}_status, '') <> '' GROUP BY ALL ORDER BY hardware, n DESC")
        for hw, part in found.groupby("hardware"):
            passed, total = int(part.loc[part["verdict"] == "pass", "n"].sum()), int(part["n"].sum())
            detail = ", ".join(f"{s} {n}" for s, n in zip(part["verdict"], part["n"]))
            print(f"{hw} {label}: {passed}/{total} of {of} ({100 * passed / total:.1f}%) — {detail}")
    print(f"database: {paths.db_path()}\nreport:   {paths.artifacts_dir() / 'coverage_report.md'}")


def sweep(args, chosen: Chosen) -> int:
    """Generate the tests (if needed) and run the chosen hardware; a summary when hardware ran. Exit code."""
    from hwcov.orchestration import pipeline

    hardware = chosen.hardware if chosen.runs else []
    if not pipeline.run_pipeline(hardware, chosen.models, args.model_category, force=args.force, resume=args.resume,
                                 workers=args.workers, timeout=timeout(args),
                                 regenerate=args.generate_tests, batch_sizes=chosen.batch_sizes,
                                 precision=args.precision or "", modes=args.modes.split(",")):
        return 1
    if hardware:
        print_summary(hardware, chosen.models, args.model_category)
    return 0


def ci_mode(args) -> int:
    """Run --priority on the hardware present (or --hardware); 1 if a cell that passed no longer does."""
    from hwcov.orchestration import ci

    hardware = validate(args, []).hardware or ci.available_hardware()
    print(f"hwcov ci-mode: priority {args.priority} on {', '.join(hardware)}", file=sys.stderr)
    found = ci.regressions(hardware, args.priority, args.workers, timeout(args))
    if found is None:
        return 1
    if hardware:
        print_summary(hardware, [], None)
    for r in found:
        print(f"REGRESSION {r.model_type} on {r.hardware}: pass -> {r.now}")
    print(f"ci-mode: {len(found)} regressions")
    return 1 if found else 0


def select_by_popularity(args) -> None:
    """--test-by-popularity: the top N ranked architectures of the installed transformers become --model."""
    from hwcov.models import popularity

    if args.model or args.model_category:
        raise UsageError("--test-by-popularity chooses the models itself; drop --model / --model-category")
    from hwcov.models import inventory

    popularity.load()  # a bad ranking file is one line (PopularityError, exit 2), before the inventory loads
    # ranked among the inventory's architectures: what can run (templates/inventory.yaml may narrow it)
    top = popularity.top_models(args.top, {a.model_type for a in inventory.discover()})
    print(f"hwcov: top {len(top)} by popularity ({popularity.describe()}): {', '.join(top)}", file=sys.stderr)
    cached, absent = popularity.cached_checkpoints(top)
    print(f"hwcov: their popular checkpoints in the local Hugging Face cache: {', '.join(cached) or 'none'}"
          + (f"; not cached (never downloaded): {', '.join(absent)}" if absent else ""), file=sys.stderr)
    args.model, args.hardware, args.popular_checkpoints = ",".join(top), args.hardware or "cpu", cached

