"""Backend resources: one per resource key of the hardware registry. Each probes its hardware and sizes the worker
pool; the defaults (timeout, memory cap, cpu-bound or one device stream) are the registry's, not restated here."""
import os

from dagster import ConfigurableResource

from hwcov.backends.base import Probe
from hwcov.backends.registry import HARDWARE_TABLE, RESOURCES, base_hardware, custom_platforms, entry, get_backend
from hwcov.run.runner import Limits


class BackendResource(ConfigurableResource):
    workers: int = 0  # 0: one per CPU core for CPU-bound hardware, one stream on an accelerator or a browser
    timeout_s: float = 0.0  # 0: the registry's default for the hardware
    memory_mb: int = -1  # -1: the registry's default (0 = no cap)

    def detect(self, hardware: str) -> Probe:
        return get_backend(hardware).probe()

    def limits(self, hardware: str) -> Limits:
        spec = entry(hardware)
        memory_mb = spec.memory_mb if self.memory_mb < 0 else self.memory_mb
        platform = custom_platforms().get(hardware)
        if platform is not None:  # a custom platform's own limits, where it declares them
            return Limits(workers=self.workers or platform.core_count or 1,
                          timeout_s=platform.default_timeout_seconds,
                          memory_mb=platform.memory_constraint_mb or memory_mb)
        workers = self.workers or (max(1, os.cpu_count() or 1) if spec.cpu_bound else 1)
        return Limits(workers=workers, timeout_s=self.timeout_s or spec.timeout_s, memory_mb=memory_mb)


def backend_resources(workers: int = 0, timeout_s: float = 0.0) -> dict[str, BackendResource]:
    """Every resource key the registry names, bound to a BackendResource (workers/timeout: the CLI's choice,
    applied to the cpu's torch resource only, as `hwcov --workers/--timeout` always did)."""
    cpu = entry("cpu").resource
    return {key: BackendResource(workers=workers, timeout_s=timeout_s) if key == cpu else BackendResource()
            for key in RESOURCES}


RESOURCE_KEYS = {spec.key: spec.resource for spec in HARDWARE_TABLE}  # hardware key -> resource key


def resource_key(hardware: str) -> str:
    """The resource serving a hardware key; a custom platform is served by its base hardware's."""
    return RESOURCE_KEYS.get(base_hardware(hardware), entry("cpu").resource)
