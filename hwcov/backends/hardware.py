"""The hardware table: one typed entry per hardware key (the registry's data; hwcov/backends/registry.py resolves
keys, custom platforms included, to Backends).

Everything that lists or configures hardware derives from HARDWARE_TABLE: the Dagster partitions, the backend
resources and their limits, the precisions the generated tests declare, the benchmark matrix key, the CLI's
choices, the tolerance key. Adding a backend = one module under hwcov/backends/ + one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass

from hwcov.core.limits import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class Hardware:
    key: str  # the partition key and the name users type (--hardware KEY)
    backend: str  # "module:Class" of the Backend serving it ('' = no backend yet: rows say so, none invented)
    device: str  # what runs it: cpu, gpu, npu, browser
    precisions: tuple[str, ...]  # what its generated tests declare, reference precision first
    resource: str  # the Dagster resource key that hands out its limits (hwcov/definitions.py binds one per key)
    cpu_bound: bool = True  # cpu-bound: one worker per core; else one stream on the device
    timeout_s: float = DEFAULT_TIMEOUT_S  # per case; exports (and browsers compiling shaders on a software GPU) take longer
    memory_mb: int = DEFAULT_MEMORY_MB  # address-space cap per worker (0: none; Chromium reserves far more than it uses)
    tolerance: str = ""  # tolerances.yaml hardware key ('' = its own key)
    bench_matrix: str = ""  # benchmarks.yaml hardware key ('' = its own key)

    def tolerance_key(self) -> str:
        return self.tolerance or self.key

    def bench_key(self) -> str:
        return self.bench_matrix or self.key


_TORCH, _ORT, _OV = "hwcov.backends.torch:TorchBackend", "hwcov.backends.onnxruntime:OnnxRuntimeBackend", \
    "hwcov.backends.openvino:OpenVinoBackend"
_WEB, _QNN, _COREML = "hwcov.backends.browser.backend:BrowserBackend", "hwcov.backends.qualcomm:QualcommBackend", \
    "hwcov.backends.coreml:CoreMLBackend"
_ET = "hwcov.backends.executorch:ExecuTorchBackend"
_ALL3 = ("fp32", "fp16", "int8")

# qualcomm / qualcomm_cpu: QNN's HTP (NPU) and CPU backend libraries; apple_ane / apple_ane_all: Core ML compute
# units CPU_AND_NE and ALL. Each is its own partition: a pass on one says nothing about the other.
HARDWARE_TABLE: tuple[Hardware, ...] = (
    Hardware("cpu", _TORCH, "cpu", ("fp32",), "torch_backend"),  # cpu fp32: the reference every backend meets
    # No address-space cap on a GPU worker: the CUDA/HIP runtime reserves address space for the whole device
    # (unified addressing, over a hundred GiB on an H200) at its first call, and fails to start under one.
    Hardware("cuda", _TORCH, "gpu", ("fp32", "fp16", "bf16"), "torch_backend", cpu_bound=False, memory_mb=0),
    Hardware("rocm", _TORCH, "gpu", ("fp32", "fp16"), "torch_backend", cpu_bound=False, memory_mb=0),
    Hardware("mps", _TORCH, "gpu", ("fp32", "fp16"), "torch_backend", cpu_bound=False),
    Hardware("openvino", _OV, "cpu", _ALL3, "openvino_backend", timeout_s=300.0),  # up to three export routes
    Hardware("onnxruntime", _ORT, "cpu", _ALL3, "onnxruntime_backend", timeout_s=300.0),  # exports take time
    Hardware("executorch", _ET, "cpu", ("fp32",), "executorch_backend", timeout_s=300.0),  # XNNPACK on this CPU
    Hardware("qualcomm", _QNN, "npu", _ALL3, "qualcomm_backend", cpu_bound=False),
    Hardware("qualcomm_cpu", _QNN, "cpu", ("fp32",), "qualcomm_backend", cpu_bound=False),
    Hardware("webnn", _WEB, "browser", ("fp32", "fp16"), "browser_backend", cpu_bound=False, timeout_s=300.0,
             memory_mb=0),
    Hardware("webgpu", _WEB, "browser", ("fp32", "fp16"), "browser_backend", cpu_bound=False, timeout_s=300.0,
             memory_mb=0),
    Hardware("wasm", _WEB, "browser", _ALL3, "browser_backend", cpu_bound=False, timeout_s=300.0, memory_mb=0),
    Hardware("apple_ane", _COREML, "npu", ("fp16",), "coreml_backend", cpu_bound=False),  # the ANE is fp16 only
    Hardware("apple_ane_all", _COREML, "npu", ("fp16",), "coreml_backend", cpu_bound=False),
)
BY_KEY = {h.key: h for h in HARDWARE_TABLE}
HARDWARE = tuple(BY_KEY)
RUNNABLE = tuple(h.key for h in HARDWARE_TABLE if h.backend)
# resource key -> the defaults its resource starts from (the first hardware that names it)
RESOURCES = {h.resource: h for h in reversed(HARDWARE_TABLE)}


def tolerance_key(key: str) -> str:
    """The templates/tolerances.yaml defaults key a hardware's rows are judged by."""
    return BY_KEY[key].tolerance_key() if key in BY_KEY else key


def precisions(key: str) -> tuple[str, ...]:
    """What the generated tests declare for a hardware key, reference precision first."""
    return BY_KEY[key].precisions if key in BY_KEY else ("fp32",)
