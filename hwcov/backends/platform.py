"""A custom platform (from JSON) served by a built-in backend family, within its declared limits."""
from __future__ import annotations

from dataclasses import replace

from hwcov.backends.base import Probe


class PlatformBackend:
    def __init__(self, platform, inner):
        self.platform = platform
        self.inner = inner
        self.hardware = platform.platform_key

    def versions(self) -> str:
        return self.inner.versions()

    def probe(self) -> Probe:
        probe = self.inner.probe()
        label = f"{self.platform.platform_name} via {self.inner.hardware}"
        return replace(probe, device_name=f"{label}: {probe.device_name}" if probe.available else "")

    def run(self, case, precision: str, batch: int, reference_dir=None) -> dict:
        if precision not in self.platform.supported_precisions:
            return {"status": "not_applicable",
                    "error_message": f"{precision} not in {self.platform.platform_key}'s supported_precisions "
                                     f"{list(self.platform.supported_precisions)}"}
        row = self.inner.run(case, precision, batch, reference_dir=reference_dir)
        if row.get("device_name"):
            row["device_name"] = f"{self.platform.platform_name} via {self.inner.hardware}: {row['device_name']}"
        return row
