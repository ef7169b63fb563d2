"""Isolation: a crash, a hang, an OOM or an exception costs only its own case."""
import os
import time

from hwcov.runner import Limits, run_isolated


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


def test_faults_are_results_and_the_others_survive(tmp_path):
    results = {}
    tasks = ["ok1", "abort", "hang", "oom", "raise", "ok2", "ok3"]
    limits = Limits(workers=2, timeout_s=5, memory_mb=1024, log_path=str(tmp_path / "children.log"))
    started = time.monotonic()
    run_isolated(tasks, _task, lambda t, r, s: results.setdefault(t, r), limits)
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
