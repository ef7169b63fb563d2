"""hwcov's own DuckDB objects beside the IO manager's asset tables: each defined once, here.

- `hwcov.coverage_history`: one snapshot of pass rates per coverage_report materialization.
- Views with the seed's table names and columns over the assets, so queries written against
  the seed's schema keep working (`SELECT * FROM comprehensive_test_results`).
"""
from __future__ import annotations

from pathlib import Path

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
               test_hash AS patch_version, status, precision, batch_size
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


def connect(db_path: Path, read_only: bool = False, wait_s: float = 120.0):
    """A connection, waiting while another process holds the file's lock (DuckDB is single-writer
    across processes; hwcov's writes are short, so waiting beats failing a concurrent run)."""
    import random
    import time

    import duckdb

    deadline, delay = time.monotonic() + wait_s, 0.05
    while True:
        try:
            return duckdb.connect(str(db_path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay * (1 + random.random()))  # jitter: concurrent waiters don't retry in step
            delay = min(delay * 2, 2.0)


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


def record_generator_update(con, row: dict) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS hwcov")
    con.execute(GENERATOR_UPDATES_DDL)
    next_id = con.execute("SELECT coalesce(max(id), 0) + 1 FROM hwcov.generator_updates").fetchall()[0][0]
    con.execute("INSERT INTO hwcov.generator_updates VALUES (?, ?, ?, now(), ?, ?, ?, ?, ?, ?)",
                [next_id, row["generator_name"], row["hardware_platform"], row["patch_description"],
                 row["affected_models"], row["success_rate_before"], row["success_rate_after"],
                 row["model_types"], row["run_id"]])
