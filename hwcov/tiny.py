"""Shrink a model type's default config to a tiny one; build the model with random weights.

Generic rules come from templates/tiny/defaults.yaml; family and per-arch overrides from
templates/tiny/overrides.yaml. Derived sizes (head_dim, kv heads, experts per token,
per-layer lists) are kept consistent here so overrides only say what is special.
"""
from __future__ import annotations

import copy

from hwcov import data

_SKIP_DICT_KEYS = {"id2label", "label2id", "task_specific_params", "auto_map", "quantization_config",
                   "rope_scaling", "rope_parameters"}


def _lower(d: dict, keys, value) -> None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and v > value:
            d[k] = value


def _shrink_lists(d: dict, key: str, old: int, new: int) -> None:
    """Per-layer lists (layer_types, mlp_only_layers …) follow the shrunk layer count."""
    for k, v in d.items():
        if isinstance(v, list) and len(v) == old and old > new and k != key:
            d[k] = v[:new]


def shrink_dict(d: dict, rules: dict) -> dict:
    d = copy.deepcopy(d)
    layers_before = {k: d[k] for k in rules["layer_keys"] if isinstance(d.get(k), int)}
    _lower(d, rules["width_keys"], rules["width"])
    _lower(d, rules["ffn_keys"], rules["ffn"])
    _lower(d, rules["layer_keys"], rules["layers"])
    _lower(d, rules["head_keys"], rules["heads"])
    _lower(d, rules["kv_head_keys"], rules["kv_heads"])
    _lower(d, rules["expert_keys"], rules["experts"])
    _lower(d, rules["position_keys"], rules["positions"])
    _lower(d, rules["image_size_keys"], rules["image_size"])
    for k, old in layers_before.items():
        _shrink_lists(d, k, old, d[k])
    experts = min((d[k] for k in rules["expert_keys"] if isinstance(d.get(k), int)), default=None)
    if experts:
        _lower(d, rules["experts_per_token_keys"], experts)
    heads = next((d[k] for k in rules["head_keys"] if isinstance(d.get(k), int)), None)
    width = next((d[k] for k in rules["width_keys"] if isinstance(d.get(k), int)), None)
    if heads and width and isinstance(d.get("head_dim"), int):
        d["head_dim"] = width // heads
    for k in rules["kv_head_keys"]:
        if heads and isinstance(d.get(k), int) and heads % d[k]:
            d[k] = 1
    for k, v in d.items():
        if isinstance(v, dict) and k not in _SKIP_DICT_KEYS and "model_type" in v:
            d[k] = shrink_dict(v, rules)
    return d


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if k == "why":
            continue
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def overrides_for(model_type: str, family: str) -> dict:
    """The override data for one architecture: family entries first, then the model type's."""
    spec = data.load("tiny/overrides.yaml")
    out = _merge({}, spec.get("families", {}).get(family, {}) or {})
    return _merge(out, spec.get("model_types", {}).get(model_type, {}) or {})


def _clamp_token_ids(config) -> None:
    """Special token ids must index the (text) vocabulary."""
    vocab = getattr(config, "vocab_size", None)
    if not isinstance(vocab, int):
        return
    for k in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "sep_token_id",
              "cls_token_id", "unk_token_id", "mask_token_id"):
        v = getattr(config, k, None)
        if isinstance(v, int) and v >= vocab:
            setattr(config, k, vocab - 1)


def tiny_config(model_type: str, overrides: dict | None = None):
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    rules = data.load("tiny/defaults.yaml")
    default = CONFIG_MAPPING[model_type]().to_dict()
    shrunk = _merge(shrink_dict(default, rules), overrides or {})
    shrunk.pop("model_type", None)
    shrunk.pop("transformers_version", None)
    config = AutoConfig.for_model(model_type, **shrunk)
    _clamp_token_ids(config)
    return config


def build_model(model_class: str, config):
    """Instantiate with random weights (no hub); eval mode so dropout can't break parity."""
    import transformers

    cls = getattr(transformers, model_class)
    model = cls(config) if not hasattr(cls, "_from_config") else cls._from_config(config)
    return model.eval()


def skip_reason(model_type: str, hardware: str = "all") -> str:
    """The skip table's written reason for this architecture on this hardware, or ''."""
    entry = data.load("skips.yaml").get("model_types", {}).get(model_type)
    if not entry:
        return ""
    scope = entry.get("scope", ["all"])
    return entry["reason"] if ("all" in scope or hardware in scope) else ""
