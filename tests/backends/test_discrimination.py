"""A pass must be able to fail: a graph that returns zeros of the right names and shapes, or a real export of a
model whose weights were perturbed by 1%, is never stored as a pass - on ONNX Runtime and on OpenVINO, against a
real architecture's CPU fp32 reference (bert: informative; mobilevit: a tiny config whose reference once was
~1e-40 everywhere, where a zero graph used to pass)."""
import dataclasses

import numpy as np
import pytest

from hwcov.backends.exported import reference_outputs
from hwcov.backends.onnxruntime import OnnxRuntimeBackend
from hwcov.backends.openvino import OpenVinoBackend
from hwcov.cases import generate
from hwcov.export import routes as export
from hwcov.models.build import build_case


def zero_graph(feed: dict, reference: dict, path) -> None:
    """An ONNX graph taking the case's tensor inputs and returning zeros shaped like each reference output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inputs = [helper.make_tensor_value_info(k, TensorProto.INT64 if not v.is_floating_point() else TensorProto.FLOAT,
                                            list(v.shape)) for k, v in feed.items()]
    nodes = [helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.zeros_like(ref), name))
             for name, ref in reference.items()]
    outputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(ref.dtype), list(ref.shape))
               for name, ref in reference.items()]
    model = helper.make_model(helper.make_graph(nodes, "zeros", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


def zero_route(built, case, batch, feed, staging, export_dir) -> dict:
    import openvino as ov
    import torch

    tensors = {k: v for k, v in feed.items() if torch.is_tensor(v)}
    reference, _ = reference_outputs(built, case, batch, None)
    zero_graph(tensors, reference, staging / "model.onnx")
    ov.save_model(ov.convert_model(str(staging / "model.onnx")), str(staging / "openvino_model.xml"))
    return {"format": "named", "inputs": list(tensors), "outputs": list(reference)}


def perturbed_route(built, case, batch, feed, staging, export_dir) -> dict:
    """The legacy exporter on the same architecture with its first block's weights scaled by 1 + 1% noise."""
    import torch

    from hwcov.models.signal import blocks

    perturbed = build_case(case, batch).model
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in blocks(perturbed)[0][1].parameters():
            p.mul_(1 + 1e-2 * torch.randn(p.shape, generator=gen))
    extra = export.ROUTE_EXPORTERS["torch-onnx-legacy"](dataclasses.replace(built, model=perturbed), case, batch,
                                                        feed, staging, export_dir)
    import openvino as ov

    ov.save_model(ov.convert_model(str(staging / "model.onnx")), str(staging / "openvino_model.xml"))
    return extra


@pytest.fixture
def test_routes(monkeypatch):
    for name, fn in (("zeros", zero_route), ("perturbed", perturbed_route)):
        monkeypatch.setitem(export.ROUTE_EXPORTERS, name, fn)
        monkeypatch.setitem(export.EXPORTER, name, f"test: {name}")


@pytest.mark.parametrize("backend_class", [OnnxRuntimeBackend, OpenVinoBackend])
@pytest.mark.parametrize("model_type", ["bert", "mobilevit"])
def test_a_graph_of_zeros_never_passes(archs, tmp_path, test_routes, backend_class, model_type):
    hardware = "onnxruntime" if backend_class is OnnxRuntimeBackend else "openvino"
    backend = backend_class(hardware, tmp_path / "exports")
    backend.routes = ("zeros",)
    row = backend.run(generate.case_for(archs[model_type]), "fp32", 1)
    assert row["status"] == "fail_accuracy", row
    assert "max |diff|" in row["error_message"] or row["error_message"].startswith("degenerate reference")


@pytest.mark.parametrize("backend_class", [OnnxRuntimeBackend, OpenVinoBackend])
def test_an_export_of_a_perturbed_model_fails_accuracy(archs, tmp_path, test_routes, backend_class):
    hardware = "onnxruntime" if backend_class is OnnxRuntimeBackend else "openvino"
    backend = backend_class(hardware, tmp_path / "exports")
    backend.routes = ("perturbed",)
    row = backend.run(generate.case_for(archs["bert"]), "fp32", 1)
    assert row["status"] == "fail_accuracy" and row["max_abs_diff"] > 1e-3, row
    assert row["max_rel_error"] > 1e-3 and "max |diff|" in row["error_message"]


def test_a_lower_precision_counts_only_on_a_route_whose_fp32_passes(archs, tmp_path, test_routes):
    """The perturbed route's int8 is within cosine 0.99 of the reference, but its fp32 is 1e-2 off: not a pass."""
    backend = OnnxRuntimeBackend("onnxruntime", tmp_path / "exports")
    backend.routes = ("perturbed",)
    row = backend.run(generate.case_for(archs["bert"]), "int8", 1)
    assert row["status"] == "fail_accuracy" and "its fp32 graph did not pass" in row["error_message"], row
    backend.routes = ("perturbed", "torch-onnx-legacy")
    row = backend.run(generate.case_for(archs["bert"]), "int8", 1)
    assert row["status"] == "pass" and row["export_route"] == "torch-onnx-legacy", row
