"""The `dynamic` mode's graph pair for a vision-language model: its vision encoder and language part, exported apart.

A VLM exported whole fixes its image count: the vision encoder's per-image Python (llava's `list(image_features)`,
qwen2_vl's `len(grid_thw)`, idefics3's `.split(...tolist())`) turns the number of images into a constant of the graph,
so a graph exported with two images takes two (issue #25). What deployments of VLMs on ONNX run instead is two graphs:
the vision encoder, exported at one image and run once per image, and the language part fed the token ids and the
images' features (transformers' `mm_encoder_outputs`), with symbolic batch, length and feature count. Both are
exported by transformers.exporters (HF's export patches included). Between them the host slices the batch's image
inputs one image at a time (packed patches by `image_grid_thw`), concatenates the features, and computes what a
processor would: 3-axis rope positions, where the model has them (`compute_3d_position_ids`, the model's own code, run
in torch on the host). The pair is checked at the same shapes and against the same torch references as a whole graph.
"""
from __future__ import annotations

import inspect
import re

# backend family -> its route (onnxruntime-web runs the ONNX graphs onnxruntime runs)
ROUTE = {"onnxruntime": "hf-onnx-split", "openvino": "hf-openvino-split", "browser": "hf-onnx-split"}
FORMAT = "split"
PARTS = ("vision", "language")
FEATURES = "image_features"  # the language graph's input for the images' features, concatenated
# ... and for the features some models take from the vision encoder's middle layers into the language model's first
# ones (qwen3_vl's deepstack): stacked (layers, tokens, width)
DEEPSTACK = "image_deepstack_features"
POSITIONS = "position_ids"
_FLAGS = ("use_cache", "output_attentions", "output_hidden_states", "return_dict", "return_loss")


def encoder_of(model):
    """The module whose get_image_features the model's forward calls (the base model under a task head), or None."""
    for module in (getattr(model, "model", None), model):
        if module is not None and callable(getattr(module, "get_image_features", None)):
            return module
    return None


def splits(model, feed: dict) -> bool:
    """The model takes precomputed image features (`mm_encoder_outputs`) and the feed holds images for its encoder."""
    encoder = encoder_of(model)
    if encoder is None or "mm_encoder_outputs" not in inspect.signature(model.forward).parameters:
        return False
    return bool(vision_keys(model, feed))


def vision_keys(model, feed: dict) -> list[str]:
    """The feed's inputs that get_image_features takes (pixel_values, image_sizes, image_grid_thw ...)."""
    import torch

    taken = inspect.signature(encoder_of(model).get_image_features).parameters
    return [k for k, v in feed.items() if k in taken and torch.is_tensor(v)]


def images(model, feed: dict) -> list[dict]:
    """The vision encoder's inputs one image at a time: packed patches split by each image's grid (qwen2_vl's
    `image_grid_thw`: t*h*w patches each), every other image input sliced on its first axis."""
    keys = vision_keys(model, feed)
    grid = feed.get("image_grid_thw")
    if grid is not None and "image_grid_thw" in keys:
        counts = [int(n) for n in grid.prod(-1)]
        starts = [sum(counts[:i]) for i in range(len(counts))]
        return [{k: feed[k][start:start + count] if k.startswith("pixel_values") else feed[k][i:i + 1]
                 for k in keys} for i, (start, count) in enumerate(zip(starts, counts))]
    count = int(feed[keys[0]].shape[0])
    return [{k: feed[k][i:i + 1] if feed[k].dim() and feed[k].shape[0] == count else feed[k] for k in keys}
            for i in range(count)]


def language_feed(model, feed: dict, features: dict) -> dict:
    """The language graph's inputs: every tensor input but the images', the images' features (`features`: FEATURES
    and DEEPSTACK where the model has them), and the 3-axis rope positions where the model computes them from the
    image grids (as a processor-side step would)."""
    import torch

    keys = set(vision_keys(model, feed))
    fed = {k: v for k, v in feed.items() if k not in keys and k not in _FLAGS and torch.is_tensor(v)}
    fed.update(features)
    encoder = encoder_of(model)
    compute = getattr(encoder, "compute_3d_position_ids", None)
    if callable(compute) and POSITIONS not in feed and torch.is_tensor(feed.get("input_ids")):
        known = {**feed, "inputs_embeds": encoder.get_input_embeddings()(feed["input_ids"])}
        wanted = [name for name, p in inspect.signature(compute).parameters.items()
                  if p.kind == p.POSITIONAL_OR_KEYWORD]
        with torch.no_grad():  # what the feed lacks (a video's grid, the cache) is None, as for a first forward
            positions = compute(**{k: known.get(k) for k in wanted})
        if positions is not None:
            fed[POSITIONS] = positions
    return fed


def vision_module(model):
    """get_image_features of one image's inputs -> {FEATURES: its features, one row per token; DEEPSTACK: the
    middle layers' features, where the model has them}."""
    import torch

    class Vision(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.config = model.config

        def forward(self, **inputs):
            encoded = encoder_of(self.model).get_image_features(**inputs, return_dict=True)
            out = {FEATURES: torch.cat(list(encoded.pooler_output), 0)}
            deepstack = getattr(encoded, "deepstack_features", None)
            if deepstack:
                out[DEEPSTACK] = torch.stack([torch.cat(list(layer), 0) for layer in deepstack])
            return out

    return Vision().eval()


def language_module(model):
    """The model fed its images' features (mm_encoder_outputs) in place of the images."""
    import torch
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    class Language(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.config = model.config

        def forward(self, image_features, image_deepstack_features=None, **inputs):
            encoded = BaseModelOutputWithPooling(pooler_output=[image_features])
            if image_deepstack_features is not None:  # per layer, the images' list (one entry: all of them)
                encoded.deepstack_features = [[layer] for layer in image_deepstack_features]
            return self.model(**inputs, mm_encoder_outputs={"image": encoded}, use_cache=False)

    return Language().eval()


def features(model, feed: dict):
    """The images' features as the torch model makes them, concatenated (the language graph's export input)."""
    import torch

    with torch.no_grad():
        return concatenated([vision_module(model)(**one) for one in images(model, feed)])


def concatenated(per_image: list[dict]) -> dict:
    """The images' features as one batch: their token rows one after another (DEEPSTACK: on its token axis)."""
    import torch

    def cat(name, axis):
        return torch.cat([torch.as_tensor(one[name]) for one in per_image], axis)
    return {FEATURES: cat(FEATURES, 0), **({DEEPSTACK: cat(DEEPSTACK, 1)} if DEEPSTACK in per_image[0] else {})}


def prepared(built, input_spec: dict, scale: float):
    """`built` with the language graph's dynamic_shapes: Dim.AUTO on each axis of its inputs that differs between
    the plan's shapes (batch, length, the feature count; rope positions' batch and length), the rest static."""
    from hwcov.export import dynamic
    from hwcov.models.build import Built

    model = built.model
    base = language_feed(model, built.feed, features(model, built.feed))
    others = []
    for shape in dynamic.plan(input_spec, export_scale=scale)[1:]:
        try:
            raw = dynamic.feed_at(built, input_spec, shape, False)[0]
            others.append(language_feed(model, raw, features(model, raw)))
        except Exception:  # noqa: BLE001, S112 - a shape the model refuses varies nothing; the check names it
            continue
    return Built(built.config, model, built.feed, {k: dynamic.varying_axes(k, v, others) for k, v in base.items()})


def bounded_tokens(spec: dict) -> dict:
    """`spec` with the image token count as one named, bounded size (the features' rows, the deepstack's tokens):
    with Dim.AUTO's unbounded size torch.export refuses gemma4's check that image tokens and features match
    (`tgt_bound=VR[128, int_oo] not a subset of src_bound`), where ovis2_5's language part takes only Dim.AUTO."""
    import torch

    tokens = torch.export.Dim("image_tokens", min=1, max=1 << 20)
    bounded = {k: dict(v) if isinstance(v, dict) else v for k, v in spec.items()}
    for name, axis in ((FEATURES, 0), (DEEPSTACK, 1)):
        if axis in (bounded.get(name) or {}):
            bounded[name][axis] = tokens
    return bounded


def export_pair(built, exporter, config_of, staging, route: str, traced=None) -> dict:
    """Both graphs into staging/vision and staging/language (each with its own hwcov.json): the vision encoder at the
    feed's first image, static; the language part with `built.dynamic_shapes`. Where torch.export can't take the
    vision encoder even at one image (a data-dependent size in its per-image Python: qwen2_5_vl's window index), a
    tracer's graph of it (`traced`: the route family's TorchScript export) serves: at one fixed image it records what
    torch.export refused to guess, and the pair's check judges it like the other."""
    import json

    from hwcov.models.build import Built

    model, feed = built.model, built.feed
    if not splits(model, feed):
        raise ValueError(f"{type(model).__name__} takes no precomputed image features (mm_encoder_outputs) for "
                         "these inputs: no vision encoder to export apart")
    one = dict(images(model, feed)[0])
    manifests = {"vision": {"format": "transformers"}, "language": {"format": "transformers"}}
    try:
        exporter.export(vision_module(model), dict(one), config_of()).save_pretrained(staging / "vision")
    except Exception as exc:  # noqa: BLE001 - the tracer's turn; without one the route fails with this error
        if traced is None:
            raise
        (staging / "vision").mkdir(parents=True, exist_ok=True)
        why = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"[:300]
        manifests["vision"] = {**traced(Built(model.config, vision_module(model), one), None, 1, one,
                                         staging / "vision", None), "traced_because": why}
    fed = language_feed(model, feed, features(model, feed))
    try:
        language = exporter.export(language_module(model), dict(fed),
                                   config_of(dynamic=True, dynamic_shapes=built.dynamic_shapes))
    except Exception as exc:  # noqa: BLE001 - once more with the token count bounded; its error, if any, stands
        bounded = bounded_tokens(built.dynamic_shapes)
        if bounded == built.dynamic_shapes:
            raise
        language = exporter.export(language_module(model), dict(fed), config_of(dynamic=True, dynamic_shapes=bounded))
        manifests["language"]["tokens_bounded_because"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    language.save_pretrained(staging / "language")
    for part, manifest in manifests.items():
        (staging / part / "hwcov.json").write_text(json.dumps({"route": route, "part": part, **manifest}))
    return {"format": FORMAT, "parts": list(PARTS),
            "vision_format": manifests["vision"]["format"], "vision_traced_because": manifests["vision"].get(
                "traced_because", "")}


def route_exporter(route: str, exporter_cls: str, config_cls: str, traced=None):
    """The export route writing both graphs with a transformers exporter, the vision encoder by `traced` where that
    exporter can't (hwcov.export.routes.ROUTE_EXPORTERS)."""
    def run(built, case, batch, feed, staging, export_dir) -> dict:
        import transformers.exporters as hx

        return export_pair(built, getattr(hx, exporter_cls)(), getattr(hx, config_cls), staging, route, traced)
    return run


POOLED = "pooler_output"


def narrow(reference: dict) -> dict:
    """The whole model's outputs the pair returns: the language part's, and each image's pooled features (the
    image outputs' `pooler_output.<i>`); the vision encoder's inner states (its last and selected hidden states),
    which the vision graph doesn't return, are left out."""
    prefix = _image_prefix(reference)
    if prefix is None:
        return dict(reference)
    return {k: v for k, v in reference.items() if not k.startswith(prefix) or k.startswith(prefix + POOLED)}


def _image_prefix(names) -> str | None:
    """'image_outputs.' where outputs are named 'image_outputs.pooler_output.0' ..., else None: a group's per-image
    list, never a model's own top-level `pooler_output` (narrowing to that would drop every other output)."""
    pattern = re.compile(rf"^(.+\.){POOLED}\.\d+$")
    return next((found.group(1) for k in names if (found := pattern.match(k))), None)


def run(model, feed: dict, vision, language, check=lambda fed: None) -> dict:
    """The pair on the model's inputs: `vision` (one image's inputs -> named arrays) once per image, `language` (its
    feed -> named outputs) on the rest; `check` sees the language feed first (a fixed axis raises). Outputs named as
    the whole model names them: the language graph's, its pass-through of the features replaced by each image's."""
    per_image = [vision(one) for one in images(model, feed)]
    fed = language_feed(model, feed, concatenated(per_image))
    check(fed)
    out = language(fed)
    prefix = _image_prefix(out)
    if prefix is None:
        return out
    named = {k: v for k, v in out.items() if not k.startswith(prefix)}
    return {**named, **{f"{prefix}{POOLED}.{i}": one[FEATURES] for i, one in enumerate(per_image)}}
