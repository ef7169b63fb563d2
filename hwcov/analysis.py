"""The seed's analysis verbs: pure functions from the stored tables to text (markdown)."""
from __future__ import annotations

import pandas as pd

from hwcov import patterns, report

NOT_FAILURES = set(patterns.NOT_FAILURES)


def failures(results: pd.DataFrame) -> pd.DataFrame:
    return results[~results["status"].isin(NOT_FAILURES)]


def analyze_coverage(inventory: pd.DataFrame, results: pd.DataFrame) -> str:
    cells = report.coverage_matrix(inventory, results)
    gaps = cells[cells["status"] != "pass"].groupby(["priority", "category"]).size().reset_index(name="gaps")
    return "\n".join([
        "# Coverage analysis\n", "## Pass rate by hardware\n", report.table(report.pass_rates(cells, ["hardware"])),
        "## Pass rate by hardware and category\n", report.table(report.pass_rates(cells, ["hardware", "category"])),
        "## Gaps by priority and category (1 = highest)\n", report.table(gaps.sort_values(["priority", "gaps"],
                                                                                      ascending=[True, False])),
    ])


def analyze_failures(results: pd.DataFrame) -> str:
    """Patterns across all hardware with their explanation, suggested fix and examples."""
    rows = patterns.summarize(results.to_dict("records"))
    if not rows:
        return "# Failure analysis\n\nNo failures recorded.\n"
    merged: dict[str, dict] = {}
    for r in rows:
        m = merged.setdefault(r["pattern"], {**r, "count": 0, "hardware": set(), "models": set()})
        m["count"] += r["count"]
        m["hardware"].add(r["hardware"])
        m["models"].update(r["model_types"].split(","))
    out = ["# Failure analysis\n"]
    for name, m in sorted(merged.items(), key=lambda kv: -kv[1]["count"]):
        models = sorted(m["models"])
        out += [f"## {name} — {m['count']} failures ({m['category']})\n",
                f"- Hardware: {', '.join(sorted(m['hardware']))}",
                f"- Why: {m['explanation']}", f"- Fix: {m['suggested_fix'] or 'add a catalog entry'}",
                f"- Architectures ({len(models)}): {', '.join(models[:30])}{' …' if len(models) > 30 else ''}",
                f"- Example: `{m['example'][:240]}`\n"]
    return "\n".join(out)


def group_failures(results: pd.DataFrame) -> str:
    f = failures(results)
    if f.empty:
        return "# Failures by pattern and hardware\n\nNo failures recorded.\n"
    grid = f.pivot_table(index="error_pattern", columns="hardware", values="model_type", aggfunc="count",
                         fill_value=0)
    grid["total"] = grid.sum(axis=1)
    return "# Failures by pattern and hardware\n\n" + report.table(grid.sort_values("total", ascending=False)
                                                                  .reset_index())


def hardware_failure_analysis(results: pd.DataFrame, reference: str = "cpu") -> str:
    """Failures specific to a hardware: the architecture passes on the reference hardware but not there."""
    ok = set(results[(results["hardware"] == reference) & (results["status"] == "pass")]["model_type"])
    f = failures(results)
    specific = f[(f["hardware"] != reference) & f["model_type"].isin(ok)]
    out = [f"# Hardware-specific failures (architectures that pass on {reference})\n"]
    if specific.empty:
        return "\n".join(out + ["None recorded.\n"])
    counts = specific.groupby(["hardware", "error_pattern"]).agg(
        failures=("model_type", "size"), architectures=("model_type", lambda s: ", ".join(sorted(s)[:12])))
    return "\n".join(out + [report.table(counts.reset_index().sort_values("failures", ascending=False))])


def analyze_trends(history: pd.DataFrame) -> str:
    if history.empty:
        return "# Coverage trends\n\nNo snapshots yet: each coverage_report materialization adds one.\n"
    per = history.groupby(["snapshot_at", "hardware"]).agg(passed=("passed", "sum"), cells=("architectures", "sum"))
    per["pass_rate"] = (per["passed"] / per["cells"]).round(4)
    per = per.reset_index().sort_values(["hardware", "snapshot_at"])
    per["change"] = per.groupby("hardware")["pass_rate"].diff().round(4).fillna(0.0)
    return "# Coverage trends\n\n" + report.table(per)


def coverage_plan(inventory: pd.DataFrame, results: pd.DataFrame) -> str:
    """Which template fix unblocks most, highest priority first."""
    f = failures(results).merge(inventory[["model_type", "priority"]], on="model_type", how="left")
    info = {p["name"]: p for p in patterns.catalog()}
    out = ["# Coverage plan\n", "Fix patterns in this order: highest-priority architectures first, then the "
           "number of architectures a single template change unblocks.\n"]
    if f.empty:
        return "\n".join(out + ["Nothing to fix: no failures recorded.\n"])
    ranked = f.groupby("error_pattern").agg(best_priority=("priority", "min"), architectures=("model_type", "nunique"),
                                            families=("family", "nunique")).reset_index()
    ranked = ranked.sort_values(["best_priority", "architectures"], ascending=[True, False])
    for i, r in enumerate(ranked.itertuples(), 1):
        members = f[f["error_pattern"] == r.error_pattern].sort_values(["priority", "model_type"])
        fix = info.get(r.error_pattern, {}).get("fix", "Add a catalog entry in templates/error_patterns.yaml.")
        out += [f"## {i}. {r.error_pattern}: {r.architectures} architectures in {r.families} families "
                f"(best priority {r.best_priority})\n", f"- Template change: {fix}",
                f"- Start with: {', '.join(members['model_type'].drop_duplicates().head(10))}",
                f"- Families: {', '.join(sorted(members['family'].unique()))}\n"]
    return "\n".join(out)


def estimate_effort(results: pd.DataFrame) -> str:
    """One template change per (pattern, family) is the unit of work: count them."""
    f = failures(results)
    if f.empty:
        return "# Effort estimate\n\nNo failures recorded: no template changes needed.\n"
    units = f.groupby(["error_pattern", "family"]).agg(architectures=("model_type", "nunique")).reset_index()
    per = units.groupby("error_pattern").agg(template_changes=("family", "size"),
                                             architectures=("architectures", "sum")).reset_index()
    per["architectures_per_change"] = (per["architectures"] / per["template_changes"]).round(2)
    return ("# Effort estimate\n\nUnit of work: one template/override change for one family and pattern.\n\n"
            f"Total: {len(units)} changes for {f['model_type'].nunique()} failing architectures.\n\n"
            + report.table(per.sort_values("architectures_per_change", ascending=False)))


def error_resolution_guide(results: pd.DataFrame) -> str:
    f = failures(results)
    out = ["# Error resolution guide\n"]
    for p in patterns.catalog():
        members = f[f["error_pattern"] == p["name"]]
        out += [f"## {p['name']} ({p['category']})\n", f"Seen: {len(members)} failures"
                + (f" on {', '.join(sorted(members['hardware'].unique()))}" if len(members) else "") + "\n",
                f"**Why**: {p['explanation']}\n", f"**Fix**: {p['fix']}\n", f"**Matches**: `{p['regex']}`\n"]
        for msg in members["error_message"].drop_duplicates().head(3):
            out.append(f"> {msg[:300]}\n")
    return "\n".join(out)


def validation_report(results: pd.DataFrame, model_type: str) -> str:
    rows = results[results["model_type"] == model_type]
    cols = ["hardware", "precision", "batch_size", "status", "max_abs_diff", "tolerance", "device_name",
            "runtime_version", "output_checksum", "error_pattern"]
    return f"# Validation report: {model_type}\n\n" + report.table(rows[cols].sort_values(["hardware", "precision"]))
