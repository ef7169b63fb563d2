"""The `dynamic` mode's shapes and graphs: one export with symbolic axes, fed at its export shape and at others.

A user of an exported model feeds other batch sizes and sequence lengths than the one it was exported with. The
graph for that is exported with torch.export's Dim.AUTO on the input axes the check varies (transformers.exporters,
dynamic=True, with the dynamic_shapes symbolic_spec reads off the plan's feeds: batch, text and audio lengths; an
image keeps its size, static in the graph) at batch 2: torch.export specializes an axis of size 1 (its 0/1 rule), so
a graph exported at batch 1 is static in its batch whatever was asked. The same rule bites a size the model derives
from a length: a chunked scan (mamba2's ceil(seq / chunk_size) chunks) exported at a length under one chunk has one
chunk, and torch.export bakes that 1 into the graph (a guard the ONNX graph drops) while the input axis stays
symbolic. So the export takes the longer lengths (text, audio samples or spectrogram frames SEQ_SCALE x as long,
where the model takes them), and is checked there, at batch 1, and at batch 3 with the case's own lengths; a model
with no length to scale, or that takes no other, is exported at its own and checked at batch 3 with the longer ones.
Each shape is compared to the torch model's own fp32 outputs there. What the graph declares (a fixed or a symbolic
size per input axis) is read from the file, so a graph that can only run at its export shape is named `static_only`
before it runs, never counted dynamic (a loop over the sequence, mamba's scan, still bakes the length: that stays
static_only).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

EXPORT_BATCH = 2
# backend family -> its route (onnxruntime-web runs the ONNX graphs onnxruntime runs: one export, both)
ROUTE = {"onnxruntime": "hf-onnx-dynamic", "openvino": "hf-openvino-dynamic", "browser": "hf-onnx-dynamic"}
# the second dynamic graph, tried where the first can't be exported or fails at a shape: a tracer's graph (TorchScript,
# which OpenVINO's frontend also uses) follows the model's Python with the sizes it met and needs no symbolic
# reasoning, where torch.export refuses data-dependent branches or specializes an axis it can't prove free
SECOND_ROUTE = {"onnxruntime": "torch-onnx-legacy-dynamic", "openvino": "ov-from-torch",
                "browser": "torch-onnx-legacy-dynamic"}
SEQ_SCALE = 2.5
# the longer lengths an export tries, in turn: SEQ_SCALE, then whole multiples for a model whose lengths must be a
# multiple of its own (qwen3_asr's audio windows: 100 frames take 200, not 250)
LONGER = (SEQ_SCALE, 2.0, 3.0)
# forward flags the transformers exporter takes out of the feed before tracing (its _OUTPUT_FLAGS): not graph inputs
OUTPUT_FLAGS = ("use_cache", "output_attentions", "output_hidden_states", "return_dict", "return_loss")


FALLBACK_PREFIX, FALLBACK_SUFFIX = "dynamic export failed (", "); checked the static "


def fallback_note(cause: str, static_route: str) -> str:
    """What a row says when the static graph stood in for a dynamic export that failed (fallback_cause reads it)."""
    return f"{FALLBACK_PREFIX}{cause}{FALLBACK_SUFFIX}{static_route} graph instead"


def fallback_cause(message: str) -> str:
    """The failed dynamic export's own words in a row's message, '' when the message is no fallback's."""
    if message.startswith(FALLBACK_PREFIX) and FALLBACK_SUFFIX in message:
        return message[len(FALLBACK_PREFIX):message.index(FALLBACK_SUFFIX)]
    return ""


def shape_cause(message: str) -> str:
    """The runtime's or the check's own words in a row's 'at <shape>: <cause>' part ('' when it has none): the shape's
    label names inputs ('at pixel_values 1x3x64x64: ...') that a catalog pattern for a missing input would claim."""
    rest = message[message.index(FALLBACK_SUFFIX):] if FALLBACK_SUFFIX in message else message
    start = 0 if rest.startswith("at ") else rest.find("; at ") + 2
    if start < 2 and not rest.startswith("at "):
        return ""
    depth = 0
    for i in range(start + 3, len(rest) - 1):
        depth += {"(": 1, ")": -1}.get(rest[i], 0)
        if depth == 0 and rest[i:i + 2] == ": ":
            return rest[i + 2:]
    return ""


# the lengths the longer shape scales: text tokens, raw audio samples, spectrogram frames (a model whose frames are
# fixed by its positions keeps them: inputs.synthesize); an image keeps its model's size (most vision models take
# only their configured size: position embeddings, patch grids)
LENGTHS = ("seq_len", "audio_samples", "audio_frames")


@dataclass(frozen=True)
class Shape:
    batch: int
    scale: float = 1.0  # of the case's lengths (LENGTHS)
    export: bool = False


def plan(input_spec: dict, export_batch: int = EXPORT_BATCH, export_scale: float = 1.0) -> list[Shape]:
    """The export shape first, then another batch (1, or 2 for a graph exported at 1) at its lengths, and batch 3 at
    the other lengths (the case's own for a graph exported at the longer ones, else SEQ_SCALE x as long)."""
    other = 1.0 if export_scale != 1 else SEQ_SCALE
    return [Shape(export_batch, export_scale, export=True), Shape(1 if export_batch != 1 else 2, export_scale),
            Shape(3, other)]


def _shapes(feed: dict) -> dict:
    return {k: tuple(v.shape) for k, v in feed.items() if hasattr(v, "shape")}


def export_built(built, input_spec: dict):
    """(the case to export, its Shape scale): `built` (at EXPORT_BATCH) with its lengths SEQ_SCALE x as long (the
    module's docstring: no derived size of 1 to bake; else the first of LONGER the model takes), or `built` itself,
    scale 1, where the case has no length to scale or the torch model refuses every longer one (a positional table,
    fixed frames); with the dynamic_shapes its transformers export takes (symbolic_spec)."""
    import torch

    from hwcov.models import inputs
    from hwcov.models.build import Built

    for scale in LONGER:
        try:
            raw = inputs.synthesize(built.model, built.config, spec_at(input_spec, Shape(EXPORT_BATCH, scale)),
                                    batch=EXPORT_BATCH)
            if _shapes(raw) == _shapes(built.feed):
                break  # no length to scale
            with torch.no_grad():
                torch.manual_seed(0)
                built.model(**raw)
            return Built(built.config, built.model, raw, symbolic_spec(built, input_spec, scale)), scale
        except Exception:  # noqa: BLE001, S112 - the model's own refusal of that length: the next, else its own
            continue
    return Built(built.config, built.model, built.feed, symbolic_spec(built, input_spec, 1.0)), 1.0


def symbolic_spec(built, input_spec: dict, scale: float) -> dict:
    """torch.export's dynamic_shapes for a transformers export of `built`'s model at the plan's export shape (feeds
    synthesized here, at `scale`): Dim.AUTO on the axes that differ between the exporter's completed feed at the
    export shape and at the plan's other shapes (batch; text, audio lengths; a helper input that follows them),
    every other tensor axis static. With Dim.AUTO on every axis torch.export reasons symbolically about image sizes
    the check never varies: maskformer's Swin backbone took over 10 minutes in run_decompositions where this takes
    52 s. An input that is no tensor keeps the exporter's own spec."""
    import torch
    from transformers.exporters.exporter_dynamo import get_auto_dynamic_shapes

    def completed(shape):  # a shape whose feed can't be made varies nothing here: the check names its failure
        try:
            return feed_at(built, input_spec, shape, True)[1]
        except Exception:  # noqa: BLE001 - the model's own refusal, reported where the check feeds that shape
            return {}

    shapes = plan(input_spec, export_scale=scale)
    base = feed_at(built, input_spec, shapes[0], True)[1]
    others = [completed(s) for s in shapes[1:]]
    return {k: varying_axes(k, v, others) if torch.is_tensor(v) else get_auto_dynamic_shapes(v)
            for k, v in base.items()}


def varying_axes(name: str, tensor, others: list[dict]) -> dict:
    """{axis: Dim.AUTO} for each axis of input `name` whose size differs in any of the `others` feeds."""
    import torch

    return {axis: torch.export.Dim.AUTO for axis in range(tensor.dim())
            if any(torch.is_tensor(o := other.get(name)) and o.dim() == tensor.dim()
                   and o.shape[axis] != tensor.shape[axis] for other in others)}


def describe_spec(spec: dict) -> str:
    """The symbolic axes of a dynamic_shapes spec, for the export cache's key ('input_ids:0,1;pixel_values:0'; a
    named, bounded size with its name and bounds: 'image_features:0=image_tokens[1,1048576]')."""
    def axis(a, d):
        name = getattr(d, "__name__", None)
        return f"{a}={name}[{d.min},{d.max}]" if name and hasattr(d, "min") else str(a)

    def axes(v):
        return ",".join(axis(a, d) for a, d in v.items() if d is not None) if isinstance(v, dict) else "auto"

    return ";".join(f"{k}:{axes(v)}" for k, v in sorted(spec.items()))


MAIN_INPUTS = ("input_ids", "pixel_values", "input_features", "input_values", "past_values", "inputs_embeds")


def describe(feed: dict) -> str:
    """The shape a feed was checked at, as its main input has it ('input_ids 3x20', 'pixel_values 1x3x64x64')."""
    import torch

    tensors = {k: v for k, v in feed.items() if torch.is_tensor(v)}
    name = next((k for k in MAIN_INPUTS if k in tensors), min(tensors, default=""))
    return f"{name} {'x'.join(map(str, tensors[name].shape))}" if name else "no tensor input"


def spec_at(input_spec: dict, shape: Shape) -> dict:
    return {**input_spec, **{k: math.ceil(input_spec[k] * shape.scale) for k in LENGTHS if input_spec.get(k)}}


def feed_at(built, input_spec: dict, shape: Shape, for_transformers_export: bool) -> tuple[dict, dict]:
    """(the model's inputs synthesized at `shape`, what the graph is fed): for a transformers export the latter is
    completed as its exporter completed the export's feed (the data-dependent vision and audio helpers it
    precomputes), else it is the same dict."""
    import torch

    from hwcov.models import inputs

    raw = inputs.synthesize(built.model, built.config, spec_at(input_spec, shape), batch=shape.batch)
    if not for_transformers_export:
        return raw, raw
    from transformers.exporters.utils import precompute_export_inputs

    fed = {k: v for k, v in raw.items() if k not in OUTPUT_FLAGS}
    with torch.no_grad():
        precompute_export_inputs(built.model, fed)
    return raw, fed


def declared_shapes(exported) -> dict[str, list]:
    """{graph input: [int size, or a name for a symbolic axis]} as the graph file declares them."""
    directory = exported.directory
    onnx_file = directory / "model.onnx"
    if onnx_file.exists():
        import onnx

        def size(d):
            # torch.onnx names an axis by its size expression: one that resolved to a number ("2", the image
            # count a per-image list baked in) is fixed, though ONNX Runtime would load it as a free name
            if d.dim_param:
                return int(d.dim_param) if d.dim_param.isdigit() else d.dim_param
            return d.dim_value if d.HasField("dim_value") else "?"

        graph = onnx.load(str(onnx_file), load_external_data=False).graph
        return {i.name: [size(d) for d in i.type.tensor_type.shape.dim] for i in graph.input}
    xml = next(iter(sorted(directory.glob("*.xml"))), None)
    if xml is None:
        return {}
    from hwcov.export.openvino_core import core

    shapes = {}
    for port in core().read_model(str(xml)).inputs:
        dims = [d.get_length() if d.is_static else "?" for d in port.get_partial_shape()]
        for name in port.get_names():
            shapes[name] = dims
    return shapes


class FixedAxis(Exception):
    """A graph fixes an input axis at another size than it is fed (fixed_axis_conflict's words): static_only."""


def fixed_axis_conflict(declared: dict[str, list], feed: dict) -> str:
    """'' when every fed tensor fits the graph's declared sizes, else the first input axis the graph fixes at
    another size than the feed has ('input_ids axis 0 is fixed at 2, fed 3')."""
    import torch

    for name, value in sorted(feed.items()):
        dims = declared.get(name)
        if not torch.is_tensor(value) or dims is None or len(dims) != value.dim():
            continue
        for axis, (want, got) in enumerate(zip(dims, value.shape)):
            if isinstance(want, int) and want != int(got):
                return f"{name} axis {axis} is fixed at {want}, fed {int(got)}"
    return ""
