"""Backend resources: one per backend family. Each probes its hardware and sizes the worker pool."""
import os

from dagster import ConfigurableResource

from hwcov.backends.registry import get_backend
from hwcov.backends.base import Probe
from hwcov.run.runner import Limits


class BackendResource(ConfigurableResource):
    workers: int = 0  # 0: one per CPU core for CPU-bound backends, one stream on an accelerator
    timeout_s: float = 180.0
    memory_mb: int = 8192

    def detect(self, hardware: str) -> Probe:
        return get_backend(hardware).probe()

    def limits(self, hardware: str) -> Limits:
        from hwcov.backends.registry import custom_platforms

        platform = custom_platforms().get(hardware)
        if platform is not None:  # a custom platform's own limits, where it declares them
            return Limits(workers=self.workers or platform.core_count or 1,
                          timeout_s=platform.default_timeout_seconds,
                          memory_mb=platform.memory_constraint_mb or self.memory_mb)
        workers = self.workers or (max(1, os.cpu_count() or 1) if self.cpu_bound(hardware) else 1)
        return Limits(workers=workers, timeout_s=self.timeout_s, memory_mb=self.memory_mb)

    def cpu_bound(self, hardware: str) -> bool:
        return True


class TorchBackendResource(BackendResource):
    """cpu, cuda, rocm, mps through torch eager."""

    def cpu_bound(self, hardware: str) -> bool:
        return hardware == "cpu"


class OnnxRuntimeBackendResource(BackendResource):
    """Exported ONNX models on ONNX Runtime's CPU execution provider. Exports take time: 300 s a case."""

    timeout_s: float = 300.0


class OpenVinoBackendResource(BackendResource):
    """OpenVINO (from torch or from ONNX) on the devices Core() reports; CPU here. Up to three export
    routes a case: 300 s."""

    timeout_s: float = 300.0


class BrowserBackendResource(BackendResource):
    """wasm, webgpu, webnn: onnxruntime-web in headless Chromium, one browser per case. One at a time:
    a browser already uses several threads (SwiftShader for WebGPU here). No address-space cap:
    Chromium reserves far more virtual memory than it uses and won't start under RLIMIT_AS."""

    memory_mb: int = 0
    timeout_s: float = 300.0  # SwiftShader WebGPU compiles shaders slowly on CPU

    def cpu_bound(self, hardware: str) -> bool:
        return False


class QualcommBackendResource(BackendResource):
    """ONNX Runtime QNN execution provider: one NPU stream."""

    def cpu_bound(self, hardware: str) -> bool:
        return False


class CoreMLBackendResource(BackendResource):
    """Apple Neural Engine through Core ML: one stream."""

    def cpu_bound(self, hardware: str) -> bool:
        return False


# hardware key -> the resource key that serves it (bound in hwcov/definitions.py)
RESOURCE_KEYS = {"cpu": "torch_backend", "cuda": "torch_backend", "rocm": "torch_backend", "mps": "torch_backend",
                 "onnxruntime": "onnxruntime_backend", "openvino": "openvino_backend",
                 "wasm": "browser_backend", "webgpu": "browser_backend", "webnn": "browser_backend",
                 "qualcomm": "qualcomm_backend", "qualcomm_cpu": "qualcomm_backend",
                 "apple_ane": "coreml_backend", "apple_ane_all": "coreml_backend"}


def resource_key(hardware: str) -> str:
    """Custom platforms are served by the resource of their backend family."""
    if hardware not in RESOURCE_KEYS:
        from hwcov.backends.registry import custom_platforms

        platform = custom_platforms().get(hardware)
        hardware = platform.base_hardware if platform else hardware
    return RESOURCE_KEYS.get(hardware, "torch_backend")
