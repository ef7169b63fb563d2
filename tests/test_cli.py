"""The `hwcov` command as a user runs it."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hwcov.commands import EXPORT_COLUMNS

HWCOV = str(Path(sys.executable).with_name("hwcov"))


def hwcov(*args, cwd):
    return subprocess.run([HWCOV, *args], capture_output=True, text=True, cwd=cwd, timeout=900)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("cli")
    out = hwcov("--model", "bert,gpt2,vit,llava", "--hardware", "cpu", cwd=cwd)
    return cwd, out


def test_main_job_runs_and_summarizes(ran):
    cwd, out = ran
    assert out.returncode == 0, out.stderr
    assert "cpu: " in out.stdout and "pass" in out.stdout
    assert (cwd / "benchmark_db.duckdb").exists() and (cwd / "generated_tests" / "test_hf_bert.py").exists()
    assert (cwd / ".dagster" / "dagster.yaml").exists()  # the local instance the UI shows


def test_a_no_change_rerun_reuses_inventory_and_results(ran):
    cwd, first = ran
    again = hwcov("--model", "bert,gpt2,vit,llava", "--hardware", "cpu", cwd=cwd)
    assert again.returncode == 0, again.stderr
    assert "inventory and generated tests are up to date" in again.stderr
    assert "all 4 results unchanged" not in again.stderr  # Dagster logs stay quiet at WARNING
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0]


def test_export_csv_has_the_contract_columns(ran):
    cwd, _ = ran
    out = hwcov("--export-results", "--format", "csv", "--output", "results.csv", cwd=cwd)
    assert out.returncode == 0, out.stderr
    df = pd.read_csv(cwd / "results.csv")
    assert list(df.columns[: len(EXPORT_COLUMNS)]) == EXPORT_COLUMNS
    assert set(df["model_type"]) == {"bert", "gpt2", "vit", "llava"}
    assert len(df) == len(df.drop_duplicates(["model_type", "hardware", "precision", "batch_size"]))
    passed = df[df["status"] == "pass"]
    assert len(passed) >= 3
    assert passed[["device_name", "runtime_version", "output_checksum"]].notna().all().all()


def test_report_prints_markdown(ran):
    cwd, _ = ran
    out = hwcov("--report", cwd=cwd)
    assert out.returncode == 0 and "# hwcov coverage report" in out.stdout and "| cpu |" in out.stdout


@pytest.mark.parametrize("args, expected", [
    (["--model", "no_such_model", "--hardware", "cpu"], "unknown model no_such_model"),
    (["--hardware", "tpu"], "unknown hardware tpu; accepted: cpu"),
    (["--model-category", "poetry", "--hardware", "cpu"], "unknown model category 'poetry'"),
    (["--export-results", "--format", "xml", "--output", "x.xml"], "unknown export format 'xml'"),
    (["--hardware", "cpu", "--db-path", "no/such/dir/db.duckdb"], "does not exist"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(ran, args, expected):
    cwd, _ = ran
    db = cwd / "benchmark_db.duckdb"
    before = db.stat().st_mtime_ns, db.stat().st_size
    out = hwcov(*args, cwd=cwd)
    assert out.returncode == 2
    assert expected in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert (db.stat().st_mtime_ns, db.stat().st_size) == before


def test_corrupt_database_is_refused(tmp_path):
    (tmp_path / "bad.duckdb").write_text("not a database")
    out = hwcov("--report", "--db-path", "bad.duckdb", cwd=tmp_path)
    assert out.returncode == 2 and "not a usable DuckDB database" in out.stderr
    assert (tmp_path / "bad.duckdb").read_text() == "not a database"


def test_help_explains_the_verbs(tmp_path):
    out = hwcov("--help", cwd=tmp_path)
    assert out.returncode == 0 and "--export-results" in out.stdout and "examples:" in out.stdout
