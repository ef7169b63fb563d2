"""Synthesize forward() inputs from the config and the forward signature, per modality.

No tokenizer or processor (the hub is offline): token ids inside the vocabulary, pixels
at the vision config's size, audio at the feature extractor's shape, decoder ids for
encoder-decoders, and image tokens matching the vision features for multimodal models.
What is special per architecture is data in templates/inputs.yaml.
"""
from __future__ import annotations

import inspect
import math

from hwcov.core import data

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


def _vision(config):
    if getattr(config, "vision_config", None) is None and getattr(config, "vlm_config", None) is not None:
        config = config.vlm_config  # retrieval wrappers (ColQwen2 …) hold the VLM, which holds the tower
    return _sub(config, "vision_config", "vision_encoder_config", "backbone_config", "encoder", "image_config")


def _grid_pixels(config, spec, batch, gen):
    """Flattened patches + (t, h, w) grids, the layout of Qwen-VL-style vision towers."""
    import torch

    vision = _vision(config)
    patch = int(_attr(vision, ("patch_size",), 14))
    temporal = int(_attr(vision, ("temporal_patch_size", "patch_temporal"), 1))
    merge = int(_attr(vision, ("spatial_merge_size", "merge_size"), 1) or 1)
    side = int(spec.get("grid_side") or 2 * merge)
    channels = int(_attr(vision, ("in_channels", "num_channels"), 3))
    patches = torch.rand(batch * side * side, channels * temporal * patch * patch, generator=gen)
    if spec.get("grid_patches_4d"):
        patches = patches.view(-1, channels * temporal, patch, patch)
    grid = torch.tensor([[1, side, side]] * batch)
    return patches, grid, merge


def _patch_sequence(config, spec, batch, gen):
    """NaFlex layout (Siglip2-style): (batch, patches, C*p*p), spatial_shapes, a patch mask."""
    import torch

    vision = _vision(config)
    patch = int(_attr(vision, ("patch_size",), 16))
    channels = int(_attr(vision, ("num_channels", "in_channels"), 3))
    side = int(spec.get("grid_side") or 4)
    pixels = torch.rand(batch, side * side, channels * patch * patch, generator=gen)
    shapes = torch.tensor([[side, side]] * batch)
    mask = torch.ones(batch, side * side, dtype=torch.long)
    return pixels, shapes, mask


def _anyres_patches(config, h, w) -> int:
    """LLaVA-NeXT anyres: base image + the tiles of the best grid pinpoint for an (h, w) image."""
    pins = getattr(config, "image_grid_pinpoints", None)
    if not pins:
        return 0
    from transformers.image_processing_utils import select_best_resolution

    bh, bw = select_best_resolution((h, w), pins)
    return 1 + (bh // h) * (bw // w)


def _pixel_inputs(model, config, spec, params, batch, gen) -> dict:
    """Pixel inputs in the layout the spec's `pixels` recipe names (default: a plain image batch)."""
    import torch

    layout = spec.get("pixels") or ("grid" if {"image_grid_thw", "grid_thw"} & set(params) else
                                    "video" if "pixel_values_videos" in params and "pixel_values" not in params
                                    else "image")
    out: dict = {}
    pixel_key = "pixel_values" if "pixel_values" in params else spec.get("pixel_key", "pixel_values")
    h, w = _image_hw(config, spec)
    c = _channels(config, spec)
    if layout == "grid":
        patches, grid, _ = _grid_pixels(config, spec, batch, gen)
        if "pixel_values" not in params and "hidden_states" in params:
            pixel_key = "hidden_states"
        out[pixel_key] = patches
        out["image_grid_thw" if "image_grid_thw" in params else "grid_thw"] = grid
        for k in ("image_merge_sizes", "merge_sizes"):
            if k in params:
                out[k] = torch.tensor([int(_attr(_vision(config), ("spatial_merge_size",), 1))] * batch)
    elif layout == "patches":
        pixels, shapes, mask = _patch_sequence(config, spec, batch, gen)
        out[pixel_key] = pixels
        if "spatial_shapes" in params:
            out["spatial_shapes"] = shapes
        if "pixel_attention_mask" in params:
            out["pixel_attention_mask"] = mask
        if spec.get("patch_positions"):  # (x, y) of each patch on the side x side grid
            side = int(shapes[0, 0])
            xy = torch.stack([torch.arange(side * side) % side, torch.arange(side * side) // side], dim=-1)
            out[spec["patch_positions"]] = xy.unsqueeze(0).repeat(batch, 1, 1)
    elif layout == "images_5d":
        n = int(spec.get("images_per_sample", 1))
        out[pixel_key] = torch.rand(batch, n, c, h, w, generator=gen)
        if "pixel_attention_mask" in params:
            out["pixel_attention_mask"] = torch.ones(batch, n, h, w, dtype=torch.bool)
    elif layout == "video":
        frames = int(spec.get("frames") or _attr(_vision(config), ("num_frames",), _attr(config, ("num_frames",), 8)))
        key = "pixel_values_videos" if "pixel_values_videos" in params and "pixel_values" not in params else pixel_key
        out[key] = torch.rand(batch, frames, c, h, w, generator=gen)
    else:
        tiles = _anyres_patches(config, h, w) if "image_sizes" in params and _wants_image_sizes(model, spec) else 0
        shape = (batch, tiles, c, h, w) if tiles else (batch, c, h, w)
        out[pixel_key] = torch.rand(*shape, generator=gen)
        if "pixel_attention_mask" in params:
            out["pixel_attention_mask"] = torch.ones(batch, h, w, dtype=torch.bool)
    if "image_sizes" in params and _wants_image_sizes(model, spec):
        out["image_sizes"] = torch.tensor([[h, w]] * batch)
    return out


def _required(fn, name: str) -> bool:
    p = inspect.signature(fn).parameters.get(name)
    return p is not None and p.default is inspect.Parameter.empty


def _wants_image_sizes(model, spec) -> bool:
    """image_sizes is sent when the spec asks for it or the model's image path requires it."""
    if "image_sizes" in spec:
        return bool(spec["image_sizes"])
    fns = [model.forward] + ([model.get_image_features] if hasattr(model, "get_image_features") else [])
    return any(_required(f, "image_sizes") for f in fns)


def _time_series_inputs(config, spec, params, batch, gen) -> dict:
    """past/future values, time features and observed masks from the config's context geometry."""
    import torch

    context = int(spec.get("context_length") or _attr(config, ("context_length", "context_len"), 32) or 32)
    lags = _attr(config, ("lags_sequence",)) or [0]
    past_len = context + max(lags) if "past_time_features" in params else context
    channels = int(_attr(config, ("num_input_channels", "input_size"), 1) or 1)
    shape = (batch, past_len, channels) if channels > 1 or spec.get("channel_dim") else (batch, past_len)
    out = {"past_values": torch.randn(*shape, generator=gen)}
    n_time = int(_attr(config, ("num_time_features",), 0) or 0)
    pred = int(_attr(config, ("prediction_length",), 0) or 0)
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


def _feature_fn(model, name: str):
    """get_image_features / get_audio_features on the model, its inner model or its encoder."""
    for owner in (model, getattr(model, "model", None), getattr(model, "vlm", None), getattr(model, "encoder", None)):
        if owner is not None and hasattr(owner, name):
            return getattr(owner, name)
    return None


def _without(text, reserved: set):
    """Random text never holds a placeholder id by chance (a longer sequence drew aria's image token once more
    than there were image features): such draws become the smallest id that is no placeholder."""
    import torch

    reserved = {int(t) for t in reserved}
    if not reserved:
        return text
    safe = next(i for i in range(4, 4 + len(reserved) + 1) if i not in reserved)
    return torch.where(torch.isin(text, torch.tensor(sorted(reserved))), safe, text)


def _placeholder_id(config, names):
    """A placeholder token id on the config or its wrapped VLM / text config."""
    return _attr(config, names, _attr(_sub(config, "vlm_config", "encoder"), names))


def _placeholder_tokens(model, config, inputs: dict, batch: int, spec: dict | None = None):
    """(token id, count per sample) for each modality placeholder whose features this feed carries; a
    spec's audio_tokens gives the audio count where no get_audio_features can count it from the feed."""
    found = []
    image_token = _placeholder_id(config, ("image_token_id", "image_token_index"))
    if image_token is None:  # no id on the config: the spec's (positions then marked by image_token_mask)
        image_token = (spec or {}).get("image_token_id")
    image_fn = _feature_fn(model, "get_image_features")
    fixed_image = int((spec or {}).get("image_token_count") or 0)  # where the features can't be counted
    image_keys = ("pixel_values", "pixel_values_videos", *(spec or {}).get("image_keys", ()))  # + flattened_patches
    if image_token is not None and any(k in inputs for k in image_keys) \
            and (image_fn or fixed_image):
        found.append((int(image_token), fixed_image or _features_per_sample(image_fn, inputs, batch)))
    audio_token = _placeholder_id(config, ("audio_token_id", "audio_token_index"))
    audio_fn = _feature_fn(model, "get_audio_features")
    fixed = int((spec or {}).get("audio_tokens") or 0)
    audio_keys = {"input_features", "input_values", *(spec or {}).get("audio_keys", ())}  # + e.g. audio codes
    if audio_token is not None and audio_keys & set(inputs) and (audio_fn or fixed):
        found.append((int(audio_token), fixed or _features_per_sample(audio_fn, inputs, batch)))
    return found


def _features_per_sample(fn, feed: dict, batch: int) -> int:
    import torch

    sig = inspect.signature(fn).parameters
    names = set(sig)
    if "args" in names:
        names |= {"input_features"}
    kwargs = {k: v for k, v in feed.items() if k in names and k not in ("input_ids", "attention_mask")}
    audio = feed.get("input_features", feed.get("input_values"))
    for k, p in sig.items():  # a required mask over the audio frames: every frame is valid
        if "mask" in k and k not in kwargs and p.default is inspect.Parameter.empty and audio is not None:
            kwargs[k] = feed.setdefault(k, torch.ones(audio.shape[0], audio.shape[-1], dtype=torch.long))
    with torch.no_grad():
        return _count_features(fn(**kwargs), batch)


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
        return _image_hw(config, spec)[token == "image_w"]
    obj = config
    for part in str(token).removeprefix("config.").split("."):
        obj = getattr(obj, part)
    return int(obj)


def _named_tensors(config, spec, batch: int, inputs: dict, gen, key: str = "tensors") -> dict:
    """Extra forward kwargs a spec names under `tensors` (or `early_tensors`): {name: {shape: [...], fill: ...}}."""
    import torch

    out = {}
    vocab = _text_vocab(config)
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
        elif fill == "arange":  # 0, 1, 2 … in row-major order (index tables: each row a distinct slice)
            out[name] = torch.arange(math.prod(shape)).reshape(shape)
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


def _inference_session(config, spec: dict, batch: int, gen) -> dict:
    """A video-tracking session (SAM2-video style) built without a processor: `frames` random frames at the
    image size, `batch` tracked objects, each prompted with `points` foreground clicks on frame 0 (pixel
    coordinates of the model input); forward runs on that prompted frame."""
    import torch
    import transformers

    rec = spec["inference_session"]
    h, w = _image_hw(config, spec)
    video = torch.rand(int(rec.get("frames", 2)), _channels(config, spec), h, w, generator=gen)
    session = getattr(transformers, rec["class"])(video=video, video_height=h, video_width=w, dtype=torch.float32)
    n = int(rec.get("points", 1))
    for obj_id in range(1, batch + 1):
        coords = torch.rand(1, 1, n, 2, generator=gen) * torch.tensor([float(w), float(h)])
        session.add_point_inputs(session.obj_id_to_idx(obj_id), 0, {
            "point_coords": coords, "point_labels": torch.ones(1, 1, n, dtype=torch.int32)})
    session.obj_with_new_inputs = list(range(1, batch + 1))
    return {"inference_session": session, "frame_idx": 0}


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

    if spec.get("inference_session"):  # stateful video trackers take a session object, not tensors
        inputs.update(_inference_session(config, spec, batch, gen))
    vision_keys = {"pixel_values", "pixel_values_videos"}
    if spec.get("pixels") and spec.get("pixel_key"):
        vision_keys.add(spec["pixel_key"])
    if vision_keys & wanted or ({"grid_thw"} & wanted and "hidden_states" in wanted):
        inputs.update(_pixel_inputs(model, config, spec, wanted, batch, gen))
    if "input_values" in wanted:
        samples = int(spec["audio_samples"])
        shape = (batch, int(spec.get("audio_channels", 1)), samples) if spec.get("audio_channels") else (batch, samples)
        inputs["input_values"] = torch.randn(*shape, generator=gen)
    if "input_features" in wanted:
        audio = _sub(config, "audio_config", "encoder_config", "audio_encoder_config", "encoder")
        bins = int(spec.get("mel_bins") or _attr(audio, ("num_mel_bins", "feature_size", "input_feat_per_channel",
                                                         "n_mels", "input_dim"), 80))
        frames = int(spec["audio_frames"])
        max_src = _attr(audio, ("max_source_positions",))
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
        image_token = _placeholder_id(config, ("image_token_id", "image_token_index"))
        placeholders = _placeholder_tokens(model, config, inputs, batch, spec) if spec.get("image_tokens", True) else []
        named = [(int(_dim(attr, config, spec, batch, inputs)), int(n))
                 for attr, n in (spec.get("text_placeholders") or {}).items()]  # {config attr holding a token id: n}
        text = _without(text, {t for t, _ in placeholders + named} | {
            t for t in (image_token, _placeholder_id(config, ("video_token_id", "video_token_index")),
                        _placeholder_id(config, ("audio_token_id", "audio_token_index"))) if isinstance(t, int)})
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
