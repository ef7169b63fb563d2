import pytest
import torch

from hwcov.models import inputs, tiny


def _feed(archs, model_type, batch=1):
    a = archs[model_type]
    config = tiny.tiny_config(model_type, tiny.overrides_for(model_type, a.family))
    model = tiny.build_model(a.base_class, config)
    return config, inputs.synthesize(model, config, inputs.spec_for(model_type, a.family), batch=batch)


@pytest.mark.parametrize("batch", [1, 2])
def test_text_ids_are_inside_the_vocabulary(archs, batch):
    config, feed = _feed(archs, "bert", batch)
    assert feed["input_ids"].shape[0] == batch
    assert 0 <= int(feed["input_ids"].min()) and int(feed["input_ids"].max()) < config.vocab_size
    assert torch.equal(feed["attention_mask"], torch.ones_like(feed["input_ids"]))


def test_pixels_follow_the_vision_config(archs):
    config, feed = _feed(archs, "vit", 2)
    assert tuple(feed["pixel_values"].shape) == (2, config.num_channels, config.image_size, config.image_size)


def test_encoder_decoders_get_decoder_ids(archs):
    _, feed = _feed(archs, "t5")
    assert "decoder_input_ids" in feed and "input_ids" in feed


def test_synthesis_is_deterministic(archs):
    _, a = _feed(archs, "wav2vec2")
    _, b = _feed(archs, "wav2vec2")
    assert torch.equal(a["input_values"], b["input_values"])
    assert inputs.has_non_text_input(a)


def test_multimodal_inputs_carry_the_image(archs):
    _, feed = _feed(archs, "clip")
    assert inputs.has_non_text_input(feed) and "input_ids" in feed


@pytest.mark.parametrize("model_type, expect", [
    ("qwen2_vl", "image_grid_thw"),  # grid recipe: flattened patches + grid sizes
    ("llava", "pixel_values"),  # image tokens counted from the vision features
    ("swin", "pixel_values"),  # backbone stages kept consistent after shrinking
    ("whisper", "input_features"),  # mel frames follow max_source_positions
])
def test_recipes_run_a_full_modality_forward_at_batch_2(archs, model_type, expect):
    from hwcov.cases import generate
    from hwcov.models.build import build_case

    built = build_case(generate.case_for(archs[model_type]), batch=2)
    assert expect in built.feed
    with torch.no_grad():
        out = built.model(**built.feed)
    first = next(v for v in out.values() if torch.is_tensor(v))
    assert first.shape[0] == 2


def test_random_text_never_draws_a_placeholder_id():
    import torch

    from hwcov.models.placeholders import without_placeholders

    text = torch.tensor([[4, 5, 6, 7, 5, 9]])
    # a placeholder draw becomes the smallest id >= 4 that is no placeholder
    assert without_placeholders(text, {5, 4}).tolist() == [[6, 6, 6, 7, 6, 9]]
    assert torch.equal(without_placeholders(text, set()), text)


def test_a_long_multimodal_text_keeps_one_placeholder_per_feature(archs):
    """At sequence 128 aria's random text drew its image token once more than there were image features."""
    from dataclasses import replace

    import torch

    from hwcov.cases.generate import case_for
    from hwcov.models.build import build_case

    case = case_for(archs["aria"])
    built = build_case(replace(case, input_spec={**case.input_spec, "seq_len": 128}), 1)
    with torch.no_grad():
        built.model(**built.feed)  # raised "Image features and image tokens do not match, tokens: 9, features: 8"
