"""Benchmark cells, optimization variants and profiles on the real runtimes (torch, ONNX Runtime, OpenVINO),
tiny models, small cells: every figure measured, every switch checked on the runtime's own object."""
import math

import pytest

from hwcov.backends.registry import get_backend
from hwcov.bench import cells as benchmark
from hwcov.bench import profiling, variants
from hwcov.cases import generate

FAST = {"min_duration_s": 0.05}


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
def bert(archs):
    return generate.case_for(archs["bert"])


def assert_measured(row, batch):
    assert row["status"] == "pass", row.get("error_message")
    assert row["iterations"] >= 10 and 0 < row["p50_ms"] <= row["p99_ms"]
    assert row["throughput_items_s"] == pytest.approx(batch / (row["mean_ms"] / 1000), rel=1e-12)
    assert row["load_ms"] > 0 and row["first_run_ms"] > 0 and row["build_ms"] > 0 and row["peak_rss_mb"] > 50
    assert row["machine"] and row["runtime_version"] and row["cpu_threads"] >= 1


@pytest.mark.parametrize("hardware,precision,variant,device,max_diff", [
    ("onnxruntime", "fp32", "ort_enable_all", "onnxruntime CPUExecutionProvider", 1e-4),
    ("onnxruntime", "int8", "ort_enable_all", "onnxruntime CPUExecutionProvider", 0.1),
    ("openvino", "fp32", "ov_latency", "openvino CPU: ", 1e-4),
    ("cpu", "fp32", "eager", "cpu: ", 0.0),
])
def test_cells_on_each_runtime_are_measured_with_their_parity_cost(bert, export_dir, hardware, precision, variant,
                                                                   device, max_diff):
    row = benchmark.run_cell(bert, hardware, precision, 2, 16, variant=variant, export_dir=export_dir, **FAST)
    assert_measured(row, 2)
    assert row["variant"] == variant and row["device_name"].startswith(device)
    assert 0.0 <= row["max_abs_diff"] <= max_diff
    if precision == "int8":  # quantization has a real, visible cost against the fp32 reference
        assert row["max_abs_diff"] > 1e-4
    if hardware != "cpu":
        assert row["export_route"]


def test_variants_are_real_switches_on_the_runtime_objects(bert, export_dir):
    from hwcov.models.build import build_case

    built = build_case(bert, 1)
    ort = get_backend("onnxruntime")
    exported = ort.export_case(built, bert, 1, export_dir)
    levels = {}
    for name in ("ort_disable_all", "ort_enable_all"):
        loaded = ort.load(built, bert, 1, "fp32", name, exported=exported)
        levels[name] = loaded.extra["session"].get_session_options().graph_optimization_level.name
        assert variants.VARIANTS[name][1]["graph_optimization_level"] in loaded.device_name
    assert levels == {"ort_disable_all": "ORT_DISABLE_ALL", "ort_enable_all": "ORT_ENABLE_ALL"}
    ov = get_backend("openvino")
    exported = ov.export_case(built, bert, 1, export_dir)
    hints = {}
    for name in ("ov_latency", "ov_throughput", "ov_latency_1stream"):
        compiled = ov.load(built, bert, 1, "fp32", name, exported=exported).extra["compiled"]
        hints[name] = (str(compiled.get_property("PERFORMANCE_HINT")), int(compiled.get_property("NUM_STREAMS")))
    assert hints["ov_latency"][0] == "LATENCY" and hints["ov_latency_1stream"][1] == 1
    assert hints["ov_throughput"][0] == "THROUGHPUT"


def test_cells_that_cannot_run_are_not_applicable_with_the_reason(bert, export_dir):
    wrong = benchmark.run_cell(bert, "cpu", "fp32", 1, 16, variant="ov_throughput", **FAST)
    assert wrong["status"] == "not_applicable" and "openvino setting" in wrong["error_message"]
    int8 = benchmark.run_cell(bert, "cpu", "int8", 1, 16, **FAST)
    assert int8["status"] == "not_applicable" and "int8" in int8["error_message"]
    long = benchmark.run_cell(bert, "openvino", "fp32", 1, 100_000, export_dir=export_dir, **FAST)
    assert long["status"] == "not_applicable" and "max_position_embeddings" in long["error_message"]
    for row in (wrong, int8, long):
        assert math.isnan(row.get("p50_ms", float("nan"))) and "throughput_items_s" not in row


def test_torch_compile_is_a_measured_variant(bert):
    row = benchmark.run_cell(bert, "cpu", "fp32", 1, 8, variant="torch_compile", **FAST)
    assert_measured(row, 1)
    assert row["max_abs_diff"] <= 1e-4  # inductor's fused kernels, against the eager fp32 reference
    assert row["first_run_ms"] > row["p50_ms"] * 10  # the first call compiles


@pytest.mark.parametrize("hardware,source,kernel", [
    ("cpu", "torch.profiler", "BertLayer"),
    ("openvino", "openvino PERF_COUNT", "FullyConnected"),
    ("onnxruntime", "onnxruntime profiler", "MatMul"),
])
def test_layer_profile_breaks_the_forward_down_per_layer(bert, export_dir, hardware, source, kernel):
    rows = profiling.layer_profile(bert, hardware, "fp32", 1, 16, iterations=3, export_dir=export_dir)
    assert rows and {r["source"] for r in rows} == {source}
    assert any(kernel in r["layer_type"] for r in rows)
    assert sum(r["share_pct"] for r in rows) == pytest.approx(100)
    assert all(r["self_ms"] >= 0 and r["total_ms"] >= r["self_ms"] and r["calls"] >= 1 for r in rows)
    if hardware == "cpu":  # module tree: the model's inclusive time holds its children's
        root = next(r for r in rows if r["layer"] == "<model>")
        assert root["depth"] == 0 and root["total_ms"] == pytest.approx(sum(r["self_ms"] for r in rows), rel=0.05)
        assert any(r["layer"] == "encoder.layer.0.attention.self" for r in rows)


@pytest.mark.parametrize("hardware,stages", [
    ("cpu", ["build", "load", "first_run", "steady"]),
    ("openvino", ["build", "export", "load", "first_run", "steady"]),
])
def test_memory_profile_has_a_peak_per_stage(bert, export_dir, hardware, stages):
    rows = profiling.memory_profile(bert, hardware, "fp32", 1, 16, min_duration_s=0.05, export_dir=export_dir)
    assert [r["stage"] for r in rows] == stages
    for r in rows:
        assert r["peak_rss_mb"] >= r["rss_before_mb"] > 50 and r["peak_delta_mb"] >= 0 and r["seconds"] > 0


def test_profiles_refuse_what_they_cannot_measure(bert):
    with pytest.raises(ValueError, match="no profiler for wasm|wasm unavailable"):
        profiling.layer_profile(bert, "wasm", "fp32", 1, 16)
    with pytest.raises(ValueError, match="hooks eager modules"):
        profiling.layer_profile(bert, "cpu", "fp32", 1, 16, variant="torch_compile")


def test_a_platform_whose_memory_cannot_hold_the_weights_is_not_applicable(bert, tmp_path, monkeypatch):
    import json

    from hwcov.backends import platforms
    from hwcov.backends.registry import HARDWARE

    monkeypatch.setenv(platforms.PLATFORMS_ENV, str(tmp_path / "platforms"))
    spec = {"platform_name": "Tiny MCU", "platform_key": "mcu_tiny", "backend_type": "torch",
            "memory_constraint_mb": 1, "supported_precisions": ["fp32"], "preferred_precision": "fp32",
            "default_batch_size": 1, "default_timeout_seconds": 60, "core_count": 1}
    (tmp_path / "p.json").write_text(json.dumps(spec))
    platforms.define("mcu_tiny", tmp_path / "p.json", reserved=HARDWARE)
    row = benchmark.run_cell(bert, "mcu_tiny", "fp32", 1, 16, **FAST)
    assert row["status"] == "not_applicable", row
    assert "weights alone need" in row["error_message"] and "memory_constraint_mb" in row["error_message"]
    assert benchmark.run_cell(bert, "mcu_tiny", "fp16", 1, 16, **FAST)["status"] == "not_applicable"
