"""ONNX Runtime backend: the case exported to ONNX, run in an InferenceSession on the CPU provider.

fp32 runs the export as is; fp16 converts its float weights and compute to float16 (inputs and outputs
stay float32); int8 applies ONNX Runtime's dynamic quantization. The session's own provider list is the
evidence: ONNX Runtime falls back to CPU silently, so a row never claims a provider the session lacks.
"""
from __future__ import annotations

import collections
import hashlib
import json
import math
import time
from pathlib import Path

from hwcov.backends.base import Loaded, Probe
from hwcov.backends.exported import ExportBackend, hf_component, hf_metadata, name_by_graph, named_outputs
from hwcov.core.system import cpu_name
from hwcov.export import routes as export

# hardware key -> the execution provider that must head the session's list.
PROVIDER = {"onnxruntime": "CPUExecutionProvider"}
# Ops the fp16 conversion keeps in float32 (with casts around them), beyond onnxruntime's own default list:
# the CPU provider has no float16 ScatterElements with reduction 'add' (every MoE router's scatter_add).
FP16_KEEP_FP32 = ("ScatterElements",)


def model_file(exported: export.Exported, precision: str) -> Path:
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


def runtime():
    """onnxruntime, its telemetry events off (process-wide; before any session)."""
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime


def versions() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__}; {export.versions()}"


class OnnxRuntimeBackend(ExportBackend):
    family = "onnxruntime"
    runtime = "onnxruntime"
    routes = export.ONNX_ROUTES
    variants = {
        "ort_disable_all": ({"graph_optimization_level": "ORT_DISABLE_ALL"},
                            "SessionOptions.graph_optimization_level = ORT_DISABLE_ALL"),
        "ort_enable_basic": ({"graph_optimization_level": "ORT_ENABLE_BASIC"},
                             "graph_optimization_level = ORT_ENABLE_BASIC (constant folding, redundant nodes)"),
        "ort_enable_all": ({"graph_optimization_level": "ORT_ENABLE_ALL"},
                           "graph_optimization_level = ORT_ENABLE_ALL (ORT's default; layout and fusions)"),
    }
    layer_profiler = "onnxruntime profiler"

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
        return model_file(exported, precision)

    def load_graph(self, exported: export.Exported, precision: str):
        import torch

        ort = runtime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.log_severity_level = 3
        want = PROVIDER[self.hardware]
        session = ort.InferenceSession(str(model_file(exported, precision)), options, providers=[want])
        providers = session.get_providers()
        if providers[0] != want:
            raise RuntimeError(f"session runs on {providers}, not {want}")
        device = f"onnxruntime {providers[0]} (session providers: {', '.join(providers)}) | cpu: {cpu_name()}"
        return session_infer(exported, session), device

    def component_runner(self, exported: export.Exported, component: str):
        """One graph of a multi-graph transformers export (a generation's 'prefill' or 'decode') in an fp32 session:
        transformers' runner, kwargs in (a KV cache object too) -> its ModelOutput out."""
        import torch
        from transformers.exporters.runners.runner_onnx import OnnxModelRunner

        ort = runtime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, torch.get_num_threads())
        options.log_severity_level = 3
        meta, graph = hf_component(exported, component)
        return OnnxModelRunner(meta, ort.InferenceSession(str(graph), options, providers=[PROVIDER[self.hardware]]))

    # -- benchmarks and profiles ----------------------------------------------------------------
    def load(self, built, case, batch: int, precision: str, variant: str, export_dir=None, route: str = "",
             exported=None, profile: bool = False, **options) -> Loaded:
        """The export in a session with the variant's graph_optimization_level; profile: ORT's own profiler on."""
        import torch

        ort = runtime()
        exported = exported or self.export_case(built, case, batch, export_dir, route)
        path = str(model_file(exported, precision))  # fp16/int8 conversions cached beside the export
        settings = ort.SessionOptions()
        settings.intra_op_num_threads = max(1, torch.get_num_threads())
        settings.log_severity_level = 3
        level = self.variants[variant][0]["graph_optimization_level"]
        settings.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        if profile:
            import tempfile

            settings.enable_profiling = True
            settings.profile_file_prefix = str(Path(tempfile.mkdtemp(prefix="hwcov-ort-profile-")) / "ort")
        want = PROVIDER[self.hardware]
        started = time.perf_counter()
        session = ort.InferenceSession(path, settings, providers=[want])
        load_ms = (time.perf_counter() - started) * 1000
        providers = session.get_providers()
        if providers[0] != want:  # ONNX Runtime falls back silently: never report a provider that didn't run
            raise RuntimeError(f"session runs on {providers}, not {want}")
        device = (f"onnxruntime {providers[0]} (session providers: {', '.join(providers)}; {level}) | "
                  f"cpu: {cpu_name()}")
        if exported.manifest["format"] == "transformers":
            from transformers.exporters.runners.runner_onnx import OnnxModelRunner

            runner = OnnxModelRunner(hf_metadata(exported), session)
            graph_inputs = [i.name for i in session.get_inputs()]
            fed = {k: exported.feed[k].numpy() for k in graph_inputs if k in exported.feed}

            def run():  # the session itself where its inputs are the model's: the runner's Python isn't timed
                return session.run(None, fed) if len(fed) == len(graph_inputs) else runner(**exported.feed)

            def named():
                return named_outputs(runner(**exported.feed))
        else:
            outputs = exported.manifest["outputs"]
            names = {i.name for i in session.get_inputs()}
            fed = {k: v.numpy() for k, v in exported.feed.items() if k in names}

            def run():
                return session.run(outputs, fed)

            def named():
                return dict(zip(outputs, run()))
        return Loaded(run, named, device, load_ms, extra={"session": session},
                      fields={"export_route": exported.route})

    def layer_profile(self, loaded: Loaded, iterations: int) -> tuple[list[dict], str]:
        """Node kernel times per run from the session's own profile (the load's profile=True)."""
        session = loaded.extra["session"]
        for _ in range(iterations + 1):
            loaded.run()
        trace = json.loads(Path(session.end_profiling()).read_text())
        runs = sum(1 for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run") or iterations + 1
        totals: dict = collections.defaultdict(lambda: [0.0, 0, ""])
        for event in trace:
            if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
                entry = totals[event["name"][: -len("_kernel_time")]]
                entry[0] += event["dur"] / 1000
                entry[1] += 1
                entry[2] = event.get("args", {}).get("op_name", "")
        rows = [{"layer": name, "layer_type": kind, "depth": 1, "calls": math.ceil(n / runs), "total_ms": ms / runs,
                 "self_ms": ms / runs} for name, (ms, n, kind) in totals.items()]
        return sorted(rows, key=lambda r: -r["total_ms"]), self.layer_profiler


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
