"""Can a comparison against this reference fail? The informativeness rule and the mutation check.

A reference that is all zero, constant, numerical residue or the same whatever the input is matched by a graph
that returns zeros or constants of the right shapes: a `pass` against it proves nothing. So every float output
of the CPU fp32 reference is judged here (`uninformative`); a case none of whose outputs carries signal is never a
pass, and partly degenerate cases are compared on the informative outputs only.

Discrete outputs (token ids, audio codes, labels: integer or bool arrays) are judged too: they carry signal when
they are not constant and a new input changes them, and a comparison holds them to exact equality (a code off by
one is another code), so a block whose perturbation changes one of them is not inert.

The mutation check is the proof that the comparison can fail: each block of the tiny model (each element of its
outermost layer lists) has its weights perturbed by 1% and the reference must move by well over the tightest
bound any hardware is judged by. A block that moves nothing (convnext's layer scale at 1e-6) is inert: a runtime
could drop it and still pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# An output below this magnitude is residue, not signal: fp32 rounding of unit-scale intermediates (1.2e-7
# relative a step, accumulated over a tiny model's few hundred ops) lands at this order.
FLOOR = 1e-6
# Relative change below which an output counts as unchanged by a new input, or constant across its elements.
SAME = 1e-6
# The tightest fp32 bound on any hardware (templates/tolerances.yaml), and its scale-aware cap: no output is
# judged by an absolute bound over 1% of its own magnitude.
TIGHTEST_ABS = 1e-4
TIGHTEST_REL_CAP = 1e-2
# "Well over": a block whose 1% perturbation moves the outputs by less than this many tightest bounds is inert.
SENSITIVE = 10.0
PERTURBATION = 1e-2
MAX_BLOCKS = 48  # a cap on the check's cost (a forward per block); tiny configs hold far fewer


class Reference(dict):
    """The CPU fp32 reference: named arrays, and which of them carry no signal ({name: why}; None when unknown,
    e.g. a reference stored before the rule: then compare() judges what the arrays alone show)."""

    def __init__(self, arrays: dict, uninformative: dict | None = None):
        super().__init__(arrays)
        self.uninformative = None if uninformative is None else dict(uninformative)


def _float(arr) -> bool:
    return arr.dtype.kind == "f" and arr.size > 0


def discrete(arr) -> bool:
    """An integer or bool output: compared exactly, never within a tolerance."""
    return arr.dtype.kind in "iub" and arr.size > 0


def _judged(arr) -> bool:
    return _float(arr) or discrete(arr)


def magnitude(arr) -> float:
    import numpy as np

    return float(np.abs(arr.astype("float64")).max()) if arr.size else 0.0


def uninformative(reference: dict, other_input: dict | None = None) -> dict[str, str]:
    """{output name: why it carries no signal} over the float and discrete outputs of `reference` (named arrays).
    `other_input`: the same model's outputs for a second, different synthesized input (None: not checked)."""
    import numpy as np

    out = {}
    for name, arr in reference.items():
        if discrete(arr):
            why = _discrete_without_signal(arr, (other_input or {}).get(name))
            if why:
                out[name] = why
            continue
        if not _float(arr):
            continue
        big = magnitude(arr)
        if not np.isfinite(big):  # NaN compares false with every bound below: never let it pass as signal
            out[name] = "holds NaN or inf"
            continue
        if big < FLOOR:
            out[name] = "all zero" if big == 0 else f"max |x| {big:.2g} below {FLOOR:g}"
            continue
        a = arr.astype("float64")
        if arr.size > 1 and float(a.max() - a.min()) <= SAME * big:
            out[name] = f"constant {float(a.flat[0]):.4g}"
            continue
        if other_input is not None and name in other_input and np.shape(other_input[name]) == arr.shape:
            moved = float(np.abs(np.asarray(other_input[name], "float64") - a).max())
            if moved <= SAME * big:
                out[name] = "the same for a different input"
    return out


def _discrete_without_signal(arr, other) -> str:
    import numpy as np

    if arr.size > 1 and (arr == arr.flat[0]).all():
        return f"constant {arr.flat[0].item()!r}"
    if other is not None and np.shape(other) == arr.shape and np.array_equal(np.asarray(other), arr):
        return "the same for a different input"
    return ""


def informative_names(reference: dict, skipped: dict) -> list[str]:
    return [n for n, a in reference.items() if _judged(a) and n not in skipped]


def describe(skipped: dict) -> str:
    return "; ".join(f"{name}: {why}" for name, why in sorted(skipped.items()))


def parse(text: str) -> dict[str, str]:
    """describe()'s text back to {name: why} (output names hold no '; ')."""
    pairs = [p.split(": ", 1) for p in (text or "").split("; ") if ": " in p]
    return {k: v for k, v in pairs}


def tightest_bound(arr) -> float:
    """The tightest fp32 bound this output is judged by on any hardware: 1e-4, capped at 1% of its magnitude;
    0 for a discrete output (exact)."""
    return 0.0 if discrete(arr) else min(TIGHTEST_ABS, TIGHTEST_REL_CAP * magnitude(arr))


def blocks(model) -> list[tuple[str, object]]:
    """The model's blocks: the elements of its innermost layer lists (a ModuleList of encoder layers, of a stage's
    layers - convnext's blocks inside its stages -, of a vision tower's layers). Expert lists are not descended
    into: with a tiny input most experts get no token, and their layer is the block. A model without layer lists
    gives its top-level children that hold weights."""
    import torch

    def layer_lists(module):
        return [m for n, m in module.named_modules() if isinstance(m, torch.nn.ModuleList) and "expert" not in n]

    def weighted(module):  # informer's distil convolutions are a ModuleList padded with None
        return module is not None and any(p.is_floating_point() for p in module.parameters())

    found = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and "expert" not in name.rsplit(".", 1)[-1]:
            found += [(f"{name}.{i}", child) for i, child in enumerate(module)
                      if weighted(child) and not layer_lists(child)]
    if not found:
        found = [(n, m) for n, m in model.named_children() if weighted(m)]
    return found[:MAX_BLOCKS]


@dataclass
class Mutation:
    """What perturbing each block showed. weakest: how far the least sensitive block that ran moves the informative
    outputs, in tightest bounds (NaN: nothing to measure); inert: blocks that ran but moved them by less than
    SENSITIVE bounds; unused: blocks this forward never called (no comparison can see them: a coverage gap, not a
    weak check); unchecked: blocks the time budget left out."""
    weakest: float = float("nan")
    inert: list = field(default_factory=list)
    unused: list = field(default_factory=list)
    unchecked: int = 0


def mutation_sensitivity(model, forward, reference: dict, skipped: dict, budget_s: float = 60.0) -> Mutation:
    """Perturb each block's weights by 1% in turn (restored after each) and measure how far `forward()` (the model's
    outputs as named arrays) moves the informative outputs of `reference`."""
    import time

    import numpy as np
    import torch

    names = informative_names(reference, skipped)
    bounds = {n: tightest_bound(reference[n]) for n in names}
    if not names:
        return Mutation()
    result, ratios = Mutation(), []
    gen = torch.Generator().manual_seed(0)
    deadline = time.monotonic() + budget_s
    found = blocks(model)
    for checked, (block_name, block) in enumerate(found):
        if time.monotonic() > deadline:
            result.unchecked = len(found) - checked
            break
        params = [p for p in block.parameters() if p.is_floating_point()]
        saved = [p.detach().clone() for p in params]
        calls = []
        hook = block.register_forward_hook(lambda *_: calls.append(1))
        try:
            with torch.no_grad():
                for p in params:
                    p.mul_(1 + PERTURBATION * torch.randn(p.shape, generator=gen, dtype=p.dtype))
                moved = forward()
        except Exception:  # noqa: BLE001 - a block whose perturbation breaks the forward is not inert
            moved = None
        finally:
            hook.remove()
            with torch.no_grad():
                for p, s in zip(params, saved):
                    p.copy_(s)
        if moved is None:
            continue
        ratio = 0.0
        for n in names:
            if n in moved and np.shape(moved[n]) == reference[n].shape:
                d = float(np.nan_to_num(np.abs(np.asarray(moved[n], "float64") - reference[n]), nan=np.inf).max())
                ratio = max(ratio, d / bounds[n] if bounds[n] else (np.inf if d else 0.0))
        if not calls and ratio == 0.0:  # no call seen and nothing moved (a module run as .forward() fires no hook)
            result.unused.append(block_name)
            continue
        ratios.append(ratio)
        if ratio < SENSITIVE:
            result.inert.append(block_name)
    result.weakest = min(ratios) if ratios else float("nan")
    return result


def other_input(built, case, batch: int) -> dict:
    """A second, different synthesized input for the same model (seed 1): what input dependence is judged by."""
    from hwcov.models import inputs

    return inputs.synthesize(built.model, built.config, case.input_spec, batch=batch, seed=1)


def reference_of(built, case, batch: int) -> Reference:
    """The CPU fp32 reference of a built case computed in this process, with the informativeness rule applied
    (the stored one is written by the cpu backend, which also checks determinism and mutation sensitivity)."""
    import torch

    from hwcov.models import outputs

    def forward(feed):
        with torch.no_grad():
            torch.manual_seed(0)
            return outputs.to_numpy(outputs.flatten(built.model(**feed)))

    reference = forward(built.feed)
    try:
        other = forward(other_input(built, case, batch))
    except Exception:  # noqa: BLE001 - no second input: judge what the arrays alone show
        other = None
    return Reference(reference, uninformative(reference, other))


def kept_reference_of(built, case, batch: int, folder) -> Reference:
    """reference_of, kept in `folder` under a digest of the inputs. The folder must name the model (an export's own:
    its key holds the weights' digest): each runtime that checks that graph at that shape (onnxruntime, wasm and
    webgpu share the ONNX one) and each rerun reads the outputs instead of running the model twice more."""
    import hashlib
    from pathlib import Path

    from hwcov.models import outputs
    from hwcov.models.build import hash_items

    h = hashlib.sha256(f"batch {batch}".encode())
    hash_items(h, sorted(built.feed.items()))
    path = Path(folder) / f"{h.hexdigest()[:20]}.npz"
    if path.exists():
        try:
            return Reference(*outputs.read_arrays(path))
        except Exception:  # noqa: BLE001 - a file cut short by a full disk: made again
            pass
    reference = reference_of(built, case, batch)
    outputs.write_arrays(path, dict(reference), reference.uninformative)
    return reference


FINITE_MAX = {"fp16": 65504.0, "bf16": 3.39e38, "fp32": 3.4e38}


def first_non_finite(model, feed: dict, precision: str) -> str:
    """'; first non-finite activation: <module> (<type>), inputs max |x| ...' from one forward with hooks, or ''.
    An fp16 overflow of a trained checkpoint names the layer to keep at a wider precision."""
    import torch

    found = []

    def hook(module, args, out):
        if found:
            return
        tensors = [t for t in (out if isinstance(out, (tuple, list)) else (out,)) if torch.is_tensor(t)]
        if any(t.is_floating_point() and not torch.isfinite(t).all() for t in tensors):
            biggest = max((float(a.detach().abs().max()) for a in args if torch.is_tensor(a) and a.numel()
                           and a.is_floating_point()), default=float("nan"))
            found.append((name_of[id(module)], type(module).__name__, biggest))

    name_of = {id(m): n or "<model>" for n, m in model.named_modules()}
    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model(**feed)
    except Exception:  # noqa: BLE001 - the row already holds the failure; this only adds where
        return ""
    finally:
        for h in handles:
            h.remove()
    if not found:
        return ""
    name, kind, biggest = found[0]
    limit = FINITE_MAX.get(precision)
    return (f"; first non-finite activation: {name} ({kind}) on inputs of max |x| {biggest:.3g}"
            + (f", where {precision}'s largest finite value is {limit:g}" if limit else ""))
