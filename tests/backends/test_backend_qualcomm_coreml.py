"""Qualcomm (ONNX Runtime QNN EP) and Apple Neural Engine (Core ML) backends, against the real libraries here.

Neither accelerator exists on this machine: a real ONNX Runtime CPU session stands in to prove the placement
check and the QDQ quantization, and every such row must come out as something other than a pass.
"""
import importlib.util
import platform

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from hwcov.backends import qualcomm as qnn
from hwcov.backends import validate
from hwcov.backends.exported import reference_outputs
from hwcov.backends.registry import get_backend
from hwcov.cases import generate
from hwcov.models.build import build_case
from hwcov.run import sweep

QNN_HERE = "QNNExecutionProvider" in onnxruntime.get_available_providers()
COREML = importlib.util.find_spec("coremltools") is not None
no_qnn = pytest.mark.skipif(QNN_HERE, reason="the QNN execution provider is present: the stand-in checks don't apply")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("exports")


@pytest.fixture
def tiny_onnx(tmp_path):
    """x[2,4] -> Relu(MatMul(x, W) + b) -> y[2,3]: a real graph for a real CPU session."""
    w = helper.make_tensor("W", TensorProto.FLOAT, [4, 3], np.arange(12, dtype=np.float32) / 10)
    b = helper.make_tensor("b", TensorProto.FLOAT, [3], [0.1, -0.2, 0.3])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
         helper.make_node("Relu", ["a"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], initializer=[w, b])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


# -- Qualcomm ----------------------------------------------------------------------------------

def test_qualcomm_probe_says_what_is_missing_in_onnxruntimes_words():
    probe = get_backend("qualcomm").probe()
    providers = onnxruntime.get_available_providers()
    if QNN_HERE:
        assert probe.available and ("libQnnHtp.so" in probe.device_name or "QnnHtp.dll" in probe.device_name)
        return
    assert not probe.available and probe.runtime_version == f"onnxruntime {onnxruntime.__version__}"
    assert str(providers) in probe.error and f"{platform.system()} {platform.machine()}" in probe.error
    plugin = importlib.util.find_spec("onnxruntime_qnn")
    assert ("installed but not registered" if plugin else "onnxruntime-qnn plugin not installed") in probe.error


def test_qnn_provider_options_per_backend_precision_and_os():
    assert qnn.backend_path("htp", "Linux") == "libQnnHtp.so" and qnn.backend_path("htp", "Windows") == "QnnHtp.dll"
    assert qnn.backend_path("cpu", "Linux") == "libQnnCpu.so" and qnn.backend_path("cpu", "Windows") == "QnnCpu.dll"
    assert qnn.provider_options("htp", "fp16", "Windows") == {"backend_path": "QnnHtp.dll",
                                                              "enable_htp_fp16_precision": "1"}
    assert qnn.provider_options("htp", "fp32", "Linux")["enable_htp_fp16_precision"] == "0"
    assert qnn.provider_options("cpu", "fp32", "Linux") == {"backend_path": "libQnnCpu.so"}
    providers = qnn.session_providers("htp", "int8", "Linux")
    assert providers[0][0] == "QNNExecutionProvider" and providers[-1] == "CPUExecutionProvider"
    assert all(isinstance(v, str) for v in providers[0][1].values())  # ORT takes option values as strings
    htp, cpu = qnn.QualcommBackend("qualcomm"), qnn.QualcommBackend("qualcomm_cpu")
    assert (htp.kind, htp.precisions()) == ("htp", ("fp32", "fp16", "int8"))
    assert (cpu.kind, cpu.precisions()) == ("cpu", ("fp32",))
    assert "libQnnHtp.so" in htp.versions() or "QnnHtp.dll" in htp.versions()


def test_placement_comes_from_a_real_profile_and_a_cpu_run_is_never_qnn(tiny_onnx, tmp_path):
    session = qnn.QualcommBackend("qualcomm").session(tiny_onnx, "fp32", providers=["CPUExecutionProvider"],
                                                      profile_prefix=str(tmp_path / "p"))
    session.run(None, {"x": np.ones((2, 4), np.float32)})
    split = qnn.placement(session.end_profiling())
    assert set(split) == {"CPUExecutionProvider"}
    assert sum(split["CPUExecutionProvider"].values()) >= 1  # ORT may fuse the three nodes (FusedGemm)
    # The parser is right: asked about the provider that really ran, it reports the nodes.
    assert "CPUExecutionProvider ran" in qnn.check_placement(session.get_providers(), split,
                                                             want="CPUExecutionProvider")
    # QNN absent from the session: refused.
    with pytest.raises(qnn.SilentFallback, match="is not first"):
        qnn.check_placement(session.get_providers(), split)
    # QNN registered but every node on the CPU (the silent fallback onnxruntime-openvino is known for): refused.
    with pytest.raises(qnn.SilentFallback, match=r"ran 0 of \d+ nodes .*silent CPU fallback"):
        qnn.check_placement(["QNNExecutionProvider", "CPUExecutionProvider"], split)
    # A partial offload passes the check and names what stayed on the CPU.
    mixed = {"QNNExecutionProvider": {"QNN_fused": 1}, "CPUExecutionProvider": {"Erf": 2}}
    evidence = qnn.check_placement(["QNNExecutionProvider", "CPUExecutionProvider"], mixed)
    assert evidence == "QNNExecutionProvider ran 1 of 3 nodes; CPUExecutionProvider ran 2 (Erf x2)"


def test_plugin_style_sessions_are_made_on_ep_devices_and_still_checked(tiny_onnx, tmp_path):
    """onnxruntime-qnn 2.x is selected by EP device; ONNX Runtime's CPU device stands in for the plugin's."""
    devices, how = qnn.plugin_devices()
    if importlib.util.find_spec("onnxruntime_qnn") is None:
        assert devices == [] and how == "onnxruntime-qnn plugin not installed"
    cpu = [d for d in onnxruntime.get_ep_devices() if d.ep_name == "CPUExecutionProvider"]
    session = qnn.QualcommBackend("qualcomm").session(tiny_onnx, "fp32", devices=cpu, ep_options={},
                                                      profile_prefix=str(tmp_path / "p"))
    session.run(None, {"x": np.ones((2, 4), np.float32)})
    split = qnn.placement(session.end_profiling())
    assert session.get_providers()[0] == "CPUExecutionProvider" and split
    with pytest.raises(qnn.SilentFallback):
        qnn.check_placement(session.get_providers(), split)


@no_qnn
def test_asking_for_qnn_here_gets_a_cpu_session_that_load_refuses(archs, export_dir):
    """ONNX Runtime drops an unavailable provider with a warning; the backend must not count that run."""
    from hwcov.export import routes as export

    case = generate.case_for(archs["bert"])
    built = build_case(case, 2)
    exported = export.export(built, case, 2, "torch-onnx-legacy", export_dir)
    backend = qnn.QualcommBackend("qualcomm", export_dir)
    with pytest.raises(qnn.SilentFallback, match=r"\['CPUExecutionProvider'\]"):
        backend.load_graph(exported, "fp32")
    backend.routes = ("torch-onnx-legacy",)  # the cached export: no second exporter run
    row = backend.run(case, "fp16", 2)
    assert row["status"] == "fail_to_run" and "SilentFallback" in row["error_message"] and "device_name" not in row
    assert backend.run(case, "bf16", 2)["status"] == "not_applicable"


def test_int8_is_a_static_qdq_model_calibrated_on_the_synthesized_inputs(archs, export_dir):
    from hwcov.export import routes as export

    case = generate.case_for(archs["bert"])
    built = build_case(case, 2)
    reference, _ = reference_outputs(built, case, 2, None)
    exported = export.export(built, case, 2, "torch-onnx-legacy", export_dir)
    backend = qnn.QualcommBackend("qualcomm", export_dir)
    path = backend.model_file(exported, "int8")
    assert path != exported.onnx_file and path == backend.model_file(exported, "int8")  # written once
    model = onnx.load(str(path))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert all(d.dim_value > 0 for i in model.graph.input for d in i.type.tensor_type.shape.dim)  # static for QNN
    assert backend.model_file(exported, "fp32") == exported.onnx_file  # already static: the export itself
    # On a CPU session standing in (not a qualcomm result), the QDQ graph keeps the fp32 outputs' direction.
    session = backend.session(path, "int8", providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    result = dict(zip(exported.manifest["outputs"], session.run(None, qnn.session_feed(exported, names))))
    verdict = validate.compare(reference, result, validate.tolerance("qualcomm", "int8"))
    assert verdict.status == "pass", verdict.message


def test_symbolic_dims_are_fixed_to_the_fed_shape(tiny_onnx):
    model = onnx.load(str(tiny_onnx))
    assert qnn._fix_static_shapes(model, {"x": np.zeros((2, 4), np.float32)})
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [2, 4]
    assert not qnn._fix_static_shapes(model, {"x": np.zeros((2, 4), np.float32)})  # nothing left to fix


# -- Apple Neural Engine (Core ML) -------------------------------------------------------------

@pytest.mark.skipif(platform.system() == "Darwin", reason="macOS may have the Neural Engine")
def test_apple_ane_probe_names_the_os_and_the_installed_coremltools():
    probe = get_backend("apple_ane").probe()
    assert not probe.available
    assert probe.error == f"Core ML predictions need macOS; this is {platform.system()} {platform.machine()}"
    if COREML:
        from importlib.metadata import version

        assert probe.runtime_version.startswith(f"coremltools {version('coremltools')}; torch ")
    else:
        assert probe.runtime_version.startswith("coremltools not installed")


def test_coreml_placement_check_refuses_a_model_kept_off_the_neural_engine():
    import collections

    from hwcov.backends import coreml

    assert coreml.check_placement(collections.Counter(NeuralEngine=3, CPU=1)) == \
        "Neural Engine runs 3 of 4 ops (CPU 1, NeuralEngine 3)"
    with pytest.raises(RuntimeError, match="0 of 5 ops on the Neural Engine"):
        coreml.check_placement(collections.Counter(CPU=5))
    assert coreml.unsupported_op("PyTorch convert function for op 'new_ones' not implemented.") == "new_ones"
    assert coreml.unsupported_op("Unsupported fx node alias, kind alias") == "alias"
    assert coreml.unsupported_op("Unsupported fx node and_1, kind __and__") == "__and__"
    assert get_backend("apple_ane").run(None, "int8", 1)["status"] == "not_applicable"
    assert (get_backend("apple_ane").compute_units, get_backend("apple_ane_all").compute_units) == ("CPU_AND_NE", "ALL")


@pytest.mark.skipif(not COREML, reason="coremltools is not installed (pip install hwcov[apple])")
@pytest.mark.skipif(platform.system() == "Darwin", reason="on macOS the row is a real prediction, not this")
def test_coreml_converts_here_and_says_so_in_an_unavailable_row(archs):
    from hwcov.backends import coreml

    row = get_backend("apple_ane").run(generate.case_for(archs["vit"]), "fp16", 1)
    assert row["status"] == "unavailable" and row["export_route"] == "coreml-trace"
    assert row["error_message"].startswith("converted to mlprogram OK via coreml-trace (fp16, CPU_AND_NE, ")
    assert row["error_message"].endswith(f"Core ML predictions need macOS; this is {platform.system()} "
                                         f"{platform.machine()}")
    assert "coremltools" in row["runtime_version"] and "device_name" not in row
    import torch

    class Tiny(torch.nn.Module):
        def forward(self, x):
            return {"y": torch.nn.functional.gelu(x) * 2}

    built = type("Built", (), {"model": Tiny().eval(), "feed": {"x": torch.randn(2, 5)}})()
    model, names, outputs = coreml.convert(built, "fp32", "ALL", "coreml-export")
    assert (names, outputs) == (["x"], ["y"]) and coreml.op_count(model) > 0

    class Histogram(torch.nn.Module):
        def forward(self, x):
            return {"y": torch.histc(x, bins=4)}

    built = type("Built", (), {"model": Histogram().eval(), "feed": {"x": torch.randn(8)}})()
    with pytest.raises(NotImplementedError) as exc:  # the op and where it sat, from coremltools' own log
        coreml.convert(built, "fp32", "CPU_AND_NE", "coreml-trace")
    assert "(while converting 'histc' op (located at: " in str(exc.value)
    assert coreml.unsupported_op(str(exc.value)) == "histc"


def test_qualcomm_and_apple_ane_sweeps_record_unavailable_without_building_models(archs, tmp_path):
    tests = generate.generate([archs["bert"]], tmp_path / "gen")
    # Each partition's first declared precision (the generated test's hardware snippet): the ANE computes in fp16.
    first = {"qualcomm": "fp32", "qualcomm_cpu": "fp32", "apple_ane": "fp16", "apple_ane_all": "fp16"}
    for hardware, precision in first.items():
        assert sweep.declared_precisions(tests[0], hardware)[0] == precision
        probe = get_backend(hardware).probe()
        if probe.available:
            continue
        (row,) = sweep.sweep(tests, hardware, tmp_path / "art", precision=None, progress=False, log=lambda m: None)
        assert row["status"] == "unavailable" and row["error_message"] == probe.error
        assert row["precision"] == precision and row["hardware"] == hardware
        assert row["output_checksum"] == "" and row["error_pattern"] == ""


def test_a_placement_fallback_is_classified_by_the_catalog():
    from hwcov.run import patterns

    for message in ("hf-onnx: onnxruntime QNN EP run: SilentFallback: QNNExecutionProvider is registered but ran 0 "
                    "of 84 nodes (CPUExecutionProvider: 84): a silent CPU fallback",
                    "Core ML predict: RuntimeError: Core ML compute plan puts 0 of 5 ops on the Neural Engine (CPU 5): "
                    "the model would run without the ANE"):
        assert patterns.classify("fail_to_run", message) == "accelerator_placement_fallback"
