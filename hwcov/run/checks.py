"""Data-quality checks on run results: pure functions returning (passed, description, details)."""
from __future__ import annotations

import pandas as pd

KEY = ["model_type", "hardware", "precision", "batch_size"]
CHECKPOINT_KEY = ["checkpoint", *KEY]  # two checkpoints of one architecture are two rows
EVIDENCE = ["device_name", "runtime_version", "output_checksum"]


def no_duplicate_rows(df: pd.DataFrame, key: list[str] = KEY) -> tuple[bool, str, dict]:
    dup = df[df.duplicated(key, keep=False)]
    return dup.empty, f"{len(dup)} rows share a ({', '.join(key)}) key", \
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
    """Pass rate per cell (hardware/precision/batch) may not fall more than `threshold` below the previous
    materialization's."""
    drops = {k: round(previous[k] - r, 4) for k, r in rates.items() if k in previous and previous[k] - r > threshold}
    return not drops, f"pass rate fell by more than {threshold:.0%} in {len(drops)} hardware/precision/batch cells", \
        {"drops": drops}


def rate_key(hardware: str, precision: str, batch: int) -> str:
    return f"{hardware}/{precision}/{int(batch)}"


def pass_rates(df: pd.DataFrame) -> dict[str, float]:
    """Pass rate per (hardware, precision, batch): fp16/int8 run only where fp32 passed, so one rate over
    all precisions would move with the mix, not with the results."""
    return {rate_key(*k): round(float((part["status"] == "pass").mean()), 4)
            for k, part in df.groupby(["hardware", "precision", "batch_size"])}
