"""A custom platform (from JSON) served by a built-in backend family, within its declared limits.

The same Backend interface as the family it wraps, by delegation: its family and variants are the inner
backend's, its gate adds the platform's supported_precisions, its memory limit its memory_constraint_mb."""
from __future__ import annotations

from dataclasses import replace

from hwcov.backends.base import Backend, Loaded, Probe
from hwcov.core.schema import EXTRA_MODES


class PlatformBackend(Backend):
    def __init__(self, platform, inner: Backend):
        self.platform = platform
        self.inner = inner
        self.hardware = platform.platform_key

    @property
    def family(self) -> str:
        return self.inner.family

    @property
    def variants(self) -> dict:
        return self.inner.variants

    @property
    def exports(self) -> bool:
        return self.inner.exports

    @property
    def layer_profiler(self) -> str:
        return self.inner.layer_profiler

    def label(self) -> str:
        return f"{self.platform.platform_name} via {self.inner.hardware}"

    def versions(self) -> str:
        return self.inner.versions()

    def probe(self) -> Probe:
        probe = self.inner.probe()
        return replace(probe, device_name=f"{self.label()}: {probe.device_name}" if probe.available else "")

    def precisions(self) -> tuple[str, ...]:
        return tuple(p for p in self.inner.precisions() if p in self.platform.supported_precisions)

    def not_supported(self, precision: str) -> str:
        if precision in self.platform.supported_precisions:
            return ""
        return (f"{precision} not in {self.platform.platform_key}'s supported_precisions "
                f"{list(self.platform.supported_precisions)}")

    def gate(self, precision: str) -> str:
        return self.not_supported(precision) or self.inner.gate(precision)

    def memory_limit_mb(self) -> tuple[float, str]:
        if getattr(self.platform, "memory_constraint_mb", 0):
            return self.platform.memory_constraint_mb, f"{self.platform.platform_key}'s memory_constraint_mb"
        return super().memory_limit_mb()  # the host's, as the platform declares no limit of its own

    def run(self, case, precision: str, batch: int, reference_dir=None, modes=EXTRA_MODES) -> dict:
        refused = self.not_supported(precision)
        if refused:
            return {"status": "not_applicable", "error_message": refused}
        row = self.inner.run(case, precision, batch, reference_dir=reference_dir, modes=modes)
        if row.get("device_name"):
            row["device_name"] = f"{self.label()}: {row['device_name']}"
        return row

    def export_case(self, built, case, batch: int, export_dir=None, route: str = ""):
        return self.inner.export_case(built, case, batch, export_dir, route)

    def load(self, built, case, batch: int, precision: str, variant: str, export_dir=None, route: str = "",
             **options) -> Loaded:
        loaded = self.inner.load(built, case, batch, precision, variant, export_dir, route, **options)
        if loaded.device_name:
            loaded.device_name = f"{self.label()}: {loaded.device_name}"
        return loaded

    def layer_profile(self, loaded: Loaded, iterations: int) -> tuple[list[dict], str]:
        return self.inner.layer_profile(loaded, iterations)
