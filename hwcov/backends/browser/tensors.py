"""Tensors across the page boundary: the export's feed as the graph's named inputs, base64-encoded for
onnxruntime-web, and the page's outputs decoded back into the named arrays the reference holds."""
from __future__ import annotations

import base64
from pathlib import Path

from hwcov.backends.exported import hf_metadata, name_by_graph, named_outputs
from hwcov.export import routes as export

# torch dtype name -> onnxruntime-web tensor type; and back from the page to numpy
_ORT_TYPES = {"float32": "float32", "float16": "float16", "float64": "float64", "int64": "int64",
              "int32": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool"}
_NUMPY = {"float32": "<f4", "float16": "<f2", "float64": "<f8", "int64": "<i8", "int32": "<i4", "int16": "<i2",
          "int8": "i1", "uint8": "u1", "bool": "u1", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8"}


def graph_io(model: Path) -> tuple[list, list]:
    """The graph's input names, and the external data files its initializers name (served beside it)."""
    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    external = sorted({entry.value for init in proto.graph.initializer
                       if init.data_location == onnx.TensorProto.EXTERNAL
                       for entry in init.external_data if entry.key == "location"})
    initializers = {i.name for i in proto.graph.initializer}
    return [i.name for i in proto.graph.input if i.name not in initializers], external


def fed_tensors(exported: export.Exported, graph_inputs: list) -> dict:
    """The export's feed as the graph's named inputs (the same leaves the onnxruntime backend binds)."""
    import torch

    if exported.manifest["format"] == "transformers":
        from transformers.exporters.utils import onnx_inputs

        fed = onnx_inputs(graph_inputs, exported.feed)
    else:
        fed = {k: v for k, v in exported.feed.items() if k in graph_inputs and torch.is_tensor(v)}
    missing = [name for name in graph_inputs if name not in fed]
    if missing:
        raise ValueError(f"the graph takes {missing}, which the feed {sorted(exported.feed)} doesn't hold")
    return fed


def encode(name: str, tensor) -> dict:
    dtype = str(tensor.dtype).removeprefix("torch.")
    if dtype not in _ORT_TYPES:
        raise TypeError(f"input '{name}' has dtype {dtype}, which onnxruntime-web tensors don't carry")
    array = tensor.detach().cpu().contiguous().numpy()
    if dtype != "bool":
        array = array.astype(_NUMPY[dtype])
    return {"name": name, "dtype": _ORT_TYPES[dtype], "dims": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode()}


def decode(out: dict):
    import numpy as np

    if out.get("location") not in (None, "cpu"):
        raise RuntimeError(f"output '{out['name']}' stayed on {out['location']}")
    array = np.frombuffer(base64.b64decode(out["b64"]), dtype=_NUMPY[out["dtype"]]).reshape(out["dims"])
    return array.astype(bool) if out["dtype"] == "bool" else array.copy()


def decode_outputs(exported: export.Exported, outputs: list) -> dict:
    """The page's outputs (in graph order) as the named arrays the reference holds."""
    import torch

    arrays = [decode(o) for o in outputs]
    manifest = exported.manifest
    if manifest["format"] == "transformers":
        runner = name_by_graph(_Unflatten(hf_metadata(exported)), [o["name"] for o in outputs])
        return named_outputs(runner.unflatten([torch.from_numpy(a) for a in arrays]))
    named = dict(zip([o["name"] for o in outputs], arrays))
    return {name: named[name] for name in manifest["outputs"] if name in named}


def _unflatten_cls():
    from transformers.exporters.runners.base import ModelRunner

    class Unflatten(ModelRunner):
        """Only ModelRunner.unflatten: the exporter's own rebuild of the model's outputs from the flat ones."""

        device = None

        @classmethod
        def from_program(cls, program, metadata, device=None):
            raise NotImplementedError

        def __call__(self, *args, **kwargs):
            raise NotImplementedError

    return Unflatten


def _Unflatten(meta):  # noqa: N802 - reads as the class it builds
    return _unflatten_cls()(meta)
