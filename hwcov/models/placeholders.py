"""Modality placeholder tokens in the text: which placeholder ids a feed needs, how many per sample (counted
from the model's own get_image_features / get_audio_features on the feed), and random text kept clear of them."""
from __future__ import annotations

import inspect

from hwcov.models.config_attrs import first_attr, sub_config


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


def _feature_fn(model, name: str):
    """get_image_features / get_audio_features on the model, its inner model or its encoder."""
    for owner in (model, getattr(model, "model", None), getattr(model, "vlm", None), getattr(model, "encoder", None)):
        if owner is not None and hasattr(owner, name):
            return getattr(owner, name)
    return None


def without_placeholders(text, reserved: set):
    """Random text never holds a placeholder id by chance (a longer sequence drew aria's image token once more
    than there were image features): such draws become the smallest id that is no placeholder."""
    import torch

    reserved = {int(t) for t in reserved}
    if not reserved:
        return text
    safe = next(i for i in range(4, 4 + len(reserved) + 1) if i not in reserved)
    return torch.where(torch.isin(text, torch.tensor(sorted(reserved))), safe, text)


def placeholder_id(config, names):
    """A placeholder token id on the config or its wrapped VLM / text config."""
    return first_attr(config, names, first_attr(sub_config(config, "vlm_config", "encoder"), names))


def placeholder_tokens(model, config, inputs: dict, batch: int, spec: dict | None = None):
    """(token id, count per sample) for each modality placeholder whose features this feed carries; a
    spec's audio_tokens gives the audio count where no get_audio_features can count it from the feed."""
    found = []
    image_token = placeholder_id(config, ("image_token_id", "image_token_index"))
    if image_token is None:  # no id on the config: the spec's (positions then marked by image_token_mask)
        image_token = (spec or {}).get("image_token_id")
    image_fn = _feature_fn(model, "get_image_features")
    fixed_image = int((spec or {}).get("image_token_count") or 0)  # where the features can't be counted
    image_keys = ("pixel_values", "pixel_values_videos", *(spec or {}).get("image_keys", ()))  # + flattened_patches
    if image_token is not None and any(k in inputs for k in image_keys) \
            and (image_fn or fixed_image):
        found.append((int(image_token), fixed_image or _features_per_sample(image_fn, inputs, batch)))
    audio_token = placeholder_id(config, ("audio_token_id", "audio_token_index"))
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
