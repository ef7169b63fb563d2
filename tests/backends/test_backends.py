"""Detection against the real libraries on this machine: absent hardware says why, in the probe's words."""
import platform

import onnxruntime
import pytest
import torch

from hwcov.backends.registry import HARDWARE, RUNNABLE, get_backend


def test_cpu_probe_reports_the_processor_and_versions():
    probe = get_backend("cpu").probe()
    assert probe.available and probe.device_name.startswith("cpu: ")
    assert f"torch {torch.__version__}" in probe.runtime_version


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_is_unavailable_with_torchs_own_message():
    probe = get_backend("cuda").probe()
    assert not probe.available
    if torch.version.cuda is None and torch.version.hip is None:
        with pytest.raises(AssertionError) as exc:
            torch.cuda.init()
        assert str(exc.value) in probe.error


@pytest.mark.skipif(torch.version.hip is not None, reason="a ROCm build of torch")
def test_rocm_never_falls_back_to_cpu():
    probe = get_backend("rocm").probe()
    assert not probe.available and "not rocm" in probe.error and probe.device_name == ""


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="an MPS device is present")
def test_mps_is_unavailable():
    assert "MPS not available" in get_backend("mps").probe().error


def test_qualcomm_names_the_providers_onnxruntime_really_has():
    probe = get_backend("qualcomm").probe()
    if "QNNExecutionProvider" in onnxruntime.get_available_providers():
        assert probe.available
    else:
        assert not probe.available and str(onnxruntime.get_available_providers()) in probe.error


@pytest.mark.skipif(platform.system() == "Darwin", reason="macOS may have the Neural Engine")
def test_apple_ane_is_unavailable_off_macos():
    probe = get_backend("apple_ane").probe()
    assert not probe.available and platform.system() in probe.error


def test_unknown_and_unbuilt_hardware_are_refused():
    with pytest.raises(KeyError, match="accepted: cpu"):
        get_backend("tpu")
    for hw in set(HARDWARE) - set(RUNNABLE):
        with pytest.raises(NotImplementedError, match="not implemented yet"):
            get_backend(hw)
