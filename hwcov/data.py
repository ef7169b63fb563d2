"""Load the per-architecture data under templates/ (YAML), cached per process."""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import yaml

from hwcov.paths import TEMPLATES_DIR


@functools.cache
def load(name: str) -> dict:
    path = TEMPLATES_DIR / name
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh) or {}


def file_digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(TEMPLATES_DIR)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
