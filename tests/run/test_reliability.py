"""Nothing lost, nothing duplicated: a killed sweep resumes; concurrent partitions share one database."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

HWCOV = str(Path(sys.executable).with_name("hwcov"))
MODELS = ["bert", "gpt2", "vit", "t5", "clip", "wav2vec2", "roberta", "bart"]


def _journal_lines(cwd: Path) -> list[dict]:
    path = cwd / ".hwcov" / "results" / "cpu.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_killed_sweep_resumes_without_losing_or_duplicating(tmp_path):
    args = [HWCOV, "--model", ",".join(MODELS), "--hardware", "cpu", "--workers", "1"]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while len(_journal_lines(tmp_path)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, midway
    proc.wait()
    done_before = {r["model_type"] for r in _journal_lines(tmp_path)}
    assert 2 <= len(done_before) < len(MODELS)

    assert subprocess.run(args, cwd=tmp_path, capture_output=True, timeout=600).returncode == 0
    lines = _journal_lines(tmp_path)
    assert sorted(r["model_type"] for r in lines) == sorted(MODELS)  # finished cases were not run again
    with duckdb.connect(str(tmp_path / "benchmark_db.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT model_type FROM hwcov.run_results WHERE hardware = 'cpu'").fetchall()
    assert sorted(r[0] for r in rows) == sorted(MODELS)


def test_concurrent_hardware_partitions_share_the_database(tmp_path):
    # --expand-hf-models (the seed's verb): every architecture of the installed transformers gets a test
    first = subprocess.run([HWCOV, "--expand-hf-models"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    from hwcov.models import inventory

    assert len(list((tmp_path / "generated_tests").glob("test_hf_*.py"))) == len(inventory.discover())
    procs = [subprocess.Popen([HWCOV, "--model", "bert,gpt2", "--hardware", hw], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for hw in ("cpu", "cuda", "rocm", "mps")]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [o[1][-500:] for o in outs]
    assert not any("lock" in o[1].lower() for o in outs)
    with duckdb.connect(str(tmp_path / "benchmark_db.duckdb"), read_only=True) as con:
        counts = dict(con.execute("SELECT hardware, count(*) FROM hwcov.run_results GROUP BY 1").fetchall())
    assert counts == {"cpu": 2, "cuda": 2, "rocm": 2, "mps": 2}
