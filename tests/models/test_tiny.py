from hwcov.core import data
from hwcov.models import tiny


def test_shrink_lowers_sizes_and_keeps_per_layer_lists_consistent():
    rules = data.load("tiny/defaults.yaml")
    d = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
         "head_dim": 128, "intermediate_size": 11008, "layer_types": ["full"] * 32, "num_local_experts": 8,
         "num_experts_per_tok": 8, "small": 3,
         "vision_config": {"model_type": "x", "hidden_size": 1024, "num_hidden_layers": 24}}
    out = tiny.shrink_dict(d, rules)
    assert out["hidden_size"] == rules["width"] and out["num_hidden_layers"] == rules["layers"]
    assert out["head_dim"] * out["num_attention_heads"] == out["hidden_size"]
    assert out["num_attention_heads"] % out["num_key_value_heads"] == 0
    assert len(out["layer_types"]) == out["num_hidden_layers"]
    assert out["num_experts_per_tok"] <= out["num_local_experts"]
    assert out["small"] == 3  # never raised
    assert out["vision_config"]["hidden_size"] == rules["width"]
    assert d["hidden_size"] == 4096  # input untouched


def test_tiny_config_applies_overrides_and_builds_offline():
    config = tiny.tiny_config("bert", {"num_hidden_layers": 1})
    assert config.num_hidden_layers == 1 and config.hidden_size <= 64
    model = tiny.build_model("BertModel", config)
    assert not model.training
    assert sum(p.numel() for p in model.parameters()) < 5_000_000


def test_special_token_ids_stay_inside_the_vocabulary():
    config = tiny.tiny_config("gpt2", {"vocab_size": 100, "eos_token_id": 50256, "bos_token_id": 50256})
    assert config.eos_token_id < 100 and config.bos_token_id < 100


def test_a_large_vocabulary_is_lowered_and_its_special_ids_follow(archs):
    """gemma3n: 262k tokens (and as many per-layer input embeddings) were ~140 MB of a 2-layer model in each export;
    the tiny vocabulary keeps its special and modality ids inside, each distinct."""
    from hwcov.cases import generate
    from hwcov.models.build import build_case

    rules = data.load("tiny/defaults.yaml")
    built = build_case(generate.case_for(archs["gemma3n_text"]))
    assert built.config.vocab_size == rules["vocab"] and built.config.vocab_size_per_layer_input <= rules["vocab"]
    assert sum(p.numel() for p in built.model.parameters()) < 10_000_000  # 157 M with its own vocabulary
    qwen = tiny.tiny_config("qwen2_vl", generate.case_for(archs["qwen2_vl"]).config_overrides)
    ids = {k: getattr(qwen, k) for k in ("image_token_id", "video_token_id", "vision_start_token_id")}
    assert all(v < qwen.text_config.vocab_size for v in ids.values()) and len(set(ids.values())) == len(ids), ids
    assert tiny.tiny_config("gpt2", {"vocab_size": 100}).vocab_size == 100  # an override still wins


def test_skip_table_reasons_are_written():
    for model_type, entry in (data.load("skips.yaml").get("model_types") or {}).items():
        assert len(entry["reason"]) > 10, model_type
        assert tiny.skip_reason(model_type, "cpu") or "all" not in entry.get("scope", ["all"])


def test_redraw_fills_the_zero_codebooks_a_checkpoint_would_and_refuses_a_stale_pattern(archs):
    """encodec's codebooks are buffers built as zeros: every frame quantized to one code and the audio did not depend
    on the input (a degenerate reference, issue 24). The template's `redraw` entry draws them; the reference then
    carries signal and depends on the input."""
    import pytest
    import torch

    from hwcov.cases import generate
    from hwcov.models import outputs, signal
    from hwcov.models.build import build_case

    case = generate.case_for(archs["encodec"])
    assert case.config_overrides[tiny.REDRAW]
    built = build_case(case)
    embeds = [t for n, t in built.model.named_buffers() if n.endswith("codebook.embed")]
    assert embeds and all(float(t.abs().max()) > 0 for t in embeds)
    with torch.no_grad():
        first = outputs.to_numpy(outputs.flatten(built.model(**built.feed)))
        other = {k: v * 0.5 + 0.1 * torch.randn_like(v) if torch.is_tensor(v) and v.is_floating_point() else v
                 for k, v in built.feed.items()}
        second = outputs.to_numpy(outputs.flatten(built.model(**other)))
    assert signal.uninformative(first, second) == {}
    with pytest.raises(ValueError, match="names no tensor"):
        tiny.redraw(built.model, [{"pattern": r"no_such_tensor$", "std": 1.0}])
