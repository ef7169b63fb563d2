"""The `hwcov` command as a user runs it."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from hwcov.core.schema import EXPORT_COLUMNS

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
    assert "cpu fp32: 4/4 pass" in out.stdout  # one summary line per hardware, precision (and batch)
    assert (cwd / "benchmark_db.duckdb").exists() and (cwd / "generated_tests" / "test_hf_bert.py").exists()
    assert (cwd / ".dagster" / "dagster.yaml").exists()  # the local instance the UI shows
    # library chatter goes to a log, not around the progress bar (issue 29)
    assert "Skipping publisher trust check" not in out.stderr
    assert "Skipping publisher trust check" in (cwd / ".hwcov" / "logs" / "libraries.log").read_text()
    # ... and torch.onnx's, from the fork server's operator registry (#27)
    assert "torchvision is not installed" not in out.stderr
    if importlib.util.find_spec("torchvision") is None:
        assert "torchvision is not installed" in (cwd / ".hwcov" / "logs" / "libraries.log").read_text()


def test_a_no_change_rerun_reuses_inventory_and_results(ran):
    cwd, first = ran
    again = hwcov("--model", "bert,gpt2,vit,llava", "--hardware", "cpu", cwd=cwd)
    assert again.returncode == 0, again.stderr
    assert "inventory and generated tests are up to date" in again.stderr
    assert "all 4 results unchanged" not in again.stderr  # Dagster logs stay quiet at WARNING
    assert again.stdout.splitlines()[0] == first.stdout.splitlines()[0]


def test_force_reruns_cases_without_regenerating_unchanged_tests(ran):
    """--force reruns the cases; the inventory and tests, whose fingerprint is unchanged, are not rebuilt (a
    regeneration that rewrites nothing cost every forced run ~6 s of Dagster and template parsing)."""
    cwd, _ = ran
    before = (cwd / "generated_tests" / "test_hf_bert.py").stat().st_mtime_ns
    journal = cwd / ".hwcov" / "results" / "cpu.jsonl"
    bert_rows = journal.read_text().count('"model_type": "bert"')
    forced = hwcov("--model", "bert", "--hardware", "cpu", "--force", cwd=cwd)
    assert forced.returncode == 0, forced.stderr
    assert "inventory and generated tests are up to date" in forced.stderr
    assert "cpu fp32: 1/1 pass" in forced.stdout
    assert journal.read_text().count('"model_type": "bert"') == bert_rows + 1  # the case ran again
    assert (cwd / "generated_tests" / "test_hf_bert.py").stat().st_mtime_ns == before


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


@pytest.mark.parametrize("verb, expected", [
    ("--analyze-coverage", "# Coverage analysis"), ("--analyze-failures", "# Failure analysis"),
    ("--error-pattern-analysis", "# Failure analysis"), ("--group-failures", "# Failures by pattern and hardware"),
    ("--hardware-failure-analysis", "# Hardware-specific failures"), ("--analyze-trends", "| cpu |"),
    ("--generate-coverage-plan", "# Coverage plan"), ("--estimate-effort", "# Effort estimate"),
    ("--generate-error-resolution-guide", "## missing_decoder_inputs"),
])
def test_analysis_verbs_read_the_database(ran, verb, expected):
    cwd, _ = ran
    out = hwcov(verb, cwd=cwd)
    assert out.returncode == 0 and expected in out.stdout, out.stderr
    empty = hwcov(verb, "--db-path", "missing.duckdb", cwd=cwd)
    assert empty.returncode == 2 and len(empty.stderr.strip().splitlines()) == 1


def test_inventory_exports_and_subsets(ran):
    cwd, _ = ran
    assert hwcov("--list-all-hf-models", "--output", "all_models.json", cwd=cwd).returncode == 0
    models = pd.read_json(cwd / "all_models.json")
    assert {"model_type", "category", "family", "priority"} <= set(models.columns) and len(models) > 400
    assert hwcov("--create-model-subsets", "--output", "subsets", cwd=cwd).returncode == 0
    high = pd.read_json(cwd / "subsets" / "high_priority.json")[0].tolist()
    assert "bert" in high and (cwd / "subsets" / "category_vision.json").exists()


def test_validation_report_and_diagnostics_with_a_standalone_repro(ran):
    cwd, _ = ran
    out = hwcov("--validation-report", "--model", "bert", cwd=cwd)
    assert out.returncode == 0 and "| cpu | fp32 | 1 | pass |" in out.stdout
    diag = hwcov("--diagnostics", "--model", "vit", "--hardware", "cpu", "--output", "diag", cwd=cwd)
    assert diag.returncode == 0 and "## Environment" in diag.stdout
    repro = subprocess.run([sys.executable, "repro.py"], cwd=cwd / "diag" / "vit-cpu", capture_output=True,
                           text=True, timeout=300)
    assert repro.returncode == 0 and "last_hidden_state" in repro.stdout, repro.stderr


@pytest.mark.parametrize("args, expected", [
    (["--model", "no_such_model", "--hardware", "cpu"], "unknown model no_such_model"),
    (["--hardware", "tpu"], "unknown hardware tpu; accepted: cpu"),
    (["--model-category", "poetry", "--hardware", "cpu"], "unknown model category 'poetry'"),
    (["--export-results", "--format", "xml", "--output", "x.xml"], "unknown export format 'xml'"),
    (["--hardware", "cpu", "--db-path", "no/such/dir/db.duckdb"], "does not exist"),
    (["--diagnostics", "--model", "bert"], "needs exactly one --hardware"),
    (["--export-results"], "--export-results needs --output"),
    (["--validation-report", "--model", "bert,gpt2"], "--validation-report needs exactly one --model"),
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


def test_benchmark_measures_stored_passes_and_sweeps_only_unswept_models(ran):
    """(Last in this file: it adds t5 to the module's database.) Stored results are measured as they are; a
    model without one on that hardware is swept first, alone."""
    import duckdb

    cwd, _ = ran
    bench = ("--benchmark", "--hardware", "cpu", "--batch-sizes", "1", "--seq-lens", "16", "--min-duration", "0.05")
    out = hwcov(*bench, "--model", "bert,gpt2", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert "running on cpu" not in out.stderr and "2 default cells" in out.stdout
    out = hwcov(*bench, "--model", "bert,t5", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert "running on cpu" in out.stderr and "cpu fp32: 1/1 pass" in out.stdout  # t5 swept, alone
    with duckdb.connect(str(cwd / "benchmark_db.duckdb"), read_only=True) as con:
        cells = con.execute("SELECT model_type, status FROM hwcov.benchmark_results ORDER BY 1").fetchall()
    assert cells == [("bert", "pass"), ("gpt2", "pass"), ("t5", "pass")]


def test_paths_chosen_on_the_command_line_end_with_the_call(tmp_path, monkeypatch):
    """--db-path is passed as a value (hwcov.core.paths), not written to os.environ: nothing outlives main()."""
    import os

    from hwcov.cli import main as cli
    from hwcov.core import paths

    monkeypatch.delenv(paths.DB_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--report", "--db-path", "elsewhere.duckdb"]) == 2  # no database there
    assert paths.DB_ENV not in os.environ and paths.db_path() == tmp_path / "benchmark_db.duckdb"


def test_an_exported_runtime_summarizes_and_reports_its_modes(ran):
    """gpt2 on onnxruntime beside the cpu rows: the summary gives each mode's figure, the comparative report a column
    per mode beside the forward's (issue #25)."""
    cwd, _ = ran
    out = hwcov("--model", "gpt2", "--hardware", "onnxruntime", "--precision", "fp32", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert "onnxruntime dynamic shapes: 1/1 of its fp32 passes (100.0%) — pass 1" in out.stdout, out.stdout
    assert "onnxruntime generate: 1/1 of its fp32 passes with a generative head (100.0%)" in out.stdout, out.stdout
    report = hwcov("--comparative-report", "--models", "gpt2", "--hardware", "onnxruntime", cwd=cwd)
    assert report.returncode == 0, report.stderr
    header, _, row = report.stdout.split("## Status")[1].strip().splitlines()[:3]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in row.split("|")]))
    assert cells["onnxruntime"] == cells["onnxruntime · dynamic"] == cells["onnxruntime · generate"] == "pass", cells
    # the export and the seed's view carry the modes beside the forward's columns
    exported = hwcov("--export-results", "--format", "csv", "--output", "modes.csv", cwd=cwd)
    assert exported.returncode == 0, exported.stderr
    gpt2 = pd.read_csv(cwd / "modes.csv").set_index(["model_type", "hardware"]).loc[("gpt2", "onnxruntime")]
    assert gpt2["dynamic_status"] == gpt2["generate_status"] == "pass" and "x" in gpt2["dynamic_shapes"]
    with duckdb.connect(str(cwd / "benchmark_db.duckdb"), read_only=True) as con:
        seed = con.execute("SELECT dynamic_status, generate_status, generate_first_divergence FROM "
                           "comprehensive_test_results WHERE model_name = 'gpt2' AND hardware_platform = "
                           "'onnxruntime'").fetchall()
    assert seed == [("pass", "pass", None)], seed


def test_a_database_file_named_like_the_schema_works(tmp_path):
    """DuckDB names a database after its file up to the first dot, so `HWCOV.2026.duckdb` is catalog `HWCOV` and every
    `hwcov.<table>` was ambiguous (the first write failed with a Binder Error); the file is attached under a fixed name."""
    folder = tmp_path / "it's here"
    folder.mkdir()
    out = hwcov("--model", "bert", "--hardware", "cpu", "--db-path", "HWCOV.2026.duckdb", cwd=folder)
    assert out.returncode == 0, out.stderr
    assert "cpu fp32: 1/1 pass" in out.stdout
    report = hwcov("--report", "--db-path", "HWCOV.2026.duckdb", cwd=folder)
    assert report.returncode == 0 and "bert" in report.stdout, report.stderr
