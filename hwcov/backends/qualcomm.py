"""Qualcomm: the case exported to ONNX, run by ONNX Runtime's QNN execution provider (onnxruntime-qnn).

Found either way ONNX Runtime ships it: built in (onnxruntime-qnn 1.x: QNN in get_available_providers(),
selected by provider name) or as the onnxruntime-qnn 2.x plugin library (registered with
register_execution_provider_library, selected by its EP devices). Wheels exist for Windows (ARM64 to run, x64
to quantize) and Linux aarch64, none for Linux x86_64.

Two QNN backend libraries, two hardware paths: HTP (the Hexagon NPU; `qualcomm`) and the QNN CPU reference
backend (`qualcomm_cpu`). Precisions on HTP follow the QNN EP's documented routes:
fp32 runs the fp32 graph with `enable_htp_fp16_precision=0`; fp16 runs the same graph with it set to 1 (HTP's
float path computes in fp16; inputs and outputs stay fp32); int8 is a QDQ model from static quantization
(`get_qnn_qdq_config` + `quantize`, calibrated on the case's synthesized inputs). QNN needs static shapes, so
any symbolic input dimension is fixed to the fed shape first.

No silent fallback: ONNX Runtime places every node QNN refuses on the CPU provider without a word. A row
passes only when the session lists QNN first *and* ORT's own per-node profile shows QNN ran at least one
node; the node split (and the op types left on the CPU) is the row's evidence.
"""
from __future__ import annotations

import collections
import hashlib
import importlib.util
import json
import platform
from pathlib import Path

from hwcov.backends.base import Probe
from hwcov.backends.exported import ExportBackend
from hwcov.backends.onnxruntime import session_infer
from hwcov.export import routes as export

PROVIDER = "QNNExecutionProvider"
FALLBACK = "CPUExecutionProvider"
# hardware key -> QNN backend library kind
QNN_BACKEND = {"qualcomm": "htp", "qualcomm_cpu": "cpu"}
_LIBRARY = {"htp": "QnnHtp", "cpu": "QnnCpu"}


def backend_path(kind: str, system: str | None = None) -> str:
    """The QNN backend library name ONNX Runtime loads: QnnHtp.dll on Windows, libQnnHtp.so elsewhere."""
    name = _LIBRARY[kind]
    return f"{name}.dll" if (system or platform.system()) == "Windows" else f"lib{name}.so"


def provider_options(kind: str, precision: str, system: str | None = None) -> dict:
    """QNN EP options for this backend and precision (all values strings, as ORT takes them)."""
    options = {"backend_path": backend_path(kind, system)}
    if kind == "htp":
        options["enable_htp_fp16_precision"] = "1" if precision == "fp16" else "0"
    return options


def session_providers(kind: str, precision: str, system: str | None = None) -> list:
    return [(PROVIDER, provider_options(kind, precision, system)), FALLBACK]


def plugin_devices() -> tuple[list, str]:
    """(ONNX Runtime's QNN EP devices, how they were found or why none). onnxruntime-qnn 2.x is a plugin library:
    it is registered with ONNX Runtime (once per process) and selected by device, not by provider name."""
    import onnxruntime as ort

    if importlib.util.find_spec("onnxruntime_qnn") is None:
        return [], "onnxruntime-qnn plugin not installed"
    try:
        import onnxruntime_qnn

        if not any(d.ep_name == PROVIDER for d in ort.get_ep_devices()):
            ort.register_execution_provider_library(PROVIDER, onnxruntime_qnn.get_library_path())
        devices = [d for d in ort.get_ep_devices() if d.ep_name == PROVIDER]
    except Exception as exc:  # noqa: BLE001 - the plugin's own words are the probe's answer
        return [], f"onnxruntime-qnn plugin installed but registering it failed: {type(exc).__name__}: {exc}"
    version = getattr(onnxruntime_qnn, "__version__", "?")
    if not devices:
        return [], (f"onnxruntime-qnn {version} plugin registered, but onnxruntime.get_ep_devices() lists no "
                    f"{PROVIDER} device: {[(d.ep_name, str(d.device.type)) for d in ort.get_ep_devices()]}")
    return devices, f"onnxruntime-qnn {version} plugin, {len(devices)} device(s)"


def plugin_provider_options(kind: str, precision: str) -> dict:
    """Options for the plugin: the backend library the plugin ships (get_qnn_htp_path), else its backend_type."""
    import onnxruntime_qnn

    options = provider_options(kind, precision)
    locate = getattr(onnxruntime_qnn, f"get_qnn_{kind}_path", None)
    if locate is not None:
        options["backend_path"] = str(locate())
    else:
        del options["backend_path"]
        options["backend_type"] = kind
    return options


class SilentFallback(RuntimeError):
    """The session ran, but not on QNN: never a qualcomm pass."""


def placement(profile_file) -> dict:
    """Provider -> Counter of op types, one count per node, from an ONNX Runtime profile (enable_profiling)."""
    events = json.loads(Path(profile_file).read_text())
    nodes: dict = {}
    for event in events:
        args = event.get("args") or {}
        if event.get("cat") == "Node" and "provider" in args:
            nodes[event["name"]] = (args["provider"], args.get("op_name", "?"))
    split: dict = collections.defaultdict(collections.Counter)
    for provider, op in nodes.values():
        split[provider][op] += 1
    return dict(split)


def check_placement(session_providers_: list, split: dict, want: str = PROVIDER) -> str:
    """Evidence that `want` really ran, or SilentFallback naming where the nodes went."""
    if not session_providers_ or session_providers_[0] != want:
        raise SilentFallback(f"session providers {session_providers_}: {want} is not first; ONNX Runtime "
                             f"dropped it, so every node would run on the CPU")
    total = sum(sum(c.values()) for c in split.values())
    on = sum(split.get(want, {}).values())
    if on == 0:
        where = ", ".join(f"{p}: {sum(c.values())}" for p, c in sorted(split.items())) or "no node events"
        raise SilentFallback(f"{want} is registered but ran 0 of {total} nodes ({where}): a silent CPU fallback")
    rest = {p: c for p, c in split.items() if p != want}
    left = "; ".join(f"{p} ran {sum(c.values())} ({', '.join(f'{op} x{n}' for op, n in sorted(c.items()))})"
                     for p, c in sorted(rest.items()))
    return f"{want} ran {on} of {total} nodes" + (f"; {left}" if left else "")


class CalibrationFeed:
    """onnxruntime.quantization CalibrationDataReader over the case's synthesized inputs."""

    def __init__(self, feeds: list[dict]):
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)

    def rewind(self):  # some ORT versions call it between calibration passes
        pass


def _fix_static_shapes(model, feed: dict) -> bool:
    """Give every symbolic input dimension the fed size (QNN compiles static graphs). True when changed."""
    changed = False
    for value in model.graph.input:
        given = feed.get(value.name)
        dims = value.type.tensor_type.shape.dim
        if given is None or not any(d.dim_param for d in dims) or len(dims) != len(given.shape):
            continue
        for d, size in zip(dims, given.shape):
            d.Clear()
            d.dim_value = int(size)
        changed = True
    return changed


def session_feed(exported: export.Exported, input_names) -> dict:
    """The export's feed as numpy, restricted to the graph's inputs."""
    return {k: v.numpy() for k, v in exported.feed.items() if k in set(input_names) and hasattr(v, "numpy")}


class QualcommBackend(ExportBackend):
    family = "qualcomm"
    runtime = "onnxruntime QNN EP"
    routes = export.ONNX_ROUTES

    def __init__(self, hardware: str, export_dir=None):
        super().__init__(hardware, export_dir)
        self.kind = QNN_BACKEND.get(hardware, "htp")

    def versions(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        found = []
        for dist in ("onnxruntime-qnn", "onnxruntime"):
            try:
                found.append(f"{dist} {version(dist)}")
            except PackageNotFoundError:
                pass
        return "; ".join(found or ["onnxruntime not installed"]) + f"; QNN {backend_path(self.kind)}"

    def probe(self) -> Probe:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            return Probe(False, error=f"ImportError: {exc}")
        version = f"onnxruntime {ort.__version__}"
        where = f"{platform.system()} {platform.machine()}"
        providers = ort.get_available_providers()
        if PROVIDER in providers:  # onnxruntime-qnn 1.x: ONNX Runtime built with the QNN EP
            return Probe(True, f"{PROVIDER} {backend_path(self.kind)} ({where})", version)
        devices, how = plugin_devices()
        if devices:
            return Probe(True, f"{PROVIDER} {self.kind} via {how} ({where})", version)
        return Probe(False, runtime_version=version, error=(
            f"{PROVIDER} not in onnxruntime.get_available_providers() = {providers}; {how} on {where}"))

    # -- model files ----------------------------------------------------------------------------
    def model_file(self, exported: export.Exported, precision: str) -> Path:
        """The ONNX file QNN gets for `precision` (static shapes; QDQ for int8), written once beside the export."""
        import onnx

        source = exported.onnx_file
        tag = "qdq-u8u8-minmax" if precision == "int8" else "static"
        target = exported.directory / f"model.qnn-{tag}.{hashlib.sha256(tag.encode()).hexdigest()[:8]}.onnx"
        if target.exists():
            return target
        model = onnx.load(str(source))
        feed = session_feed(exported, [i.name for i in model.graph.input])
        static = source
        if _fix_static_shapes(model, feed) or precision == "int8":
            static = target.with_suffix(".static.onnx") if precision == "int8" else target.with_suffix(".tmp.onnx")
            onnx.save(model, str(static))  # tiny models: weights inline
        if precision == "int8":
            from onnxruntime.quantization import quantize
            from onnxruntime.quantization.execution_providers.qnn import get_qnn_qdq_config

            config = get_qnn_qdq_config(str(static), CalibrationFeed([feed]))
            tmp = target.with_suffix(".tmp.onnx")
            quantize(str(static), str(tmp), config)
            static.unlink(missing_ok=True)
            static = tmp
        if static == source:
            return source  # already static: QNN takes the export itself
        static.replace(target)
        return target

    # -- session --------------------------------------------------------------------------------
    def session(self, model_path, precision: str, providers=None, profile_prefix: str | None = None,
                devices=None, ep_options: dict | None = None):
        """An InferenceSession with QNN first and the CPU provider behind it (ORT's own fallback order): by
        provider name where ONNX Runtime has QNN built in, else on the plugin's EP devices."""
        import onnxruntime as ort

        ort.disable_telemetry_events()  # the uploader itself: ORT_DISABLE_TELEMETRY (hwcov.backends.onnxruntime)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if profile_prefix:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        if providers is None and devices is None and PROVIDER not in ort.get_available_providers():
            devices, _ = plugin_devices()
            if devices:
                ep_options = plugin_provider_options(self.kind, precision)
        if devices:
            options.add_provider_for_devices(devices, provider_options(self.kind, precision)
                                             if ep_options is None else ep_options)
            return ort.InferenceSession(str(model_path), options)
        # Where QNN is absent ONNX Runtime drops it with a warning: the placement check refuses that session.
        return ort.InferenceSession(str(model_path), options,
                                    providers=providers or session_providers(self.kind, precision))

    def load_graph(self, exported: export.Exported, precision: str, providers=None):
        session = self.session(self.model_file(exported, precision), precision, providers,
                               profile_prefix=str(exported.directory / f"qnn-profile-{precision}"))
        infer = session_infer(exported, session)
        infer(exported.feed)  # one profiled run: where ORT really placed each node
        profile = Path(session.end_profiling())
        try:
            split = placement(profile)
        finally:
            profile.unlink(missing_ok=True)
        evidence = check_placement(session.get_providers(), split)
        options = dict(session.get_provider_options().get(PROVIDER, {}))
        lib = options.get("backend_path", backend_path(self.kind))
        fp16 = "; HTP fp16 precision" if precision == "fp16" else ""
        device = (f"onnxruntime {PROVIDER} {lib} on {platform.system()} {platform.machine()} "
                  f"({evidence}{fp16}; session providers: {', '.join(session.get_providers())})")
        return infer, device
