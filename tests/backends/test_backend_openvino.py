"""OpenVINO backend: real conversions (from torch and from ONNX), compiled on the CPU plugin, tiny models."""
import numpy as np
import pytest

from hwcov.backends.exported import reference_outputs
from hwcov.backends.openvino import OpenVinoBackend
from hwcov.backends.registry import get_backend
from hwcov.cases import generate
from hwcov.export import routes as export
from hwcov.models.build import build_case, reference_path


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("exports")


def case(archs, model_type):
    return generate.case_for(archs[model_type])


def test_probe_reports_the_device_openvino_sees():
    probe = get_backend("openvino").probe()
    assert probe.available and probe.device_name.startswith("openvino CPU: ")
    assert probe.runtime_version.startswith("openvino 20")


@pytest.mark.parametrize("model_type", ["bert", "gpt2", "t5", "vit", "wav2vec2", "clip"])  # text, enc-dec, vision, audio, multimodal
def test_fp32_matches_the_reference_with_evidence(archs, export_dir, model_type):
    row = OpenVinoBackend("openvino", export_dir).run(case(archs, model_type), "fp32", 1)
    assert row["status"] == "pass", row["error_message"]
    assert row["max_abs_diff"] <= 1e-4 and row["tolerance"] == 1e-4
    assert row["device_name"].startswith("openvino CPU: ") and "inference precision f32" in row["device_name"]
    assert row["export_route"] in export.OPENVINO_ROUTES and "openvino 20" in row["runtime_version"]
    assert len(row["output_checksum"]) == 16 and row["output_shapes"]
    # the dynamic mode (issue #25): the same architecture's graph with symbolic axes, at three shapes
    assert row["dynamic_status"] == "pass", row["dynamic_message"]
    assert row["dynamic_shapes"].count(" pass") == 3 and "(export) pass" in row["dynamic_shapes"]


@pytest.mark.parametrize("route", ["ov-from-onnx", "ov-from-torch"])
def test_the_other_routes_pass_and_are_recorded(archs, export_dir, route):
    backend = OpenVinoBackend("openvino", export_dir)
    backend.routes = (route,)
    row = backend.run(case(archs, "bert"), "fp32", 1)
    assert row["status"] == "pass" and row["export_route"] == route, row["error_message"]
    assert export.EXPORTER[route] in row["runtime_version"] and row["max_abs_diff"] <= 1e-4


def test_perturbed_reference_fails_accuracy_and_rerun_reuses_the_exports(archs, export_dir, tmp_path, export_calls):
    bert = case(archs, "bert")
    reference, _ = reference_outputs(build_case(bert, 1), bert, 1, None)
    path = reference_path(tmp_path, bert, 1)
    path.parent.mkdir(parents=True)
    np.savez(path, **{k: v - 5e-3 for k, v in reference.items()})
    backend = OpenVinoBackend("openvino", export_dir)
    row = backend.run(bert, "fp32", 1, reference_dir=tmp_path)
    assert row["status"] == "fail_accuracy" and row["max_abs_diff"] == pytest.approx(5e-3, rel=1e-2)
    assert all(route in row["error_message"] for route in export.OPENVINO_ROUTES)
    calls = dict(export_calls)
    assert backend.run(bert, "fp32", 1, reference_dir=tmp_path)["status"] == "fail_accuracy"
    assert dict(export_calls) == calls


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_lower_precisions_run_or_say_why_not(archs, export_dir, precision):
    row = OpenVinoBackend("openvino", export_dir).run(case(archs, "bert"), precision, 1)
    if row["status"] == "not_applicable":  # no FP16 capability on this CPU, or NNCF absent
        assert row["error_message"]
        return
    assert row["status"] == "pass", row["error_message"]
    assert row["max_abs_diff"] > 0
    if precision == "fp16":
        assert "inference precision f16" in row["device_name"]
    else:
        assert "int8 weights" in row["device_name"]


def test_unknown_precision_is_not_applicable(archs, export_dir):
    row = OpenVinoBackend("openvino", export_dir).run(case(archs, "bert"), "fp8", 1)
    assert row["status"] == "not_applicable"


def test_a_graph_fed_a_shape_it_cannot_take_fails_that_mode_and_keeps_the_forward(archs, tmp_path):
    """funnel's traced dynamic graph (ov-from-torch: `list(range(seq_len))` baked) fed another length: OpenVINO compiled
    for one inference thread, a sweep worker's, died with SIGSEGV in infer and the row was a `crash` (the forward's pass
    lost); compiled for two it raises, and that is the dynamic mode's verdict. The case runs as the sweep runs it:
    forked from the fork server, 1 torch thread."""
    from hwcov.run import sweep
    from hwcov.run.runner import Limits

    tests = generate.generate([archs["funnel"]], tmp_path / "gen")
    quiet = {"progress": False, "log": lambda m: None, "limits": Limits(workers=1, torch_threads=1)}
    assert sweep.sweep(tests, "cpu", tmp_path / "art", **quiet)[0]["status"] == "pass"
    row = sweep.sweep(tests, "openvino", tmp_path / "art", **quiet)[0]
    assert row["status"] == "pass", row["error_message"]
    assert row["dynamic_status"] == "fail_to_run" and "input_ids 3x8 fail_to_run" in row["dynamic_shapes"], row
