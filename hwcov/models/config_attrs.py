"""Reading a transformers config without knowing its architecture: the first sub-config or attribute
of several candidate names, and the text vocabulary size that token ids must stay inside."""
from __future__ import annotations


def sub_config(config, *names):
    """The first of the named sub-configs that is a config object (not a plain value); else the config itself."""
    for n in names:
        sub = getattr(config, n, None)
        if sub is not None and not isinstance(sub, (int, float, str, list, dict)):
            return sub
    return config


def first_attr(config, names, default=None):
    """The first of the named attributes that is set (not None); else default."""
    for n in names:
        v = getattr(config, n, None)
        if v is not None:
            return v
    return default


def text_vocab(config, default=None):
    """The text vocabulary size: of the first text sub-config that declares an int one, else the config's own;
    `default` when none does (token-id clamping passes None to mean "no vocabulary, nothing to clamp";
    input synthesis passes a size to draw ids from)."""
    for name in ("text_config", "language_config", "llm_config", "decoder", "text_model_config"):
        sub = getattr(config, name, None)
        if sub is not None and isinstance(getattr(sub, "vocab_size", None), int):
            return sub.vocab_size
    v = getattr(config, "vocab_size", None)
    return v if isinstance(v, int) else default
