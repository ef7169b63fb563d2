"""Synthesize forward() inputs from the config and the forward signature, per modality.

No tokenizer or processor (the hub is offline): token ids inside the vocabulary, pixels
at the vision config's size, audio at the feature extractor's shape, decoder ids for
encoder-decoders, and image tokens matching the vision features for multimodal models.
What is special per architecture is data in templates/inputs.yaml. Pixel layouts are in pixels.py,
placeholder-token counting in placeholders.py.
"""
from __future__ import annotations

import inspect
import math

from hwcov.core import data
from hwcov.models.config_attrs import first_attr, sub_config, text_vocab
from hwcov.models.pixels import image_hw, inference_session, pixel_inputs
from hwcov.models.placeholders import placeholder_id, placeholder_tokens, without_placeholders

NON_TEXT_INPUTS = ("pixel_values", "pixel_values_videos", "input_values", "input_features", "past_values",
                   "audio_values", "image_embeds", "flattened_patches", "pixel_values_images",
                   "protein_input_ids", "image_pixel_values", "audio_input_features",
                   "bbox")  # document layout boxes: LayoutLM's second modality (it takes no image)


def spec_for(model_type: str, family: str) -> dict:
    spec = data.load("inputs.yaml")
    out = dict(spec.get("defaults", {}))
    out.update(spec.get("families", {}).get(family, {}) or {})
    out.update(spec.get("model_types", {}).get(model_type, {}) or {})
    out.pop("why", None)
    return out


def _time_series_inputs(config, spec, params, batch, gen) -> dict:
    """past/future values, time features and observed masks from the config's context geometry."""
    import torch

    context = int(spec.get("context_length") or first_attr(config, ("context_length", "context_len"), 32) or 32)
    lags = first_attr(config, ("lags_sequence",)) or [0]
    past_len = context + max(lags) if "past_time_features" in params else context
    channels = int(first_attr(config, ("num_input_channels", "input_size"), 1) or 1)
    shape = (batch, past_len, channels) if channels > 1 or spec.get("channel_dim") else (batch, past_len)
    out = {"past_values": torch.randn(*shape, generator=gen)}
    n_time = int(first_attr(config, ("num_time_features",), 0) or 0)
    pred = int(first_attr(config, ("prediction_length",), 0) or 0)
    if "past_time_features" in params:
        out["past_time_features"] = torch.randn(batch, past_len, n_time, generator=gen)
    if "past_observed_mask" in params:
        out["past_observed_mask"] = torch.ones(*shape)
    if "observed_mask" in params:
        out["observed_mask"] = torch.ones(*shape)
    if "past_values_padding" in params:
        out["past_values_padding"] = torch.zeros(*shape[:2])
    if "freq" in params:
        out["freq"] = torch.zeros(batch, 1, dtype=torch.long)
    if "future_values" in params and "future_time_features" in params and pred:
        fshape = (batch, pred, channels) if len(shape) == 3 else (batch, pred)
        out["future_values"] = torch.randn(*fshape, generator=gen)
        out["future_time_features"] = torch.randn(batch, pred, n_time, generator=gen)
    return out


def _boxes(shape, scale: float, gen):
    """One valid (x0, y0, x1, y1) layout box per token: integers in [0, scale] (LayoutLM's 0..1000
    grid), or floats in [0, 1] when the spec's bbox_scale is 1."""
    import torch

    lo = torch.rand(*shape, 2, generator=gen) * 0.5
    hi = lo + torch.rand(*shape, 2, generator=gen) * 0.5
    box = torch.cat([lo, hi], dim=-1)[..., [0, 1, 2, 3]]
    return box if scale == 1 else (box * scale).long()


def _dim(token, config, spec, batch: int, inputs: dict) -> int:
    """A shape entry of a `tensors` recipe: an int, batch, seq (the text length so far), image_h/w,
    or a dotted config attribute (vision_config.hidden_size); `a+b` adds entries, `a*b` multiplies them."""
    if isinstance(token, int):
        return token
    if "+" in str(token):
        return sum(_dim(int(t) if t.strip().isdigit() else t.strip(), config, spec, batch, inputs)
                   for t in str(token).split("+"))
    if "*" in str(token):
        return math.prod(_dim(int(t) if t.strip().isdigit() else t.strip(), config, spec, batch, inputs)
                         for t in str(token).split("*"))
    if token == "batch":
        return batch
    if token == "seq":
        return int(inputs["input_ids"].shape[1]) if "input_ids" in inputs else int(spec["seq_len"])
    if token in ("image_h", "image_w"):
        return image_hw(config, spec)[token == "image_w"]
    obj = config
    for part in str(token).removeprefix("config.").split("."):
        obj = getattr(obj, part)
    return int(obj)


def _named_tensors(config, spec, batch: int, inputs: dict, gen, key: str = "tensors") -> dict:
    """Extra forward kwargs a spec names under `tensors` (or `early_tensors`): {name: {shape: [...], fill: ...}}."""
    import torch

    out = {}
    vocab = int(text_vocab(config, default=1000))
    for name, rec in (spec.get(key) or {}).items():
        shape = [_dim(t, config, spec, batch, {**inputs, **out}) for t in rec["shape"]]
        fill = rec.get("fill", "randn")
        if fill == "ids":
            high = int(rec.get("high", min(vocab, 1000)))
            out[name] = torch.randint(min(4, high - 1), high, shape, generator=gen)
        elif fill == "rand":
            out[name] = torch.rand(*shape, generator=gen)
        elif fill == "randn":
            out[name] = torch.randn(*shape, generator=gen)
        elif fill in ("zeros_long", "ones_long"):
            out[name] = (torch.zeros if fill == "zeros_long" else torch.ones)(*shape, dtype=torch.long)
        elif fill in ("zeros", "ones"):
            out[name] = (torch.zeros if fill == "zeros" else torch.ones)(*shape)
        elif fill in ("true", "false"):
            out[name] = (torch.ones if fill == "true" else torch.zeros)(*shape, dtype=torch.bool)
        elif fill == "full":  # every entry = value (an int gives a long tensor: lengths, cutoffs, ids)
            out[name] = torch.full(shape, rec["value"])
        elif fill == "rows":  # every last-axis row = the value list (grids: [1, 2, 2] per image)
            out[name] = torch.tensor(rec["value"]).expand(*shape).clone()
        elif fill == "arange":  # 0, 1, 2 … in row-major order (index tables: each row a distinct slice); `mod`
            # restarts the count every `mod` entries (indices local to each image, as a batched processor makes them)
            values = torch.arange(math.prod(shape))
            out[name] = (values % int(rec["mod"]) if rec.get("mod") else values).reshape(shape)
        else:
            raise ValueError(f"unknown tensors fill '{fill}' for {name}")
    return _nest_dotted(out)


def _nest_dotted(flat: dict) -> dict:
    """Dotted tensor names build containers: `kv.full.0` and `kv.full.1` -> {kv: {full: (t0, t1)}};
    a level whose keys are all digits becomes a tuple."""
    out: dict = {}
    for name, t in flat.items():
        *path, last = name.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = t

    def tuples(v):
        if not isinstance(v, dict):
            return v
        v = {k: tuples(x) for k, x in v.items()}
        return tuple(v[k] for k in sorted(v, key=int)) if v and all(k.isdigit() for k in v) else v
    return {k: tuples(v) for k, v in out.items()}


def synthesize(model, config, spec: dict, batch: int = 1, seed: int = 0) -> dict:
    import torch

    gen = torch.Generator().manual_seed(seed)
    params = inspect.signature(model.forward).parameters
    wanted = (set(params) | set(spec.get("include", ()))) - set(spec.get("exclude", ()))
    seq = int(spec["seq_len"])
    vocab = int(text_vocab(config, default=1000))
    inputs: dict = {}

    def ids(length):
        return torch.randint(min(4, vocab - 1), min(vocab, 1000), (batch, length), generator=gen)

    if spec.get("inference_session"):  # stateful video trackers take a session object, not tensors
        inputs.update(inference_session(config, spec, batch, gen))
    vision_keys = {"pixel_values", "pixel_values_videos"}
    if spec.get("pixels") and spec.get("pixel_key"):
        vision_keys.add(spec["pixel_key"])
    if vision_keys & wanted or ({"grid_thw"} & wanted and "hidden_states" in wanted):
        inputs.update(pixel_inputs(model, config, spec, wanted, batch, gen))
    if "input_values" in wanted:
        samples = int(spec["audio_samples"])
        shape = (batch, int(spec.get("audio_channels", 1)), samples) if spec.get("audio_channels") else (batch, samples)
        inputs["input_values"] = torch.randn(*shape, generator=gen)
    if "input_features" in wanted:
        audio = sub_config(config, "audio_config", "encoder_config", "audio_encoder_config", "encoder")
        bins = int(spec.get("mel_bins") or first_attr(audio, ("num_mel_bins", "feature_size",
                                                              "input_feat_per_channel", "n_mels", "input_dim"), 80))
        frames = int(spec["audio_frames"])
        max_src = first_attr(audio, ("max_source_positions",))
        if spec.get("frames_from_positions") and max_src:
            frames = 2 * int(max_src)
        feats = (batch, frames, bins) if spec.get("features_time_major") else (batch, bins, frames)
        inputs["input_features"] = torch.randn(*feats, generator=gen)
        for k in ("input_features_mask", "feature_attention_mask"):
            if k in wanted and k not in inputs:
                inputs[k] = torch.ones(batch, frames, dtype=torch.long)
    if "past_values" in wanted:
        inputs.update(_time_series_inputs(config, spec, wanted, batch, gen))
    # early_tensors exist before the text, so placeholder counting can pass them to get_image_features
    inputs.update(_named_tensors(config, spec, batch, inputs, gen, "early_tensors"))
    if "input_ids" in wanted:
        text = ids(seq)
        image_token = placeholder_id(config, ("image_token_id", "image_token_index"))
        placeholders = placeholder_tokens(model, config, inputs, batch, spec) if spec.get("image_tokens", True) else []
        named = [(int(_dim(attr, config, spec, batch, inputs)), int(n))
                 for attr, n in (spec.get("text_placeholders") or {}).items()]  # {config attr holding a token id: n}
        text = without_placeholders(text, {t for t, _ in placeholders + named} | {
            t for t in (image_token, placeholder_id(config, ("video_token_id", "video_token_index")),
                        placeholder_id(config, ("audio_token_id", "audio_token_index"))) if isinstance(t, int)})
        for token, n in placeholders + named:
            text = torch.cat([torch.full((batch, n), token), text], dim=1)
        inputs["input_ids"] = text
        if spec.get("image_token_mask"):  # a kwarg marking the image positions (Kosmos-2's image_embeds_position_mask)
            inputs[spec["image_token_mask"]] = (text == int(spec["image_token_id"])).long()
        if "mm_token_type_ids" in wanted and image_token is not None:
            inputs["mm_token_type_ids"] = (text == int(image_token)).long()
        if "attention_mask" in wanted:
            inputs["attention_mask"] = torch.ones_like(text)
    if "bbox" in wanted and "input_ids" in inputs:
        inputs["bbox"] = _boxes(inputs["input_ids"].shape, float(spec.get("bbox_scale", 1000)), gen)
    if "decoder_input_ids" in wanted and getattr(config, "is_encoder_decoder", False):
        inputs["decoder_input_ids"] = ids(int(spec["decoder_seq_len"]))
    if spec.get("grid_patches_batched") and "pixel_values" in inputs:  # after counting: (B, patches, D)
        inputs["pixel_values"] = inputs["pixel_values"].reshape(batch, -1, inputs["pixel_values"].shape[-1])
    inputs.update(_named_tensors(config, spec, batch, inputs, gen))
    for k, v in (spec.get("fixed") or {}).items():
        inputs[k] = v
    if "use_cache" in params and "use_cache" not in inputs:
        inputs["use_cache"] = False
    if "return_dict" in params:
        inputs["return_dict"] = True
    return inputs


def has_non_text_input(inputs: dict) -> bool:
    return any(k in inputs for k in NON_TEXT_INPUTS)
