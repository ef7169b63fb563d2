"""Isolation: a crash, a hang, an OOM or an exception costs only its own case."""
import os
import re
import time

import numpy as np

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
    started = time.monotonic()
    results = _run_faults(str(tmp_path / "children.log"))  # from this process, which has run tests for minutes
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


def _threaded_work(model_path: str, task: int) -> dict:
    """What a case does: torch's intra-op pool (OpenMP) and an ONNX Runtime session's pool, two threads each."""
    import onnxruntime as ort
    import torch

    torch.set_num_threads(2)
    a = torch.randn(256, 256)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    x = np.full((64, 64), float(task), np.float32)
    (y,) = session.run(None, {"x": x})
    return {"status": "pass", "torch": float((a @ a).sum()) == float((a @ a).sum()), "onnx": float(y.sum()), "pid": os.getpid(),
            "parent": os.getppid()}


def _matmul_model(path) -> str:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("MatMul", ["x", "x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 64])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_cases_run_from_a_caller_whose_thread_pools_ran(tmp_path):
    """Issue 27: the caller (this pytest process, or a Dagster code server) has run torch's and ONNX Runtime's thread
    pools, and may still be running them while cases start; a child forked from it could inherit a lock held by one
    of their threads (one hung, one aborted as SIGSEGV). Cases fork from the clean fork server instead: 50 of them,
    with the caller's pools busy in a thread of its own meanwhile, all end with their result."""
    import functools
    import threading

    import onnxruntime as ort
    import torch

    model = _matmul_model(tmp_path / "matmul.onnx")
    torch.set_num_threads(2)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    busy = threading.Event()

    def keep_the_pools_busy():
        x, feed = torch.randn(512, 512), {"x": np.ones((64, 64), np.float32)}
        while not busy.is_set():
            x @ x
            session.run(None, feed)

    worker = threading.Thread(target=keep_the_pools_busy, daemon=True)
    worker.start()
    results = {}
    try:
        run_isolated(range(50), functools.partial(_threaded_work, model), lambda t, r, s: results.setdefault(t, r),
                     Limits(workers=2, timeout_s=120, log_path=str(tmp_path / "children.log")))
    finally:
        busy.set()
        worker.join()
    assert sorted(results) == list(range(50))
    assert all(r["status"] == "pass" for r in results.values()), [r for r in results.values() if r["status"] != "pass"]
    assert all(r["onnx"] == 64 * 64 * 64 * t * t for t, r in results.items())  # each case computed its own input
    assert len({r["pid"] for r in results.values()}) == 50
    # forked by the fork server, which never ran a pool, not by this process
    assert len({r["parent"] for r in results.values()}) == 1 and os.getpid() not in {r["parent"] for r in results.values()}
    # each case says so in the children's log, as it does in a Dagster run's (tests/orchestration/test_ui.py)
    started = [line for line in (tmp_path / "children.log").read_text().splitlines() if line.startswith("hwcov case ")]
    assert len(started) == 50 and all(", forked by the fork server (pid " in line for line in started), started[:3]


def test_what_every_case_reads_of_its_machine_is_read_once_by_the_fork_server():
    """The packages' versions (importlib.metadata: ~25 ms a call) and Chromium's (`chromium --version`: ~60 ms) name
    every exported or browser row: a case forked from the fork server finds them read, and reads nothing again."""
    seen = {}
    run_isolated(["look"], _cached_reads, lambda t, r, s: seen.update(r), Limits(workers=1))
    assert seen == {"status": "pass", "versions": (1, 0), "chromium": (1, 0)}


def _cached_reads(task) -> dict:
    from hwcov.backends.browser import jobs
    from hwcov.export import provenance

    before = {"versions": provenance.versions.cache_info(), "chromium": jobs.chromium_version.cache_info()}
    provenance.versions()
    jobs.chromium_version()
    after = {"versions": provenance.versions.cache_info(), "chromium": jobs.chromium_version.cache_info()}
    return {"status": "pass", **{k: (before[k].currsize, after[k].misses - before[k].misses) for k in before}}


def test_a_case_reads_again_a_template_edited_after_its_server_read_it(tmp_path, monkeypatch):
    """The fork server reads the template data every case reads, once; a case forked after an edit (a code server
    lives for days) gets the file as it is now. Forked from this process, which read the file first, as the server."""
    import yaml

    from hwcov.core import data

    (tmp_path / "skips.yaml").write_text(yaml.safe_dump({"model_types": {"a": {"reason": "as read"}}}))
    monkeypatch.setenv("HWCOV_TEMPLATES_DIR", str(tmp_path))
    data.load("skips.yaml")
    (tmp_path / "skips.yaml").write_text(yaml.safe_dump({"model_types": {"a": {"reason": "edited since"}}}))
    seen = {}
    try:
        run_isolated(["look"], _skip_reason, lambda t, r, s: seen.update(r), Limits(workers=1, start="fork"))
    finally:
        data.clear_cache()
    assert seen == {"status": "pass", "reason": "edited since"}


def _skip_reason(task) -> dict:
    from hwcov.core import data

    return {"status": "pass", "reason": data.load("skips.yaml")["model_types"]["a"]["reason"]}


def test_a_case_imports_none_of_hwcovs_modules_the_fork_server_has(archs, tmp_path):
    """What a case runs of hwcov's own (the model builders: ~0.04 s of imports a case) the fork server has imported
    once: a bert case on cpu forked from it imports no hwcov module afresh."""
    from hwcov.run.runner import start_server

    start_server()
    seen = {}
    run_isolated([("cpu", _bert_test(archs, tmp_path))], _case_and_what_it_loaded, lambda t, r, s: seen.update(r),
                 Limits(workers=1))
    assert seen["status"] == "pass" and seen["hwcov_imported"] == [], seen


def test_case_data_is_every_template_file_a_case_parses(archs, tmp_path):
    """CASE_DATA, which the fork server reads once (~0.12 s a case), is all a case parses: a bert case on onnxruntime
    (the tolerance table too) forked after read_case_data() parses no template file. Forked from this process (which read them, as the server does),
    so the check holds whatever environment the suite's one fork server started under."""
    from hwcov.core import data
    from hwcov.run.runner import read_case_data

    data.clear_cache()
    read_case_data()
    seen = {}
    run_isolated([("onnxruntime", _bert_test(archs, tmp_path))], _case_and_what_it_loaded,
                 lambda t, r, s: seen.update(r), Limits(workers=1, start="fork"))
    assert seen["status"] == "pass" and seen["templates_parsed"] == 0, seen


def _bert_test(archs, folder) -> str:
    from hwcov.cases import generate

    path = folder / generate.filename("bert")
    path.write_text(generate.render(archs["bert"])[0], encoding="utf-8")
    return str(path)


def _case_and_what_it_loaded(hardware_and_path: tuple) -> dict:
    import sys
    from pathlib import Path

    from hwcov.core import data
    from hwcov.run import sweep

    hardware, path = hardware_and_path
    before, parsed = set(sys.modules), data.reads()
    task = ({"model_type": "bert", "path": path, "content_hash": ""}, "", "fp32")
    row = sweep.evaluate(hardware, 1, Path(path).parent / "reference", (), task)
    return {"status": row["status"], "templates_parsed": data.reads() - parsed,
            "hwcov_imported": sorted(m for m in set(sys.modules) - before if m.startswith("hwcov."))}


def test_a_case_forked_by_its_caller_says_so_in_the_log(tmp_path):
    """The log line that shows a case came from the fork server tells the other start apart (Limits.start='fork',
    for tests whose patches the case must see)."""
    log = tmp_path / "children.log"
    run_isolated(["ok"], _task, lambda *a: None, Limits(workers=1, start="fork", log_path=str(log)))
    line = log.read_text().splitlines()[0]
    assert re.fullmatch(rf"hwcov case 'ok': pid \d+, forked by its caller \(pid {os.getpid()}\)", line), line


def test_a_case_sees_the_callers_environment_and_paths_as_they_are_when_it_starts(tmp_path, monkeypatch):
    """The fork server started long before (with another environment): what a case reads from its caller is
    carried to it (hwcov.run.inherit), including a variable removed since and the paths chosen in-process."""
    from hwcov.core import paths

    run_isolated(["warm"], _task, lambda *a: None, Limits(workers=1))  # the server exists, with today's environment
    monkeypatch.setenv("HWCOV_TEST_SETTING", "set after the server started")
    monkeypatch.delenv("HOME", raising=False)
    seen = {}
    with paths.configured(db_path=tmp_path / "chosen.duckdb"):
        run_isolated(["look"], _look_around, lambda t, r, s: seen.update(r), Limits(workers=1))
    assert seen == {"status": "pass", "setting": "set after the server started", "home": None,
                    "db_path": str(tmp_path / "chosen.duckdb"), "cwd": os.getcwd()}


def _look_around(task) -> dict:
    from hwcov.core import paths

    return {"status": "pass", "setting": os.environ.get("HWCOV_TEST_SETTING"), "home": os.environ.get("HOME"),
            "db_path": str(paths.db_path()), "cwd": os.getcwd()}


def test_each_case_has_its_workers_slot_for_the_runs_length(tmp_path):
    """A worker's slot (hwcov.core.limits.worker_slot) is one folder per worker, handed to one case at a time: what a
    case leaves there (a browser worker's page host) the worker's next case finds; the run's end removes it."""
    seen = []
    run_isolated(range(6), _mark_slot, lambda t, r, s: seen.append(r), Limits(workers=2))
    slots = {r["slot"] for r in seen}
    assert len(slots) == 2 and all(r["status"] == "pass" for r in seen)
    for slot in slots:  # each case found what every earlier case of its slot left there, and nothing else
        assert sorted(r["found"] for r in seen if r["slot"] == slot) == list(range(sum(r["slot"] == slot for r in seen)))
    assert not any(os.path.exists(slot) for slot in slots)  # gone with the run
    assert _mark_slot(0) == {"status": "pass", "slot": None, "found": -1}  # outside a runner: no slot


def _mark_slot(task) -> dict:
    from hwcov.core.limits import worker_slot

    slot = worker_slot()
    if slot is None:
        return {"status": "pass", "slot": None, "found": -1}
    marks = sorted(slot.glob("case-*"))
    (slot / f"case-{task}").write_text("")
    return {"status": "pass", "slot": str(slot), "found": len(marks)}


def test_cases_start_with_the_runtimes_imported_and_no_thread_started_for_them():
    """An exported runtime's case doesn't import onnx, onnxruntime, transformers.exporters, the export toolchain or
    hwcov's case code afresh (~2.3 s a case), nor rebuild torch.onnx's operator registry: the fork server did, once,
    from when start_server() was called (a sweep calls it before Dagster's run starts); openvino, whose import starts a
    TBB thread, it leaves to the case."""
    from hwcov.export.warm import TOOLCHAIN
    from hwcov.run.runner import CASE_MODULES, WARM_IMPORTS, start_server

    start_server()
    seen = []
    for _ in range(2):
        run_isolated(["look"], _modules_at_start, lambda t, r, s: seen.append(r), Limits(workers=1))
    assert all(r["status"] == "pass" for r in seen), seen
    assert set(WARM_IMPORTS + CASE_MODULES + TOOLCHAIN) <= set(seen[0]["loaded"]), seen
    assert "openvino" not in seen[0]["loaded"]
    assert seen[0]["registry_shared"]
    assert seen[0]["frozen"] > 100_000  # the server's objects: outside every collection the case makes
    assert seen[0]["server"] == seen[1]["server"] != os.getpid()  # one server, started once, not this process


def _modules_at_start(task) -> dict:
    import sys

    from hwcov.export.warm import TOOLCHAIN
    from hwcov.run.runner import CASE_MODULES, WARM_IMPORTS

    import gc

    registry = sys.modules.get("torch.onnx._internal.exporter._registration")
    return {"status": "pass", "server": os.getppid(), "frozen": gc.get_freeze_count(),
            "loaded": [m for m in (*WARM_IMPORTS, *CASE_MODULES, *TOOLCHAIN, "openvino") if m in sys.modules],
            "registry_shared": getattr(getattr(registry, "ONNXRegistry", None), "from_torchlib", None) is not None
            and getattr(registry.ONNXRegistry.from_torchlib, "hwcov_shared", False)}
