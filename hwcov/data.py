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
    with open(Path(folder) / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def file_digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(templates_dir())).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
