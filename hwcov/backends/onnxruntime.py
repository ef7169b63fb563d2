"""ONNX Runtime backend: the case exported to ONNX, run in an InferenceSession on the CPU provider.

fp32 runs the export as is; fp16 converts its float weights and compute to float16 (inputs and outputs
stay float32); int8 applies ONNX Runtime's dynamic quantization. The session's own provider list is the
evidence: ONNX Runtime falls back to CPU silently, so a row never claims a provider the session lacks.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from hwcov.backends.base import Probe
from hwcov.core.system import cpu_name
from hwcov.backends.exported import ExportBackend, hf_metadata, name_by_graph, named_outputs
from hwcov.export import routes as export

# hardware key -> the execution provider that must head the session's list.
PROVIDER = {"onnxruntime": "CPUExecutionProvider"}
# Ops the fp16 conversion keeps in float32 (with casts around them), beyond onnxruntime's own default list:
# the CPU provider has no float16 ScatterElements with reduction 'add' (every MoE router's scatter_add).
FP16_KEEP_FP32 = ("ScatterElements",)


def versions() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}; {export.versions()}"


class OnnxRuntimeBackend(ExportBackend):
    runtime = "onnxruntime"
    routes = export.ONNX_ROUTES
    precisions = ("fp32", "fp16", "int8")

    def versions(self) -> str:
        return versions()

    def probe(self) -> Probe:
        try:
            import onnxruntime
        except ImportError as exc:
            return Probe(False, error=f"onnxruntime not importable: {exc}")
        available = onnxruntime.get_available_providers()
        want = PROVIDER.get(self.hardware, "")
        if want not in available:
            return Probe(False, runtime_version=versions(),
                         error=f"{want or self.hardware} not among ONNX Runtime providers {available}")
        return Probe(True, f"onnxruntime {want} (available: {', '.join(available)}) | cpu: {cpu_name()}", versions())

    def model_file(self, exported: export.Exported, precision: str) -> Path:
        """The ONNX file for `precision`, converted once beside the export."""
        source = exported.onnx_file
        if precision == "fp32":
            return source
        tag = "-".join(FP16_KEEP_FP32) if precision == "fp16" else "qint8-dynamic"
        target = exported.directory / f"model.{precision}.{hashlib.sha256(tag.encode()).hexdigest()[:8]}.onnx"
        if target.exists():
            return target
        import onnx

        tmp = target.with_suffix(".tmp.onnx")
        if precision == "fp16":
            from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

            model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True,
                                             op_block_list=list(DEFAULT_OP_BLOCK_LIST) + list(FP16_KEEP_FP32))
            onnx.save(model, str(tmp))  # tiny models: weights inline
        else:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8)
        tmp.replace(target)
        return target

    def load(self, exported: export.Exported, precision: str):
        import onnxruntime as ort
        import torch

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.log_severity_level = 3
        want = PROVIDER[self.hardware]
        session = ort.InferenceSession(str(self.model_file(exported, precision)), options, providers=[want])
        providers = session.get_providers()
        if providers[0] != want:
            raise RuntimeError(f"session runs on {providers}, not {want}")
        device = f"onnxruntime {providers[0]} (session providers: {', '.join(providers)}) | cpu: {cpu_name()}"
        return session_infer(exported, session), device


def session_infer(exported: export.Exported, session):
    """feed -> named outputs through an ONNX Runtime session: transformers' own runner for its exports
    (it restores the model's output structure), the manifest's output names for torch.onnx ones."""
    manifest = exported.manifest
    if manifest["format"] == "transformers":
        from transformers.exporters.runners.runner_onnx import OnnxModelRunner

        runner = name_by_graph(OnnxModelRunner(hf_metadata(exported), session), [o.name for o in session.get_outputs()])
        return lambda feed: named_outputs(runner(**feed))
    names = {i.name for i in session.get_inputs()}

    def infer(feed):
        fed = {k: v.numpy() for k, v in feed.items() if k in names}
        return dict(zip(manifest["outputs"], session.run(manifest["outputs"], fed)))
    return infer
