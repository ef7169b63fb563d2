"""The export verbs: run results as CSV/Parquet/JSON with the contract's columns first, the inventory as JSON,
model-type subsets per category and priority. Each writes --output (validated before anything runs).

Stored strings stay data: a CSV cell that a spreadsheet would read as a formula (=, +, -, @, tab, CR first) gets a
leading single quote (OWASP; numbers stay numbers), and a file name built from a stored value is a safe slug
inside --output.
"""
from __future__ import annotations

import hashlib
import json
import re
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
        # RFC 4180 line ends: the writer then quotes every cell holding a CR or LF, so none can start a row
        csv_safe(df).to_csv(target, index=False, lineterminator="\r\n")
    elif args.format == "parquet":
        df.to_parquet(target, index=False)
    else:
        df.to_json(target, orient="records", indent=1, date_format="iso")
    print(f"exported {len(df)} rows to {target}")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(df):
    """A copy where every string cell that starts like a spreadsheet formula is prefixed with a single quote."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or str(out[col].dtype).startswith("string"):
            out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return out


def safe_name(value) -> str:
    """A file name part from a stored value: as it is when plain (letters, digits, `_.-`, no leading dot), else a
    slug plus a short hash of the value, so it can't name a folder, a parent or an absolute path."""
    text = str(value)
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}", text) and ".." not in text:
        return text
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:40] or "x"
    return f"{slug}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


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
    root = out.resolve()
    for name, group in subsets.items():
        target = out / f"{safe_name(name)}.json"
        if target.resolve().parent != root:
            raise AssertionError(f"{target} is not inside {out}")
        target.write_text(json.dumps(sorted(group["model_type"]), indent=1))
    print(f"{len(subsets)} subsets written to {out}")


VERBS = [
    Verb("export_results", "database", "run results to --output (see --format)", export_results, needs_output=True),
    Verb("list_all_hf_models", "advanced", "the inventory as JSON to --output", list_all_models, needs_output=True),
    Verb("create_model_subsets", "advanced",
         "model-type lists per category and priority, as JSON files in the --output folder", create_model_subsets,
         needs_output=True),
]
