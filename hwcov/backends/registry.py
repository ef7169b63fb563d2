"""The hardware registry: which hardware keys exist, which backend serves each, and the custom platforms defined
from JSON. Everything that lists hardware (partitions, resources, the CLI's choices, the templates' precisions)
derives from this table."""
from __future__ import annotations

# qualcomm / qualcomm_cpu: QNN's HTP (NPU) and CPU backend libraries; apple_ane / apple_ane_all: Core ML compute
# units CPU_AND_NE and ALL. Each is its own partition: a pass on one says nothing about the other.
HARDWARE = ("cpu", "cuda", "rocm", "mps", "openvino", "onnxruntime", "qualcomm", "qualcomm_cpu", "webnn", "webgpu",
            "wasm", "apple_ane", "apple_ane_all")


# hardware key -> "module:Class" of its backend; one file per backend family.
BACKENDS = {
    "cpu": "hwcov.backends.torch:TorchBackend",
    "cuda": "hwcov.backends.torch:TorchBackend",
    "rocm": "hwcov.backends.torch:TorchBackend",
    "mps": "hwcov.backends.torch:TorchBackend",
    "qualcomm": "hwcov.backends.qualcomm:QualcommBackend",
    "qualcomm_cpu": "hwcov.backends.qualcomm:QualcommBackend",
    "apple_ane": "hwcov.backends.coreml:CoreMLBackend",
    "apple_ane_all": "hwcov.backends.coreml:CoreMLBackend",
    "onnxruntime": "hwcov.backends.onnxruntime:OnnxRuntimeBackend",
    "openvino": "hwcov.backends.openvino:OpenVinoBackend",
    "wasm": "hwcov.backends.browser:BrowserBackend",
    "webgpu": "hwcov.backends.browser:BrowserBackend",
    "webnn": "hwcov.backends.browser:BrowserBackend",
}
RUNNABLE = tuple(h for h in HARDWARE if h in BACKENDS)


def custom_platforms() -> dict:
    """Platforms defined from JSON (hwcov --define-hardware), by key."""
    from hwcov.backends import platforms

    return {p.platform_key: p for p in platforms.load_all(reserved=HARDWARE)}


def all_hardware() -> tuple[str, ...]:
    """Built-in hardware keys, then the custom platforms' keys."""
    return HARDWARE + tuple(custom_platforms())


def get_backend(hardware: str):
    if hardware not in HARDWARE:
        platform = custom_platforms().get(hardware)
        if platform is None:
            raise KeyError(f"unknown hardware '{hardware}'; accepted: {', '.join(all_hardware())}")
        from hwcov.backends.platform import PlatformBackend

        return PlatformBackend(platform, get_backend(platform.base_hardware))
    if hardware not in BACKENDS:
        # No rows rather than invented ones: the partition exists, its backend does not yet.
        raise NotImplementedError(f"the hwcov backend for '{hardware}' is not implemented yet; "
                                  f"runnable now: {', '.join(RUNNABLE)}")
    import importlib

    module, cls = BACKENDS[hardware].split(":")
    return getattr(importlib.import_module(module), cls)(hardware)
