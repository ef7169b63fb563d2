"""Data-quality checks on run results: pure functions returning (passed, description, details)."""
from __future__ import annotations

import pandas as pd

KEY = ["model_type", "hardware", "precision", "batch_size"]
EVIDENCE = ["device_name", "runtime_version", "output_checksum"]


def no_duplicate_rows(df: pd.DataFrame) -> tuple[bool, str, dict]:
    dup = df[df.duplicated(KEY, keep=False)]
    return dup.empty, f"{len(dup)} rows share a (model_type, hardware, precision, batch) key", \
        {"duplicates": sorted(set(dup["model_type"]))[:20]}


def pass_has_evidence(df: pd.DataFrame) -> tuple[bool, str, dict]:
    passed = df[df["status"] == "pass"]
    bare = passed[(passed[EVIDENCE].fillna("").astype(str).apply(lambda c: c.str.strip()) == "").any(axis=1)]
    return bare.empty, f"{len(bare)} pass rows lack device_name, runtime_version or output_checksum", \
        {"without_evidence": sorted(set(bare["model_type"]))[:20]}


def inventory_complete(df: pd.DataFrame, inventory_types: set[str]) -> tuple[bool, str, dict]:
    """Every inventory architecture has a row in each hardware partition present in df."""
    missing = {hw: sorted(inventory_types - set(part["model_type"])) for hw, part in df.groupby("hardware")}
    missing = {hw: m for hw, m in missing.items() if m}
    count = sum(len(m) for m in missing.values())
    return not missing, f"{count} inventory architectures missing", {hw: m[:20] for hw, m in missing.items()}


def pass_rate_not_dropping(rates: dict[str, float], previous: dict[str, float],
                           threshold: float = 0.02) -> tuple[bool, str, dict]:
    """Pass rate per hardware may not fall more than `threshold` below the previous materialization's."""
    drops = {hw: round(previous[hw] - r, 4) for hw, r in rates.items() if hw in previous and previous[hw] - r > threshold}
    return not drops, f"pass rate fell by more than {threshold:.0%} on {len(drops)} hardware", {"drops": drops}


def pass_rates(df: pd.DataFrame) -> dict[str, float]:
    return {hw: round(float((part["status"] == "pass").mean()), 4) for hw, part in df.groupby("hardware")}
