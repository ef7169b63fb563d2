"""ONNX translations the legacy TorchScript exporter (torch.onnx.export(dynamo=False)) lacks at opset 17.

Each is the operator's definition written with standard ONNX ops, registered once per process before the
torch-onnx-legacy route exports.
"""
from __future__ import annotations

import functools

OPSET = 17
_INT64_MAX = 2**63 - 1


def _const(g, values):
    import torch

    return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))


def _slice(g, x, start: int, end: int, dim: int):
    return g.op("Slice", x, _const(g, [start]), _const(g, [end]), _const(g, [dim]))


def expm1(g, x):
    """exp(x) - 1 (ONNX has no Expm1)."""
    import torch

    one = g.op("CastLike", g.op("Constant", value_t=torch.tensor(1.0)), x)
    return g.op("Sub", g.op("Exp", x), one)


def diff(g, x, n, dim, prepend, append):
    """torch.diff: prepend and append concatenated along dim, then x[1:] - x[:-1] along dim, n times."""
    from torch.onnx import symbolic_helper as sh

    n, dim = sh._get_const(n, "i", "n"), sh._get_const(dim, "i", "dim")
    parts = [t for t in (prepend, x, append) if t is x or not sh._is_none(t)]
    if len(parts) > 1:
        x = g.op("Concat", *parts, axis_i=dim)
    for _ in range(n):
        x = g.op("Sub", _slice(g, x, 1, _INT64_MAX, dim), _slice(g, x, 0, -1, dim))
    return x


@functools.cache
def register() -> None:
    from torch.onnx import register_custom_op_symbolic

    register_custom_op_symbolic("aten::expm1", expm1, OPSET)
    register_custom_op_symbolic("aten::diff", diff, OPSET)
