"""Qualcomm: ONNX Runtime's QNN execution provider (the onnxruntime-qnn plugin package)."""
from __future__ import annotations

import importlib.util
import platform

from hwcov.backends import Probe

PROVIDER = "QNNExecutionProvider"


class QualcommBackend:
    def __init__(self, hardware: str):
        self.hardware = hardware

    def versions(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"onnxruntime {version('onnxruntime')}"
        except PackageNotFoundError:
            return "onnxruntime not installed"

    def probe(self) -> Probe:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            return Probe(False, error=f"ImportError: {exc}")
        version = f"onnxruntime {ort.__version__}"
        providers = ort.get_available_providers()
        if PROVIDER in providers:
            return Probe(True, f"{PROVIDER} ({platform.machine()})", version)
        plugin = importlib.util.find_spec("onnxruntime_qnn")
        return Probe(False, runtime_version=version, error=(
            f"{PROVIDER} not in onnxruntime.get_available_providers() = {providers}; "
            f"onnxruntime-qnn plugin {'installed but not registered' if plugin else 'not installed'} "
            f"on {platform.system()} {platform.machine()}"))

    def run(self, case, precision: str, batch: int, reference_dir=None) -> dict:
        # Only reached where QNN is really present; say plainly that the run path is missing.
        raise NotImplementedError("the QNN run path (HTP/CPU backends via ONNX Runtime) is not built yet")
