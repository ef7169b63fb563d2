"""Apple Neural Engine through Core ML: the case converted with coremltools to an ML program, run on macOS.

Conversion routes, tried in order (the row records the one used):
  coreml-trace   torch.jit.trace of the model (positional tensors in, flattened outputs) -> ct.convert
  coreml-export  torch.export + run_decompositions({}) -> ct.convert (coremltools' ExportedProgram frontend)
`compute_precision` is FLOAT16 for fp16 and FLOAT32 for fp32; compute units CPU_AND_NE (`apple_ane`) or ALL.

No silent fallback: Core ML places each op where it likes, and the Neural Engine computes in fp16 only. A row
passes only when Core ML's own compute plan (MLComputePlan) puts at least one op on the Neural Engine; the op
split is the row's evidence. Conversion is plain Python and works off macOS too; predictions need macOS, so
there `run()` converts, then returns `unavailable` saying whether the conversion worked: never a pass.
"""
from __future__ import annotations

import collections
import logging
import platform
import re
import tempfile
import time
from pathlib import Path

from hwcov.backends import validate
from hwcov.backends.base import Backend, Probe
from hwcov.core.schema import EXTRA_MODES
from hwcov.export.errors import first_named

ROUTES = ("coreml-trace", "coreml-export")
EXPORTER = {"coreml-trace": "torch.jit.trace -> coremltools.convert",
            "coreml-export": "torch.export -> coremltools.convert"}
# hardware key -> Core ML compute units
COMPUTE_UNITS = {"apple_ane": "CPU_AND_NE", "apple_ane_all": "ALL"}
PRECISIONS = ("fp32", "fp16")
_DEVICE_NAMES = {"MLNeuralEngineComputeDevice": "NeuralEngine", "MLCPUComputeDevice": "CPU",
                 "MLGPUComputeDevice": "GPU"}
# How coremltools names an operator it has no conversion for.
_UNSUPPORTED = [re.compile(p) for p in (
    r"PyTorch convert function for op '([\w.:]+)' not implemented",
    r"Unsupported fx node [\w.:]+, kind ([\w.:]+)",  # the node's name, then its op
)]


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"coremltools {version('coremltools')}; torch {version('torch')}"
    except PackageNotFoundError as exc:
        return f"coremltools not installed ({exc})"


def unsupported_op(message: str) -> str:
    return first_named(message, _UNSUPPORTED)


def _positional(built):
    """The model as positional tensors in -> its flattened outputs as a tuple, with both name lists."""
    import torch

    from hwcov.models import outputs

    names = [k for k, v in built.feed.items() if torch.is_tensor(v)]
    constants = {k: v for k, v in built.feed.items() if not torch.is_tensor(v)}
    with torch.no_grad():
        torch.manual_seed(0)
        output_names = list(outputs.flatten(built.model(**built.feed)))

    class Positional(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return tuple(outputs.flatten(self.model(**dict(zip(names, tensors)), **constants)).values())

    return Positional(built.model).eval(), names, output_names


class _ConverterLog(logging.Handler):
    """coremltools logs which op it was converting when a conversion raises; the exception itself does not say."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(" ".join(record.getMessage().split()))


def convert(built, precision: str, compute_units: str = "CPU_AND_NE", route: str = "coreml-trace"):
    """(the ML program as a coremltools MLModel, input names, output names) for this case and precision.
    A conversion error is re-raised with the op coremltools was converting, when it logged one."""
    log = _ConverterLog()
    logger = logging.getLogger("coremltools")
    logger.addHandler(log)
    try:
        return _convert(built, precision, compute_units, route)
    except Exception as exc:
        if not log.lines:
            raise
        where = log.lines[-1].replace("ERROR - ", "").rstrip(":")
        try:
            annotated = type(exc)(f"{exc} (while {where})")
        except Exception:  # noqa: BLE001 - an exception type that takes other arguments: keep it as it was
            raise exc from None
        raise annotated from exc
    finally:
        logger.removeHandler(log)


def _convert(built, precision: str, compute_units: str, route: str):
    import coremltools as ct
    import numpy as np
    import torch

    module, names, output_names = _positional(built)
    args = tuple(built.feed[k] for k in names)
    options = {"convert_to": "mlprogram", "compute_units": getattr(ct.ComputeUnit, compute_units),
               "compute_precision": ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32}
    with torch.no_grad():
        if route == "coreml-trace":
            program = torch.jit.trace(module, args, strict=False, check_trace=False)
            options["inputs"] = [ct.TensorType(name=n, shape=tuple(a.shape),
                                               dtype=np.float32 if a.is_floating_point() else np.int32)
                                 for n, a in zip(names, args)]
            options["outputs"] = [ct.TensorType(name=n) for n in output_names]
        elif route == "coreml-export":
            program = torch.export.export(module, args, strict=False).run_decompositions({})
        else:
            raise KeyError(f"unknown Core ML route '{route}'; accepted: {', '.join(ROUTES)}")
        model = ct.convert(program, **options)
    spec = model.get_spec().description
    if (len(spec.input), len(spec.output)) != (len(names), len(output_names)):
        raise RuntimeError(f"converted program has {len(spec.input)} inputs and {len(spec.output)} outputs, the "
                           f"model {len(names)} and {len(output_names)}: can't name them")
    return model, names, output_names


def op_count(model) -> int:
    """Operations in the ML program's main function (the size of what was converted)."""
    program = model.get_spec().mlProgram
    return sum(len(f.block_specializations[next(iter(f.block_specializations))].operations)
               for f in program.functions.values())


def placement(compiled_path: str, compute_units: str) -> collections.Counter:
    """Core ML's compute plan: ops per preferred device (NeuralEngine / CPU / GPU). macOS 14.4+."""
    import coremltools as ct
    from coremltools.models.compute_plan import MLComputePlan

    plan = MLComputePlan.load_from_path(path=compiled_path, compute_units=getattr(ct.ComputeUnit, compute_units))
    split: collections.Counter = collections.Counter()
    for function in plan.model_structure.program.functions.values():
        for op in function.block.operations:
            usage = plan.get_compute_device_usage_for_mlprogram_operation(op)
            if usage is not None:
                name = type(usage.preferred_compute_device).__name__
                split[_DEVICE_NAMES.get(name, name)] += 1
    return split


def check_placement(split: collections.Counter) -> str:
    """Evidence the Neural Engine ran ops, or RuntimeError: a model Core ML kept on the CPU is no ANE pass."""
    total = sum(split.values())
    on = split.get("NeuralEngine", 0)
    where = ", ".join(f"{d} {n}" for d, n in sorted(split.items())) or "no op placed"
    if on == 0:
        raise RuntimeError(f"Core ML compute plan puts 0 of {total} ops on the Neural Engine ({where}): "
                           f"the model would run without the ANE")
    return f"Neural Engine runs {on} of {total} ops ({where})"


class CoreMLBackend(Backend):
    family = "coreml"
    runtime = "coremltools"
    routes = ROUTES
    precision_names = PRECISIONS

    def __init__(self, hardware: str):
        self.hardware = hardware
        self.compute_units = COMPUTE_UNITS.get(hardware, "CPU_AND_NE")

    def versions(self) -> str:
        return versions()

    def probe(self) -> Probe:
        where = f"{platform.system()} {platform.machine()}"
        if platform.system() != "Darwin":
            # Core ML itself is what is missing; importing coremltools here would cost seconds and say no more.
            return Probe(False, runtime_version=versions(), error=f"Core ML predictions need macOS; this is {where}")
        try:
            import coremltools
        except ImportError as exc:
            return Probe(False, error=f"{type(exc).__name__}: {exc} (on {where})")
        version = f"coremltools {coremltools.__version__}"
        return Probe(True, f"Core ML {self.compute_units} on {platform.machine()} macOS {platform.mac_ver()[0]}",
                     version)

    def run(self, case, precision: str, batch: int, reference_dir=None, modes=EXTRA_MODES) -> dict:
        from hwcov.backends.exported import prepare

        ended, built, reference, ref_path = prepare(self.hardware, self.precisions(), case, precision, batch,
                                                    reference_dir)
        if ended:
            return ended
        failures = []
        for route in self.routes:
            base = {"export_route": route, "exporter": EXPORTER[route], "reference_path": ref_path,
                    "runtime_version": f"{versions()}; route {route} ({EXPORTER[route]})"}
            try:
                model, names, output_names = convert(built, precision, self.compute_units, route)
            except Exception as exc:  # noqa: BLE001 - a conversion error is this route's result
                text = f"{type(exc).__name__}: {str(exc)[:1200]}"
                op = unsupported_op(text)
                failures.append({**base, "status": "unsupported_op" if op else "fail_to_run",
                                 "error_message": f"{route}: convert {text}"
                                                  + (f" [unsupported operator {op}]" if op else "")})
                continue
            if platform.system() != "Darwin":
                return {**base, "status": "unavailable", "error_message": (
                    f"converted to mlprogram OK via {route} ({precision}, {self.compute_units}, {op_count(model)} "
                    f"ops); Core ML predictions need macOS; this is {platform.system()} {platform.machine()}")}
            row = self._predict(model, names, output_names, built, precision, reference, case)
            row = {**base, **row}
            if row["status"] == "pass":
                return row
            failures.append(row)
        worst = min(failures, key=lambda f: {"fail_accuracy": 0, "unsupported_op": 1}.get(f["status"], 2))
        message = " | ".join(f["error_message"] for f in failures)
        if platform.system() != "Darwin":  # conversion failed; the hardware is absent too: say both
            return {**worst, "status": "unavailable", "error_message": (
                f"Core ML conversion failed on every route ({message}); Core ML predictions need macOS; "
                f"this is {platform.system()} {platform.machine()}")[:4000]}
        return dict(worst, error_message=message[:4000])

    def _predict(self, model, names, output_names, built, precision, reference, case) -> dict:
        import coremltools as ct
        import numpy as np
        import torch

        from hwcov.models.outputs import checksum

        tol = validate.tolerance(self.hardware, precision, case.model_type)
        spec = model.get_spec().description
        feed = {}
        for port, name in zip(spec.input, names):
            value = built.feed[name].numpy()
            feed[port.name] = value.astype(np.float32 if value.dtype.kind == "f" else np.int32)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.mlpackage"
                model.save(str(path))
                loaded = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, self.compute_units))
                evidence = check_placement(placement(loaded.get_compiled_model_path(), self.compute_units))
                raw = loaded.predict(feed)
                t0 = time.perf_counter()
                raw = loaded.predict(feed)
                elapsed_ms = (time.perf_counter() - t0) * 1000
        except Exception as exc:  # noqa: BLE001 - a Core ML error is this route's result
            return {"status": "fail_to_run", "error_message": f"Core ML predict: {type(exc).__name__}: {exc}"[:2000]}
        result = {name: np.asarray(raw[port.name], dtype=np.float32)
                  for port, name in zip(spec.output, output_names)}
        verdict = validate.compare(reference, result, tol)
        return {**verdict.fields(),
                "device_name": f"Core ML {self.compute_units} on {platform.machine()} macOS "
                               f"{platform.mac_ver()[0]} ({evidence}; compute precision {precision})",
                "output_checksum": checksum({k: torch.from_numpy(v) for k, v in result.items()}),
                "output_shapes": ";".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in result.items()),
                "inputs": ",".join(sorted(built.feed)), "execution_time_ms": round(elapsed_ms, 3),
                "tolerance_kind": tol.kind, "error_message": verdict.message if verdict.status != "pass" else ""}
