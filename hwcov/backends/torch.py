"""torch eager backend: cpu, cuda, rocm (torch.version.hip; device type is still 'cuda'), mps."""
from __future__ import annotations

import resource
import time

from hwcov.backends.base import Probe
from hwcov.core.system import cpu_name

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def versions() -> str:
    """From package metadata: cheap, so unchanged results are found without importing torch."""
    from importlib.metadata import version

    return f"torch {version('torch')}; transformers {version('transformers')}"


def _to(value, device, dtype):
    """Floating tensors to the precision, every tensor to the device, through nested inputs too
    (the Gemma 4 assistants take the target model's key/value states as a dict of tuples)."""
    import torch

    if torch.is_tensor(value):
        return value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device)
    if isinstance(value, dict):
        return {k: _to(v, device, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, device, dtype) for v in value)
    return value


class TorchBackend:
    def __init__(self, hardware: str):
        self.hardware = hardware

    def probe(self) -> Probe:
        import torch

        try:
            if self.hardware == "cpu":
                cap = torch.backends.cpu.get_cpu_capability()
                return Probe(True, f"cpu: {cpu_name()} ({cap})", versions())
            if self.hardware in ("cuda", "rocm"):
                want_hip = self.hardware == "rocm"
                if (torch.version.hip is not None) != want_hip:
                    build = (f"HIP {torch.version.hip}" if torch.version.hip
                             else f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only")
                    return Probe(False, runtime_version=versions(),
                                 error=f"torch {torch.__version__} is a {build} build, not {self.hardware}")
                torch.cuda.init()  # raises with the driver's own message when absent
                name = torch.cuda.get_device_name(0)
                return Probe(True, f"{self.hardware}:0 {name}", versions())
            if self.hardware == "mps":
                if not torch.backends.mps.is_available():
                    built = torch.backends.mps.is_built()
                    return Probe(False, runtime_version=versions(), error=(
                        "MPS not available: " + ("no Metal device" if built else "torch built without MPS")))
                return Probe(True, "mps:0", versions())
        except (RuntimeError, AssertionError, AttributeError) as exc:
            return Probe(False, runtime_version=versions(), error=f"{type(exc).__name__}: {exc}")
        return Probe(False, error=f"unknown torch hardware '{self.hardware}'")

    def versions(self) -> str:
        return versions()

    def device(self) -> str:
        return {"rocm": "cuda"}.get(self.hardware, self.hardware)

    def run(self, case, precision: str, batch: int, reference_dir=None) -> dict:
        """Build, synthesize, forward twice (determinism), evidence; reference stored for cpu fp32."""
        import torch

        from hwcov.models import outputs
        from hwcov.models.build import TextOnlyMultimodal, build_case

        if precision not in DTYPES:
            return {"status": "not_applicable", "error_message": f"precision {precision} not in {list(DTYPES)}"}
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            built = build_case(case, batch)
        except TextOnlyMultimodal as exc:
            return {"status": "fail_to_run", "error_message": str(exc)}
        model, feed = built.model, built.feed
        dtype = getattr(torch, DTYPES[precision])
        device = torch.device(self.device())
        model = model.to(device=device, dtype=dtype)
        feed = {k: _to(v, device, dtype) for k, v in feed.items()}
        with torch.no_grad():
            torch.manual_seed(0)
            first = outputs.flatten(model(**feed))
            self._sync()
            t0 = time.perf_counter()
            torch.manual_seed(0)
            second = outputs.flatten(model(**feed))
            self._sync()
            elapsed_ms = (time.perf_counter() - t0) * 1000
        if not first:
            return {"status": "fail_to_run", "error_message": "forward returned no tensor output"}
        diff = outputs.max_abs_diff(first, second)
        reported = next(iter(first.values())).device
        row = {
            "device_name": f"{reported} | {self.probe().device_name}",
            "runtime_version": versions(),
            "output_checksum": outputs.checksum(first),
            "output_shapes": outputs.shapes(first),
            "inputs": ",".join(sorted(feed)),
            "execution_time_ms": round(elapsed_ms, 3),
            "memory_usage_mb": round(max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024, 1),
            "max_abs_diff": diff,
            "tolerance": 0.0,
        }
        if not outputs.all_finite(first):
            row.update(status="fail_accuracy", error_message="output contains NaN or inf")
            return row
        if diff != 0.0:  # the reference must be reproducible, or no backend can be compared with it
            row.update(status="fail_accuracy", error_message=f"two identical forwards differ by {diff:.3g}")
            return row
        if self.hardware == "cpu" and precision == "fp32" and reference_dir is not None:
            row["reference_path"] = outputs.save_reference(first, reference_dir, case, batch)
        row["status"] = "pass"
        return row

    def _sync(self) -> None:
        import torch

        if self.hardware in ("cuda", "rocm"):
            torch.cuda.synchronize()
        elif self.hardware == "mps":
            torch.mps.synchronize()
