"""OpenVINO backend: the case converted to OpenVINO IR (from torch, else from its ONNX export), compiled for CPU.

fp32 compiles with INFERENCE_PRECISION_HINT=f32 (the CPU plugin may otherwise run bf16); fp16 with the f16
hint where the device lists FP16 among its OPTIMIZATION_CAPABILITIES (else not_applicable); int8 compresses
the weights to int8 with NNCF when it is installed. The compiled model's EXECUTION_DEVICES and the device's
FULL_DEVICE_NAME are the evidence.
"""
from __future__ import annotations

from hwcov.export import routes as export
from hwcov.backends.base import Probe
from hwcov.backends.exported import ExportBackend, hf_metadata, name_by_graph, named_outputs

DEVICE = {"openvino": "CPU"}
HINT = {"fp32": "f32", "fp16": "f16", "int8": "f32"}  # int8: quantized weights, the rest of the graph in f32


def versions() -> str:
    import openvino

    return f"openvino {openvino.get_version()}; {export.versions()}"


class NotApplicable(Exception):
    """This device or install can't run the precision: a `not_applicable` row, not a failure."""


class OpenVinoBackend(ExportBackend):
    runtime = "openvino"
    routes = export.OPENVINO_ROUTES
    precisions = ("fp32", "fp16", "int8")

    def versions(self) -> str:
        return versions()

    def probe(self) -> Probe:
        try:
            import openvino
        except ImportError as exc:
            return Probe(False, error=f"openvino not importable: {exc}")
        core = openvino.Core()
        devices = core.available_devices
        want = DEVICE.get(self.hardware, "")
        if want not in devices:
            return Probe(False, runtime_version=versions(),
                         error=f"OpenVINO device {want or self.hardware} not in Core().available_devices {devices}")
        full = core.get_property(want, "FULL_DEVICE_NAME")
        return Probe(True, f"openvino {want}: {full} (available: {', '.join(devices)})", versions())

    def run(self, case, precision: str, batch: int, reference_dir=None) -> dict:
        try:
            self._check_precision(precision)
        except NotApplicable as exc:
            return {"status": "not_applicable", "error_message": str(exc)}
        return super().run(case, precision, batch, reference_dir)

    def _check_precision(self, precision: str) -> None:
        import openvino

        if precision == "fp16":
            caps = openvino.Core().get_property(DEVICE[self.hardware], "OPTIMIZATION_CAPABILITIES")
            if "FP16" not in caps:
                raise NotApplicable(f"{DEVICE[self.hardware]} lacks FP16 (OPTIMIZATION_CAPABILITIES {list(caps)})")
        if precision == "int8":
            try:
                import nncf  # noqa: F401
            except ImportError as exc:
                raise NotApplicable(f"int8 needs NNCF weight compression: {exc}") from exc

    def compile(self, exported: export.Exported, precision: str):
        import openvino

        core = openvino.Core()
        model = core.read_model(str(exported.directory / "openvino_model.xml"))
        if precision == "int8":
            import nncf

            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        config = {"INFERENCE_PRECISION_HINT": HINT[precision], "PERFORMANCE_HINT": "LATENCY"}
        import torch

        config["INFERENCE_NUM_THREADS"] = max(1, torch.get_num_threads())
        return core.compile_model(model, DEVICE[self.hardware], config), core

    def load(self, exported: export.Exported, precision: str):
        compiled, core = self.compile(exported, precision)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if hint != HINT[precision]:  # the plugin may refuse a hint: never report a precision that didn't run
            raise RuntimeError(f"compiled with inference precision {hint}, asked {HINT[precision]}")
        ran_on = ", ".join(compiled.get_property("EXECUTION_DEVICES"))
        full = core.get_property(DEVICE[self.hardware], "FULL_DEVICE_NAME")
        weights = ", int8 weights (NNCF)" if precision == "int8" else ""
        device = f"openvino {ran_on}: {full} (inference precision {hint}{weights})"
        manifest = exported.manifest
        if manifest["format"] == "transformers":
            from transformers.exporters.runners.runner_openvino import OpenVINOModelRunner

            runner = name_by_graph(OpenVINOModelRunner(compiled, hf_metadata(exported)),
                                   [min(port.get_names(), default="") for port in compiled.outputs])

            def infer(feed):
                return named_outputs(runner(**feed))
        else:
            request = compiled.create_infer_request()
            names = {n for port in compiled.inputs for n in port.get_names()}

            def infer(feed):
                result = request.infer({k: v.numpy() for k, v in feed.items() if k in names})
                return {name: result[compiled.output(name)].copy() for name in manifest["outputs"]}
        return infer, device
