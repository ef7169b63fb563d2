"""Synthesize forward() inputs from the config and the forward signature, per modality.

No tokenizer or processor (the hub is offline): token ids inside the vocabulary, pixels
at the vision config's size, audio at the feature extractor's shape, decoder ids for
encoder-decoders, and image tokens matching the vision features for multimodal models.
What is special per architecture is data in templates/inputs.yaml.
"""
from __future__ import annotations

import inspect

from hwcov import data

NON_TEXT_INPUTS = ("pixel_values", "pixel_values_videos", "input_values", "input_features", "past_values",
                   "audio_values", "image_embeds", "flattened_patches", "pixel_values_images")


def spec_for(model_type: str, family: str) -> dict:
    spec = data.load("inputs.yaml")
    out = dict(spec.get("defaults", {}))
    out.update(spec.get("families", {}).get(family, {}) or {})
    out.update(spec.get("model_types", {}).get(model_type, {}) or {})
    out.pop("why", None)
    return out


def _sub(config, *names):
    for n in names:
        sub = getattr(config, n, None)
        if sub is not None and not isinstance(sub, (int, float, str, list, dict)):
            return sub
    return config


def _attr(config, names, default=None):
    for n in names:
        v = getattr(config, n, None)
        if v is not None:
            return v
    return default


def _text_vocab(config) -> int:
    text = _sub(config, "text_config", "decoder", "language_config", "llm_config")
    return int(_attr(text, ("vocab_size",), _attr(config, ("vocab_size",), 1000)))


def _image_hw(config, spec) -> tuple[int, int]:
    vision = _sub(config, "vision_config", "backbone_config", "encoder", "image_config")
    size = spec.get("image_size") or _attr(vision, ("image_size", "img_size", "input_size"),
                                           _attr(config, ("image_size",), 64))
    if isinstance(size, dict):
        size = (size.get("height", 64), size.get("width", 64))
    if isinstance(size, (list, tuple)):
        return int(size[-2]), int(size[-1])
    return int(size), int(size)


def _channels(config, spec) -> int:
    vision = _sub(config, "vision_config", "backbone_config", "encoder")
    return int(spec.get("num_channels") or _attr(vision, ("num_channels", "in_channels", "in_chans"),
                                                 _attr(config, ("num_channels",), 3)))


def _count_features(feats, batch: int) -> int:
    """Vision features per sample, whatever shape get_image_features returns."""
    import torch

    if hasattr(feats, "pooler_output") or hasattr(feats, "last_hidden_state"):
        feats = getattr(feats, "pooler_output", None) if getattr(feats, "pooler_output", None) is not None \
            else feats.last_hidden_state
    if isinstance(feats, (list, tuple)):
        return sum(_count_features(f, 1) for f in feats) // batch
    if isinstance(feats, torch.Tensor):
        return int(feats[..., 0].numel() // batch)
    raise TypeError(f"cannot count image features of type {type(feats).__name__}")


def synthesize(model, config, spec: dict, batch: int = 1, seed: int = 0) -> dict:
    import torch

    gen = torch.Generator().manual_seed(seed)
    params = inspect.signature(model.forward).parameters
    wanted = (set(params) | set(spec.get("include", ()))) - set(spec.get("exclude", ()))
    seq = int(spec["seq_len"])
    vocab = _text_vocab(config)
    inputs: dict = {}

    def ids(length):
        return torch.randint(min(4, vocab - 1), min(vocab, 1000), (batch, length), generator=gen)

    if "pixel_values" in wanted:
        h, w = _image_hw(config, spec)
        inputs["pixel_values"] = torch.rand(batch, _channels(config, spec), h, w, generator=gen)
    if "pixel_values_videos" in wanted and "pixel_values" not in inputs:
        h, w = _image_hw(config, spec)
        frames = int(_attr(_sub(config, "vision_config"), ("num_frames",), 8))
        inputs["pixel_values"] = torch.rand(batch, frames, _channels(config, spec), h, w, generator=gen)
    if "input_values" in wanted:
        inputs["input_values"] = torch.randn(batch, int(spec["audio_samples"]), generator=gen)
    if "input_features" in wanted:
        audio = _sub(config, "audio_config", "encoder_config")
        bins = int(_attr(audio, ("num_mel_bins", "feature_size", "input_feat_per_channel", "n_mels"), 80))
        frames = int(spec["audio_frames"])
        max_src = _attr(audio, ("max_source_positions",))
        if spec.get("frames_from_positions") and max_src:
            frames = 2 * int(max_src)
        inputs["input_features"] = torch.randn(batch, bins, frames, generator=gen)
    if "input_ids" in wanted:
        text = ids(seq)
        image_token = _attr(config, ("image_token_id", "image_token_index"))
        if spec.get("image_tokens", True) and image_token is not None and "pixel_values" in inputs \
                and hasattr(model, "get_image_features"):
            with torch.no_grad():
                n = _count_features(model.get_image_features(pixel_values=inputs["pixel_values"]), batch)
            text = torch.cat([torch.full((batch, n), int(image_token)), text], dim=1)
        inputs["input_ids"] = text
        if "attention_mask" in wanted:
            inputs["attention_mask"] = torch.ones_like(text)
    if "decoder_input_ids" in wanted and getattr(config, "is_encoder_decoder", False):
        inputs["decoder_input_ids"] = ids(int(spec["decoder_seq_len"]))
    for k, v in (spec.get("fixed") or {}).items():
        inputs[k] = v
    if "use_cache" in params and "use_cache" not in inputs:
        inputs["use_cache"] = False
    if "return_dict" in params:
        inputs["return_dict"] = True
    return inputs


def has_non_text_input(inputs: dict) -> bool:
    return any(k in inputs for k in NON_TEXT_INPUTS)
