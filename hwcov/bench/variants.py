"""Optimization variants: a benchmark dimension of its own, each one real switch on a real backend.

A variant names a backend family and the setting it changes; `templates/benchmarks.yaml` says which variants
a hardware measures (`default`: what the sweep runs; `baseline` and `optimized`: the comparison
`--optimization-impact` reports). Loaders here mirror the backends' own `load()` with that one setting changed,
and return what the benchmark times: a callable running the model on the prepared inputs, and one returning
named float32 outputs (for the parity cost against the CPU fp32 reference).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

# name -> (backend family, what it switches)
VARIANTS = {
    "eager": ("torch", {}, "torch eager under no_grad (what the sweep runs)"),
    "torch_compile": ("torch", {"compile": True}, "torch.compile(model), inductor default mode"),
    "ort_disable_all": ("onnxruntime", {"graph_optimization_level": "ORT_DISABLE_ALL"},
                        "SessionOptions.graph_optimization_level = ORT_DISABLE_ALL"),
    "ort_enable_basic": ("onnxruntime", {"graph_optimization_level": "ORT_ENABLE_BASIC"},
                         "graph_optimization_level = ORT_ENABLE_BASIC (constant folding, redundant nodes)"),
    "ort_enable_all": ("onnxruntime", {"graph_optimization_level": "ORT_ENABLE_ALL"},
                       "graph_optimization_level = ORT_ENABLE_ALL (ORT's default; layout and fusions)"),
    "ov_latency": ("openvino", {"PERFORMANCE_HINT": "LATENCY"}, "PERFORMANCE_HINT=LATENCY (what the sweep runs)"),
    "ov_throughput": ("openvino", {"PERFORMANCE_HINT": "THROUGHPUT"},
                      "PERFORMANCE_HINT=THROUGHPUT (several streams; one synchronous request uses one)"),
    "ov_latency_1stream": ("openvino", {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "ENABLE_CPU_PINNING": True},
                           "LATENCY, NUM_STREAMS=1, ENABLE_CPU_PINNING=YES"),
    "web_default": ("browser", {}, "onnxruntime-web session with graphOptimizationLevel 'all'"),
}
FAMILY_OF_BACKEND = {"TorchBackend": "torch", "OnnxRuntimeBackend": "onnxruntime", "OpenVinoBackend": "openvino",
                     "BrowserBackend": "browser"}


class VariantNotApplicable(Exception):
    """The variant can't run in this environment or on this hardware: a `not_applicable` row with the reason."""


def family(backend) -> str:
    return FAMILY_OF_BACKEND.get(type(getattr(backend, "inner", backend)).__name__, "")


def check(variant: str, backend) -> None:
    if variant not in VARIANTS:
        raise KeyError(f"unknown variant '{variant}'; accepted: {', '.join(VARIANTS)}")
    want = VARIANTS[variant][0]
    if want != family(backend):
        raise VariantNotApplicable(f"variant {variant} switches a {want} setting; {backend.hardware} runs on "
                                   f"{family(backend) or type(backend).__name__}")


@dataclass
class Loaded:
    run: object  # () -> anything: the timed call
    outputs: object  # () -> {name: float32 array}: for parity
    device_name: str
    load_ms: float
    sync: object = None
    extra: dict = field(default_factory=dict)  # e.g. the OpenVINO infer request, the ORT session (profiling)


# -- torch -------------------------------------------------------------------------------------------
_COMPILER_MISSING = ("InvalidCxxCompiler", "Python.h", "No working C compiler", "CppCompileError: C++ compile error"
                     " ... command not found", "gcc: not found", "cc1plus")


def load_torch(backend, built, precision: str, variant: str) -> Loaded:
    import torch

    from hwcov.models import outputs
    from hwcov.backends.torch import DTYPES

    inner = getattr(backend, "inner", backend)
    started = time.perf_counter()
    device, dtype = torch.device(inner.device()), getattr(torch, DTYPES[precision])
    model = built.model.to(device=device, dtype=dtype).eval()
    feed = {k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device))
            if torch.is_tensor(v) else v for k, v in built.feed.items()}
    if VARIANTS[variant][1].get("compile"):
        model = torch.compile(model)  # lazy: compiles at the first call (first_run_ms holds it)
    load_ms = (time.perf_counter() - started) * 1000

    def run():
        with torch.no_grad():
            return model(**feed)

    def named():
        torch.manual_seed(0)
        return outputs.to_numpy(outputs.flatten(run()))

    return Loaded(run, named, backend.probe().device_name, load_ms, sync=inner._sync,
                  extra={"model": model, "feed": feed})


def torch_compile_error(exc: BaseException) -> str:
    """'' when the error is the model's, else the reason torch.compile can't work in this environment."""
    text = f"{type(exc).__name__}: {exc}"
    return text[:1500] if any(m in text for m in _COMPILER_MISSING) else ""


# -- ONNX Runtime ------------------------------------------------------------------------------------
def load_onnxruntime(backend, exported, precision: str, variant: str, profile_prefix: str = "") -> Loaded:
    import onnxruntime as ort
    import torch

    from hwcov.core.system import cpu_name
    from hwcov.backends.exported import hf_metadata, named_outputs
    from hwcov.backends.onnxruntime import PROVIDER

    inner = getattr(backend, "inner", backend)
    path = str(inner.model_file(exported, precision))  # fp16/int8 conversions cached beside the export
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.log_severity_level = 3
    level = VARIANTS[variant][1]["graph_optimization_level"]
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    want = PROVIDER[inner.hardware]
    started = time.perf_counter()
    session = ort.InferenceSession(path, options, providers=[want])
    load_ms = (time.perf_counter() - started) * 1000
    providers = session.get_providers()
    if providers[0] != want:  # ONNX Runtime falls back silently: never report a provider that didn't run
        raise RuntimeError(f"session runs on {providers}, not {want}")
    device = (f"onnxruntime {providers[0]} (session providers: {', '.join(providers)}; {level}) | "
              f"cpu: {cpu_name()}")
    manifest = exported.manifest
    if manifest["format"] == "transformers":
        from transformers.exporters.runners.runner_onnx import OnnxModelRunner

        runner = OnnxModelRunner(hf_metadata(exported), session)

        def run():
            return runner(**exported.feed)

        def named():
            return named_outputs(run())
    else:
        names = {i.name for i in session.get_inputs()}
        fed = {k: v.numpy() for k, v in exported.feed.items() if k in names}

        def run():
            return session.run(manifest["outputs"], fed)

        def named():
            return dict(zip(manifest["outputs"], run()))
    return Loaded(run, named, device, load_ms, extra={"session": session})


# -- OpenVINO ----------------------------------------------------------------------------------------
def load_openvino(backend, exported, precision: str, variant: str, perf_count: bool = False) -> Loaded:
    import openvino
    import torch

    from hwcov.backends.exported import hf_metadata, named_outputs
    from hwcov.backends.openvino import DEVICE, HINT, NotApplicable

    inner = getattr(backend, "inner", backend)
    try:
        inner._check_precision(precision)
    except NotApplicable as exc:
        raise VariantNotApplicable(str(exc)) from exc
    core = openvino.Core()
    started = time.perf_counter()
    model = core.read_model(str(exported.directory / "openvino_model.xml"))
    if precision == "int8":
        import nncf

        model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
    config = {"INFERENCE_PRECISION_HINT": HINT[precision], "INFERENCE_NUM_THREADS": max(1, torch.get_num_threads()),
              **VARIANTS[variant][1]}
    if perf_count:
        config["PERF_COUNT"] = True
    compiled = core.compile_model(model, DEVICE[inner.hardware], config)
    load_ms = (time.perf_counter() - started) * 1000
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    if hint != HINT[precision]:
        raise RuntimeError(f"compiled with inference precision {hint}, asked {HINT[precision]}")
    ran_on = ", ".join(compiled.get_property("EXECUTION_DEVICES"))
    full = core.get_property(DEVICE[inner.hardware], "FULL_DEVICE_NAME")
    streams = compiled.get_property("NUM_STREAMS")
    hint_name = compiled.get_property("PERFORMANCE_HINT")
    device = (f"openvino {ran_on}: {full} (inference precision {hint}"
              f"{', int8 weights (NNCF)' if precision == 'int8' else ''}; {hint_name}, {streams} streams)")
    manifest = exported.manifest
    if manifest["format"] == "transformers":
        from transformers.exporters.runners.runner_openvino import OpenVINOModelRunner

        runner = OpenVINOModelRunner(compiled, hf_metadata(exported))
        request = runner.request

        def run():
            return runner(**exported.feed)

        def named():
            return named_outputs(run())
    else:
        request = compiled.create_infer_request()
        names = {n for port in compiled.inputs for n in port.get_names()}
        fed = {k: v.numpy() for k, v in exported.feed.items() if k in names}

        def run():
            return request.infer(fed)

        def named():
            result = run()
            return {name: result[compiled.output(name)].copy() for name in manifest["outputs"]}
    return Loaded(run, named, device, load_ms, extra={"request": request, "compiled": compiled})
