"""Export a built case to ONNX or OpenVINO IR, cached on disk by content hash.

Routes (tried in order by the backends; the row records the one that produced the result):
  hf-onnx            transformers.exporters.OnnxExporter (torch.export + onnxscript, with HF's export patches)
  torch-onnx-legacy  torch.onnx.export(dynamo=False) of a wrapper returning the flattened outputs by name
  torch-onnx-legacy-dynamic  the same with every input axis declared symbolic: the `dynamic` mode's second try where
                     torch.export can't trace the model with symbolic sizes (the tracer records shapes as it runs;
                     a size it baked shows at the other shapes the mode checks)
  hf-openvino        transformers.exporters.OpenVINOExporter (torch.export -> openvino.convert_model)
  ov-from-onnx       openvino.convert_model on this case's ONNX export (first ONNX route that exports)
  ov-from-torch      openvino.convert_model on the torch module itself (OpenVINO's TorchScript frontend)
  hf-executorch      transformers.exporters.ExecutorchExporter (torch.export, lowered to XNNPACK: a .pte program)
  hf-*-dynamic, hf-*-generate   the modes' graphs (hwcov.export.dynamic, .generation)
  hf-*-split         a VLM's vision encoder (one image) and language part (symbolic batch, length, features) as two
                     graphs: the `dynamic` mode's route where the whole graph fixes its image count (hwcov.export.split)

An export directory holds the program, `feed.pt` (the forward kwargs as exported: HF's exporters add
e.g. `position_ids` to the dict in place, and the graph expects them) and `hwcov.json` (route, exporter,
output names). It is written aside and renamed into place, so a killed export leaves no half-cache. Its key: the
case, the built model, the packages' versions and the route's own code (route_code).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hwcov.export import provenance, split
from hwcov.export.errors import full_text, machine_state, root_message, unsupported_op
from hwcov.export.provenance import versions

ONNX_ROUTES = ("hf-onnx", "torch-onnx-legacy")
OPENVINO_ROUTES = ("hf-openvino", "ov-from-onnx", "ov-from-torch")
EXPORTER = {
    "hf-onnx": "transformers.exporters.OnnxExporter",
    "torch-onnx-legacy": "torch.onnx.export(dynamo=False)",
    "hf-openvino": "transformers.exporters.OpenVINOExporter",
    "ov-from-onnx": "openvino.convert_model(onnx)",
    "ov-from-torch": "openvino.convert_model(torch.nn.Module)",
    "hf-executorch": "transformers.exporters.ExecutorchExporter(backend='xnnpack')",
    # symbolic batch and sequence (torch.export's Dim.AUTO): hwcov.export.dynamic, the `dynamic` mode's graphs
    "hf-onnx-dynamic": "transformers.exporters.OnnxExporter(dynamic=True)",
    "torch-onnx-legacy-dynamic": "torch.onnx.export(dynamo=False, dynamic_axes=every input axis)",
    "hf-openvino-dynamic": "transformers.exporters.OpenVINOExporter(dynamic=True)",
    # prefill + decode graphs of the generative head, the cache as explicit inputs: hwcov.export.generation
    "hf-onnx-generate": "transformers.exporters.OnnxExporter.export_for_generation(dynamic=True)",
    "hf-openvino-generate": "transformers.exporters.OpenVINOExporter.export_for_generation(dynamic=True, "
                            "stateful=False)",
    "hf-onnx-split": "transformers.exporters.OnnxExporter (vision encoder; language part dynamic=True)",
    "hf-openvino-split": "transformers.exporters.OpenVINOExporter (vision encoder; language part dynamic=True)",
}
MANIFEST = "hwcov.json"
FEED = "feed.pt"


class ExportError(Exception):
    """An export route failed; `op` names the operator when the exporter said which one."""

    def __init__(self, route: str, message: str, op: str = ""):
        super().__init__(f"{route}: {message}")
        self.route, self.message, self.op = route, message, op


@dataclass
class Exported:
    route: str
    exporter: str
    directory: Path
    feed: dict  # forward kwargs to run the program with (as the exporter left them)
    fresh: bool  # exported by this call, not read from the cache

    @property
    def manifest(self) -> dict:
        return json.loads((self.directory / MANIFEST).read_text())

    @property
    def onnx_file(self) -> Path:
        return self.directory / "model.onnx"


@functools.cache
def route_code(route: str) -> str:
    """Digest of hwcov's code that makes `route`'s graphs (hwcov.export.provenance; a converting route's sources
    included, export()'s cache bookkeeping not): in the key of its exports and in its recorded failures, so a fix
    there re-exports and retries that route's graphs, and only those."""
    entries = [ROUTE_EXPORTERS[r] for r in (route, *CONVERTS.get(route, ()))]
    return provenance.digest(*entries, stop=(export,))


def model_digest(built) -> str:
    """What was built: config, weights and inputs. A change in the tiny defaults or the input recipes changes
    the model without changing the case, and must not reuse an export of the old one."""
    from hwcov.models.build import hash_items

    h = hashlib.sha256(built.config.to_json_string().encode())
    hash_items(h, list(built.model.state_dict().items()) + sorted(built.feed.items()))
    spec = getattr(built, "dynamic_shapes", None)
    if spec is not None:  # which axes a dynamic graph leaves symbolic (none named: the key it always had)
        from hwcov.export.dynamic import describe_spec

        h.update(describe_spec(spec).encode())
    return h.hexdigest()[:16]


def cache_path(export_dir, case, batch: int, route: str, built=None) -> Path:
    """<export_dir>/<model_type>/<route>-b<batch>-<input shapes>-<key>. The shapes tag keeps exports of other
    input shapes (the sweep's, a benchmark's sequence 128) side by side: only same-shape ones replace each other."""
    model = model_digest(built) if built is not None else ""
    key = hashlib.sha256(f"{case.digest()}|{model}|{batch}|{route}|{versions(route)}|{route_code(route)}"
                         .encode()).hexdigest()[:16]
    return Path(export_dir) / case.model_type / f"{route}-b{batch}-{_shapes_tag(built)}-{key}"


def _shapes_tag(built) -> str:
    import torch

    feed = built.feed if built is not None else {}
    shapes = ";".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(feed.items()) if torch.is_tensor(v))
    return hashlib.sha256(shapes.encode()).hexdigest()[:6]


def export(built, case, batch: int, route: str, export_dir) -> Exported:
    """The cached export of `built` by `route`, exporting it first when absent. A failed export is cached
    too (its error, beside where the export would be), so a rerun or another precision doesn't retry it."""
    import torch

    target = cache_path(export_dir, case, batch, route, built)
    failed = target.with_name(target.name + ".failed.json")
    cached = (target / MANIFEST).exists()
    # before the cache too: a cache made before this check holds such graphs (ov-from-onnx: judged by its source)
    _refuse_baked_inputs(json.loads((target / MANIFEST).read_text()).get("source_route", route) if cached else route,
                         built.feed)
    if cached:
        os.utime(target / MANIFEST)  # last use, for the cache's size bound
        feed = torch.load(target / FEED, weights_only=False)
        return Exported(route, EXPORTER[route], target, feed, fresh=False)
    if failed.exists():
        record = json.loads(failed.read_text())
        if record.get("code") == route_code(route):  # else the route's code changed since: try again
            raise ExportError(route, record["message"], record["op"])
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        feed = dict(built.feed)
        extra = ROUTE_EXPORTERS[route](built, case, batch, feed, staging, export_dir)
        torch.save(feed, staging / FEED)
        manifest = {"route": route, "exporter": EXPORTER[route], "versions": versions(route), **extra}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if target.exists():  # a concurrent export won: keep its files
            shutil.rmtree(staging)
        else:
            staging.rename(target)
        _prune_stale(target)
        bound_cache(Path(export_dir), keep=target)
    except Exception as exc:  # noqa: BLE001 - every exporter failure becomes an ExportError with the op named
        shutil.rmtree(staging, ignore_errors=True)
        if machine_state(exc):
            raise  # the machine's state, not the export's: not cached
        error = exc if isinstance(exc, ExportError) else ExportError(
            route, f"{type(exc).__name__}: {root_message(exc)}"[:2000], unsupported_op(full_text(exc)))
        failed.write_text(json.dumps({"message": error.message, "op": error.op, "code": route_code(route)}))
        if error is exc:
            raise
        raise error from exc
    return Exported(route, EXPORTER[route], target, feed, fresh=True)


def _prune_stale(target: Path) -> None:
    """Drop this route's exports of the same case and batch under other keys (older versions, changed model):
    nothing reads them again, and some tiny models still weigh hundreds of MB."""
    prefix = target.name.rsplit("-", 1)[0] + "-"
    for old in target.parent.glob(prefix + "*"):
        if old.name != target.name and not old.name.startswith("."):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


def cache_limit_bytes() -> int:
    """$HWCOV_EXPORT_CACHE_GB (default 40): a full sweep's exports reached 77 GB here and filled the disk."""
    try:
        return int(float(os.environ.get("HWCOV_EXPORT_CACHE_GB", "40")) * 2**30)
    except ValueError:
        return 40 * 2**30


def bound_cache(export_dir: Path, keep: Path, limit: int | None = None) -> list[Path]:
    """Delete the least recently used exports until the cache fits `limit` bytes; never `keep` (just made).
    Failure records are tiny and stay. Returns what was deleted."""
    limit = cache_limit_bytes() if limit is None else limit
    entries = []
    for manifest in export_dir.glob(f"*/*/{MANIFEST}"):
        folder = manifest.parent
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        entries.append((manifest.stat().st_mtime, size, folder))
    total, deleted = sum(e[1] for e in entries), []
    for _, size, folder in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
            total -= size
            deleted.append(folder)
    return deleted


def _hf(exporter_cls: str, config_cls: str, generation: bool = False, **options):
    """A transformers.exporters route: one graph, or (generation) the prefill and decode graphs of generate()."""
    def run(built, case, batch, feed, staging: Path, export_dir) -> dict:
        import transformers.exporters as hx

        spec = getattr(built, "dynamic_shapes", None) if options.get("dynamic") and not generation else None
        exporter = getattr(hx, exporter_cls)()
        config = getattr(hx, config_cls)(**options, **({"dynamic_shapes": spec} if spec is not None else {}))
        exported = exporter.export_for_generation(built.model, dict(feed), config) if generation else \
            exporter.export(built.model, feed, config)
        exported.save_pretrained(staging)
        return {"format": "transformers-generation" if generation else "transformers"}
    return run


# the model traced as positional tensors (_flat)
FLAT_ROUTES = ("torch-onnx-legacy", "torch-onnx-legacy-dynamic", "ov-from-torch")
_PLAIN = (bool, int, float, str, type(None))


def _refuse_baked_inputs(route: str, feed: dict) -> None:
    """A flattening route traces tensors only and keeps every other kwarg as a constant of the trace: an object or
    container holding data (sam2_video's inference session carries the video frames) would be folded into the
    graph, which then takes no input and returns the reference as constants: a runtime 'passes' without
    running the model. Such an export is a failure."""
    import torch

    def plain(v):
        if isinstance(v, (list, tuple)):
            return all(map(plain, v))
        return isinstance(v, dict) and all(map(plain, v.values())) or isinstance(v, _PLAIN)

    baked = [f"{k} ({type(v).__name__})" for k, v in feed.items() if not torch.is_tensor(v) and not plain(v)]
    if route in FLAT_ROUTES and baked:
        raise ExportError(route, f"forward input(s) {', '.join(baked)} are not tensors: tracing would fold them and "
                                 "the data they hold into the graph's constants (a graph that runs nothing)")


def _flat(built, feed):
    """The model as positional tensors in -> its flattened outputs as a tuple, with both name lists."""
    import torch

    from hwcov.models import outputs

    names = [k for k, v in feed.items() if torch.is_tensor(v)]
    constants = {k: v for k, v in feed.items() if not torch.is_tensor(v)}
    with torch.no_grad():
        torch.manual_seed(0)
        output_names = list(outputs.flatten(built.model(**feed)))

    class Flat(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return tuple(outputs.flatten(self.model(**dict(zip(names, tensors)), **constants)).values())

    return Flat(built.model).eval(), names, output_names


def _torch_onnx_legacy(built, case, batch, feed, staging: Path, export_dir, symbolic: bool = False) -> dict:
    import torch

    from hwcov.export import onnx_symbolics

    onnx_symbolics.register()
    module, names, output_names = _flat(built, feed)
    axes = {k: {i: f"{k}_{i}" for i in range(feed[k].dim())} for k in names} if symbolic else None
    torch.onnx.export(module, tuple(feed[k] for k in names), str(staging / "model.onnx"), input_names=names,
                      output_names=output_names, dynamo=False, opset_version=onnx_symbolics.OPSET, dynamic_axes=axes)
    return {"format": "named", "inputs": names, "outputs": output_names}


def _ov_from_torch(built, case, batch, feed, staging: Path, export_dir) -> dict:
    import openvino as ov
    import torch

    module, names, output_names = _flat(built, feed)
    with torch.no_grad():
        model = ov.convert_model(module, example_input=tuple(feed[k] for k in names))
    if (len(model.inputs), len(model.outputs)) != (len(names), len(output_names)):
        raise ExportError("ov-from-torch", f"converted graph has {len(model.inputs)} inputs and {len(model.outputs)} "
                          f"outputs, the model {len(names)} and {len(output_names)}: can't name them")
    for port, name in zip(model.inputs, names):
        port.get_tensor().set_names({name})
    for port, name in zip(model.outputs, output_names):
        port.get_tensor().set_names({name})
    ov.save_model(model, str(staging / "openvino_model.xml"), compress_to_fp16=False)
    return {"format": "named", "inputs": names, "outputs": output_names}


def _ov_from_traced_onnx(built, case, batch, feed, staging: Path, export_dir) -> dict:
    """OpenVINO IR of the TorchScript ONNX trace (a split VLM's vision encoder where torch.export refuses it:
    OpenVINO's own TorchScript frontend has no rule for some of what torch.onnx's tracer lowers)."""
    import openvino as ov

    manifest = _torch_onnx_legacy(built, case, batch, feed, staging, export_dir)
    ov.save_model(ov.convert_model(str(staging / "model.onnx")), str(staging / "openvino_model.xml"),
                  compress_to_fp16=False)
    return manifest


def _ov_from_onnx(built, case, batch, feed, staging: Path, export_dir) -> dict:
    import openvino as ov

    errors = []
    for route in ONNX_ROUTES:
        try:
            source = export(built, case, batch, route, export_dir)
        except ExportError as exc:
            errors.append(exc)
            continue
        ov.save_model(ov.convert_model(str(source.onnx_file)), str(staging / "openvino_model.xml"),
                      compress_to_fp16=False)
        feed.clear()
        feed.update(source.feed)
        meta = source.manifest
        shutil.copy(source.directory / MANIFEST, staging / "source.json")
        if meta["format"] == "transformers":  # the same graph and metadata, now an OpenVINO program
            hf = json.loads((source.directory / "export.json").read_text())
            hf["export_format"] = "openvino"
            for component in hf["components"].values():
                component["file"] = "openvino_model.xml"
            (staging / "export.json").write_text(json.dumps(hf, indent=2))
        return {"format": meta["format"], "source_route": route, "inputs": meta.get("inputs"),
                "outputs": meta.get("outputs")}
    raise ExportError("ov-from-onnx", "no ONNX export to convert: " + " | ".join(map(str, errors)),
                      next((e.op for e in errors if e.op), ""))


# route -> the function that writes its graph into a staging folder (a test may add a route of its own)
CONVERTS = {"ov-from-onnx": ONNX_ROUTES}  # routes whose graph is another route's export, converted
ROUTE_EXPORTERS = {
    "hf-onnx": _hf("OnnxExporter", "OnnxConfig"),
    "torch-onnx-legacy": _torch_onnx_legacy,
    "hf-openvino": _hf("OpenVINOExporter", "OpenVINOConfig"),
    "ov-from-onnx": _ov_from_onnx,
    "ov-from-torch": _ov_from_torch,
    "hf-executorch": _hf("ExecutorchExporter", "ExecutorchConfig"),
    "hf-onnx-dynamic": _hf("OnnxExporter", "OnnxConfig", dynamic=True),
    "torch-onnx-legacy-dynamic": functools.partial(_torch_onnx_legacy, symbolic=True),
    "hf-openvino-dynamic": _hf("OpenVINOExporter", "OpenVINOConfig", dynamic=True),
    "hf-onnx-generate": _hf("OnnxExporter", "OnnxConfig", generation=True, dynamic=True),
    "hf-openvino-generate": _hf("OpenVINOExporter", "OpenVINOConfig", generation=True, dynamic=True, stateful=False),
    "hf-onnx-split": split.route_exporter("hf-onnx-split", "OnnxExporter", "OnnxConfig", _torch_onnx_legacy),
    "hf-openvino-split": split.route_exporter("hf-openvino-split", "OpenVINOExporter", "OpenVINOConfig",
                                              _ov_from_traced_onnx),
}
