"""Generator updates as the seed guide names them: a modality's or family's templates repaired as one update, its
effect checked later, the generators' effectiveness, and the repair plan written out as patch files.

Why beside loop.py: the loop tries one catalog recipe at a time; a seed verb (`--update-modality-templates audio`)
asks for the loop over exactly one group of architectures and for one before/after line about that group. This
module measures the group's pass rate around the loop and records it in hwcov.generator_updates with the loop's own
store helper; the rerun itself stays the caller's (the cli passes the Dagster pipeline's).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

from hwcov.core import paths
from hwcov.repair import loop
from hwcov.store import database as store


def rates(hardware: list[str], models: list[str]) -> dict[str, float]:
    with store.connect(paths.db_path(), read_only=True) as con:
        return {hw: store.pass_rate(con, hw, models) for hw in hardware}


def group_update(name: str, hardware: list[str], models: list[str],
                 run_loop: Callable[[list[str], list[str]], list[dict]]) -> list[dict]:
    """Run the repair loop over `models` on `hardware` and record one generator_updates row per hardware: the
    group's pass rate before and after, and what the loop kept or reverted (it may have found nothing to try)."""
    before = rates(hardware, models)
    trials = run_loop(hardware, models)
    after = rates(hardware, models)
    rows = []
    for hw in hardware:
        mine = [t for t in trials if t["hardware_platform"] == hw]
        kept = sum(bool(t["kept"]) for t in mine)
        what = (f"{len(mine)} catalog fixes tried, {kept} kept" if mine else
                "no stored failure of these architectures has a machine-applicable fix (see --suggest-manual-patches)")
        row = {"generator_name": name, "hardware_platform": hw, "patch_description": f"{name}: {what}",
               "affected_models": len(models), "success_rate_before": before[hw], "success_rate_after": after[hw],
               "model_types": json.dumps(models), "run_id": ""}
        with store.connect(paths.db_path()) as con:
            store.record_generator_update(con, row)
        rows.append(row)
    return rows


def verification(models: list[str] | None = None) -> pd.DataFrame:
    """Every recorded generator update with its architectures' pass rate now: `holds` while it is at least the
    rate the update reached, else `regressed` (something since undid part of it)."""
    with store.connect(paths.db_path(), read_only=True) as con:
        exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'hwcov' "
                             "AND table_name = 'generator_updates'").fetchall()[0][0]
        updates = con.execute("SELECT * FROM hwcov.generator_updates ORDER BY id").df() if exists else None
        if updates is None or updates.empty:
            return pd.DataFrame()
        updates["models"] = updates["model_types"].map(lambda v: json.loads(v or "[]"))
        if models:
            updates = updates[updates["models"].map(lambda ms: bool(set(ms) & set(models)))]
        updates["rate_now"] = [store.pass_rate(con, hw, ms) for hw, ms in zip(updates["hardware_platform"],
                                                                                 updates["models"])]
    updates["verdict"] = ["holds" if now >= after else "regressed"
                          for now, after in zip(updates["rate_now"], updates["success_rate_after"])]
    return updates[["update_timestamp", "generator_name", "hardware_platform", "affected_models",
                    "success_rate_before", "success_rate_after", "rate_now", "verdict"]]


def effectiveness(results: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """Pass rate per template chain (the family/modality template a test rendered from) and hardware."""
    merged = results.merge(tests[["model_type", "template_chain"]], on="model_type", how="left")
    merged["template_chain"] = merged["template_chain"].fillna("(no generated test)")
    tested = merged[merged["status"] != "unavailable"]
    out = tested.groupby(["template_chain", "hardware"]).agg(
        architectures=("model_type", "nunique"), rows=("status", "size"),
        pass_rate=("status", lambda s: round(float((s == "pass").mean()), 4))).reset_index()
    return out.sort_values(["pass_rate", "rows"], ascending=[True, False])


def write_template_patches(candidates: list[loop.Candidate], manual: list[dict], folder: Path) -> list[Path]:
    """One YAML per machine-applicable recipe (the override entries it would write, as the loop writes them) and
    manual.md (the suggestions no recipe covers), in `folder`. Applied by `--auto-patch-generators`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for c in candidates:
        target = folder / f"{c.hardware}-{c.pattern}-{c.recipe_index}.yaml"
        if target.resolve().parent != folder.resolve():
            raise ValueError(f"{target} is not inside {folder}")
        body = {"hardware": c.hardware, "pattern": c.pattern, "recipe": c.recipe,
                "writes": f"templates/{loop.AUTO_FILE}", "model_types": c.entries}
        target.write_text(yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
        written.append(target)
    manual_file = folder / "manual.md"
    manual_file.write_text(loop.manual_markdown(manual), encoding="utf-8")
    return [*written, manual_file]
