"""Coverage: the architecture x hardware matrix, pass rates, and a markdown report."""
from __future__ import annotations

import time

import pandas as pd

from hwcov.core.schema import EXTRA_MODES


def coverage_matrix(inventory: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """One row per (architecture, hardware with results): the cell's status ('untested' if none)."""
    hardware = sorted(results["hardware"].unique()) if len(results) else []
    base = inventory[["model_type", "category", "family", "priority"]]
    cells = base.merge(pd.DataFrame({"hardware": pd.Series(hardware, dtype=object)}), how="cross")
    latest = results.sort_values("test_timestamp").drop_duplicates(["model_type", "hardware"], keep="last")
    cells = cells.merge(latest[["model_type", "hardware", "status", "error_pattern"]],
                        on=["model_type", "hardware"], how="left")
    cells["status"] = cells["status"].fillna("untested")
    cells["error_pattern"] = cells["error_pattern"].fillna("")
    return cells.reset_index(drop=True)


def pass_rates(cells: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    g = cells.assign(passed=cells["status"].eq("pass")).groupby(by)
    out = g.agg(architectures=("model_type", "nunique"), cells=("status", "size"), passed=("passed", "sum"))
    out["pass_rate"] = (out["passed"] / out["cells"]).round(4)
    return out.reset_index()


def discrimination(results: pd.DataFrame) -> dict:
    """What the CPU fp32 passes prove (hwcov/models/signal.py): how many references are mutation-sensitive in every
    block that runs (the kill rate), which have inert blocks, how many hold blocks their forward never calls, how
    many cases were degenerate, and how many passes anywhere were judged on part of their outputs."""
    if "mutation_sensitivity" not in results:
        return {}
    cpu = results[(results["hardware"] == "cpu") & (results["precision"] == "fp32")]
    passed = cpu[cpu["status"] == "pass"]
    measured = passed[passed["mutation_sensitivity"].notna()]
    inert = measured[measured["inert_blocks"].fillna("").str.len() > 0]
    partial = results[(results["status"] == "pass") & (results["uninformative_outputs"].fillna("").str.len() > 0)]
    return {"cpu_passes": len(passed), "sensitivity_measured": len(measured),
            "every_block_sensitive": len(measured) - len(inert),
            "kill_rate": round((len(measured) - len(inert)) / len(measured), 4) if len(measured) else float("nan"),
            "with_inert_blocks": sorted(inert["model_type"]),
            "with_unused_blocks": int((passed["unused_blocks"].fillna("").str.len() > 0).sum()),
            "degenerate_reference": int((cpu["error_pattern"] == "degenerate_reference").sum()),
            "passes_judged_on_part_of_their_outputs": len(partial)}


def mode_cells(inventory: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """Cells like coverage_matrix's for each mode a runtime measured: hardware '<hw> · <mode>', status the mode's
    verdict, one per architecture whose fp32 forward passed there (a mode is judged only after one)."""
    frames = []
    fp32 = results[(results["precision"] == "fp32") & (results["batch_size"] == 1)] if len(results) else results
    for mode in EXTRA_MODES:
        column = f"{mode}_status"
        if column not in fp32:
            continue
        part = fp32[fp32[column].fillna("") != ""].sort_values("test_timestamp") \
            .drop_duplicates(["model_type", "hardware"], keep="last")
        frames.append(pd.DataFrame({"model_type": part["model_type"], "hardware": part["hardware"] + f" · {mode}",
                                    "status": part[column]}))
    if not frames:
        return pd.DataFrame(columns=["model_type", "category", "family", "priority", "hardware", "status"])
    cells = pd.concat(frames, ignore_index=True)
    return inventory[["model_type", "category", "family", "priority"]].merge(cells, on="model_type")


def stages(results: pd.DataFrame) -> pd.DataFrame:
    """Where each runtime loses architectures, per hardware: of the CPU fp32 passes, how many it reached, ran (a
    verdict on outputs), matched at the export shape (the fp32 forward), had their graph checked at other shapes
    (the `dynamic` mode) and matched there, or could only run at the export shape (static_only); and of those that
    didn't match there, how many still ran right at the export's batch with longer lengths (the mode's probe: fixed in
    their batch, a VLM's image count, yet free in their text length), never counted as matching."""
    from hwcov.backends.dynamic import PROBE

    if results.empty or "dynamic_status" not in results:
        return pd.DataFrame()
    cpu = set(results[(results["hardware"] == "cpu") & (results["precision"] == "fp32")
                      & (results["status"] == "pass")]["model_type"])
    fp32 = results[(results["precision"] == "fp32") & (results["batch_size"] == 1)
                   & results["model_type"].isin(cpu) & (results["hardware"] != "cpu")]
    rows = []
    for hardware, part in fp32.groupby("hardware"):
        dyn = part["dynamic_status"].fillna("")
        shapes = part["dynamic_shapes"].fillna("") if "dynamic_shapes" in part else pd.Series("", index=part.index)
        rows.append({"hardware": hardware, "cpu_fp32_passes": len(cpu), "reached": part["model_type"].nunique(),
                     "ran": int(part["status"].isin(["pass", "fail_accuracy"]).sum()),
                     "match_export_shape": int((part["status"] == "pass").sum()),
                     "other_shapes_checked": int(dyn.isin(["pass", "static_only", "shape_mismatch", "fail_accuracy",
                                                           "fail_to_run"]).sum()),
                     "match_other_shapes": int((dyn == "pass").sum()), "static_only": int((dyn == "static_only").sum()),
                     "free_in_length_only": int(((dyn != "pass") & shapes.str.contains(PROBE + " pass",
                                                                                     regex=False)).sum())})
    return pd.DataFrame(rows)


def cell(value) -> str:
    """A stored value as markdown table text: data, never markup (a folder name may hold `|`, `<` or a newline)."""
    text = " ".join(str(value).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_none_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def checkpoint_matrix(checkpoints: pd.DataFrame) -> pd.DataFrame:
    """Users' checkpoints (hwcov.checkpoint_results): a row per checkpoint and hardware, a column per precision holding
    the status and, where it ran, the max relative error against the checkpoint's own CPU fp32 reference."""
    if checkpoints is None or checkpoints.empty:
        return pd.DataFrame(columns=["checkpoint", "model_type", "inputs", "hardware"])
    df = checkpoints.copy()
    rel = df["max_rel_error"].map(lambda x: "" if x != x else f" ({x:.1e})")
    df["cell"] = df["status"] + rel.where(df["status"].isin(["pass", "fail_accuracy"]), "")
    wide = df.pivot_table(index=["checkpoint", "model_type", "input_source", "hardware"], columns="precision",
                          values="cell", aggfunc="first", fill_value="-").reset_index()
    order = [p for p in ("fp32", "fp16", "bf16", "int8") if p in wide.columns]
    return wide.rename(columns={"input_source": "inputs"})[["checkpoint", "model_type", "inputs", "hardware", *order]]


def markdown(inventory: pd.DataFrame, results: pd.DataFrame, checkpoints: pd.DataFrame | None = None) -> str:
    cells = coverage_matrix(inventory, results)
    status_counts = cells.pivot_table(index="hardware", columns="status", values="model_type",
                                      aggfunc="count", fill_value=0).reset_index() if len(cells) else cells
    failures = results[~results["status"].isin(["pass", "skipped_known", "unavailable", "not_applicable"])]
    patterns = failures.groupby(["hardware", "error_pattern"]).size().reset_index(name="count") \
        .sort_values("count", ascending=False) if len(failures) else failures
    gaps = cells[cells["status"] != "pass"].sort_values(["priority", "category", "model_type"])
    parts = [
        "# hwcov coverage report\n",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S')} — {inventory['model_type'].nunique()} architectures, "
        f"{len(results)} results on {results['hardware'].nunique() if len(results) else 0} hardware.\n",
        "## Status per hardware\n", table(status_counts),
        "## Pass rate by hardware\n", table(pass_rates(cells, ["hardware"])),
        "## Pass rate by category\n", table(pass_rates(cells, ["hardware", "category"])),
        "## Pass rate by family\n", table(pass_rates(cells, ["hardware", "family"])),
        "## Failures by error pattern\n", table(patterns),
        "## Stages per runtime (of the CPU fp32 passes; other shapes: the dynamic mode of exported runtimes)\n",
        table(stages(results)),
        "## What a pass proves (CPU fp32 references)\n",
        table(pd.DataFrame([{k: (", ".join(v) if isinstance(v, list) else v)
                             for k, v in discrimination(results).items()}])),
        "## Gaps by priority (seed phases; 1 = highest)\n",
        table(gaps[["priority", "model_type", "category", "hardware", "status", "error_pattern"]].head(200)),
    ]
    if checkpoints is not None and len(checkpoints):
        parts += ["## Your checkpoints (trained weights; status and max relative error vs their CPU fp32 reference)\n",
                  table(checkpoint_matrix(checkpoints))]
    return "\n".join(parts)
