"""Shrink a model type's default config to a tiny one; build the model with random weights.

Generic rules come from templates/tiny/defaults.yaml (applied by shrink.py); family and per-arch
overrides from templates/tiny/overrides.yaml. Derived sizes (head_dim, kv heads, experts per token,
per-layer lists) are kept consistent by shrink.py so overrides only say what is special.
"""
from __future__ import annotations

import copy

from hwcov.core import data
from hwcov.models.config_attrs import text_vocab
from hwcov.models.shrink import shrink_dict

WHY = ("why",)  # an overrides entry's note: documentation, never a config key
# `redraw: [{pattern, std}]`: tensors a checkpoint fills but the model builds as zeros (VQ codebooks are buffers
# no init touches), drawn N(0, std) after building, so the path through them carries signal.
REDRAW = "redraw"
# `full_vocabulary: true`: the vocabulary keeps its default size. For configs that index it with ids the generic
# shrink can't move (an id range checked when the config is built, ids nested in a sub-config, ids in modeling code).
FULL_VOCABULARY = "full_vocabulary"


def overrides_for(model_type: str, family: str) -> dict:
    """The override data for one architecture: family entries first, then the model type's."""
    spec = data.load("tiny/overrides.yaml")
    out = data.deep_merge({}, spec.get("families", {}).get(family, {}) or {}, ignore=WHY)
    return data.deep_merge(out, spec.get("model_types", {}).get(model_type, {}) or {}, ignore=WHY)


def _clamp_token_ids(config) -> None:
    """Special token ids (pad/bos/eos …, and the image/video/audio placeholder ids of multimodal models)
    must index the text vocabulary; out-of-range ones get distinct ids from its top end."""
    vocab = text_vocab(config)
    if not vocab:
        return
    names = sorted(k for k in config.to_dict() if k.endswith(("_token_id", "_token_index")))
    taken = {v for v in (getattr(config, k, None) for k in names) if isinstance(v, int)}
    spare = vocab - 1
    for k in names:
        v = getattr(config, k, None)
        if isinstance(v, int) and not isinstance(v, bool) and v >= vocab:
            while spare in taken and spare > 0:
                spare -= 1
            setattr(config, k, spare)
            taken.add(spare)
        elif isinstance(v, list) and any(isinstance(x, int) and x >= vocab for x in v):
            setattr(config, k, [x for x in v if not (isinstance(x, int) and x >= vocab)] or [vocab - 1])
    for sub_name in ("text_config",):
        sub = getattr(config, sub_name, None)
        if sub is not None and not isinstance(sub, dict):
            for k in ("pad_token_id", "bos_token_id", "eos_token_id"):
                v = getattr(sub, k, None)
                if isinstance(v, int) and not isinstance(v, bool) and v >= vocab:
                    setattr(sub, k, vocab - 1)


def tiny_config(model_type: str, overrides: dict | None = None):
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    rules = data.load("tiny/defaults.yaml")
    overrides = copy.deepcopy(overrides or {})  # config constructors may edit the dicts they are given
    # default_kwargs: constructor arguments for configs whose bare default fails their own validation
    default = CONFIG_MAPPING[model_type](**(overrides.pop("default_kwargs", None) or {})).to_dict()
    # drop_keys: serialized keys the config's own constructor rejects when passed back (4.x TimesFM's
    # is_encoder_decoder); a version patch can't delete a key by merging, so it names them here
    # (a dotted name reaches into a sub-config: semantic_model_config._name_or_path)
    drop = overrides.pop("drop_keys", None) or []
    overrides.pop(REDRAW, None)  # weights, not config: applied to the built model (redraw())
    if overrides.pop(FULL_VOCABULARY, False):
        rules = {**rules, "vocab_keys": []}
    shrunk = data.deep_merge(shrink_dict(default, rules), overrides, ignore=WHY)
    for path in drop:
        *parents, leaf = path.split(".")
        owner = shrunk
        for p in parents:
            owner = owner.get(p) if isinstance(owner, dict) else None
        if isinstance(owner, dict):
            owner.pop(leaf, None)
    shrunk.pop("model_type", None)
    shrunk.pop("transformers_version", None)
    config = AutoConfig.for_model(model_type, **shrunk)
    _clamp_token_ids(config)
    return config


def build_model(model_class: str, config):
    """Instantiate with random weights (no hub); eval mode so dropout can't break parity."""
    cls = model_class_named(model_class, config)
    want = getattr(cls, "config_class", None)
    if isinstance(want, type) and not isinstance(config, want):
        # the sub-model class of a composite config (MusicgenModel is the decoder of MusicgenConfig)
        subs = [v for v in vars(config).values() if isinstance(v, want)]
        config = subs[0] if len(subs) == 1 else config
    model = cls(config) if not hasattr(cls, "_from_config") else cls._from_config(config)
    return model.eval()


def redraw(model, specs: list[dict] | None, strict: bool = True) -> None:
    """Fill the floating parameters and buffers whose dotted name matches each spec's `pattern` (a regex, searched)
    with N(0, std) draws from a fixed seed. A pattern that names nothing is an error (the entry is stale) unless
    `strict` is off: another class built from the case's config (its generative head) may hold only part of the
    case's model, mllama's text LM none of the vision gates its entry redraws."""
    import itertools
    import re

    import torch

    generator = torch.Generator().manual_seed(0)
    for spec in specs or []:
        pattern, hit = re.compile(str(spec["pattern"])), 0
        for name, tensor in itertools.chain(model.named_parameters(), model.named_buffers()):
            if pattern.search(name) and tensor.is_floating_point():
                with torch.no_grad():
                    tensor.copy_(torch.randn(tensor.shape, generator=generator) * float(spec.get("std", 1.0)))
                hit += 1
        if not hit and strict:
            raise ValueError(f"tiny override redraw: pattern {spec['pattern']!r} names no tensor of "
                             f"{type(model).__name__}")


def model_class_named(name: str, config):
    """The class from the transformers namespace, or from its modeling module when the package does not
    export it (VoxtralRealtimeTextModel is in the auto mapping but not in transformers' __all__)."""
    import importlib

    import transformers

    cls = getattr(transformers, name, None)
    if cls is None:
        from transformers.models.auto.configuration_auto import model_type_to_module_name

        module = model_type_to_module_name(config.model_type)
        cls = getattr(importlib.import_module(f"transformers.models.{module}.modeling_{module}"), name)
    return cls


def skip_reason(model_type: str, hardware: str = "all") -> str:
    """The skip table's written reason for this architecture on this hardware, or ''."""
    entry = data.load("skips.yaml").get("model_types", {}).get(model_type)
    if not entry:
        return ""
    scope = entry.get("scope", ["all"])
    return entry["reason"] if ("all" in scope or hardware in scope) else ""
