"""Classify failures with the catalog in templates/error_patterns.yaml; count and suggest fixes."""
from __future__ import annotations

import functools
import re

from hwcov.core import data, paths
from hwcov.core.schema import EXTRA_MODES

UNCLASSIFIED = "unclassified"
NOT_FAILURES = ("pass", "skipped_known", "unavailable", "not_applicable")


ADDED_FILE = "error_patterns_added.yaml"  # `hwcov --add-error-pattern` writes here (hwcov.repair.catalog)


@functools.cache
def catalog() -> list[dict]:
    """The shipped catalog, then the added entries: one with a shipped name updates it (its `models` joined),
    a new one comes last (the first match wins, so an added pattern never shadows a shipped one)."""
    pats = [dict(p) for p in data.load("error_patterns.yaml")["patterns"]]
    by_name = {p["name"]: p for p in pats}
    added = paths.templates_dir() / ADDED_FILE
    for extra in (data.read_yaml(added).get("patterns") or []) if added.exists() else []:
        if extra["name"] in by_name:
            have = by_name[extra["name"]]
            have.update({**extra, "models": sorted({*have.get("models", []), *extra.get("models", [])})})
        else:
            pats.append(dict(extra))
    return [{**p, "compiled": re.compile(p["regex"], re.IGNORECASE)} for p in pats]


def classify(status: str, message: str, mode: str = "") -> str:
    """The pattern name for a result row ('' for rows that are not failures); a pattern that names `modes` classifies
    only those modes' failures (a runtime error at another shape means another thing in the forward)."""
    if status in NOT_FAILURES:
        return ""
    for p in catalog():
        if (not p.get("modes") or mode in p["modes"]) and p["compiled"].search(message or ""):
            return p["name"]
    return UNCLASSIFIED


MODE_NOT_FAILURES = NOT_FAILURES + ("skipped", "")


def mode_failures(row: dict) -> list[tuple[str, dict]]:
    """('<mode>: <pattern>', the row with that mode's status and message) for each mode that failed in this row."""
    out = []
    for mode in EXTRA_MODES:
        status = row.get(f"{mode}_status") or ""
        if isinstance(status, str) and status not in MODE_NOT_FAILURES:
            message = row.get(f"{mode}_message") or ""
            name = f"{mode}: {mode_pattern(status, message, mode)}"
            out.append((name, {**row, "status": status, "error_message": message}))
    return out


def mode_pattern(status: str, message: str, mode: str = "dynamic") -> str:
    """A mode's pattern: where its dynamic export failed and the static graph stood in
    (hwcov.export.dynamic.fallback_note), the cause's pattern first; then, where the message names a shape, only the
    words after its label (which names inputs a pattern would claim); else the whole message."""
    from hwcov.export.dynamic import fallback_cause, shape_cause

    fallback, at_shape = fallback_cause(message), shape_cause(message)
    found = classify(status, fallback, mode) if fallback else UNCLASSIFIED
    if found == UNCLASSIFIED and at_shape:
        return classify(status, at_shape, mode)
    return found if found != UNCLASSIFIED else classify(status, message, mode)


def summarize(rows: list[dict]) -> list[dict]:
    """Counts per (hardware, pattern) with the catalog's explanation, fix and examples; a mode's failures (a passing
    forward whose dynamic or generate check failed) as '<mode>: <pattern>'."""
    info = {p["name"]: p for p in catalog()}
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        for name, failed in mode_failures(r):
            groups.setdefault((r["hardware"], name), []).append(failed)
        if r.get("status") in NOT_FAILURES:
            continue
        name = r.get("error_pattern") or classify(r["status"], r.get("error_message", ""))
        groups.setdefault((r["hardware"], name), []).append(r)
    out = []
    for (hardware, name), members in sorted(groups.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
        p = info.get(name.split(": ", 1)[-1], {})
        out.append({
            "hardware": hardware, "pattern": name, "count": len(members),
            "category": p.get("category", UNCLASSIFIED),
            "explanation": p.get("explanation", "No catalog pattern matches; add one to templates/error_patterns.yaml."),
            "suggested_fix": p.get("fix", ""),
            "model_types": ",".join(sorted(m["model_type"] for m in members)),
            "example": (members[0].get("error_message") or "")[:300],
        })
    return out


def without_failures(rows: list[dict], failing: set[str]) -> list[dict]:
    """One row for each hardware with no failure, saying why (a partition's empty frame would only delete): absent
    hardware is `hardware_unavailable` with the probe's own error; one where everything ran, `no_failures`."""
    out = []
    for hardware in sorted({r["hardware"] for r in rows} - failing):
        mine = [r for r in rows if r["hardware"] == hardware]
        absent = [r for r in mine if r.get("status") == "unavailable"]
        if absent and len(absent) == len(mine):
            out.append({"hardware": hardware, "pattern": "hardware_unavailable", "count": len(absent),
                        "category": "environment", "explanation": "The hardware is not present on the machine that "
                        "ran: every case is recorded unavailable with the probe's own error, none was built.",
                        "suggested_fix": "Run on a machine that has it (a lent GPU: benchmarks/device_sweep.py, then "
                        "hwcov --ingest), or define a platform for it (--define-hardware).",
                        "model_types": "", "example": str(absent[0].get("error_message") or "")[:300]})
        else:
            out.append({"hardware": hardware, "pattern": "no_failures", "count": 0, "category": "",
                        "explanation": f"no failures among {len(mine)} results", "suggested_fix": "",
                        "model_types": "", "example": ""})
    return out
