"""Stored strings leave hwcov as data, never as a formula, code or a path (issue #28): the CSV export, the
diagnostics repro script and the model-subset file names."""
import ast
import csv
from types import SimpleNamespace

import pandas as pd
import pytest

from hwcov.cases import generate
from hwcov.cli import output, verbs_results
from hwcov.core.schema import conform

FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
INSIDE = "ok\r=1+1\n@x"  # a CR/LF inside a cell must not start a new row (with a formula first)


def test_csv_export_neutralizes_formula_cells_and_keeps_numbers(tmp_path, monkeypatch):
    rows = [{"model_type": "bert", "category": "text", "family": "encoder", "hardware": "cpu", "precision": "fp32",
             "batch_size": 1, "status": "fail_to_run", "error_message": text, "max_abs_diff": -0.5,
             "execution_time_ms": 1.25} for text in FORMULAS + [INSIDE]]
    monkeypatch.setattr(output, "results", lambda: conform(rows))
    for fmt in ("csv", "json"):
        target = tmp_path / f"out.{fmt}"
        verbs_results.export_results(SimpleNamespace(output=str(target), format=fmt), None, None)
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as fh:
        cells = list(csv.DictReader(fh))
    assert sorted(c["error_message"] for c in cells) == sorted(["'" + text for text in FORMULAS] + [INSIDE])
    assert {c["max_abs_diff"] for c in cells} == {"-0.5"} and {c["batch_size"] for c in cells} == {"1"}
    assert {c["model_type"] for c in cells} == {"bert"}  # a plain string is left as it is
    # only csv is neutralized: json carries the stored text unchanged
    assert sorted(pd.read_json(tmp_path / "out.json")["error_message"]) == sorted(FORMULAS + [INSIDE])


def test_model_subsets_never_write_outside_the_output_folder(tmp_path, monkeypatch):
    inv = pd.DataFrame([{"model_type": "a", "category": "../../escaped", "priority": 1},
                        {"model_type": "b", "category": "/abs/olute", "priority": 2},
                        {"model_type": "c", "category": "text", "priority": 1}])
    monkeypatch.setattr(output, "inventory", lambda: inv)
    out = tmp_path / "deep" / "out"
    verbs_results.create_model_subsets(SimpleNamespace(output=str(out)), None, None)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert all(w.startswith("deep/out/") and w.count("/") == 2 for w in written), written
    assert "deep/out/category_text.json" in written and len(written) == 6


HOSTILE = 'x"""\nopen(pwned_marker, "w")\n"""\\'


def test_diagnostics_repro_holds_stored_values_only_as_literals(archs, tmp_path):
    from hwcov.reports import diagnostics

    case = generate.case_for(archs["bert"])
    row = {"hardware": "cpu" + HOSTILE, "status": "fail" + HOSTILE, "error_message": HOSTILE, "traceback": HOSTILE,
           "batch_size": 1, "precision": "fp32" + HOSTILE, "error_pattern": HOSTILE, "device_name": HOSTILE}
    diagnostics.write(row, case, tmp_path)
    tree = ast.parse((tmp_path / "repro.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "pwned_marker" not in names and "open" not in names
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert "fail" + HOSTILE in strings and "cpu" + HOSTILE in strings


@pytest.mark.parametrize("model,hardware", [("../../up", "cpu"), ("bert", "/etc/x"), ("a\\..\\b", "..")])
def test_diagnostics_folder_stays_inside_the_output_folder(tmp_path, model, hardware):
    from hwcov.reports import diagnostics

    folder = diagnostics.folder(tmp_path, model, hardware)
    assert folder.parent == tmp_path and "/" not in folder.name and ".." not in folder.name
    assert diagnostics.folder(tmp_path, "bert", "cpu") == tmp_path / "bert-cpu"


def test_diagnostics_imports_only_the_generated_test_of_the_model(tmp_path):
    """A crafted generated_tests row pointing at another file: --diagnostics refuses (exit 2), never imports it."""
    import subprocess
    import sys

    import duckdb

    marker = tmp_path / "ran"
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('code ran')\n")
    db = tmp_path / "db.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA hwcov")
        con.execute("CREATE TABLE hwcov.run_results (model_type VARCHAR, hardware VARCHAR, status VARCHAR, "
                    "test_timestamp VARCHAR)")
        con.execute("INSERT INTO hwcov.run_results VALUES ('vit', 'cpu', 'fail_to_run', '2026-12-03 00:00:00')")
        con.execute("CREATE TABLE hwcov.generated_tests (model_type VARCHAR, path VARCHAR)")
        con.execute("INSERT INTO hwcov.generated_tests VALUES ('vit', ?)", [str(evil)])
    done = subprocess.run([sys.executable, "-m", "hwcov.cli.main", "--diagnostics", "--model", "vit", "--hardware",
                           "cpu", "--db-path", str(db), "--generated-dir", str(tmp_path / "gen"), "--output",
                           str(tmp_path / "diag")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "regenerate" in done.stderr
    assert not marker.exists()
