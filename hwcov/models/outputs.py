"""Flatten model outputs to named float32 arrays; checksum, diff and store them."""
from __future__ import annotations

import hashlib

META_KEY = "__hwcov_uninformative__"  # in a stored reference (npz): the JSON {output: why it carries no signal}


def flatten(output, prefix: str = "") -> dict:
    """Named tensors of a ModelOutput/tuple/tensor, skipping caches; in output order."""
    import torch

    if torch.is_tensor(output):
        return {prefix or "output": output.detach()}
    out: dict = {}
    if hasattr(output, "items") and not isinstance(output, (list, tuple)):
        items = list(output.items())
    elif isinstance(output, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(output)]
    else:
        return out
    for name, value in items:
        name = str(name)  # dicts keyed by object id (sam3_video's masks per tracked object)
        if "past_key_values" in name or "cache" in name:
            continue  # caches are implementation state, not results
        key = f"{prefix}.{name}" if prefix else name
        if torch.is_tensor(value) or isinstance(value, (list, tuple)) or hasattr(value, "items"):
            out.update(flatten(value, key))
    return out


def to_numpy(tensors: dict) -> dict:
    import torch

    return {k: (v.float() if v.is_floating_point() else v).cpu().numpy()
            for k, v in tensors.items() if isinstance(v, torch.Tensor)}


def checksum(tensors: dict) -> str:
    h = hashlib.sha256()
    for k, arr in to_numpy(tensors).items():
        h.update(k.encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def shapes(tensors: dict) -> str:
    return ";".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in tensors.items())


def all_finite(tensors: dict) -> bool:
    import numpy as np

    return all(np.isfinite(arr).all() for arr in to_numpy(tensors).values() if arr.dtype.kind == "f")


def max_abs_diff(a: dict, b: dict) -> float:
    import numpy as np

    na, nb = to_numpy(a), to_numpy(b)
    if na.keys() != nb.keys():
        return float("inf")
    worst = 0.0
    for k in na:
        if na[k].shape != nb[k].shape:
            return float("inf")
        if na[k].size:
            d = np.abs(na[k].astype("float64") - nb[k].astype("float64"))
            worst = max(worst, float(np.nan_to_num(d, nan=np.inf).max()))
    return worst


def save_reference(tensors: dict, reference_dir, case, batch: int, uninformative: dict | None = None) -> str:
    """The CPU fp32 outputs later backends are compared against, with which of them carry no signal."""
    from hwcov.models.build import reference_path

    path = reference_path(reference_dir, case, batch)
    write_arrays(path, to_numpy(tensors), uninformative)
    return str(path)


def write_arrays(path, arrays: dict, uninformative: dict | None = None) -> None:
    """Named numpy arrays and the record of which carry no signal, as an npz at `path`: written whole under a name of
    this process, then renamed, so a reader (another runtime's case) finds the old file or the new, never a part."""
    import json
    import os

    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **arrays, **{META_KEY: np.array(json.dumps(uninformative or {}))})
    tmp.replace(path)


def read_arrays(path) -> tuple[dict, dict | None]:
    """(named arrays, {output: why it carries no signal} or None for a file written before that record)."""
    import json

    import numpy as np

    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files if k != META_KEY}
        meta = json.loads(str(npz[META_KEY])) if META_KEY in npz.files else None
    return arrays, meta
