"""The automatic template repair loop: find failures the catalog knows a machine-applicable fix for,
apply the fix as override data, regenerate, rerun only the affected architectures, keep it only if
their pass rate rises.

A fix is a recipe in templates/error_patterns.yaml (`auto_fix:` of a pattern: config keys to `set`,
an optional narrower `when` regex on the message). It is written, per affected architecture, into
the drop-in templates/tiny/overrides.d/auto.yaml — never into the hand-written overrides.yaml — at
the place the architecture's default config holds each key (top level or a sub-config). The trial
reruns through a `Rerun` the caller passes in (the cli passes hwcov.orchestration.repair_rerun's: the local
Dagster pipeline — regenerate, sweep, patterns, report; this engine package never imports Dagster) and is
recorded in hwcov.generator_updates with the same store helpers the sensors use. A change that does
not raise the pass rate is undone byte-for-byte and the affected architectures are rerun with their
restored tests, so the stored results describe the templates as they are again.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import yaml

from hwcov.core import data, paths
from hwcov.run import patterns, sweep
from hwcov.store import database as store

AUTO_FILE = "tiny/overrides.d/auto.yaml"
HEADER = """\
# Written by `hwcov --auto-patch-generators` (hwcov/repair/loop.py): per-architecture config overrides from the
# error-pattern catalog's machine-applicable fixes (templates/error_patterns.yaml `auto_fix:`), each kept
# only because it raised the architecture's pass rate on a rerun (see hwcov.generator_updates).
# Review, then move entries into templates/tiny/overrides.yaml by hand if you like; an architecture may be
# defined in only one overrides file. Edits here are kept, comments are not when the loop rewrites the file.
"""
# Which template data to edit for a pattern's category (a pattern may name its own with `edit:`).
EDIT_BY_CATEGORY = {
    "config": "templates/tiny/overrides.yaml (model_types: <arch>) or a drop-in templates/tiny/overrides.d/*.yaml",
    "inputs": "templates/inputs.yaml (model_types: <arch>) or a drop-in templates/inputs.d/*.yaml",
    "determinism": "templates/inputs.yaml (a fixed noise/seed input for <arch>)",
    "resources": "templates/tiny/overrides.yaml (shrink <arch> further) or the hardware's limits",
    "environment": "pyproject.toml extras, or templates/skips.yaml (a skip with the reason)",
    "numerics": "templates/tolerances.yaml or templates/tiny/overrides.yaml (init/scaling for <arch>)",
    "export": "templates/inputs.yaml (pin the input shape for <arch>) or the backend's export route",
    "runtime": "templates/skips.yaml (a skip with the reason, if the runtime is at fault)",
}
UNCLASSIFIED_EDIT = "templates/error_patterns.yaml (add a pattern for this message first)"


@dataclass
class Candidate:
    """One recipe of one pattern, applicable to some failing architectures on one hardware."""
    hardware: str
    pattern: str
    recipe_index: int
    recipe: dict
    entries: dict = field(default_factory=dict)  # model_type -> override entry to write
    messages: dict = field(default_factory=dict)  # model_type -> error message

    @property
    def name(self) -> str:
        return f"auto-patch {self.pattern}#{self.recipe_index}"

    @property
    def model_types(self) -> list[str]:
        return sorted(self.entries)


def auto_path() -> Path:
    return paths.templates_dir() / AUTO_FILE


def _recipes(pattern: str) -> list[dict]:
    for p in patterns.catalog():
        if p["name"] == pattern:
            return list(p.get("auto_fix") or [])
    return []


def _catalog_entry(pattern: str) -> dict:
    return next((p for p in patterns.catalog() if p["name"] == pattern), {})


def _default_config(model_type: str) -> dict | None:
    from transformers import CONFIG_MAPPING

    try:
        return CONFIG_MAPPING[model_type]().to_dict()
    except Exception:  # noqa: BLE001 - a config that can't be built gets no machine fix
        return None


def _where(config: dict, key: str, depth: int = 2) -> list[str] | None:
    """The path of sub-config names to the dict holding `key` (top level first), or None."""
    if key in config:
        return []
    if depth == 0:
        return None
    for name, sub in sorted(config.items()):
        if isinstance(sub, dict) and "model_type" in sub:
            found = _where(sub, key, depth - 1)
            if found is not None:
                return [name, *found]
    return None


def entry_for(recipe: dict, model_type: str, pattern: str) -> dict | None:
    """The override entry the recipe writes for this architecture, or None if its config lacks a key."""
    config = _default_config(model_type)
    if config is None:
        return None
    entry: dict = {}
    for key, value in recipe["set"].items():
        where = _where(config, key)
        if where is None:
            return None
        node = entry
        for name in where:
            node = node.setdefault(name, {})
        node[key] = value
    entry["why"] = f"auto-patch ({pattern}): {recipe.get('why', 'catalog recipe')}"
    return entry


def _hand_written() -> set[str]:
    """Architectures with an entry in an overrides file other than auto.yaml (a drop-in may not repeat them)."""
    folder = paths.templates_dir() / "tiny"
    out: set[str] = set()
    for f in [folder / "overrides.yaml", *sorted((folder / "overrides.d").glob("*.yaml"))]:
        if f.exists() and f.resolve() != auto_path().resolve():
            out |= set(((yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("model_types") or {}))
    return out


def _auto_entries() -> dict:
    path = auto_path()
    if not path.exists():
        return {}
    return dict((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("model_types") or {})


def failures(results, hardware: list[str] | None = None, models: list[str] | None = None) -> list[dict]:
    """Failing rows, classified with the current catalog (it may have learnt patterns since they ran)."""
    rows = []
    for r in results.to_dict("records"):
        if r["status"] in patterns.NOT_FAILURES or (hardware and r["hardware"] not in hardware) \
                or (models and r["model_type"] not in models):
            continue
        r["pattern"] = patterns.classify(r["status"], r.get("error_message") or "")
        rows.append(r)
    return rows


def reverted_trials(con) -> set[tuple[str, str, str]]:
    """(hardware, generator_name, model_type) of recipes tried and undone before."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'hwcov' "
                         "AND table_name = 'generator_updates'").fetchall()[0][0]
    if not exists:
        return set()
    rows = con.execute("SELECT hardware_platform, generator_name, model_types FROM hwcov.generator_updates "
                       "WHERE patch_description LIKE 'reverted%'").fetchall()
    return {(hw, name, m) for hw, name, models in rows for m in json.loads(models or "[]")}


def plan(results, reverted: set | None = None, hardware=None, models=None) -> tuple[list[Candidate], list[dict]]:
    """Machine-fixable candidates, and the remaining failures (each with why no machine fix applies)."""
    hand, auto = _hand_written(), _auto_entries()
    reverted = reverted or set()
    groups: dict[tuple, Candidate] = {}
    manual = []
    for r in failures(results, hardware, models):
        mt, reason = r["model_type"], "the catalog has no machine-applicable fix for this pattern"
        recipes = _recipes(r["pattern"])
        for i, recipe in enumerate(recipes):
            if recipe.get("when") and not re.search(recipe["when"], r.get("error_message") or "", re.IGNORECASE):
                reason = "no recipe of the pattern matches this message"
                continue
            name = f"auto-patch {r['pattern']}#{i}"
            if (r["hardware"], name, mt) in reverted:
                reason = f"{name} was tried and reverted: it did not raise the pass rate"
                continue
            if mt in hand:
                reason = f"{mt} has a hand-written overrides entry; apply {recipe['set']} there by hand"
                continue
            entry = entry_for(recipe, mt, r["pattern"])
            if entry is None:
                reason = f"the default config of {mt} has none of {sorted(recipe['set'])}"
                continue
            if mt in auto:  # an earlier kept fix: the new keys join it
                merged = data.deep_merge(auto[mt], entry, ignore=("why",))
                entry = {**merged, "why": f"{auto[mt].get('why', '')}; {entry['why']}"}
            key = (r["hardware"], r["pattern"], i)
            cand = groups.setdefault(key, Candidate(r["hardware"], r["pattern"], i, recipe))
            cand.entries[mt] = entry
            cand.messages[mt] = r.get("error_message") or ""
            break
        else:
            manual.append({**r, "reason": reason if recipes else "the catalog has no machine-applicable fix "
                                                                   "for this pattern"})
    return sorted(groups.values(), key=lambda c: (c.hardware, c.pattern, c.recipe_index)), manual


# ---- reports -----------------------------------------------------------------------------------------

def _cell(text, n: int = 160) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ")[:n]


def identify_markdown(candidates: list[Candidate], manual: list[dict]) -> str:
    lines = ["# Failure patterns with a machine-applicable fix", "",
             f"{sum(len(c.entries) for c in candidates)} failing architecture results can be patched "
             f"automatically ({len(candidates)} recipes); {len(manual)} need a manual template change "
             "(`hwcov --suggest-manual-patches`).", ""]
    if candidates:
        lines += [f"| hardware | pattern | fix (written to templates/{AUTO_FILE}) | architectures | example error |",
                  "|---|---|---|---|---|"]
        for c in candidates:
            fix = ", ".join(f"{k}: {json.dumps(v)}" for k, v in c.recipe["set"].items())
            example = c.messages[c.model_types[0]]
            lines.append(f"| {c.hardware} | {c.pattern} | set {fix} | {', '.join(c.model_types)} | {_cell(example)} |")
        lines += ["", "Apply and verify: `hwcov --auto-patch-generators --hardware "
                  f"{','.join(sorted({c.hardware for c in candidates}))}`"]
    else:
        lines.append("No stored failure has a machine-applicable fix in templates/error_patterns.yaml.")
    return "\n".join(lines) + "\n"


def manual_markdown(manual: list[dict]) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in manual:
        groups.setdefault((r["pattern"], r["hardware"]), []).append(r)
    lines = ["# Manual template patches", "",
             f"{len(manual)} failing results have no machine-applicable fix (or the machine fix did not help). "
             "Each suggestion: the pattern, the affected architectures with their error, the catalog's fix, and "
             "the template data to edit. After editing, `hwcov --model <archs> --hardware <hw>` reruns them.", ""]
    for (pattern, hw), rows in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        p = _catalog_entry(pattern)
        edit = p.get("edit") or EDIT_BY_CATEGORY.get(p.get("category", ""), UNCLASSIFIED_EDIT)
        fix = p.get("fix") or "classify the message first: add a pattern with its explanation and fix"
        lines += [f"## {pattern} on {hw} ({len(rows)})", "",
                  f"- **What it means:** {p.get('explanation', 'no catalog pattern matches these messages')}",
                  f"- **Suggested template fix:** {fix}",
                  f"- **Edit:** {edit}", "", "| architecture | family | status | error | why no automatic fix |",
                  "|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: r["model_type"]):
            lines.append(f"| {r['model_type']} | {r.get('family', '')} | {r['status']} | "
                         f"{_cell(r.get('error_message'), 240)} | {_cell(r['reason'], 200)} |")
        lines.append("")
    if not manual:
        lines.append("Nothing left: every stored failure has a machine-applicable fix.")
    return "\n".join(lines) + "\n"


# ---- the loop ----------------------------------------------------------------------------------------

def reset_process_caches() -> None:
    """Template data, the catalog and imported generated tests are cached per process; a trial changes them."""
    data.clear_cache()
    patterns.catalog.cache_clear()
    sweep.unload_generated()


def _write_entries(entries: dict) -> None:
    path = auto_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump({"model_types": entries}, sort_keys=True, allow_unicode=True, width=110)
    path.write_text(HEADER + body, encoding="utf-8")


def _restore(original: bytes | None) -> None:
    path = auto_path()
    if original is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(original)


def _rate(hardware: str, models: list[str]) -> float:
    with store.connect(paths.db_path(), read_only=True) as con:
        return store.pass_rate(con, hardware, models)


def _passing(hardware: str, models: list[str]) -> list[str]:
    with store.connect(paths.db_path(), read_only=True) as con:
        return [m for (m, _), s in store.statuses(con, [hardware], models).items() if s == "pass"]


class Rerun(Protocol):
    """Regenerate the tests and rerun these architectures on one hardware (force: even unchanged ones); True if
    the run succeeded. The loop resets the process caches before each call (it has just changed the templates)."""

    def __call__(self, hardware: str, models: list[str], force: bool = False) -> bool: ...


def _rerun(rerun: Rerun, hardware: str, models: list[str], force: bool = False) -> bool:
    reset_process_caches()
    return rerun(hardware, models, force=force)


def no_run_id() -> str:
    return ""


def try_candidate(cand: Candidate, rerun: Rerun, log: Callable[[str], None] = print,
                  run_id: Callable[[], str] = no_run_id) -> dict:
    """Apply one recipe, rerun its architectures, keep it only if their pass rate rose; record the trial
    (run_id(): the id of the rerun's run_results run, to find it in the Dagster UI)."""
    models = cand.model_types
    original = auto_path().read_bytes() if auto_path().exists() else None
    before = _rate(cand.hardware, models)
    log(f"{cand.name} on {cand.hardware}: set {cand.recipe['set']} for {', '.join(models)} (pass rate {before})")
    try:
        _write_entries({**_auto_entries(), **cand.entries})
        ok = _rerun(rerun, cand.hardware, models)
        after = _rate(cand.hardware, models)
        trial_run = run_id()
        helped = _passing(cand.hardware, models)
    except BaseException:
        _restore(original)
        reset_process_caches()
        raise
    kept = ok and after > before
    if not kept:
        _restore(original)
        description = f"reverted byte-for-byte: pass rate {before} -> {after} did not rise"
        undo = models
    else:
        undo = [m for m in models if m not in helped]
        if undo:  # keep only the entries that helped
            _restore(original)
            _write_entries({**_auto_entries(), **{m: cand.entries[m] for m in helped}})
        description = f"kept: pass rate {before} -> {after}" + (f"; dropped for {', '.join(undo)}" if undo else "")
    if undo:
        # Rerun the restored tests for real (force): their fresh rows become the journal's latest, so a later
        # run filtered to other models does not carry the trial's rows forward (sweep.assemble keeps the
        # latest journal row of every architecture it did not run).
        _rerun(rerun, cand.hardware, undo, force=True)
    row = {"generator_name": cand.name, "hardware_platform": cand.hardware,
           "patch_description": f"{description}; {AUTO_FILE}: set {json.dumps(cand.recipe['set'])}",
           "affected_models": len(models), "success_rate_before": before, "success_rate_after": after,
           "model_types": json.dumps(models), "run_id": trial_run}
    with store.connect(paths.db_path()) as con:
        store.record_generator_update(con, row)
    log(f"{cand.name} on {cand.hardware}: {description}")
    return {**row, "kept": kept}


def auto_patch(results, hardware: list[str], models: list[str] | None = None, *, rerun: Rerun,
               run_id: Callable[[], str] = no_run_id, retry_reverted: bool = False,
               log: Callable[[str], None] = print) -> list[dict]:
    """Try every machine-applicable candidate of the stored failures, one at a time, rerunning through `rerun`."""
    with store.connect(paths.db_path(), read_only=True) as con:
        reverted = set() if retry_reverted else reverted_trials(con)
    candidates, _ = plan(results, reverted, hardware, models)
    return [try_candidate(cand, rerun, log, run_id) for cand in candidates]
