"""ONNX Runtime backend, export cache and tolerance table: real exports, real sessions, tiny models."""
import numpy as np
import pytest

from hwcov.backends import validate
from hwcov.backends.onnxruntime import OnnxRuntimeBackend
from hwcov.backends.registry import get_backend
from hwcov.cases import generate
from hwcov.export import routes as export
from hwcov.models.build import build_case
from hwcov.run import sweep
from hwcov.run.runner import Limits
from tests.conftest import perturbed_reference


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("exports")


def case(archs, model_type):
    return generate.case_for(archs[model_type])


def test_tolerance_table_defaults_and_overrides():
    fp32 = validate.tolerance("onnxruntime", "fp32")
    assert (fp32.kind, fp32.value) == ("max_abs", 1e-4) and fp32.why
    fp16 = validate.tolerance("openvino", "fp16")
    assert (fp16.kind, fp16.value, fp16.rel) == ("max_abs", 1e-2, 1e-2)
    int8 = validate.tolerance("onnxruntime", "int8")
    assert (int8.kind, int8.value) == ("cosine", 0.99)
    table = {"defaults": {"*": {"fp32": {"max_abs": 1e-4}}},
             "overrides": [{"model_type": "foo", "hardware": "openvino", "max_abs": 1e-3, "why": "because"}]}
    assert validate.tolerance("openvino", "fp32", "foo", table) == validate.Tolerance("max_abs", 1e-3, "because")
    assert validate.tolerance("onnxruntime", "fp32", "foo", table).value == 1e-4
    with pytest.raises(KeyError):
        validate.tolerance("onnxruntime", "fp8", table=table)


def test_compare_checks_names_and_shapes_before_values():
    tol = validate.tolerance("onnxruntime", "fp32")
    ref = {"logits": np.array([[0.5, -1.0, 0.25, 2.0]], "float32")}
    assert "missing ['logits']" in validate.compare(ref, {"other": ref["logits"]}, tol).message
    shape = validate.compare(ref, {"logits": np.zeros((1, 5), "float32")}, tol)
    assert shape.status == "fail_accuracy" and "shape (1, 5)" in shape.message
    far = validate.compare(ref, {"logits": ref["logits"] + 1e-3}, tol)
    assert far.status == "fail_accuracy" and far.max_abs_diff == pytest.approx(1e-3, rel=1e-4) and far.tolerance == 1e-4
    assert validate.compare(ref, {"logits": ref["logits"] + 1e-5}, tol).status == "pass"
    cos = validate.tolerance("onnxruntime", "int8")
    ramp = {"x": np.linspace(0.5, 1.5, 8, dtype="float32")}
    assert validate.compare(ramp, {"x": ramp["x"] * 1.1}, cos).status == "pass"
    assert validate.compare(ramp, {"x": -ramp["x"]}, cos).status == "fail_accuracy"
    tiny = {"x": np.full(8, 1e-39, "float32")}  # residue: nothing to judge, so nothing can pass against it
    assert validate.compare(tiny, {"x": -tiny["x"]}, cos).message.startswith("degenerate reference")


def test_unsupported_op_is_named_from_the_exporters_words():
    assert export.unsupported_op("Unsupported: ONNX export of operator aten::histc") == "aten::histc"
    assert export.unsupported_op("No conversion rule found for operations: aten.grid_sampler_3d.default")
    assert export.unsupported_op("RuntimeError: shapes don't match") == ""
    openvino_summary = ("Model wasn't fully converted. Failed operations detailed log:\n-- prim::Constant with a "
                        "message:\nNone constant cannot be converted\nSummary:\n-- No conversion rule found for "
                        "operations: aten::diff\n-- Conversion is failed for: prim::Constant")
    assert export.unsupported_op(openvino_summary) == "aten::diff"
    assert export.unsupported_op("Exporting the operator 'aten::diff' to ONNX opset version 17 is not supported")
    assert export.unsupported_op("NOT_IMPLEMENTED : Could not find an implementation for GridSample(20) node") \
        == "GridSample"
    assert export.unsupported_op("CPU execution provider: MLFloat16 data type is not supported with "
                                 "ScatterElements opset 16 when reduction is 'add'.") == "ScatterElements"


@pytest.mark.parametrize("model_type", ["bert", "gpt2", "t5", "vit", "wav2vec2", "clip"])  # text, enc-dec, vision, audio, multimodal
def test_fp32_matches_the_reference_with_evidence(archs, export_dir, model_type):
    row = OnnxRuntimeBackend("onnxruntime", export_dir).run(case(archs, model_type), "fp32", 1)
    assert row["status"] == "pass", row["error_message"]
    assert row["max_abs_diff"] <= 1e-4 and row["tolerance"] == 1e-4 and row["max_rel_error"] < 1e-4
    assert "CPUExecutionProvider" in row["device_name"] and "onnxruntime 1." in row["runtime_version"]
    assert row["export_route"] in export.ONNX_ROUTES and row["export_route"] in row["runtime_version"]
    assert len(row["output_checksum"]) == 16 and row["output_shapes"] and row["inputs"]
    # the dynamic mode (issue #25): the same architecture's graph with symbolic axes, at three shapes
    assert row["dynamic_status"] == "pass", row["dynamic_message"]
    assert row["dynamic_shapes"].count(" pass") == 3 and "(export) pass" in row["dynamic_shapes"]


def test_probe_reports_the_providers():
    probe = get_backend("onnxruntime").probe()
    assert probe.available and "CPUExecutionProvider" in probe.device_name
    assert probe.runtime_version.startswith("onnxruntime ")


def test_perturbed_reference_fails_accuracy_and_export_is_cached(archs, export_dir, tmp_path, export_calls):
    bert, path = perturbed_reference(archs["bert"], tmp_path)
    built = build_case(bert, 1)
    backend = OnnxRuntimeBackend("onnxruntime", export_dir)
    backend.run(bert, "fp32", 1)  # exports (or finds the module's export): the test must not need another first
    onnx_file = export.cache_path(export_dir, bert, 1, "hf-onnx", built) / "model.onnx"
    mtime, hf_calls = onnx_file.stat().st_mtime_ns, export_calls["hf-onnx"]
    row = backend.run(bert, "fp32", 1, reference_dir=tmp_path)
    assert row["status"] == "fail_accuracy" and row["max_abs_diff"] == pytest.approx(1e-2, rel=1e-3)
    assert "max |diff|" in row["error_message"] and row["reference_path"] == str(path)
    # every route was tried (an inaccurate route is not a pass); hf-onnx came from the cache
    assert all(route in row["error_message"] for route in export.ONNX_ROUTES)
    assert export_calls["hf-onnx"] == hf_calls and onnx_file.stat().st_mtime_ns == mtime
    calls = dict(export_calls)
    assert backend.run(bert, "fp32", 1, reference_dir=tmp_path)["status"] == "fail_accuracy"
    assert dict(export_calls) == calls  # a rerun exports nothing


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_lower_precisions_run_within_their_tolerance(archs, export_dir, precision):
    row = OnnxRuntimeBackend("onnxruntime", export_dir).run(case(archs, "bert"), precision, 1)
    assert row["status"] == "pass", row["error_message"]
    assert row["max_abs_diff"] > 0 and row["tolerance_kind"] == validate.tolerance("onnxruntime", precision).kind


def test_sweep_on_onnxruntime_compares_with_the_cpu_references(archs, tmp_path):
    # From this process, which has run torch's and ONNX Runtime's thread pools: cases fork from the fork server
    tests = generate.generate([archs[m] for m in ("bert", "gpt2", "vit")], tmp_path / "gen")
    quiet = {"progress": False, "log": lambda m: None, "limits": Limits(workers=2)}
    both = {hw: sweep.sweep(tests, hw, tmp_path / "art", **quiet) for hw in ("cpu", "onnxruntime")}
    assert {r["status"] for r in both["cpu"]} == {"pass"}
    rows = both["onnxruntime"]
    for r in rows:
        assert r["status"] == "pass", (r["model_type"], r["error_message"])
        assert r["reference_path"].endswith(".npz") and r["max_abs_diff"] <= 1e-4
        assert r["dynamic_status"] == "pass", (r["model_type"], r["dynamic_message"])
    assert any((tmp_path / "art" / "exports").rglob("model.onnx"))
    # `--modes forward`: the forward alone, under keys of its own (its rows answer no run that wants the modes)
    forward = sweep.sweep(tests, "onnxruntime", tmp_path / "art", modes=("forward",), **quiet)
    assert {r["status"] for r in forward} == {"pass"}
    assert not any(r.get("dynamic_status") or r.get("generate_status") for r in forward)
    assert not {r["case_key"] for r in forward} & {r["case_key"] for r in rows}
    again = sweep.sweep(tests, "onnxruntime", tmp_path / "art", **quiet)  # all modes: the first run's rows, reused
    assert {r["case_key"]: r["dynamic_status"] for r in again} == {r["case_key"]: r["dynamic_status"] for r in rows}


def test_export_cache_key_follows_the_built_model_not_only_the_case(archs, tmp_path):
    bert = case(archs, "bert")
    built = build_case(bert, 1)
    same = export.cache_path(tmp_path, bert, 1, "hf-onnx", build_case(bert, 1))
    assert export.cache_path(tmp_path, bert, 1, "hf-onnx", built) == same
    built.feed["input_ids"] = built.feed["input_ids"].flip(-1)  # e.g. a changed input recipe
    assert export.cache_path(tmp_path, bert, 1, "hf-onnx", built) != same
    assert export.cache_path(tmp_path, bert, 2, "hf-onnx", built) != export.cache_path(tmp_path, bert, 1, "hf-onnx", built)


def test_a_failed_export_is_cached_with_its_operator(archs, tmp_path, monkeypatch, export_calls):
    def broken(built, case, batch, feed, staging, export_dir):
        raise RuntimeError("Exporting the operator 'aten::histc' to ONNX opset version 17 is not supported")

    export_calls.add("broken", broken)
    monkeypatch.setitem(export.EXPORTER, "broken", "a test exporter")
    bert = case(archs, "bert")
    built = build_case(bert, 1)
    for attempt in range(2):
        with pytest.raises(export.ExportError) as info:
            export.export(built, bert, 1, "broken", tmp_path)
        assert info.value.op == "aten::histc" and "not supported" in str(info.value)
    assert export_calls["broken"] == 1  # the second call read the recorded failure
    monkeypatch.setattr(export, "route_code", lambda route: "after a fix in the route's exporter")
    with pytest.raises(export.ExportError):
        export.export(built, bert, 1, "broken", tmp_path)
    assert export_calls["broken"] == 2  # a failure recorded by older export code is tried again


def test_an_export_that_ran_out_of_disk_or_memory_or_missed_a_package_is_not_cached(archs, tmp_path, monkeypatch, export_calls):
    import errno

    raised = iter([OSError(errno.ENOSPC, "No space left on device"), MemoryError(),
                   ModuleNotFoundError("No module named 'torchao'")])  # an install, not the model

    def starved(built, case, batch, feed, staging, export_dir):
        try:
            raise next(raised)
        except Exception as exc:  # exporters wrap the machine's error in their own
            raise RuntimeError("Could not allocate bytes object!") from exc

    export_calls.add("starved", starved)
    monkeypatch.setitem(export.EXPORTER, "starved", "a test exporter")
    bert = case(archs, "bert")
    built = build_case(bert, 1)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            export.export(built, bert, 1, "starved", tmp_path)
    assert export_calls["starved"] == 3  # tried again: the failure said nothing about the model
    assert not list(tmp_path.rglob("*.failed.json"))


def test_a_new_export_replaces_stale_ones_of_the_same_case(archs, tmp_path, monkeypatch):
    monkeypatch.setitem(export.ROUTE_EXPORTERS, "quick", lambda *args: {"format": "named", "outputs": []})
    monkeypatch.setitem(export.EXPORTER, "quick", "a test exporter")
    bert = case(archs, "bert")
    built = build_case(bert, 1)
    target = export.cache_path(tmp_path, bert, 1, "quick", built)
    shapes = target.name.split("-")[2]
    stale, other_batch = target.with_name(f"quick-b1-{shapes}-0123456789abcdef"), target.with_name(
        f"quick-b2-{shapes}-0123456789abcdef")
    other_shapes = target.with_name("quick-b1-abcdef-0123456789abcdef")  # e.g. a benchmark's sequence 128
    for folder in (stale, other_batch, other_shapes):
        folder.mkdir(parents=True)
    assert export.export(built, bert, 1, "quick", tmp_path).fresh
    assert target.is_dir() and not stale.exists() and other_batch.exists() and other_shapes.exists()
    assert not export.export(built, bert, 1, "quick", tmp_path).fresh


def test_an_input_that_is_not_a_tensor_is_never_baked_into_the_graph(archs, export_dir):
    """sam2_video takes an inference session (an object holding the frames): tracing it as a constant gave a graph
    with no inputs and two Constant nodes, which 'passed' exactly. It must fail, naming the input."""
    row = OnnxRuntimeBackend("onnxruntime", export_dir).run(case(archs, "sam2_video"), "fp32", 1)
    assert row["status"] == "fail_to_run", row["error_message"]
    assert "inference_session (Sam2VideoInferenceSession) are not tensors" in row["error_message"]
    with pytest.raises(export.ExportError, match="not tensors"):
        export._refuse_baked_inputs("ov-from-torch", {"x": np.zeros(1), "state": {"cache": [object()]}})
    export._refuse_baked_inputs("ov-from-torch", {"use_cache": False, "sizes": [(2, 3)], "frame_idx": 0})
