"""The seed's analysis verbs: pure functions from the stored tables to text (markdown)."""
from __future__ import annotations

import pandas as pd

from hwcov.reports import report
from hwcov.run import patterns

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


# -- benchmark analyses (hwcov.benchmark_results, hwcov.benchmark_history) ---------------------------------
CELL_KEYS = ["model_type", "precision", "batch_size", "seq_len"]


def _measured(bench: pd.DataFrame, default_only: bool = True) -> pd.DataFrame:
    """Passed cells; by default only each hardware's default variant (what the sweep runs)."""
    from hwcov.bench import cells as benchmark

    ok = bench[bench["status"] == "pass"].copy()
    if default_only and not ok.empty:
        defaults = {hw: (benchmark.variants_for(hw) or [""])[0] for hw in ok["hardware"].unique()}
        ok = ok[ok["variant"] == ok["hardware"].map(defaults)]
    return ok


def _round(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Timings rounded; |diff| and parity columns keep their significant digits (1e-7 is not 0)."""
    return df.round({c: digits for c in df.columns if df[c].dtype.kind == "f" and "diff" not in c
                     and "parity" not in c})


def compare_hardware_performance(bench: pd.DataFrame, reference: str = "cpu") -> str:
    """p50 per cell on every hardware, and each hardware's median speedup over the reference on shared cells."""
    ok = _measured(bench)
    out = ["# Hardware performance comparison\n",
           f"Measured p50 latency (ms) per cell, each hardware's default variant; speedup = {reference} p50 / p50.\n"]
    if ok.empty:
        return "\n".join(out + ["No measured benchmark cells yet: materialize benchmark_results.\n"])
    grid = ok.pivot_table(index=CELL_KEYS, columns="hardware", values="p50_ms", aggfunc="first")
    summary = []
    for hw in grid.columns:
        if reference in grid.columns:
            shared = grid[list(dict.fromkeys([hw, reference]))].dropna()
            speed = shared[reference] / shared[hw]
        else:
            shared, speed = pd.DataFrame(), pd.Series(dtype=float)
        part = ok[ok["hardware"] == hw]
        summary.append({"hardware": hw, "cells": int(grid[hw].notna().sum()),
                        "median_p50_ms": part["p50_ms"].median(), "median_throughput_items_s":
                        part["throughput_items_s"].median(), f"shared_with_{reference}": len(shared),
                        f"median_speedup_vs_{reference}": speed.median() if len(speed) else float("nan"),
                        "faster_cells": int((speed > 1).sum())})
    out += ["## Summary\n", report.table(_round(pd.DataFrame(summary))),
            "## p50 (ms) per cell\n", report.table(_round(grid.reset_index()))]
    return "\n".join(out)


def optimal_hardware(bench: pd.DataFrame) -> str:
    """Per architecture, the hardware (and precision) with the lowest p50 at each batch size; wins per category."""
    ok = _measured(bench)
    out = ["# Optimal hardware per architecture\n",
           "Lowest measured p50 per (architecture, batch size) over hardware and precision (each hardware's default "
           "variant), with its parity cost (max |diff| vs the CPU fp32 reference).\n"]
    if ok.empty:
        return "\n".join(out + ["No measured benchmark cells yet: materialize benchmark_results.\n"])
    seq = ok.groupby("model_type")["seq_len"].transform("min")  # compare at each model's shortest sequence
    ok = ok[ok["seq_len"] == seq]
    best = ok.loc[ok.groupby(["model_type", "batch_size"])["p50_ms"].idxmin()]
    runner_up = ok.groupby(["model_type", "batch_size"])["hardware"].nunique().rename("hardware_measured")
    best = best.join(runner_up, on=["model_type", "batch_size"])
    cols = ["model_type", "category", "batch_size", "seq_len", "hardware", "precision", "p50_ms",
            "throughput_items_s", "max_abs_diff", "hardware_measured"]
    wins = best.groupby(["category", "hardware"]).agg(architectures=("model_type", "nunique"),
                                                       median_p50_ms=("p50_ms", "median")).reset_index()
    return "\n".join(out + ["## Per category: where architectures run fastest\n",
                            report.table(_round(wins.sort_values(["category", "architectures"],
                                                                 ascending=[True, False]))),
                            "## Per architecture\n",
                            report.table(_round(best[cols].sort_values(["model_type", "batch_size"]), 6))])


def batch_scaling(bench: pd.DataFrame) -> str:
    """Throughput per batch size relative to batch 1, and scaling efficiency (1.0 = linear)."""
    ok = _measured(bench, default_only=False)
    out = ["# Batch-size scaling\n", "throughput_x = throughput(batch) / throughput(smallest batch); efficiency = "
           "throughput_x / (batch / smallest batch). Per hardware, precision, sequence length and variant.\n"]
    if ok.empty:
        return "\n".join(out + ["No measured benchmark cells yet: materialize benchmark_results.\n"])
    keys = ["model_type", "hardware", "precision", "seq_len", "variant"]
    ok = ok.sort_values(keys + ["batch_size"])
    first = ok.groupby(keys)[["batch_size", "throughput_items_s"]].transform("first")
    ok["throughput_x"] = ok["throughput_items_s"] / first["throughput_items_s"]
    ok["efficiency"] = ok["throughput_x"] / (ok["batch_size"] / first["batch_size"])
    ok = ok[ok.groupby(keys)["batch_size"].transform("nunique") > 1]
    if ok.empty:
        return "\n".join(out + ["No cell was measured at more than one batch size.\n"])
    per_hw = ok.groupby(["hardware", "batch_size"]).agg(cells=("model_type", "size"),
                                                        median_efficiency=("efficiency", "median")).reset_index()
    cols = keys + ["batch_size", "p50_ms", "throughput_items_s", "throughput_x", "efficiency"]
    return "\n".join(out + ["## Median efficiency per hardware and batch\n", report.table(_round(per_hw)),
                            "## Per cell\n", report.table(_round(ok[cols]))])


def performance_trends(history: pd.DataFrame, threshold: float = 0.10) -> str:
    """Each cell's latest p50 against its previous measurement: REGRESSION when slower by more than `threshold`."""
    out = ["# Performance trends\n", f"Latest p50 of every benchmark cell against its previous measurement "
           f"(hwcov.benchmark_history); REGRESSION when slower by > {threshold:.0%}, IMPROVED when faster by "
           f"> {threshold:.0%}.\n"]
    ok = history[history["status"] == "pass"] if not history.empty else history
    if ok.empty:
        return "\n".join(out + ["No measured benchmark cells yet: materialize benchmark_results.\n"])
    keys = CELL_KEYS[:1] + ["hardware"] + CELL_KEYS[1:] + ["variant"]
    ok = ok.sort_values(keys + ["test_timestamp"])
    ok["previous_p50_ms"] = ok.groupby(keys)["p50_ms"].shift(1)
    ok["previous_at"] = ok.groupby(keys)["test_timestamp"].shift(1)
    ok["runs"] = ok.groupby(keys)["p50_ms"].transform("size")
    latest = ok.groupby(keys).tail(1).copy()
    latest["change_pct"] = 100 * (latest["p50_ms"] / latest["previous_p50_ms"] - 1)
    latest["flag"] = ""
    latest.loc[latest["change_pct"] > 100 * threshold, "flag"] = "REGRESSION"
    latest.loc[latest["change_pct"] < -100 * threshold, "flag"] = "IMPROVED"
    compared = latest[latest["previous_p50_ms"].notna()]
    regressions = compared[compared["flag"] == "REGRESSION"]
    cols = keys + ["runs", "previous_at", "previous_p50_ms", "test_timestamp", "p50_ms", "change_pct", "flag"]
    per_hw = compared.groupby("hardware").agg(cells=("model_type", "size"),
                                              regressions=("flag", lambda s: int((s == "REGRESSION").sum())),
                                              improved=("flag", lambda s: int((s == "IMPROVED").sum())),
                                              median_change_pct=("change_pct", "median")).reset_index()
    return "\n".join(out + [f"{len(regressions)} regressions in {len(compared)} cells measured at least twice "
                            f"({len(latest) - len(compared)} measured once).\n",
                            "## Per hardware\n", report.table(_round(per_hw, 2)),
                            "## Regressions\n", report.table(_round(regressions[cols], 3)),
                            "## Every cell measured at least twice\n", report.table(_round(compared[cols], 3))])


def regressions(history: pd.DataFrame, threshold: float = 0.10) -> pd.DataFrame:
    """The cells whose latest p50 is slower than the previous measurement by more than `threshold`."""
    ok = history[history["status"] == "pass"].sort_values("test_timestamp")
    keys = ["model_type", "hardware", "precision", "batch_size", "seq_len", "variant"]
    ok = ok.assign(previous=ok.groupby(keys)["p50_ms"].shift(1))
    latest = ok.groupby(keys).tail(1)
    return latest[latest["p50_ms"] > latest["previous"] * (1 + threshold)]


def optimization_impact(bench: pd.DataFrame) -> str:
    """Each variant against its hardware's baseline variant on the same cell: measured speedup and parity cost."""
    from hwcov.bench import cells as benchmark

    ok = bench[bench["status"] == "pass"]
    out = ["# Optimization impact\n", "speedup = baseline p50 / variant p50 on the same cell (hardware, precision, "
           "batch, sequence); parity cost = the variant's max |diff| against the CPU fp32 reference (and its change "
           "from the baseline's).\n"]
    rows = []
    for hw, part in ok.groupby("hardware"):
        base_name = (benchmark.variants_for(hw, "baseline") or [""])[0]
        base = part[part["variant"] == base_name].set_index(CELL_KEYS)
        for variant, vpart in part[part["variant"] != base_name].groupby("variant"):
            for r in vpart.itertuples(index=False):
                key = tuple(getattr(r, k) for k in CELL_KEYS)
                if key not in base.index:
                    continue
                b = base.loc[key]
                b = b.iloc[0] if isinstance(b, pd.DataFrame) else b
                rows.append({"model_type": r.model_type, "hardware": hw, "precision": r.precision,
                             "batch_size": r.batch_size, "seq_len": r.seq_len, "baseline": base_name,
                             "variant": variant, "baseline_p50_ms": b["p50_ms"], "variant_p50_ms": r.p50_ms,
                             "speedup": b["p50_ms"] / r.p50_ms, "baseline_max_abs_diff": b["max_abs_diff"],
                             "variant_max_abs_diff": r.max_abs_diff,
                             "parity_cost": r.max_abs_diff - b["max_abs_diff"]})
    skipped = bench[(bench["status"] != "pass") & bench["variant"].ne("")]
    if not rows:
        out.append("No variant measured beside its baseline: run `hwcov --benchmark-baseline` and "
                   "`hwcov --benchmark-optimized` for a --model on a --hardware first.\n")
    else:
        df = pd.DataFrame(rows)
        per = df.groupby(["hardware", "variant"]).agg(cells=("speedup", "size"), median_speedup=("speedup", "median"),
                                                      min_speedup=("speedup", "min"), max_speedup=("speedup", "max"),
                                                      worst_parity=("variant_max_abs_diff", "max")).reset_index()
        out += ["## Per variant\n", report.table(_round(per, 4)), "## Per cell\n",
                report.table(_round(df.sort_values(["hardware", "model_type", "variant", "batch_size"]), 6))]
    if not skipped.empty:
        cols = ["model_type", "hardware", "precision", "batch_size", "variant", "status", "error_message"]
        out += ["## Variants that did not run\n",
                report.table(skipped[cols].assign(error_message=skipped["error_message"].str[:200]))]
    return "\n".join(out)
