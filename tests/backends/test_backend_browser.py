"""Browser backends for real: headless Chromium (Playwright), onnxruntime-web from npm, tiny models.

Skipped, with the reason, where Chromium or the npm packages are absent (run .ci/setup)."""
import os
import time
import urllib.error
import urllib.request

import pytest

from hwcov.backends import validate
from hwcov.backends.browser import backend as browser_backend
from hwcov.backends.browser import jobs, placements, server
from hwcov.backends.registry import get_backend
from hwcov.cases import generate
from tests.conftest import SAMPLE, needs_browser, perturbed_reference

pytestmark = needs_browser()


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("exports")


def test_page_server_serves_only_its_files_with_isolation_headers(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"onnx")
    with server.PageServer() as page_server:
        url = page_server.add(model)
        with urllib.request.urlopen(page_server.origin + url) as resp:
            assert resp.read() == b"onnx"
            assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert resp.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        with urllib.request.urlopen(page_server.origin + "/ort/ort.wasm.min.mjs") as resp:
            assert resp.headers["Content-Type"] == "text/javascript"
        for bad in (url.replace("model.onnx", "secret.txt"), "/ort/../package.json", "/files/x/secret.txt"):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(page_server.origin + bad)
        origin = page_server.origin
    with pytest.raises(urllib.error.URLError):  # torn down
        urllib.request.urlopen(origin + "/", timeout=5)


def test_a_hung_job_is_killed_and_fails_alone():
    with pytest.raises(jobs.BrowserJobError, match="timed out"):
        jobs.in_fork(time.sleep, 60, timeout_s=1)
    assert jobs.in_fork(sum, [1, 2]) == 3


def live_in_groups(groups) -> list:
    from pathlib import Path

    live = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.getpgid(int(proc.name)) in groups \
                    and "State:\tZ" not in (proc / "status").read_text():
                live.append(int(proc.name))
        except OSError:
            pass
    return live


def test_a_job_whose_starter_dies_is_reaped_with_its_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    groups = tmp_path / "groups"

    def job():
        with sync_playwright() as p:
            jobs.launch(p)
            staged = tmp_path / "groups.tmp"
            staged.write_text(" ".join(map(str, jobs.groups_below(os.getpid()) | {os.getpgid(0)})))
            staged.rename(groups)
            time.sleep(60)

    starter = os.fork()
    if starter == 0:  # stands in for a runner worker killed at its timeout
        try:
            jobs.in_fork(job, timeout_s=120)
        finally:
            os._exit(0)
    assert_reaped_with_its_browser(starter, groups)


def assert_reaped_with_its_browser(caller: int, groups_file, timeout_s: float = 60) -> None:
    """`caller` (a forked stand-in for a runner worker) writes the process groups it started, browser included, to
    groups_file; once it is SIGKILLed, every process of those groups must go."""
    import signal

    deadline = time.monotonic() + timeout_s
    while not groups_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    launched = {int(g) for g in groups_file.read_text().split()}
    assert len(launched) >= 2 and live_in_groups(launched)  # the starter's group and Chromium's
    os.kill(caller, signal.SIGKILL)
    os.waitpid(caller, 0)
    while live_in_groups(launched) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not live_in_groups(launched)


def _kill_renderers():
    """SIGKILL the renderers of the Chromium this process started: what a tab crash is."""
    import signal

    for group in jobs.groups_below(os.getpid()):
        for pid in os.listdir("/proc"):
            try:
                if pid.isdigit() and os.getpgid(int(pid)) == group \
                        and b"--type=renderer" in open(f"/proc/{pid}/cmdline", "rb").read():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


def _crash_a_tab():
    import threading

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = jobs.launch(p)
        try:
            page = chromium.new_page()
            threading.Timer(1.0, _kill_renderers).start()
            page.evaluate("() => new Promise(resolve => setTimeout(resolve, 30000))")
        finally:
            chromium.close()


def test_a_crashed_tab_is_a_crash_row_not_a_crashed_run():
    with pytest.raises(jobs.BrowserJobError) as err:
        jobs.in_fork(_crash_a_tab, timeout_s=60)
    assert jobs.job_status(str(err.value)) == "crash", str(err.value)
    assert jobs.job_status("browser job timed out after 1 s") == "timeout"
    assert jobs.job_status("RangeError: Array buffer allocation failed") == "oom"
    assert jobs.job_status("Error: [WebGPU] Kernel failed") == "fail_to_run"


def test_placements_are_read_from_the_session_log_and_judged():
    import collections

    log = ["error: 2026 [V:onnxruntime:, session_state.cc:1383 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on "
           "[CPUExecutionProvider]. Number of nodes: 2",
           "error: [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]   Cast (node__to_copy)",
           "error: [V:onnxruntime:, session_state.cc:1385 VerifyEachNodeIsAssignedToAnEp]   MatMul (node_mm)",
           "error: [V:onnxruntime:, session_state.cc:1383 VerifyEachNodeIsAssignedToAnEp]  Node(s) placed on "
           "[WebGpuExecutionProvider]. Number of nodes: 3"]
    placed = placements.placements(log)
    assert placed["CPUExecutionProvider"] == (2, collections.Counter({"Cast": 1, "MatMul": 1}))
    assert placed["WebGpuExecutionProvider"][0] == 3
    assert placements.placement_fallback("webgpu", placed) == ""
    assert placements.placement_text(placed) == "WebGpuExecutionProvider 3, CPUExecutionProvider 2 (Cast, MatMul)"
    mostly_cpu = dict(placed, CPUExecutionProvider=(9, collections.Counter({"Conv": 9})))
    assert "only 3 of 12 nodes ran on WebGpuExecutionProvider" in placements.placement_fallback("webgpu", mostly_cpu)
    assert "Conv" in placements.placement_fallback("webgpu", mostly_cpu)
    assert placements.placement_fallback("wasm", placed) != ""  # 3 of 5 nodes elsewhere than wasm's CPU provider


def test_versions_are_cheap_and_name_browser_and_runtime():
    v = get_backend("wasm").versions()
    assert v.startswith("Chromium ") and "onnxruntime-web 1." in v and "transformers" in v


def test_probes_report_browser_adapter_and_webnn_error():
    wasm = get_backend("wasm").probe()
    assert wasm.available and "Chromium" in wasm.device_name and "crossOriginIsolated=True" in wasm.device_name
    gpu = get_backend("webgpu").probe()
    assert gpu.available, gpu.error
    assert "WebGPU adapter" in gpu.device_name and "fallback=" in gpu.device_name
    nn = get_backend("webnn").probe()
    assert not nn.available and "NotSupportedError" in nn.error and "createContext" in nn.error


def _page_probe_held(task) -> dict:
    """In a case worker, before anything probes: the page probe it already holds."""
    return {"status": "pass", "held": browser_backend.probe_answers()}


def test_case_workers_take_the_callers_page_probe_instead_of_launching_a_chromium():
    """The sweep's parent probes once; its cases fork from the fork server, not from it, and each launched a Chromium
    to probe again (~2 s of every wasm case). The answer now travels with each case (hwcov.run.inherit)."""
    from hwcov.run.runner import Limits, run_isolated

    assert get_backend("wasm").probe().available  # this process has probed
    held = []
    run_isolated(["a", "b"], _page_probe_held, lambda t, r, s: held.append(r.get("held")), Limits(workers=2))
    assert held == [browser_backend.probe_answers()] * 2 and "page" in held[0]


def test_missing_chromium_is_unavailable_with_the_launch_error(monkeypatch, archs):
    monkeypatch.setattr(jobs, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(browser_backend, "_PROBES", {})
    probe = get_backend("wasm").probe()
    assert not probe.available and "/nonexistent/chromium" in probe.error and "launch" in probe.error
    row = get_backend("webgpu").run(generate.case_for(archs["bert"]), "fp32", 1)
    assert row["status"] == "unavailable" and "/nonexistent/chromium" in row["error_message"]


def test_webnn_rows_are_unavailable_with_the_browsers_words(archs):
    row = get_backend("webnn").run(generate.case_for(archs["bert"]), "fp32", 1)
    assert row["status"] == "unavailable" and "NotSupportedError" in row["error_message"]


def test_webgpu_fp16_needs_shader_f16(archs):
    gate = get_backend("webgpu").gate_row("fp16")
    features = browser_backend.BrowserBackend("webgpu").page_probe()["webgpu"]["features"]
    if "shader-f16" in features:
        assert gate is None and get_backend("webgpu").gate("fp16") == ""
    else:
        assert gate["status"] == "not_applicable" and "shader-f16" in gate["error_message"]
        assert get_backend("webgpu").gate("fp16") == gate["error_message"]  # the interface's reason
    assert get_backend("webgpu").gate_row("int8")["status"] == "not_applicable"


@pytest.mark.parametrize("hardware,model_type", [("wasm", m) for m in SAMPLE] + [("webgpu", "bert"), ("webgpu", "vit")])
def test_runs_match_the_reference_with_evidence(archs, export_dir, hardware, model_type):
    """Over the categories (text, decoder, enc-dec, vision, audio, multimodal): the forward, then both modes (#25)
    on the same page provider -- three shapes of the dynamic graph, and greedy generation with its cache."""
    row = browser_backend.BrowserBackend(hardware, export_dir).run(generate.case_for(archs[model_type]), "fp32", 1)
    assert row["status"] == "pass", row["error_message"]
    assert row["dynamic_status"] == "pass", (row["dynamic_shapes"], row["dynamic_message"])
    assert row["dynamic_shapes"].count(" pass") == 3 and "(export) pass" in row["dynamic_shapes"]
    # gpt2 generates, t5 too (its encoder a graph on the page), bert's LM head as a decoder with its cache; the rest
    # have no generative head (no generate columns)
    generates = {"gpt2": "pass", "t5": "pass", "bert": "pass"}.get(model_type, "")
    assert row.get("generate_status", "") == generates, row.get("generate_message")
    assert row["max_abs_diff"] <= row["tolerance"] == validate.tolerance(hardware, "fp32").value
    ep = {"wasm": "CPUExecutionProvider", "webgpu": "WebGpuExecutionProvider"}[hardware]
    assert f"executionProviders=['{hardware}']" in row["device_name"] and f"nodes on {ep}" in row["device_name"]
    assert "Chromium" in row["device_name"] and "first run" in row["device_name"]
    # a private page host (no runner worker here) has no page to open ahead: the create time is the page's first
    assert "(runtime initialized ahead)" not in row["device_name"]
    if hardware == "webgpu":
        assert "WebGPU adapter" in row["device_name"]
    assert "onnxruntime-web 1." in row["runtime_version"] and row["export_route"] in row["runtime_version"]
    assert len(row["output_checksum"]) == 16 and row["output_shapes"] and row["inputs"]
    assert row["execution_time_ms"] > 0 and row["session_create_ms"] > 0


def test_perturbed_reference_fails_accuracy_through_the_browser(archs, export_dir, tmp_path):
    bert, path = perturbed_reference(archs["bert"], tmp_path)
    backend = browser_backend.BrowserBackend("wasm", export_dir)
    backend.routes = ("hf-onnx",)  # one route keeps the test short; the route loop is the shared one
    row = backend.run(bert, "fp32", 1, reference_dir=tmp_path)
    assert row["status"] == "fail_accuracy" and row["max_abs_diff"] == pytest.approx(1e-2, rel=1e-3)
    assert "max |diff|" in row["error_message"] and row["reference_path"] == str(path)
    assert "CPUExecutionProvider" in row["device_name"]


def test_sweep_runs_browser_cases_in_forked_workers(archs, tmp_path):
    """The sweep's path: cpu references first, then wasm in the runner's forked workers (no address-space cap:
    Chromium can't start under one, and says so when capped)."""
    from hwcov.run import sweep
    from hwcov.run.runner import Limits

    tests = generate.generate([archs["vit"]], tmp_path / "gen")
    quiet = {"progress": False, "log": lambda m: None}
    assert sweep.sweep(tests, "cpu", tmp_path / "art", limits=Limits(workers=1), **quiet)[0]["status"] == "pass"
    row, = sweep.sweep(tests, "wasm", tmp_path / "art", limits=Limits(workers=1, memory_mb=0), **quiet)
    assert row["status"] == "pass", row["error_message"]
    assert row["reference_path"].endswith(".npz") and row["max_abs_diff"] <= 1e-4
    assert "wasm threads 1" in row["device_name"] and "nodes on CPUExecutionProvider" in row["device_name"]
    # the modes from a runner worker: its torch work in the worker, its graphs on a spawned page host's page
    assert row["dynamic_status"] == "pass" and row["dynamic_route"] == "hf-onnx-dynamic", row["dynamic_message"]
    capped, = sweep.sweep(tests, "wasm", tmp_path / "art", limits=Limits(workers=1, memory_mb=8192), force=True,
                          **quiet)
    # where the process may lift the cap (CAP_SYS_RESOURCE) the job does and passes; else the row says why
    assert capped["status"] == "pass" or "RLIMIT_AS" in capped["error_message"], capped["error_message"]


def test_batch_above_one_runs_through_the_browser(archs, export_dir):
    """The seed's web matrix runs batches 2, 4, 8: the export, the feed and the outputs carry the batch."""
    row = browser_backend.BrowserBackend("wasm", export_dir).run(generate.case_for(archs["bert"]), "fp32", 2)
    assert row["status"] == "pass", row["error_message"]
    assert row["max_abs_diff"] <= row["tolerance"] and any(export_dir.glob("bert/*-b2-*/model.onnx"))
    assert all(shape.split(":")[1].startswith("2x") for shape in row["output_shapes"].split(";")), row["output_shapes"]


def test_cli_runs_one_materialization_per_batch_size(monkeypatch, tmp_path, capsys):
    from hwcov.cli import main as cli
    from hwcov.cli import verbs_run
    from hwcov.orchestration import pipeline

    calls = []
    monkeypatch.setenv("HWCOV_DB_PATH", str(tmp_path / "db.duckdb"))
    monkeypatch.setattr(pipeline, "run_pipeline", lambda *a, **k: calls.append(k) or True)
    monkeypatch.setattr(verbs_run, "print_summary", lambda *a, **k: None)
    assert cli.main(["--hardware", "webgpu", "--model", "bert", "--batch-size", "1,2,4,8", "--precision", "fp32"]) == 0
    assert calls[0]["batch_sizes"] == [1, 2, 4, 8] and calls[0]["precision"] == "fp32"
    assert cli.main(["--hardware", "webgpu", "--model", "bert"]) == 0
    assert calls[1]["batch_sizes"] == [1] and calls[1]["precision"] == ""
    for bad in (["--batch-size", "0"], ["--batch-size", "two"], ["--precision", "fp8"]):
        assert cli.main(["--hardware", "webgpu", *bad]) == 2
        assert "hwcov: error:" in capsys.readouterr().err


def test_browser_failures_are_classified_by_the_catalog():
    """The catalog's browser patterns match the messages this backend really writes."""
    import collections

    from hwcov.run import patterns

    mostly_cpu = {"WebGpuExecutionProvider": (1, collections.Counter()),
                  "CPUExecutionProvider": (9, collections.Counter({"Conv": 9}))}
    fallback = f"hf-onnx: {placements.placement_fallback('webgpu', mostly_cpu)}"
    assert patterns.classify("unsupported_op", fallback) == "browser_provider_fallback"
    with pytest.raises(jobs.BrowserJobError) as hung:
        jobs.in_fork(__import__("time").sleep, 30, timeout_s=1)
    assert patterns.classify("timeout", f"hf-onnx: onnxruntime-web webgpu: {hung.value}") == "browser_page_hung"
    assert patterns.classify("crash", "hf-onnx: onnxruntime-web wasm: Page.evaluate: Target crashed") \
        == "browser_page_crash"


@pytest.mark.parametrize("hardware", ["wasm", "webgpu"])
def test_benchmark_cells_are_timed_on_the_page_with_the_warmup_budget(archs, export_dir, hardware, monkeypatch):
    from hwcov.bench import cells as benchmark
    from hwcov.core import timing

    monkeypatch.setattr(timing, "WARMUP_BUDGET_S", 1e-6)  # spent by one warm run, as a 60-s forward spends 2 s
    row = benchmark.run_cell(generate.case_for(archs["bert"]), hardware, "fp32", 2, 16, min_duration_s=0.05,
                             export_dir=export_dir)
    assert row["status"] == "pass", row.get("error_message")
    assert "Chromium" in row["device_name"] and 0.0 <= row["max_abs_diff"] <= 1e-3
    assert row["warmup"] == 2  # the cold first run plus one budgeted warm run, not the five asked for
    assert row["iterations"] >= 10 and 0 < row["p50_ms"] <= row["p99_ms"]
    assert row["throughput_items_s"] == pytest.approx(2 / (row["mean_ms"] / 1000), rel=1e-12)
    assert row["load_ms"] > 0 and row["first_run_ms"] > 0 and row["peak_rss_mb"] > 50


def test_a_cell_too_slow_for_the_page_limit_is_not_applicable_from_its_warm_run(archs, export_dir):
    from hwcov.bench import cells as benchmark

    started = time.perf_counter()
    row = benchmark.run_cell(generate.case_for(archs["bert"]), "wasm", "fp32", 1, 16, min_iters=10**7,
                             export_dir=export_dir)
    assert time.perf_counter() - started < jobs.JOB_TIMEOUT_S  # said at once, not when the limit killed it
    assert row["status"] == "not_applicable" and "page limit (HWCOV_BROWSER_TIMEOUT_S)" in row["error_message"]
    assert "10000000 timed runs at" in row["error_message"] and "p50_ms" not in row
    assert row["first_run_ms"] > 0 and 0.0 <= row["max_abs_diff"] <= 1e-4 and "Chromium" in row["device_name"]


def test_a_benchmark_page_killed_at_its_limit_is_a_timeout_that_resume_measures_again(archs, export_dir, monkeypatch):
    from hwcov.assets.benchmark_results import RERUN
    from hwcov.bench import cells as benchmark

    monkeypatch.setattr(jobs, "JOB_TIMEOUT_S", 0.2)  # Chromium alone takes longer to start
    row = benchmark.run_cell(generate.case_for(archs["bert"]), "wasm", "fp32", 1, 16, min_duration_s=0.05,
                             export_dir=export_dir)
    assert row["status"] == "timeout" and "browser job timed out" in row["error_message"], row
    assert row["status"] in RERUN and "p50_ms" not in row


def test_the_device_text_says_when_the_pages_runtime_was_initialized_ahead(tmp_path):
    """A runner worker's page is opened ahead (host.Spare): its session create then leaves out onnxruntime-web's
    WebAssembly compile, and the row's evidence says so rather than passing it off as a page's first create."""
    import collections

    backend = browser_backend.BrowserBackend("wasm", tmp_path)
    job = {"browser": "Chromium 156", "created": {"createMs": 12.0}, "threads": 1, "first": 1.5, "times": [0.5],
           "placements": {"CPUExecutionProvider": (3, collections.Counter({"Add": 3}))}}
    assert "create 12 ms (runtime initialized ahead), first run" in backend.device_text({**job, "ahead": True})
    assert "create 12 ms, first run" in backend.device_text(job)
