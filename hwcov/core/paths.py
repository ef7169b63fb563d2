"""Where hwcov reads its data and writes its artifacts (one place, so tests can redirect it).

Each path is, first to last: a value chosen in this process (`configure`/`configured`: the cli's --db-path and
--generated-dir), the user's environment ($HWCOV_DB_PATH, $HWCOV_GENERATED_DIR, $HWCOV_ARTIFACTS_DIR), the
default. The cli passes values instead of writing os.environ, so a choice made for one call does not outlive it.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # hwcov/
TEMPLATES_DIR = PACKAGE_DIR / "templates"

TEMPLATES_ENV = "HWCOV_TEMPLATES_DIR"
DEFAULT_DB_PATH = "benchmark_db.duckdb"
DB_ENV = "HWCOV_DB_PATH"
GENERATED_ENV = "HWCOV_GENERATED_DIR"
ARTIFACTS_ENV = "HWCOV_ARTIFACTS_DIR"

_chosen: dict[str, Path] = {}  # db_path / generated_dir / artifacts_dir chosen in this process


def configure(db_path: str | Path | None = None, generated_dir: str | Path | None = None,
              artifacts_dir: str | Path | None = None) -> None:
    """Choose paths for this process (None: keep the environment's or the default); forked workers inherit them."""
    for name, value in (("db_path", db_path), ("generated_dir", generated_dir), ("artifacts_dir", artifacts_dir)):
        if value is not None:
            _chosen[name] = Path(value).resolve()


def chosen() -> dict[str, Path]:
    """The paths chosen in this process (for `configure(**chosen())` in a process that didn't inherit them)."""
    return dict(_chosen)


@contextlib.contextmanager
def configured(**chosen):
    """`configure(**chosen)` for the duration of a block, then the choices that were in force before."""
    before = dict(_chosen)
    try:
        configure(**chosen)
        yield
    finally:
        _chosen.clear()
        _chosen.update(before)


def db_path() -> Path:
    return _chosen.get("db_path") or Path(os.environ.get(DB_ENV, DEFAULT_DB_PATH)).resolve()


def generated_dir() -> Path:
    return _chosen.get("generated_dir") or Path(os.environ.get(GENERATED_ENV, "generated_tests")).resolve()


def artifacts_dir() -> Path:
    """Result journals and reference outputs live beside the database they feed."""
    default = db_path().parent / ".hwcov"
    return _chosen.get("artifacts_dir") or Path(os.environ.get(ARTIFACTS_ENV, default)).resolve()


def templates_dir() -> Path:
    """The templates in use: the shipped ones, or a customized copy named by $HWCOV_TEMPLATES_DIR."""
    return Path(os.environ.get(TEMPLATES_ENV) or TEMPLATES_DIR).resolve()


def code_digest(*packages: str) -> str:
    """sha256 over the source of hwcov's own packages (every .py file under each, by glob, in path order)."""
    import hashlib

    h = hashlib.sha256()
    for package in packages:
        for f in sorted((PACKAGE_DIR / package).rglob("*.py")):
            h.update(str(f.relative_to(PACKAGE_DIR)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()
