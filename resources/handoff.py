"""The scale-out profile's IO manager: the DuckDB IO manager, except that hardware workers never touch DuckDB.

- An output of a device asset (run_results, benchmark_results: computed on the hardware's own worker)
  is staged as Parquet on shared storage (hwcov/store/handoff.py), never written to DuckDB there.
- Every other output is written by the writer (the orchestrator host's `dagster` queue) to DuckDB as
  usual, and published as Parquet so device steps can read their inputs (generated_tests) on any host.
- A device step loads its inputs from those Parquet copies; a writer step first ingests whatever is
  pending (each file exactly once), then reads DuckDB.
"""
from pathlib import Path

import pandas as pd
from dagster import InputContext, IOManager, OutputContext
from dagster_duckdb_pandas import DuckDBPandasIOManager

from hwcov.store.handoff import Handoff

# Device assets and their partition column: computed where the hardware is, handed off to the writer.
DEVICE_ASSETS = {"run_results": "hardware", "benchmark_results": "hardware"}


def device_op(op_name: str) -> bool:
    """Asset ops are named <prefix>__<asset>: hwcov__run_results."""
    return op_name.split("__")[-1] in DEVICE_ASSETS


def _partitions(context) -> list[str]:
    return list(context.asset_partition_keys) if context.has_asset_partitions else []


class _HandoffIOManager(IOManager):
    def __init__(self, duckdb_io: IOManager, database: str, shared_dir: str):
        self.duckdb_io, self.database, self.handoff = duckdb_io, Path(database), Handoff(shared_dir)

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        asset = context.asset_key.path[-1]
        column = (context.definition_metadata or {}).get("partition_expr")
        if asset in DEVICE_ASSETS:
            staged = self.handoff.stage(asset, obj, _partitions(context), column, context.run_id)
            context.add_output_metadata({"handoff": [str(p) for p in staged], "rows": len(obj)})
            return
        self.duckdb_io.handle_output(context, obj)
        self.handoff.publish(asset, obj, _partitions(context), column)

    def load_input(self, context: InputContext) -> pd.DataFrame:
        asset = context.asset_key.path[-1]
        if device_op(context.op_def.name):  # on a hardware worker: no database here
            return self.handoff.load_latest(asset, _partitions(context))
        if asset in DEVICE_ASSETS:
            self.ingest_pending()
        return self.duckdb_io.load_input(context)

    def ingest_pending(self) -> list[dict]:
        """Writer only: load every staged device output into DuckDB, each exactly once."""
        return self.handoff.ingest(self.database, DEVICE_ASSETS)


class HandoffIOManager(DuckDBPandasIOManager):
    """DuckDBPandasIOManager (database, schema) plus the shared directory of the Parquet hand-off."""

    shared_dir: str

    def create_io_manager(self, context) -> _HandoffIOManager:
        return _HandoffIOManager(super().create_io_manager(context), self.database, self.shared_dir)
