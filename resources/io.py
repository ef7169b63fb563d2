"""DuckDB IO manager: every asset's table lives in schema `hwcov` of one database file."""
from dagster_duckdb_pandas import DuckDBPandasIOManager

from hwcov.core import paths


def duckdb_io_manager(db_path: str | None = None) -> DuckDBPandasIOManager:
    # The database file is not named after the schema: `hwcov.duckdb` + schema `hwcov` is ambiguous.
    return DuckDBPandasIOManager(database=str(db_path or paths.db_path()), schema="hwcov")
