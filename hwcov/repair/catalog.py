"""Catalog edits from the command line: `--add-error-pattern` writes a validated entry, and the architectures a
pattern affects (what `--fix-error-pattern` / `--regenerate-tests` regenerate and rerun).

Entries go to templates/error_patterns_added.yaml, never into the hand-written, commented error_patterns.yaml;
hwcov.run.patterns.catalog reads both (an added entry with a shipped name updates it). A pattern classifies
failures by its regex: without --regex one is taken from the stored messages of the named architectures, or the
shipped entry's is kept; an entry that could classify nothing is refused, not written.
"""
from __future__ import annotations

import re
from collections import Counter

import pandas as pd
import yaml

from hwcov.core import data, paths
from hwcov.core.errors import UsageError
from hwcov.run import patterns

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,79}")
HEADER = """\
# Written by `hwcov --add-error-pattern` (hwcov/repair/catalog.py); read after templates/error_patterns.yaml.
# An entry named like a shipped pattern updates it (models joined); a new one is tried after the shipped ones.
"""
LEARNT_CHARS = 80  # how much of the commonest message a learnt regex matches


def added_path():
    return paths.templates_dir() / patterns.ADDED_FILE


def learnt_regex(results: pd.DataFrame, models: list[str]) -> str | None:
    """An escaped regex for the commonest first line among the stored failures of `models`, or None."""
    failing = results[results["model_type"].isin(models) & ~results["status"].isin(patterns.NOT_FAILURES)]
    lines = [str(m or "").strip().splitlines()[0][:LEARNT_CHARS] for m in failing["error_message"] if str(m or "").strip()]
    return re.escape(Counter(lines).most_common(1)[0][0]) if lines else None


def add(name: str, models: list[str], solution: str, regex: str | None, results: pd.DataFrame) -> tuple[dict, str]:
    """Write (or update) the entry; (the entry, where its regex came from)."""
    if not NAME_RE.fullmatch(name):
        raise UsageError(f"--name {name!r}: lowercase letters, digits and _ (a catalog name), at most 80")
    shipped = {p["name"]: p for p in patterns.catalog()}
    if regex:
        source = "--regex"
    elif name in shipped:
        regex, source = shipped[name]["regex"], "the catalog's own regex"
    else:
        regex = learnt_regex(results, models)
        source = f"the commonest stored failure message of {', '.join(models)}"
        if regex is None:
            raise UsageError(f"--add-error-pattern {name} needs --regex: no stored failure of {', '.join(models)} to "
                             "take the message from")
    try:
        re.compile(regex)
    except re.error as exc:
        raise UsageError(f"--regex {regex!r} is not a valid regular expression: {exc}") from None
    entry = {"name": name, "regex": regex, "category": shipped.get(name, {}).get("category", "manual"),
             "explanation": shipped.get(name, {}).get("explanation", f"Added with hwcov --add-error-pattern: {solution}"),
             "fix": solution, "models": sorted(models)}
    path = added_path()
    entries = (data.read_yaml(path).get("patterns") or []) if path.exists() else []
    entries = [e for e in entries if e.get("name") != name] + [entry]
    path.write_text(HEADER + yaml.safe_dump({"patterns": entries}, sort_keys=False, allow_unicode=True, width=110),
                    encoding="utf-8")
    data.clear_cache()
    patterns.catalog.cache_clear()
    return entry, source


def affected(results: pd.DataFrame, pattern: str) -> dict[str, list[str]]:
    """hardware -> the architectures whose stored failure there the current catalog classifies as `pattern`, and
    the pattern's listed `models` that fail there for any reason the catalog does not claim for another pattern."""
    names = {p["name"]: p for p in patterns.catalog()}
    if pattern not in names:
        raise UsageError(f"unknown error pattern {pattern!r}; add it with `hwcov --add-error-pattern --name {pattern}"
                         " --models ... --solution ...` first")
    listed = set(names[pattern].get("models") or [])
    out: dict[str, set] = {}
    for r in results.to_dict("records"):
        if r["status"] in patterns.NOT_FAILURES:
            continue
        found = patterns.classify(r["status"], r.get("error_message") or "")
        if found == pattern or (r["model_type"] in listed and found == patterns.UNCLASSIFIED):
            out.setdefault(r["hardware"], set()).add(r["model_type"])
    return {hw: sorted(ms) for hw, ms in sorted(out.items())}
