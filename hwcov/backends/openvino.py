"""OpenVINO backend: the case converted to OpenVINO IR (from torch, else from its ONNX export), compiled for CPU.

fp32 compiles with INFERENCE_PRECISION_HINT=f32 (the CPU plugin may otherwise run bf16); fp16 with the f16
hint where the device lists FP16 among its OPTIMIZATION_CAPABILITIES (else not_applicable); int8 compresses
the weights to int8 with NNCF when it is installed. The compiled model's EXECUTION_DEVICES and the device's
FULL_DEVICE_NAME are the evidence.
"""
from __future__ import annotations

import collections
import functools
import math
import time

from hwcov.backends.base import Loaded, NotApplicable, Probe
from hwcov.backends.exported import ExportBackend, hf_component, hf_metadata, name_by_graph, named_outputs
from hwcov.core.schema import EXTRA_MODES
from hwcov.export import routes as export
from hwcov.export.openvino_core import core


def decline_telemetry() -> None:
    """OpenVINO's converter (ovc, in convert_model) and NNCF send usage telemetry to Google Analytics unless the
    user opted out: openvino_telemetry counts a missing consent file (~/intel/openvino_telemetry) as consent.
    Declined in this process, without its opt-out tool (which sends an event of its own) or a file in $HOME."""
    try:
        from openvino_telemetry import Telemetry
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker
    except ImportError:  # not installed: ovc and nncf fall back to their stubs
        return
    OptInChecker.check = lambda self, *args, **kwargs: ConsentCheckResult.DECLINED
    try:
        Telemetry().consent = False  # one made before this (a singleton): its consent withdrawn
    except RuntimeError:  # none made yet
        pass


decline_telemetry()

DEVICE = {"openvino": "CPU"}
HINT = {"fp32": "f32", "fp16": "f16", "int8": "f32"}  # int8: quantized weights, the rest of the graph in f32
# OpenVINO 2026.4's CPU plugin compiled for ONE inference thread dies with SIGSEGV where, compiled for two, it raises the
# graph's own error: a traced graph fed a shape its sizes don't fit (canine, funnel, cpmant, depth_pro in the dynamic
# check, on a worker's 1 torch thread; 20 of the first 258 cases of a full sweep). The case's process died and took its
# forward's verdict with it, so a check compiles for two at least (timings are the benchmark's, at its own threads).
MIN_CHECK_THREADS = 2


def check_threads() -> int:
    """INFERENCE_NUM_THREADS of the graphs a case checks: the case's torch threads, at least MIN_CHECK_THREADS."""
    import torch

    return max(MIN_CHECK_THREADS, torch.get_num_threads())


def versions() -> str:
    import openvino

    return f"openvino {openvino.get_version()}; {export.versions()}"


class OpenVinoBackend(ExportBackend):
    family = "openvino"
    runtime = "openvino"
    routes = export.OPENVINO_ROUTES
    variants = {
        "ov_latency": ({"PERFORMANCE_HINT": "LATENCY"}, "PERFORMANCE_HINT=LATENCY (what the sweep runs)"),
        "ov_throughput": ({"PERFORMANCE_HINT": "THROUGHPUT"},
                          "PERFORMANCE_HINT=THROUGHPUT (several streams; one synchronous request uses one)"),
        "ov_latency_1stream": ({"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "ENABLE_CPU_PINNING": True},
                               "LATENCY, NUM_STREAMS=1, ENABLE_CPU_PINNING=YES"),
    }
    layer_profiler = "openvino PERF_COUNT"

    def versions(self) -> str:
        return versions()

    def probe(self) -> Probe:
        try:
            import openvino  # noqa: F401 - only whether it imports
        except ImportError as exc:
            return Probe(False, error=f"openvino not importable: {exc}")
        devices = core().available_devices
        want = DEVICE.get(self.hardware, "")
        if want not in devices:
            return Probe(False, runtime_version=versions(),
                         error=f"OpenVINO device {want or self.hardware} not in Core().available_devices {devices}")
        full = core().get_property(want, "FULL_DEVICE_NAME")
        return Probe(True, f"openvino {want}: {full} (available: {', '.join(devices)})", versions())

    def run(self, case, precision: str, batch: int, reference_dir=None, modes=EXTRA_MODES) -> dict:
        try:
            self.check_precision(precision)
        except NotApplicable as exc:
            return {"status": "not_applicable", "error_message": str(exc)}
        return super().run(case, precision, batch, reference_dir, modes)

    def check_precision(self, precision: str) -> None:
        """NotApplicable when the device or install lacks the precision (FP16 capability, NNCF for int8)."""
        if precision == "fp16":
            caps = core().get_property(DEVICE[self.hardware], "OPTIMIZATION_CAPABILITIES")
            if "FP16" not in caps:
                raise NotApplicable(f"{DEVICE[self.hardware]} lacks FP16 (OPTIMIZATION_CAPABILITIES {list(caps)})")
        if precision == "int8":
            try:
                import nncf  # noqa: F401
            except ImportError as exc:
                raise NotApplicable(f"int8 needs NNCF weight compression: {exc}") from exc

    def compile(self, exported: export.Exported, precision: str, graph: str = "openvino_model.xml"):
        model = core().read_model(str(exported.directory / graph))
        if precision == "int8":
            import nncf

            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        config = {"INFERENCE_PRECISION_HINT": HINT[precision], "PERFORMANCE_HINT": "LATENCY",
                  "INFERENCE_NUM_THREADS": check_threads()}
        return core().compile_model(model, DEVICE[self.hardware], config)

    def load_graph(self, exported: export.Exported, precision: str):
        compiled = self.compile(exported, precision)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if hint != HINT[precision]:  # the plugin may refuse a hint: never report a precision that didn't run
            raise RuntimeError(f"compiled with inference precision {hint}, asked {HINT[precision]}")
        ran_on = ", ".join(compiled.get_property("EXECUTION_DEVICES"))
        full = core().get_property(DEVICE[self.hardware], "FULL_DEVICE_NAME")
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

    def component_runner(self, exported: export.Exported, component: str):
        """One graph of a multi-graph transformers export (a generation's 'prefill' or 'decode') compiled at fp32:
        transformers' runner, kwargs in (a KV cache object too) -> its ModelOutput out."""
        from transformers.exporters.runners.runner_openvino import OpenVINOModelRunner

        meta, graph = hf_component(exported, component)
        compiled = self.compile(exported, "fp32", graph.name)
        # inputs copied, not read in place: t5's decode segfaulted in infer() on shared input memory (the cache and
        # encoder tensors handed from step to step); the copy costs microseconds on these tiny tensors
        return functools.partial(OpenVINOModelRunner(compiled, meta), share_inputs=False)

    # -- benchmarks and profiles ----------------------------------------------------------------
    def load(self, built, case, batch: int, precision: str, variant: str, export_dir=None, route: str = "",
             exported=None, profile: bool = False, **options) -> Loaded:
        """The IR compiled with the variant's settings; profile: per-layer performance counts (PERF_COUNT)."""
        import torch

        exported = exported or self.export_case(built, case, batch, export_dir, route)
        self.check_precision(precision)
        started = time.perf_counter()
        model = core().read_model(str(exported.directory / "openvino_model.xml"))
        if precision == "int8":
            import nncf

            model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        config = {"INFERENCE_PRECISION_HINT": HINT[precision],
                  "INFERENCE_NUM_THREADS": max(1, torch.get_num_threads()), **self.variants[variant][0]}
        if profile:
            config["PERF_COUNT"] = True
        compiled = core().compile_model(model, DEVICE[self.hardware], config)
        load_ms = (time.perf_counter() - started) * 1000
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if hint != HINT[precision]:
            raise RuntimeError(f"compiled with inference precision {hint}, asked {HINT[precision]}")
        ran_on = ", ".join(compiled.get_property("EXECUTION_DEVICES"))
        full = core().get_property(DEVICE[self.hardware], "FULL_DEVICE_NAME")
        streams = compiled.get_property("NUM_STREAMS")
        hint_name = compiled.get_property("PERFORMANCE_HINT")
        device = (f"openvino {ran_on}: {full} (inference precision {hint}"
                  f"{', int8 weights (NNCF)' if precision == 'int8' else ''}; {hint_name}, {streams} streams)")
        if exported.manifest["format"] == "transformers":
            from transformers.exporters.runners.runner_openvino import OpenVINOModelRunner

            runner = OpenVINOModelRunner(compiled, hf_metadata(exported))
            request = runner.request
            graph_inputs = [min(port.get_names()) for port in compiled.inputs]
            fed = {k: exported.feed[k].numpy() for k in graph_inputs if k in exported.feed}

            def run():  # the request itself where its inputs are the model's: the runner's Python isn't timed
                return request.infer(fed) if len(fed) == len(graph_inputs) else runner(**exported.feed)

            def named():
                return named_outputs(runner(**exported.feed))
        else:
            request = compiled.create_infer_request()
            names = {n for port in compiled.inputs for n in port.get_names()}
            fed = {k: v.numpy() for k, v in exported.feed.items() if k in names}
            outputs = exported.manifest["outputs"]

            def run():
                return request.infer(fed)

            def named():
                result = run()
                return {name: result[compiled.output(name)].copy() for name in outputs}
        return Loaded(run, named, device, load_ms, extra={"request": request, "compiled": compiled},
                      fields={"export_route": exported.route})

    def layer_profile(self, loaded: Loaded, iterations: int) -> tuple[list[dict], str]:
        """The compiled model's per-layer performance counts, summed over the runs: one row per executed node."""
        loaded.run()  # warm
        request = loaded.extra["request"]
        totals: dict = collections.defaultdict(lambda: [0.0, 0, ""])
        for _ in range(iterations):
            loaded.run()
            for info in request.get_profiling_info():
                if str(info.status).endswith("EXECUTED"):
                    entry = totals[info.node_name]
                    entry[0] += info.real_time.total_seconds() * 1000
                    entry[1] += 1
                    entry[2] = f"{info.node_type} ({info.exec_type})"
        rows = [{"layer": name, "layer_type": kind, "depth": 1, "calls": math.ceil(n / iterations),
                 "total_ms": ms / iterations, "self_ms": ms / iterations} for name, (ms, n, kind) in totals.items()]
        return sorted(rows, key=lambda r: -r["total_ms"]), self.layer_profiler
