"""Apple Neural Engine through Core ML (coremltools; compute units ALL / CPU_AND_NE), macOS only."""
from __future__ import annotations

import platform

from hwcov.backends import Probe


class CoreMLBackend:
    def __init__(self, hardware: str):
        self.hardware = hardware

    def versions(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"coremltools {version('coremltools')}"
        except PackageNotFoundError:
            return "coremltools not installed"

    def probe(self) -> Probe:
        try:
            import coremltools
        except ImportError as exc:
            return Probe(False, error=f"{type(exc).__name__}: {exc} (on {platform.system()} {platform.machine()})")
        version = f"coremltools {coremltools.__version__}"
        if platform.system() != "Darwin":
            return Probe(False, runtime_version=version,
                         error=f"Core ML predictions need macOS; this is {platform.system()} {platform.machine()}")
        return Probe(True, f"Core ML CPU_AND_NE on {platform.machine()} macOS {platform.mac_ver()[0]}", version)

    def run(self, case, precision: str, batch: int, reference_dir=None) -> dict:
        raise NotImplementedError("the Core ML conversion and run path is not built yet")
