"""Exported-runtime failures are classified by what went wrong, not by the output names they quote."""
import pytest

from hwcov.run import patterns

MESSAGES = {
    "every route's export gives the same outputs (max |diff| 2.02 from the reference): the exporters agree with "
    "each other, not with the eager forward | hf-openvino: max |diff| 2.02 on 'x' > 0.0001":
        "exporters_agree_reference_differs",
    "export hf-onnx: GuardOnDataDependentSymNode | export torch-onnx-legacy: UnsupportedOperatorError: Exporting the "
    "operator 'aten::diff' to ONNX opset version 17 is not supported [unsupported operator aten::diff]":
        "unsupported_operator",
    "hf-onnx: output 'keypoints' has shape (1, 78, 2), reference (1, 79, 2)": "data_dependent_output_size",
    "hf-onnx: max |diff| 0.423 on 'logits_per_image' > 0.0106 (max_abs 0.01 + 0.01 x max|ref|: fp16 ...)":
        "low_precision_accuracy",
    "hf-openvino: cosine of 'audio_values' 0.83839 < 0.99 (max |diff| 3.04 on 'audio_values'; cosine >= 0.99)":
        "low_precision_accuracy",
    "torch-onnx-legacy: max |diff| 0.000694 on 'pixel_values_out' > 0.0001 (max_abs 0.0001: optimum ONNX export atol)":
        "export_parity",
    # real H200 rows (benchmarks/device_sweep.py, 2026-12-04): fp32 with its 1% cap is parity, not low precision
    "max |diff| 0.000107 on 'last_hidden_state' > 0.0001 (max_abs 0.0001 (at most 0.01 x max|ref|): TF32 off": "export_parity",
    "RuntimeError: mat1 and mat2 must have the same dtype, but got Float and Half": "mixed_precision_dtypes",
    "RuntimeError: expected mat1 and mat2 to have the same dtype, but got: float != c10::BFloat16":
        "mixed_precision_dtypes",
    "RuntimeError: Input type (float) and bias type (c10::Half) should be the same": "mixed_precision_dtypes",
    "RuntimeError: Unsupported dtype BFloat16": "unsupported_precision_kernel",
    "RuntimeError: Input type (torch.FloatTensor) and weight type (torch.cuda.FloatTensor) should be the same or input "
    "should be a MKLDNN tensor and weight is a dense tensor": "tensor_left_on_cpu",
}


@pytest.mark.parametrize("message", list(MESSAGES))
def test_runtime_failures_get_their_own_pattern(message):
    assert patterns.classify("fail_accuracy", message) == MESSAGES[message]


def test_runtime_patterns_carry_a_fix():
    info = {p["name"]: p for p in patterns.catalog()}
    for name in set(MESSAGES.values()):
        assert info[name]["fix"] and info[name]["explanation"]
