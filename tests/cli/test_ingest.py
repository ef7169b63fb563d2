"""`hwcov --ingest`: a journal a lent GPU wrote (benchmarks/device_sweep.py) lands in run_results as it was measured;
a file that can't be loaded is one line and exit 2, with nothing appended (issue #30).

data/h200_cuda_sample.jsonl holds real rows of the H200 sweep of 2026-12-04 (bert, gpt2, vit and autoformer at fp32,
fp16 and bf16), copied unchanged from the journal the device returned.
"""
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from hwcov.backends.torch import probe_in_child
from hwcov.cli import main as cli

HWCOV = str(Path(sys.executable).with_name("hwcov"))
SAMPLE = Path(__file__).parent / "data" / "h200_cuda_sample.jsonl"
MODELS = "bert,gpt2,vit,autoformer"


def sample_rows() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text().splitlines()]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("ingest")
    out = subprocess.run([HWCOV, "--ingest", str(SAMPLE), "--model", MODELS], capture_output=True, text=True,
                         cwd=cwd, timeout=900)
    return cwd, out


def test_device_rows_land_in_run_results_as_measured(ingested):
    cwd, out = ingested
    assert out.returncode == 0, out.stderr
    assert "cuda fp32: 4/4 pass" in out.stdout and "cuda fp16: 3/4 pass" in out.stdout
    with duckdb.connect(str(cwd / "benchmark_db.duckdb"), read_only=True) as con:
        stored = con.execute("SELECT model_type, precision, status, device_name, output_checksum, max_abs_diff, "
                             "error_pattern FROM hwcov.run_results WHERE hardware = 'cuda'").df()
    assert len(stored) == 12
    by_case = {(r["model_type"], r["precision"]): r for r in sample_rows()}
    for row in stored.to_dict("records"):
        sent = by_case[(row["model_type"], row["precision"])]
        assert row["status"] == sent["status"]
        if sent["status"] == "pass":  # the evidence the device measured, unchanged
            assert "NVIDIA H200" in row["device_name"] and row["output_checksum"] == sent["output_checksum"]
            assert row["max_abs_diff"] == pytest.approx(sent["max_abs_diff"])
    failed = stored[stored["status"] != "pass"].set_index("precision")["error_pattern"].to_dict()
    # classified again by this catalog: the device's had no name for either
    assert failed == {"fp16": "mixed_precision_dtypes", "bf16": "unsupported_precision_kernel"}


def test_architectures_the_device_did_not_reach_are_this_machines_unavailable(ingested, tmp_path):
    cwd, _ = ingested
    rows = [r for r in sample_rows() if r["model_type"] == "bert"]
    path = tmp_path / "cuda.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = subprocess.run([HWCOV, "--ingest", str(path), "--model", "bert,t5"], capture_output=True, text=True,
                         cwd=cwd, timeout=900)
    assert out.returncode == 0, out.stderr
    with duckdb.connect(str(cwd / "benchmark_db.duckdb"), read_only=True) as con:
        t5 = con.execute("SELECT status, error_message FROM hwcov.run_results "
                         "WHERE hardware = 'cuda' AND model_type = 't5'").fetchall()
    assert t5 and {s for s, _ in t5} == {"unavailable"}  # with this machine's probe text, not a guess
    assert "not compiled with CUDA" in t5[0][1] or "CPU-only" in t5[0][1]


def rewrite(tmp_path, edit, name="cuda.jsonl") -> Path:
    rows = sample_rows()
    edit(rows)
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


BAD = {
    "missing": (lambda rows: None, "no such file"),
    "torn": (lambda rows: rows.append('{"model_type": "bert", "hardw'), "not a JSON line"),
    "list": (lambda rows: rows.append("[1, 2]"), "not an object"),
    "two_hardware": (lambda rows: rows[0].update(hardware="rocm"), "several hardware keys"),
    "cpu": (lambda rows: [r.update(hardware="cpu") for r in rows], "references every other row is judged by"),
    "unknown_hw": (lambda rows: [r.update(hardware="../../etc") for r in rows], "not a runnable key"),
    "status": (lambda rows: rows[1].update(status="<script>"), "not one of"),
    "precision": (lambda rows: rows[1].update(precision="int8"), "cuda runs fp32, fp16, bf16"),
    "batch": (lambda rows: rows[1].update(batch_size="1; DROP TABLE"), "batch_size"),
    "lacks": (lambda rows: rows[2].pop("case_key"), "lacks case_key"),
    "other_transformers": (lambda rows: rows[3].update(runtime_version="torch 2.11; transformers 5.17.0"),
                           "this inventory is transformers"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_journal_that_cant_be_loaded_is_one_line_and_nothing_is_appended(case, hwcov_env, tmp_path, capsys):
    edit, message = BAD[case]
    path = tmp_path / "absent.jsonl" if case == "missing" else rewrite(tmp_path, edit)
    assert cli.main(["--ingest", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not list((hwcov_env / "artifacts").glob("results/*.jsonl"))


def test_the_gpu_probe_runs_in_a_child_and_answers_with_the_drivers_words():
    """The sweep forks every case from the process that probes; CUDA can't start in a child of a parent that
    started it, so the probe's own start happens in a throwaway child. Here (no GPU) it answers with torch's
    message; the parent never initializes CUDA either way."""
    import torch

    probe = probe_in_child("cuda")
    assert not probe.available and probe.error and "torch" in probe.runtime_version
    assert not torch.cuda.is_initialized()
