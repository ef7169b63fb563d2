"""Backends: one file per backend family. `get_backend(hardware)` maps a hardware key to one."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    available: bool
    device_name: str = ""
    runtime_version: str = ""
    error: str = ""


TORCH_HARDWARE = ("cpu", "cuda", "rocm", "mps")
HARDWARE = ("cpu", "cuda", "rocm", "mps", "openvino", "onnxruntime", "qualcomm", "webnn", "webgpu", "wasm",
            "apple_ane")


def get_backend(hardware: str):
    if hardware in TORCH_HARDWARE:
        from hwcov.backends.torch import TorchBackend

        return TorchBackend(hardware)
    if hardware in HARDWARE:
        # No rows rather than invented ones: the partition exists, its backend does not yet.
        raise NotImplementedError(f"the hwcov backend for '{hardware}' is not implemented yet; "
                                  f"runnable now: {', '.join(TORCH_HARDWARE)}")
    raise KeyError(f"unknown hardware '{hardware}'; accepted: {', '.join(HARDWARE)}")
