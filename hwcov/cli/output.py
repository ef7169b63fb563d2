"""What every cli verb shares: the database read-only, tables as DataFrames, a report to stdout or --output.

A database without hwcov's tables is the user's mistake (a fresh --db-path, no run yet): UsageError, exit 2.
"""
from __future__ import annotations

from pathlib import Path

from hwcov.core import paths
from hwcov.core.errors import UsageError

FIRST_RUN = "run `hwcov --hardware cpu` first"


def connect():
    """The database, read-only."""
    from hwcov.store import database as store

    return store.connect(paths.db_path(), read_only=True)


def nothing_stored(what: str = "hwcov results") -> UsageError:
    return UsageError(f"{paths.db_path()} holds no {what} yet; {FIRST_RUN}")


def read(sql: str, params: list | None = None):
    """A query's rows as a DataFrame; UsageError when the database has no hwcov tables."""
    import duckdb

    try:
        with connect() as con:
            return con.execute(sql, params or []).df()
    except duckdb.CatalogException:
        raise nothing_stored() from None


def results():
    return read("SELECT * FROM hwcov.run_results")


def inventory():
    return read("SELECT * FROM hwcov.model_inventory")


def emit(text: str, output: str | None) -> None:
    """Print a report, or write it to --output."""
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        print(f"written to {output}")
    else:
        print(text)
