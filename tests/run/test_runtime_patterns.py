"""Exported-runtime failures are classified by what went wrong, not by the output names they quote."""
import pytest

from hwcov.core.schema import EXTRA_MODES
from hwcov.run import patterns

MESSAGES = {
    "every route's export gives the same outputs (max |diff| 2.02 from the reference): the exporters agree with "
    "each other, not with the eager forward | hf-openvino: max |diff| 2.02 on 'x' > 0.0001":
        "exporters_agree_reference_differs",
    "export hf-onnx: GuardOnDataDependentSymNode | export torch-onnx-legacy: UnsupportedOperatorError: Exporting the "
    "operator 'aten::diff' to ONNX opset version 17 is not supported [unsupported operator aten::diff]":
        "unsupported_operator",
    "hf-onnx: output 'keypoints' has shape (1, 78, 2), reference (1, 79, 2)": "data_dependent_output_size",
    "export hf-onnx: ValueError: Unsupported input type <class 'transformers.models.sam2_video.modeling_sam2_video."
    "Sam2VideoInferenceSession'>. Export only supports pytree containers of basic types": "stateful_session_input",
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


# the dynamic and generate modes' messages as real onnxruntime rows have them (sweep of 2026-12-04): the shape's label
# names inputs ('pixel_values', 'image_grid_thw') that the missing-input patterns would claim
MODE_MESSAGES = {
    ("dynamic", "at pixel_values 1x3x64x64: RuntimeError: Error in execution: Non-zero status code returned while "
                "running Add node. Name:'node_add_1865' Status Message: axis == 1 || axis == largest was false"):
        "export_size_baked",
    ("dynamic", "at input_ids 1x12: image_grid_thw axis 0 is fixed at 2, fed 1"): "static_graph_only",
    ("dynamic", "at input_ids 1x12: RuntimeError: Error in execution: Non-zero status code returned while running "
                "Split node. Name:'node_Slice_514/GatherSliceToSplitFusion' Status Message: Invalid value in 'split'. "
                "Split size 1 exceeds the remaining size of the selected axis, 0."): "per_item_sizes_baked",
    ("dynamic", "at input_ids 1x44: RuntimeError: Error in execution: Non-zero status code returned while running "
                "SequenceAt node. Name:'n0_2' Status Message: Invalid sequence index (1) specified for sequence of "
                "size (1)"): "per_item_sizes_baked",
    ("dynamic", "at pixel_values 4x3x14x14: output shape 'pooler_output' (2, 4, 64) vs (1, 4, 64)"): "export_size_baked",
    ("dynamic", "dynamic export failed (GuardOnDataDependentSymNode: Could not guard on data-dependent expression); "
                "checked the static torch-onnx-legacy graph instead; at input_ids 1x8: attention_mask axis 0 is fixed "
                "at 2, fed 1"): "data_dependent_export",
    ("generate", "RuntimeError: decompose_prefill_decode failed for JambaForCausalLM. Inputs passed: ['input_ids', "
                 "'attention_mask']. Make sure the inputs are compatible with model.generate()."):
        "generation_not_decomposable",
    ("generate", "RuntimeError: Error in execution: Got invalid dimensions for input: input.cache.layers.1.buffer_kv."
                 "compressor for the following indices index: 1 Got: 1 Expected: 0"): "export_size_baked",
    # openvino's CPU plugin words for the same faults (full sweep of 2026-12-06: 57 of its dynamic rows unclassified)
    ("dynamic", "ov-from-torch: export failed (RuntimeError: Couldn't get TorchScript module by tracing.); at input_ids "
                "1x56: RuntimeError: Exception from src/inference/src/cpp/infer_request.cpp:224:\nException from "
                "src/plugins/intel_cpu/src/node.cpp:794:\n[CPU] Squeeze node with name 'squeeze_1/aten.squeeze.dims/"
                "Squeeze' Check 'getShape().getRank() == dims.size()' failed"): "export_size_baked",
    ("dynamic", "at input_ids 1x24: RuntimeError: Exception from src/plugins/intel_cpu/src/graph.cpp:1628:\nNode "
                "repeat_interleave_1/aten.repeat_interleave.self_int/Range of type Range\nCheck 'byte_size.has_value()' "
                "failed"): "export_size_baked",
    ("dynamic", "at input_features 2x25x160 (export): RuntimeError: Exception from src/inference/src/dev/plugin.cpp:54: "
                "Check '!shape.rank().is_dynamic()' failed at src/plugins/intel_cpu/src/node.cpp:108:\nUnexpected: CPU "
                "plug-in doesn't support Squeeze operation with dynamic rank."): "dynamic_rank_unsupported",
    ("dynamic", "at input_ids 2x20 (export): RuntimeError: Exception from src/inference/src/cpp/compiled_model.cpp:123: "
                "Output for tensor name 'image_embeddings' is not found."): "graph_output_missing",
    ("dynamic", "stopped after 179 s, 15 s before the case's 300 s ran out (the forward's verdict stands)"): "timeout",
    ("generate", "ValueError: The graph takes ['hidden_states'], which ['input'] don't hold."):
        "generation_stage_inputs_mismatch",
}


@pytest.mark.parametrize("mode,message", list(MODE_MESSAGES))
def test_a_modes_failure_is_classified_by_the_runtimes_words_not_the_shapes_label(mode, message):
    assert patterns.mode_pattern("fail_to_run", message, mode) == MODE_MESSAGES[mode, message]
    row = {"hardware": "onnxruntime", "status": "pass", f"{mode}_status": "fail_to_run", f"{mode}_message": message}
    assert [name for name, _ in patterns.mode_failures(row)] == [f"{mode}: {MODE_MESSAGES[mode, message]}"]


def test_a_mode_only_pattern_leaves_the_forwards_failures_alone():
    """A runtime error in a reshaping node at another shape means a size baked in at export; in the forward, which
    runs only at its export shape, it means something else, so the forward's row doesn't get that pattern."""
    message = ("RuntimeError: Error in execution: Non-zero status code returned while running Reshape node. "
               "Name:'node_view' Status Message: reshape_helper.h:91 ...")
    assert patterns.mode_pattern("fail_to_run", "at input_ids 1x9: " + message) == "export_size_baked"
    assert patterns.classify("fail_to_run", message) != "export_size_baked"
    scoped = [p for p in patterns.catalog() if p.get("modes")]
    assert scoped and all(set(p["modes"]) <= set(EXTRA_MODES) and p["fix"] for p in scoped)
