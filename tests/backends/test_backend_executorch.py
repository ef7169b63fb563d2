"""ExecuTorch backend for real (#25): transformers.exporters' ExecutorchExporter lowers the tiny model to the XNNPACK
delegate, ExecuTorch's own runtime runs the .pte on this CPU, the CPU fp32 reference judges it.

Skipped, saying why, where executorch is not installed (.ci/setup installs it)."""
import importlib.util

import pytest

from hwcov.backends.registry import get_backend
from hwcov.cases import generate
from tests.conftest import SAMPLE, perturbed_reference

pytestmark = pytest.mark.skipif(importlib.util.find_spec("executorch") is None,
                                reason="executorch is not installed (see .ci/setup)")


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    executorch = get_backend("executorch")
    executorch.export_dir = tmp_path_factory.mktemp("exports")
    return executorch


def test_probe_names_the_runtime_and_its_xnnpack_delegate(backend):
    probe = backend.probe()
    assert probe.available, probe.error
    assert "XnnpackBackend" in probe.device_name and probe.runtime_version.startswith("executorch 1.")


@pytest.mark.parametrize("model_type", SAMPLE)  # text, decoder, enc-dec, vision, audio, multimodal
def test_fp32_matches_the_reference_with_the_delegate_as_evidence(archs, backend, model_type):
    row = backend.run(generate.case_for(archs[model_type]), "fp32", 1)
    assert row["status"] == "pass", row["error_message"]
    assert row["max_abs_diff"] <= row["tolerance"] == 1e-4
    assert row["export_route"] == "hf-executorch" and "ExecutorchExporter" in row["runtime_version"]
    calls = int(row["device_name"].split(", ")[1].split()[0])  # 'executorch runtime (model.pte, 10 XnnpackBackend ...'
    assert calls > 0 and "XnnpackBackend delegate call" in row["device_name"]
    assert len(row["output_checksum"]) == 16 and row["output_shapes"]
    assert not any(k.startswith(("dynamic_", "generate_")) for k in row)  # modes: onnxruntime, openvino, browser


def test_a_perturbed_reference_fails_accuracy(archs, backend, tmp_path):
    bert, _ = perturbed_reference(archs["bert"], tmp_path)
    row = backend.run(bert, "fp32", 1, reference_dir=tmp_path)
    assert row["status"] == "fail_accuracy" and row["max_abs_diff"] == pytest.approx(1e-2, rel=1e-3)


def test_other_precisions_are_not_applicable(archs, backend):
    row = backend.run(generate.case_for(archs["bert"]), "fp16", 1)
    assert row["status"] == "not_applicable" and "fp32" in row["error_message"]
