"""Isolation: a crash, a hang, an OOM or an exception costs only its own case."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hwcov.run.runner import Limits, run_isolated


def _task(kind):
    if kind == "abort":
        os.abort()
    if kind == "hang":
        time.sleep(600)
    if kind == "oom":
        blocks = []
        while True:
            blocks.append(bytearray(64 * 1024 * 1024))
    if kind == "raise":
        raise ValueError("broken config")
    return {"status": "pass", "value": kind}


TASKS = ["ok1", "abort", "hang", "oom", "raise", "ok2", "ok3"]


def _run_faults(log_path: str) -> dict:
    results = {}
    limits = Limits(workers=2, timeout_s=10, memory_mb=1024, log_path=log_path)  # 1 GB in 64 MB steps: seconds on a loaded machine
    run_isolated(TASKS, _task, lambda t, r, s: results.setdefault(t, r), limits)
    return results


def test_faults_are_results_and_the_others_survive(tmp_path):
    # In a fresh interpreter, as the CLI runs it: after ~240 tests the pytest process carries state
    # (thread pools, signal handlers) under which an abort in a forked child surfaced as SIGSEGV.
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", "import json, sys; from tests.run.test_runner import _run_faults; "
                          "print(json.dumps(_run_faults(sys.argv[1])))", str(tmp_path / "children.log")],
                         cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    tasks = TASKS
    assert set(results) == set(tasks)
    assert results["abort"]["status"] == "crash" and "SIGABRT" in results["abort"]["error_message"]
    assert results["hang"]["status"] == "timeout"
    assert results["oom"]["status"] == "oom"
    assert results["raise"] == {**results["raise"], "status": "fail_to_run",
                                "error_message": "ValueError: broken config"}
    assert [results[k]["value"] for k in ("ok1", "ok2", "ok3")] == ["ok1", "ok2", "ok3"]
    assert time.monotonic() - started < 60  # the hang was cut at its timeout, not waited out


def test_pool_keeps_its_width_after_crashes(tmp_path):
    seen = []
    tasks = ["abort"] * 3 + [f"ok{i}" for i in range(4)]
    run_isolated(tasks, _task, lambda t, r, s: seen.append(r["status"]),
                 Limits(workers=2, timeout_s=30, log_path=str(tmp_path / "children.log")))
    assert seen.count("crash") == 3 and seen.count("pass") == 4
