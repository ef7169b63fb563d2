"""DuckDB IO manager: every asset's table lives in schema `hwcov` of one database file.

Its connections wait while another process holds the file's lock (hwcov.store.database.connect: jittered backoff,
two minutes), so hwcov runs started together in one folder queue for their short writes instead of failing."""
from contextlib import contextmanager
from pathlib import Path

from dagster_duckdb.io_manager import DbIOManager, DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

from hwcov.core import paths
from hwcov.store import database


class WaitingDuckDbClient(DuckDbClient):
    @staticmethod
    @contextmanager
    def connect(context, _):
        con = database.connect(Path(context.resource_config["database"]),
                               config=dict(context.resource_config.get("connection_config") or {}))
        try:
            yield con
        finally:
            con.close()


class ColumnAddingPandasTypeHandler(DuckDBPandasTypeHandler):
    """Dagster's pandas handler inserts a frame by position: a frame holding columns appended to the schema since the
    stored table was made (hwcov.core.schema adds new columns at the end) first adds them to the table."""

    def handle_output(self, context, table_slice, obj, connection):
        if obj is not None and not obj.empty:
            database.add_frame_columns(connection, table_slice.schema, table_slice.table, obj)
        super().handle_output(context, table_slice, obj, connection)


class WaitingDuckDBPandasIOManager(DuckDBPandasIOManager):
    """DuckDBPandasIOManager whose connections wait for the file's lock and whose tables gain new columns."""

    @staticmethod
    def type_handlers():
        return [ColumnAddingPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(db_client=WaitingDuckDbClient(), database=self.database, schema=self.schema_,
                           type_handlers=self.type_handlers(), default_load_type=self.default_load_type(),
                           io_manager_name="DuckDBIOManager")


def duckdb_io_manager(db_path: str | None = None) -> DuckDBPandasIOManager:
    # Any file name works, `hwcov.duckdb` too: database.connect attaches one named like the schema under a fixed name.
    return WaitingDuckDBPandasIOManager(database=str(db_path or paths.db_path()), schema=database.SCHEMA)
