"""Hand-off from remote workers to the one DuckDB writer: Parquet files on shared storage.

DuckDB is single-writer and its file must not be written from many hosts (a lock on NFS is not a lock).
In the scale-out profile (deploy/) a hardware worker never opens the database: what it produces is
written here as Parquet, and only the orchestrator host's writer loads it, with ingest().

Layout under the shared directory (mounted at the same path on every host):

    handoff/latest/<asset>/<partition>.parquet          current value of an asset partition (read by any host)
    handoff/inbox/<asset>/<partition>/<run_id>.parquet  produced on a hardware worker, not yet in DuckDB

Exactly once: ingest() replaces the partition's rows and records (asset, partition, run_id) in
`hwcov.handoff_ledger` in ONE transaction, then deletes the inbox file. A crash before the commit loads
nothing; a crash after it leaves a file the ledger already names, which the next ingest only deletes.
Files are written to a temporary name and renamed, so a reader never sees half a file.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

UNPARTITIONED = "__all__"
LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS hwcov.handoff_ledger (
    asset VARCHAR, partition_key VARCHAR, run_id VARCHAR, rows BIGINT, loaded_at TIMESTAMP,
    PRIMARY KEY (asset, partition_key, run_id))
"""


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    """Atomically (tmp + rename) write a frame as Parquet with an in-memory DuckDB (no pyarrow needed)."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with duckdb.connect() as con:
        con.register("frame", df)
        con.execute(f"COPY (SELECT * FROM frame) TO {_quote(tmp)} (FORMAT parquet)")
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def read_parquet(paths: Iterable[Path]) -> pd.DataFrame:
    import duckdb

    files = ", ".join(_quote(p) for p in paths)
    with duckdb.connect() as con:
        return con.execute(f"SELECT * FROM read_parquet([{files}], union_by_name = true)").df()


def split(df: pd.DataFrame, partitions: list[str], column: str | None) -> list[tuple[str, pd.DataFrame]]:
    """One frame per partition key (by the asset's partition column), or the whole frame."""
    if not partitions or not column:
        return [(UNPARTITIONED, df)]
    return [(key, df[df[column].astype(str) == key]) for key in partitions]


class Handoff:
    def __init__(self, shared_dir: Path | str):
        self.root = Path(shared_dir).resolve() / "handoff"

    def latest(self, asset: str, partition: str = UNPARTITIONED) -> Path:
        return self.root / "latest" / asset / f"{partition}.parquet"

    def inbox(self, asset: str) -> Path:
        return self.root / "inbox" / asset

    def publish(self, asset: str, df: pd.DataFrame, partitions: list[str], column: str | None) -> list[Path]:
        """Make an asset's value readable on every host (the writer does this for what workers consume)."""
        return [write_parquet(part, self.latest(asset, key)) for key, part in split(df, partitions, column)]

    def stage(self, asset: str, df: pd.DataFrame, partitions: list[str], column: str | None,
              run_id: str) -> list[Path]:
        """On a hardware worker: queue the output for the writer, and publish it for downstream workers."""
        staged = []
        for key, part in split(df, partitions, column):
            write_parquet(part, self.latest(asset, key))
            staged.append(write_parquet(part, self.inbox(asset) / key / f"{run_id}.parquet"))
        return staged

    def load_latest(self, asset: str, partitions: list[str]) -> pd.DataFrame:
        keys = partitions or [UNPARTITIONED]
        found = [p for p in (self.latest(asset, k) for k in keys) if p.exists()]
        if not found:
            raise FileNotFoundError(
                f"no hand-off copy of {asset} for {', '.join(keys)} under {self.root / 'latest' / asset}; "
                f"materialize {asset} with the scale-out profile first (its writer publishes it there)")
        return read_parquet(found)

    def pending(self, assets: Iterable[str] | None = None) -> list[Path]:
        """Inbox files, oldest first (a later run of the same partition must win)."""
        dirs = [self.inbox(a) for a in assets] if assets is not None else [self.root / "inbox" / "*"]
        files = [f for d in dirs for f in Path(d.parent).glob(f"{d.name}/*/*.parquet")]
        return sorted(files, key=lambda f: (f.stat().st_mtime_ns, f.name))

    def ingest(self, db_path: Path | str, columns: Mapping[str, str | None], schema: str = "hwcov") -> list[dict]:
        """Load every pending inbox file of these assets into DuckDB, each exactly once.

        columns: asset name -> its partition column (the IO manager's partition_expr), None if unpartitioned.
        Call only on the writer host."""
        from hwcov.store import database as store

        files = self.pending(columns)
        if not files:
            return []
        loaded = []
        with store.connect(Path(db_path)) as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            con.execute(LEDGER_DDL)
            for f in files:
                asset, key, run_id = f.parent.parent.name, f.parent.name, f.stem
                con.execute("BEGIN TRANSACTION")
                try:
                    done = con.execute("SELECT 1 FROM hwcov.handoff_ledger WHERE asset = ? AND partition_key = ? "
                                       "AND run_id = ?", [asset, key, run_id]).fetchone()
                    rows = None if done else _replace_partition(con, f"{schema}.{asset}", f, columns[asset], key)
                    if rows is not None:
                        con.execute("INSERT INTO hwcov.handoff_ledger VALUES (?, ?, ?, ?, now())",
                                    [asset, key, run_id, rows])
                    con.execute("COMMIT")
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                f.unlink(missing_ok=True)
                if rows is not None:
                    loaded.append({"asset": asset, "partition": key, "run_id": run_id, "rows": rows})
        return loaded


def _replace_partition(con, table: str, path: Path, column: str | None, key: str) -> int:
    """The partition's rows become the file's rows (what the DuckDB IO manager does for an output)."""
    src = f"read_parquet({_quote(path)})"
    schema, name = table.split(".")
    existing = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                          "WHERE table_schema = ? AND table_name = ?", [schema, name]).fetchall()}
    if not existing:
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM {src}")
    else:
        for col, col_type, *_ in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall():
            if col not in existing:  # a newer hwcov added a column: widen the table, older rows get NULL
                con.execute(f'ALTER TABLE {table} ADD COLUMN "{col}" {col_type}')
        if column and key != UNPARTITIONED:
            con.execute(f'DELETE FROM {table} WHERE "{column}" = ?', [key])
        else:
            con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {src}")
    return con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
