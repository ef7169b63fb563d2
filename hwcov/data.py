"""Load the per-architecture data under templates/ (YAML), cached per process."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import yaml

from hwcov.paths import templates_dir


def load(name: str) -> dict:
    return _load(str(templates_dir()), name)


@functools.cache
def _load(folder: str, name: str) -> dict:
    """`name` plus the drop-in files of `<stem>.d/*.yaml` beside it (one per family group, so groups of
    overrides stay small and separately owned); an entry defined twice is an error, not a silent win."""
    path = Path(folder) / name
    with open(path, encoding="utf-8") as fh:
        out = yaml.safe_load(fh) or {}
    for extra in sorted(path.with_suffix(".d").glob("*.yaml")):
        with open(extra, encoding="utf-8") as fh:
            more = yaml.safe_load(fh) or {}
        for section, entries in more.items():
            have = out.setdefault(section, {})
            if not isinstance(entries, dict) or not isinstance(have, dict):
                raise ValueError(f"{extra}: top-level {section!r} must be a mapping")
            twice = sorted(set(have) & set(entries))
            if twice:
                raise ValueError(f"{extra}: {section} {', '.join(twice)} already defined in {name} or an earlier drop-in")
            have.update(entries)
    return out


def file_digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(templates_dir())).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
