"""The export verbs: run results as CSV/Parquet/JSON with the contract's columns first, the inventory as JSON,
model-type subsets per category and priority. Each writes --output (validated before anything runs).
"""
from __future__ import annotations

import json
from pathlib import Path

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.core.schema import EXPORT_COLUMNS


def export_results(args, hardware, models) -> None:
    target = Path(args.output)
    df = output.results().sort_values(["hardware", "model_type", "precision", "batch_size"])
    df = df[EXPORT_COLUMNS + [c for c in df.columns if c not in EXPORT_COLUMNS]]
    target.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "csv":
        df.to_csv(target, index=False)
    elif args.format == "parquet":
        df.to_parquet(target, index=False)
    else:
        df.to_json(target, orient="records", indent=1, date_format="iso")
    print(f"exported {len(df)} rows to {target}")


def list_all_models(args, hardware, models) -> None:
    inv = output.inventory().sort_values("model_type")
    inv.to_json(args.output, orient="records", indent=1)
    print(f"{len(inv)} architectures written to {args.output}")


def create_model_subsets(args, hardware, models) -> None:
    """JSON lists of model types: one per category, per priority, and the seed's `high_priority` (1-2)."""
    inv = output.inventory()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    subsets = {f"category_{c}": g for c, g in inv.groupby("category")}
    subsets |= {f"priority_{p}": g for p, g in inv.groupby("priority")}
    subsets["high_priority"] = inv[inv["priority"] <= 2]
    for name, group in subsets.items():
        (out / f"{name}.json").write_text(json.dumps(sorted(group["model_type"]), indent=1))
    print(f"{len(subsets)} subsets written to {out}")


VERBS = [
    Verb("export_results", "export", "run results to --output (see --format)", export_results, needs_output=True),
    Verb("list_all_hf_models", "export", "the inventory as JSON to --output", list_all_models, needs_output=True),
    Verb("create_model_subsets", "export",
         "model-type lists per category and priority, as JSON files in the --output folder", create_model_subsets,
         needs_output=True),
]
