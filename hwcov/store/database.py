"""hwcov's own DuckDB objects beside the IO manager's asset tables: each defined once, here.

- `hwcov.coverage_history`: one snapshot of pass rates per coverage_report materialization.
- Views with the seed's table names and columns over the assets, so queries written against
  the seed's schema keep working (`SELECT * FROM comprehensive_test_results`).
"""
from __future__ import annotations

from pathlib import Path

from hwcov.core.schema import BENCH_COLUMNS, LAYER_PROFILE_COLUMNS, MEMORY_PROFILE_COLUMNS, RESULT_COLUMNS

COVERAGE_HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS hwcov.coverage_history (
    snapshot_at TIMESTAMP, hardware VARCHAR, category VARCHAR, architectures BIGINT,
    passed BIGINT, pass_rate DOUBLE, transformers_version VARCHAR)
"""

SEED_VIEWS = {
    "comprehensive_test_results": """
        SELECT row_number() OVER (ORDER BY hardware, model_type) AS id, model_type AS model_name,
               model_class AS model_architecture, hardware AS hardware_platform, status = 'pass' AS test_success,
               execution_time_ms, memory_usage_mb, error_message, TRY_CAST(test_timestamp AS TIMESTAMP) AS test_timestamp,
               test_hash AS patch_version, status, precision, batch_size,
               -- the modes beyond one static forward (issue #25): a column each, as in run_results
               dynamic_status, dynamic_shapes, generate_status, generate_first_divergence
        FROM hwcov.run_results""",
    "model_architecture_coverage": """
        SELECT row_number() OVER (ORDER BY i.model_type) AS architecture_id, i.model_type AS architecture_name,
               i.category AS huggingface_category, 1 AS model_count, CAST(NULL AS DATE) AS implementation_date,
               CASE WHEN count(r.status) = 0 THEN 'untested'
                    WHEN bool_and(r.status = 'pass') THEN 'pass' ELSE 'partial' END AS test_status,
               avg(CASE WHEN r.status = 'pass' THEN 1.0 WHEN r.status IS NULL THEN NULL ELSE 0.0 END)
                   AS functional_score,
               CAST(NULL AS DOUBLE) AS performance_score, max(TRY_CAST(r.test_timestamp AS TIMESTAMP)) AS last_tested
        FROM hwcov.model_inventory i LEFT JOIN hwcov.run_results r
             ON r.model_type = i.model_type AND r.status NOT IN ('unavailable', 'not_applicable')
        GROUP BY i.model_type, i.category""",
    "hardware_compatibility_matrix": """
        SELECT row_number() OVER (ORDER BY r.model_type, r.hardware) AS id, c.architecture_id,
               dense_rank() OVER (ORDER BY r.hardware) AS hardware_id, r.hardware AS hardware_platform,
               r.model_type AS architecture_name, r.status AS compatibility_status,
               CASE WHEN r.status = 'pass' THEN 1.0 ELSE 0.0 END AS compatibility_score,
               r.runtime_version AS implementation_type, r.error_message AS failure_reason,
               r.precision AS optimization_level, TRY_CAST(r.test_timestamp AS TIMESTAMP) AS last_updated
        FROM hwcov.run_results r JOIN model_architecture_coverage c ON c.architecture_name = r.model_type""",
}


def connect(db_path: Path, read_only: bool = False, wait_s: float = 120.0, config: dict | None = None):
    """A connection, waiting while another process holds the file's lock (DuckDB is single-writer
    across processes; hwcov's writes are short, so waiting beats failing a concurrent run). `config`: DuckDB's
    connection settings (the IO manager's connection_config)."""
    import random
    import time

    import duckdb

    deadline, delay = time.monotonic() + wait_s, 0.05
    while True:
        try:
            if not names_schema(db_path):
                return duckdb.connect(str(db_path), read_only=read_only, config=config or {})
            return _attached(db_path, read_only, config or {})
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay * (1 + random.random()))  # jitter: concurrent waiters don't retry in step
            delay = min(delay * 2, 2.0)


SCHEMA = "hwcov"
ATTACHED_AS = "hwcov_results"  # a catalog name no file decides


def names_schema(db_path: Path | str) -> bool:
    """DuckDB names a database after its file up to the first dot (`hwcov.duckdb`, `HWCOV.old.db`: `hwcov`), and a
    database named like the schema makes every `hwcov.<table>` ambiguous (a Binder Error on the first write)."""
    return Path(db_path).name.split(".")[0].lower() == SCHEMA


def _attached(db_path: Path | str, read_only: bool, config: dict):
    """The file attached under a fixed name to an in-memory connection and made the default database: the same
    tables, views and lock as a direct connection, whatever the file is called. The path is a quoted literal."""
    import duckdb

    con = duckdb.connect(config=config)
    try:
        literal = "'" + str(db_path).replace("'", "''") + "'"
        con.execute(f"ATTACH {literal} AS {ATTACHED_AS}" + (" (READ_ONLY)" if read_only else ""))
        con.execute(f"USE {ATTACHED_AS}")
    except BaseException:
        con.close()
        raise
    return con


def refresh_views(con) -> None:
    """(Re)create the seed-named views; only over tables that exist."""
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'hwcov'").fetchall()}
    if {"run_results", "model_inventory"} <= tables:
        for name, sql in SEED_VIEWS.items():
            con.execute(f"CREATE OR REPLACE VIEW main.{name} AS {sql}")


def snapshot_coverage(con, rates, transformers_version: str) -> None:
    """Append this materialization's pass rates (hardware x category) to the history."""
    con.execute("CREATE SCHEMA IF NOT EXISTS hwcov")
    con.execute(COVERAGE_HISTORY_DDL)
    con.register("rates_df", rates)
    con.execute("""INSERT INTO hwcov.coverage_history
                   SELECT now(), hardware, category, architectures, passed, pass_rate, ? FROM rates_df""",
                [transformers_version])
    con.unregister("rates_df")


def history(con):
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'hwcov' "
                         "AND table_name = 'coverage_history'").fetchall()[0][0]
    if not exists:
        import pandas as pd

        return pd.DataFrame(columns=["snapshot_at", "hardware", "category", "architectures", "passed", "pass_rate"])
    return con.execute("SELECT * FROM hwcov.coverage_history ORDER BY snapshot_at").df()


GENERATOR_UPDATES_DDL = """
CREATE TABLE IF NOT EXISTS hwcov.generator_updates (
    id BIGINT, generator_name VARCHAR, hardware_platform VARCHAR, update_timestamp TIMESTAMP,
    patch_description VARCHAR, affected_models BIGINT, success_rate_before DOUBLE, success_rate_after DOUBLE,
    model_types VARCHAR, run_id VARCHAR)
"""

STALE_SQL = """
SELECT r.hardware, r.model_type, r.status, t.family
FROM hwcov.run_results r JOIN hwcov.generated_tests t USING (model_type)
WHERE r.test_hash <> t.content_hash AND r.status <> 'unavailable'
ORDER BY r.hardware, r.model_type
"""


def stale_results(con):
    """Results whose generated test has changed since they ran, per hardware: what a template change affects."""
    return con.execute(STALE_SQL).df()


def _placeholders(values) -> str:
    return f"({', '.join('?' * len(values))})"


def pass_rate(con, hardware: str, models: list[str]) -> float:
    """Share of passing rows of these architectures on one hardware (every precision and batch), 4 decimals: the
    before/after measure of a template change (the generator-update sensor and the repair loop both use it)."""
    if not models:
        return 0.0
    value = con.execute("SELECT avg(CASE WHEN status = 'pass' THEN 1.0 ELSE 0.0 END) FROM hwcov.run_results "
                        f"WHERE hardware = ? AND model_type IN {_placeholders(models)}",
                        [hardware, *models]).fetchall()[0][0]
    return round(float(value or 0.0), 4)


def statuses(con, hardware: list[str], models: list[str] | None = None) -> dict[tuple[str, str], str]:
    """(model_type, hardware) -> 'pass' when every stored row of it (each precision, batch) passes, else its first
    other status in name order: what a regression check or a repair trial compares before and after a run."""
    if not hardware or models == []:
        return {}
    where, params = f"hardware IN {_placeholders(hardware)}", list(hardware)
    if models:
        where, params = where + f" AND model_type IN {_placeholders(models)}", params + list(models)
    rows = con.execute("SELECT model_type, hardware, CASE WHEN bool_and(status = 'pass') THEN 'pass' "
                       "ELSE min(status) FILTER (WHERE status <> 'pass') END FROM hwcov.run_results "
                       f"WHERE {where} GROUP BY model_type, hardware", params).fetchall()
    return {(m, h): s for m, h, s in rows}


def record_generator_update(con, row: dict) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS hwcov")
    con.execute(GENERATOR_UPDATES_DDL)
    next_id = con.execute("SELECT coalesce(max(id), 0) + 1 FROM hwcov.generator_updates").fetchall()[0][0]
    con.execute("INSERT INTO hwcov.generator_updates VALUES (?, ?, ?, now(), ?, ?, ?, ?, ?, ?)",
                [next_id, row["generator_name"], row["hardware_platform"], row["patch_description"],
                 row["affected_models"], row["success_rate_before"], row["success_rate_after"],
                 row["model_types"], row["run_id"]])


# -- benchmarks and profiles (hwcov/bench/cells.py, hwcov/bench/profiling.py) ---------------------------------------
_SQL_TYPES = {"str": "VARCHAR", "int": "BIGINT", "float": "DOUBLE"}



def table_ddl(table: str, columns: dict) -> str:
    cols = ", ".join(f"{name} {_SQL_TYPES[kind]}" for name, kind in columns.items())
    return f"CREATE TABLE IF NOT EXISTS hwcov.{table} ({cols})"


def _profile_tables() -> dict:
    # every measurement of every benchmark cell (benchmark_results holds the latest of each)
    return {"benchmark_history": BENCH_COLUMNS, "layer_profiles": LAYER_PROFILE_COLUMNS,
            "memory_profiles": MEMORY_PROFILE_COLUMNS}


def add_missing_columns(con, table: str, columns: dict) -> None:
    """Columns added to a table's schema since it was created, appended (the IO manager inserts by position)."""
    have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                      "'hwcov' AND table_name = ?", [table]).fetchall()}
    if not have:
        return
    for name, kind in columns.items():
        if name not in have:
            con.execute(f"ALTER TABLE hwcov.{table} ADD COLUMN {name} {_SQL_TYPES[kind]}")


def add_frame_columns(con, schema: str, table: str, frame) -> None:
    """The frame's columns that the stored table lacks, appended to it with the types DuckDB reads from the frame
    (the frame's columns are the table's in order, then the new ones: hwcov.core.schema appends)."""
    have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                      "AND table_name = ?", [schema, table]).fetchall()}
    missing = [c for c in frame.columns if c not in have]
    if not have or not missing:
        return
    con.register("hwcov_new_columns", frame[missing])
    try:
        types = {name: kind for name, kind, *_ in con.execute("DESCRIBE SELECT * FROM hwcov_new_columns").fetchall()}
    finally:
        con.unregister("hwcov_new_columns")
    for name in missing:
        con.execute(f'ALTER TABLE {schema}.{table} ADD COLUMN "{name}" {types[name]}')


def _ensure(con, table: str) -> dict:
    columns = _profile_tables()[table]
    con.execute("CREATE SCHEMA IF NOT EXISTS hwcov")
    con.execute(table_ddl(table, columns))
    add_missing_columns(con, table, columns)
    return columns


def append_benchmark_history(con, df) -> None:
    columns = _ensure(con, "benchmark_history")
    con.register("bench_df", df[list(columns)])
    con.execute(f"INSERT INTO hwcov.benchmark_history ({', '.join(columns)}) SELECT * FROM bench_df")
    con.unregister("bench_df")


def replace_profile(con, table: str, df) -> None:
    """Store a profile, replacing the earlier profile of the same (model, hardware, precision, batch, seq, variant)."""
    columns = _ensure(con, table)
    keys = ["model_type", "hardware", "precision", "batch_size", "seq_len", "variant"]
    for key in df[keys].drop_duplicates().itertuples(index=False):
        con.execute(f"DELETE FROM hwcov.{table} WHERE " + " AND ".join(f"{k} = ?" for k in keys), list(key))
    con.register("profile_df", df[list(columns)])
    con.execute(f"INSERT INTO hwcov.{table} ({', '.join(columns)}) SELECT * FROM profile_df")
    con.unregister("profile_df")


def read_table(con, table: str):
    """A hwcov table as a DataFrame; an empty one with its columns when it doesn't exist yet."""
    import pandas as pd

    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'hwcov' "
                         "AND table_name = ?", [table]).fetchall()[0][0]
    if exists:
        return con.execute(f"SELECT * FROM hwcov.{table}").df()
    if table == "benchmark_results":
        return pd.DataFrame(columns=list(BENCH_COLUMNS))
    if table == "checkpoint_results":
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    return pd.DataFrame(columns=list(_profile_tables()[table]))
