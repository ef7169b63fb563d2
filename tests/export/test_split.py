"""The `dynamic` mode's split of a vision-language model (issue #25): where the whole graph fixes its image count, its
vision encoder (one image, run per image) and language part (symbolic batch, length, features) as two graphs, checked
at the same shapes against the same torch model."""
import pytest

from hwcov.backends import dynamic as dynamic_check
from hwcov.backends.registry import get_backend
from hwcov.cases import generate
from hwcov.export import dynamic, split
from hwcov.models.build import build_case
from tests.conftest import needs_browser

SHAPES = "input_ids 2x36 (export) pass; input_ids 1x36 pass; input_ids 3x24 pass"  # llava's: 2, 1 and 3 images


def _check(archs, hardware: str, model_type: str, export_dir) -> dict:
    backend = get_backend(hardware)
    return dynamic_check.check(backend, generate.case_for(archs[model_type]), export_dir, backend.routes[0])


@pytest.mark.parametrize("hardware", ["onnxruntime", "openvino", pytest.param("wasm", marks=needs_browser())])
def test_a_vlm_whose_whole_graph_fixes_its_image_count_passes_as_a_split(archs, tmp_path, hardware):
    """llava's whole dynamic graph takes two images only (its per-image Python unrolled); the pair passes with one,
    two and three, each shape against the torch model's own outputs there; the row names both graphs it tried.
    wasm: both graphs sessions on one page, through the sweep's own path (the forward, then the mode)."""
    backend = get_backend(hardware)
    backend.export_dir = tmp_path
    fields = backend.run(generate.case_for(archs["llava"]), "fp32", 1, modes=("dynamic",))
    family = backend.family
    assert fields["status"] == "pass"
    assert fields["dynamic_status"] == "pass", fields["dynamic_message"]
    assert fields["dynamic_route"] == split.ROUTE[family]
    assert fields["dynamic_shapes"] == SHAPES
    assert 0 < fields["dynamic_max_abs_diff"] < 1e-4
    whole = fields["dynamic_message"]  # what the whole graph gave (onnxruntime refuses 3 images, openvino fails)
    assert whole.startswith(f"{dynamic.ROUTE[family]}: ") and "pass" not in whole


def test_the_pair_fails_when_the_host_hands_the_language_graph_the_images_in_another_order(archs, tmp_path,
                                                                                            monkeypatch):
    """The check judges the composition, not just each graph: with the per-image slices reversed, each image's
    features land on another sample's image tokens: the split fails, and the row reports the whole graph it tried
    first (static_only), saying what the split gave."""
    real = split.images
    monkeypatch.setattr(split, "images", lambda model, feed: real(model, feed)[::-1])
    fields = _check(archs, "onnxruntime", "llava", tmp_path)
    assert fields["dynamic_status"] == "static_only" and fields["dynamic_route"] == "hf-onnx-dynamic"
    assert "hf-onnx-split: fail_accuracy" in fields["dynamic_message"], fields


def test_packed_patches_are_split_by_each_images_grid(archs):
    """qwen2_vl packs every image's patches in one pixel_values: the slices follow image_grid_thw (t*h*w rows each),
    and put back in order they are the batch's own."""
    import torch

    case = generate.case_for(archs["qwen2_vl"])
    built = build_case(case, 3)
    assert split.splits(built.model, built.feed)
    pieces = split.images(built.model, built.feed)
    grid = built.feed["image_grid_thw"]
    assert len(pieces) == 3 == grid.shape[0]
    assert [p["pixel_values"].shape[0] for p in pieces] == [int(n) for n in grid.prod(-1)]
    assert torch.equal(torch.cat([p["pixel_values"] for p in pieces]), built.feed["pixel_values"])
    assert all(torch.equal(p["image_grid_thw"], grid[i:i + 1]) for i, p in enumerate(pieces))


def test_only_the_vision_encoders_inner_states_leave_the_comparison():
    """The pair returns the language part's outputs and each image's pooled features; the encoder's hidden states
    are the one thing of the whole model's outputs it doesn't compare."""
    reference = {"last_hidden_state": 1, "image_outputs.pooler_output.0": 2, "image_outputs.pooler_output.1": 3,
                 "image_outputs.last_hidden_state": 4, "image_outputs.hidden_states.1": 5}
    assert split.narrow(reference) == {"last_hidden_state": 1, "image_outputs.pooler_output.0": 2,
                                       "image_outputs.pooler_output.1": 3}
    assert split.narrow({"logits": 1}) == {"logits": 1}
    # a model's own top-level pooled output is no image group: nothing is left out
    assert split.narrow({"last_hidden_state": 1, "pooler_output": 2}) == {"last_hidden_state": 1, "pooler_output": 2}


def test_a_model_without_an_image_encoder_is_not_split(archs):
    built = build_case(generate.case_for(archs["gpt2"]), 1)
    assert not split.splits(built.model, built.feed)


def test_a_vision_encoder_torch_export_refuses_is_traced_at_one_image_and_the_row_says_so(archs, tmp_path):
    """qwen2_5_vl's vision encoder guards on a data-dependent size (its window index) even at one image: the pair
    takes the tracer's graph of it, which at one fixed image records what torch.export refused to guess."""
    fields = _check(archs, "onnxruntime", "qwen2_5_vl", tmp_path)
    assert fields["dynamic_status"] == "pass", fields["dynamic_message"]
    assert fields["dynamic_route"] == "hf-onnx-split"
    assert "hf-onnx-split: vision encoder traced at one image, torch.export refused it (GuardOnDataDependent" \
        in fields["dynamic_message"]


def test_the_language_graph_leaves_batch_length_and_image_tokens_symbolic(archs):
    """The language graph's spec varies what the plan's shapes vary; its second try names the image token count as
    one bounded size (torch.export refuses gemma4's token check with an unbounded one), and a cache key tells the
    two apart."""
    from hwcov.export.dynamic import describe_spec

    case = generate.case_for(archs["llava"])
    built, scale = dynamic.export_built(build_case(case, dynamic.EXPORT_BATCH), case.input_spec)
    spec = split.prepared(built, case.input_spec, scale).dynamic_shapes
    assert describe_spec(spec) == "attention_mask:0,1;image_features:0;input_ids:0,1"
    bounded = describe_spec(split.bounded_tokens(spec))
    assert bounded == "attention_mask:0,1;image_features:0=image_tokens[1,1048576];input_ids:0,1"
    assert describe_spec(spec) == "attention_mask:0,1;image_features:0;input_ids:0,1"  # the first spec untouched
