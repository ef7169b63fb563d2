"""torch backend resource: probes cpu/cuda/rocm/mps and sizes the worker pool per device."""
import os

from dagster import ConfigurableResource

from hwcov.backends import Probe, get_backend
from hwcov.runner import Limits


class TorchBackendResource(ConfigurableResource):
    workers: int = 0  # 0: one per CPU core on cpu, one stream on an accelerator
    timeout_s: float = 180.0
    memory_mb: int = 8192

    def detect(self, hardware: str) -> Probe:
        return get_backend(hardware).probe()

    def limits(self, hardware: str) -> Limits:
        workers = self.workers or (max(1, os.cpu_count() or 1) if hardware == "cpu" else 1)
        return Limits(workers=workers, timeout_s=self.timeout_s, memory_mb=self.memory_mb)
