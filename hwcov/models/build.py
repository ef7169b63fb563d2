"""Build one case's tiny model and inputs: the same for every backend (eager, exported, browser)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Built:
    config: object
    model: object
    feed: dict  # forward kwargs; tensors on CPU in fp32/int64
    # a dynamic export's torch.export spec: the axes its check varies (hwcov.export.dynamic.export_built); None: none
    dynamic_shapes: dict | None = None

    @property
    def input_names(self) -> str:
        return ",".join(sorted(self.feed))


class TextOnlyMultimodal(Exception):
    """A multimodal architecture whose inputs carry no non-text modality: never a pass."""


def build_case(case, batch: int = 1):
    import torch

    from hwcov.models import inputs, tiny

    torch.manual_seed(0)
    if case.checkpoint:  # a user's own checkpoint: its trained weights and its own preprocessors
        from hwcov.models import checkpoints

        config, model, feed = checkpoints.build(case, batch)
    else:
        config = tiny.tiny_config(case.model_type, case.config_overrides)
        model = tiny.build_model(case.model_class, config)
        tiny.redraw(model, (case.config_overrides or {}).get(tiny.REDRAW))
        feed = inputs.synthesize(model, config, case.input_spec, batch=batch)
    if case.modality == "multimodal" and not inputs.has_non_text_input(feed):
        raise TextOnlyMultimodal(f"text-only inputs ({', '.join(sorted(feed))}): the multimodal path was not exercised")
    return Built(config, model, feed)


def reference_path(reference_dir, case, batch: int):
    """Where the CPU fp32 reference outputs of this case live (written by the cpu backend)."""
    from pathlib import Path

    return Path(reference_dir) / case.model_type / f"{case.digest()}-b{batch}.npz"



def hash_items(hasher, items) -> None:
    """Feed (name, value) pairs to `hasher` in the order given: a tensor by its dtype, shape and bytes, anything else
    by its repr."""
    import torch

    for name, value in items:
        hasher.update(name.encode())
        if torch.is_tensor(value):
            hasher.update(f"{value.dtype}{tuple(value.shape)}".encode())
            hasher.update(value.detach().contiguous().view(-1).view(torch.uint8).numpy())  # its buffer, not a copy
        else:
            hasher.update(repr(value).encode())
