"""Where hwcov reads its data and writes its artifacts (one place, so tests can redirect it)."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # hwcov/
TEMPLATES_DIR = PACKAGE_DIR / "templates"

TEMPLATES_ENV = "HWCOV_TEMPLATES_DIR"
DEFAULT_DB_PATH = "benchmark_db.duckdb"
DB_ENV = "HWCOV_DB_PATH"
GENERATED_ENV = "HWCOV_GENERATED_DIR"
ARTIFACTS_ENV = "HWCOV_ARTIFACTS_DIR"


def db_path() -> Path:
    return Path(os.environ.get(DB_ENV, DEFAULT_DB_PATH)).resolve()


def generated_dir() -> Path:
    return Path(os.environ.get(GENERATED_ENV, "generated_tests")).resolve()


def artifacts_dir() -> Path:
    """Result journals and reference outputs live beside the database they feed."""
    default = db_path().parent / ".hwcov"
    return Path(os.environ.get(ARTIFACTS_ENV, default)).resolve()


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
