"""What every backend shares: the probe's answer (is the hardware here, and what is it), and the one interface the
sweep, the benchmarks and the profilers call (Backend), with what a benchmark load hands back (Loaded).

Backend:
  hardware, family                 the key it serves; its family ("torch", "onnxruntime", "openvino", "browser",
                                   "qualcomm", "coreml"): what a variant's setting applies to
  probe(), versions()              is the hardware here (and what is it); the runtime's versions, cheaply
  precisions(), gate(precision)    what it runs; '' or why a precision is not_applicable here
  run(case, precision, batch,      the sweep's verified forward: one result row, with the `modes` beyond it
      modes=EXTRA_MODES)           (dynamic, generate) where the backend measures them and the forward passed
  variants                         {name: (settings, description)}: the benchmark switches this family knows
  load(built, case, batch, ...)    the built case on the runtime, for timing (Loaded); NotApplicable when the
                                   variant or precision can't run here
  layer_profile(loaded, n)         per-layer rows and the profiler's name (ValueError where there is none)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from hwcov.backends.hardware import precisions
from hwcov.core.schema import EXTRA_MODES


@dataclass(frozen=True)
class Probe:
    available: bool
    device_name: str = ""
    runtime_version: str = ""
    error: str = ""


class NotApplicable(Exception):
    """The device, install or variant can't run this: a `not_applicable` row with the reason, not a failure."""


PROFILED = "torch (cpu, cuda, rocm, mps), onnxruntime, openvino"


def parity(reference: dict, result: dict) -> float:
    """Max |diff| over the float outputs both hold (NaN when none; inf on a shape mismatch)."""
    import numpy as np

    worst = float("nan")
    for name in sorted(set(reference) & set(result)):
        a, b = np.asarray(reference[name]), np.asarray(result[name])
        if not (np.issubdtype(a.dtype, np.floating) and np.issubdtype(b.dtype, np.floating)):
            continue
        if a.shape != b.shape:
            return float("inf")
        d = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
        worst = d if worst != worst else max(worst, d)
    return worst


@dataclass
class Loaded:
    """A benchmark load: what is timed and how. measure() gives the row's measured fields."""
    run: object  # () -> anything: the timed call
    outputs: object  # () -> {name: float32 array}: for parity
    device_name: str
    load_ms: float
    sync: object = None
    extra: dict = field(default_factory=dict)  # e.g. the OpenVINO infer request, the ORT session (profiling)
    fields: dict = field(default_factory=dict)  # row fields the load settled (export_route)
    explain: object = None  # exc -> '' or why the first run's failure means not_applicable (torch.compile)

    def measure(self, batch: int, reference: dict, min_duration_s: float = 1.0, warmup: int = 5,
                min_iters: int = 10) -> dict:
        """First (cold) run timed apart, parity against the reference, then the steady-state statistics."""
        from hwcov.core import timing

        try:
            t0 = time.perf_counter()
            result = self.outputs()
            first_ms = (time.perf_counter() - t0) * 1000
        except Exception as exc:  # noqa: BLE001 - the variant's own failure is the cell's result
            reason = self.explain(exc) if self.explain else ""
            if reason:
                return {"status": "not_applicable", "error_message": reason, "device_name": self.device_name,
                        "load_ms": self.load_ms}
            raise
        diff = parity(reference, result)
        stats = timing.measure(self.run, batch=batch, sync=self.sync, warmup=warmup, min_iters=min_iters,
                               min_duration_s=min_duration_s)
        return {**stats, "status": "pass", "load_ms": self.load_ms, "first_run_ms": first_ms,
                "max_abs_diff": diff, "device_name": self.device_name}


class Backend:
    """The interface every backend implements (PlatformBackend by delegation)."""
    family = ""
    hardware = ""
    variants: dict = {}  # variant name -> (settings, description)
    precision_names: tuple = ()  # what it can run, where that differs from what the registry's tests declare
    exports = False  # the benchmark load starts from an export (export_case), a stage of its own
    layer_profiler = ""  # the layer profiler's name ('' = none)

    def probe(self) -> Probe:
        raise NotImplementedError

    def versions(self) -> str:
        raise NotImplementedError

    def precisions(self) -> tuple[str, ...]:
        """What it runs: the registry's precisions for its key, unless the family's capability differs."""
        return tuple(self.precision_names) or precisions(self.hardware)

    def gate(self, precision: str) -> str:
        """'' when the precision runs here, else the not_applicable reason."""
        runs = self.precisions()
        return "" if precision in runs else f"{self.hardware} runs {list(runs)}, not {precision}"

    def run(self, case, precision: str, batch: int, reference_dir=None, modes=EXTRA_MODES) -> dict:
        raise NotImplementedError

    def memory_limit_mb(self) -> tuple[float, str]:
        """The memory a model's weights must fit (MiB) and what sets it; (0, '') when unknown."""
        from hwcov.core.system import meminfo_mb

        avail = meminfo_mb("MemAvailable")
        return (avail, "MemAvailable") if avail else (0.0, "")

    def export_case(self, built, case, batch: int, export_dir=None, route: str = ""):
        """The export a benchmark load starts from (None: this backend loads the built model itself)."""
        return None

    def load(self, built, case, batch: int, precision: str, variant: str, export_dir=None, route: str = "",
             **options) -> Loaded:
        raise NotApplicable(f"no benchmark loader for {self.hardware} ({self.family or type(self).__name__})")

    def require_profiler(self) -> None:
        if not self.layer_profiler:
            raise ValueError(f"no profiler for {self.hardware} ({self.family or type(self).__name__}); "
                             f"profiled: {PROFILED}")

    def layer_profile(self, loaded: Loaded, iterations: int) -> tuple[list[dict], str]:
        """Per-layer rows (layer, layer_type, depth, calls, total_ms, self_ms) and the profiler's name."""
        self.require_profiler()
        raise NotImplementedError
