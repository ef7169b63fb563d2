"""Shared run loop of the backends that execute an exported graph (ONNX Runtime, OpenVINO).

build the case -> CPU fp32 reference (stored npz, else computed here from the same torch model) ->
for each export route: export (cached) -> load on the runtime -> run -> compare with the tolerance table.
The first route that passes gives the row; when none does, the row reports the most informative failure
(ran-but-inaccurate over unsupported operator over any other error) with every route's message.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from hwcov.backends import validate
from hwcov.backends.base import Backend
from hwcov.core.limits import skipped_route, stage_in_flight
from hwcov.core.schema import EXTRA_MODES
from hwcov.export import routes as export
from hwcov.models import signal


def prepare(hardware: str, precisions, case, precision: str, batch: int, reference_dir):
    """What every export-then-run backend starts with: (row, None, None, '') when the case ends at the
    precision gate or as a text-only multimodal run, else (None, built case, CPU fp32 reference, its path)."""
    from hwcov.models.build import TextOnlyMultimodal, build_case

    if precision not in precisions:
        return ({"status": "not_applicable", "error_message": f"{hardware} runs {list(precisions)}, not {precision}"},
                None, None, "")
    try:
        built = build_case(case, batch)
    except TextOnlyMultimodal as exc:
        return {"status": "fail_to_run", "error_message": str(exc)}, None, None, ""
    return (None, built, *reference_outputs(built, case, batch, reference_dir))


def reference_outputs(built, case, batch: int, reference_dir) -> tuple[dict, str]:
    """The CPU fp32 reference (a signal.Reference: named arrays and which carry no signal), and where it came from
    ('' when computed in-process)."""
    from hwcov.models.build import reference_path
    from hwcov.models.signal import reference_of

    if reference_dir is not None:
        path = reference_path(reference_dir, case, batch)
        if path.exists():
            return validate.load_reference(path), str(path)
    return reference_of(built, case, batch), ""


def hf_metadata(exported: export.Exported, component: str = "model"):
    """The transformers exporter's record of a graph (its input and output structure), for its runners."""
    return hf_component(exported, component)[0]


def hf_component(exported: export.Exported, component: str):
    """(metadata, graph file) of one component of a transformers export ('model', or 'prefill' / 'decode')."""
    import json

    from transformers.exporters.metadata import ExportMetadata, register_treespec_types

    manifest = json.loads((exported.directory / "export.json").read_text())
    entry = manifest["components"][component]
    meta = ExportMetadata.from_dict(entry["metadata"])
    for spec in (meta.in_spec, meta.out_spec):
        if spec:
            register_treespec_types(spec)
    return meta, exported.directory / entry["file"]


def named_outputs(raw) -> dict:
    """Flattened outputs of a transformers runner (a ModelOutput) as named float32 arrays."""
    from hwcov.models import outputs

    return outputs.to_numpy(outputs.flatten(raw))


def name_by_graph(runner, graph_names: list):
    """Have a transformers runner name its outputs by the graph's own output names where those name the same
    outputs its pytree spec does. A model that sets a field after building its ModelOutput (aria's
    `image_outputs.pooler_output = ...`) is exported with outputs in that order, while the recorded spec lists
    the class's field order: rebuilt by position, leaves land under their neighbours' names."""
    from hwcov.models import outputs

    by_spec = runner.unflatten

    def unflatten(flat: list):
        rebuilt = outputs.flatten(by_spec(flat))
        named = outputs.flatten(dict(zip(graph_names, flat))) if len(set(graph_names)) == len(flat) else {}
        return named if named.keys() == rebuilt.keys() else rebuilt

    runner.unflatten = unflatten
    return runner


MODE_RESERVE_S = 15.0  # of the case's time, kept for returning the forward's row when a mode overruns


def check_modes(backend, case, export_dir, route: str, modes=EXTRA_MODES) -> dict:
    """The dynamic_* and generate_* fields of a case whose fp32 forward passed on `backend` via `route`
    (hwcov.backends.dynamic, .generation): a mode's own failure, whatever it is, is that mode's verdict, never the
    forward's. `backend`: what the checks ask of one (family, hardware, load_graph, component_runner). Each mode's
    seconds go in `<mode>_s`. A mode not in `modes` (`--modes forward`) gets no columns: not measured, as on a
    runtime without it."""
    import time

    from hwcov.backends import dynamic, generation
    from hwcov.core.limits import CaseTimeSpent, case_time_left, stop_before_deadline

    fields = {}
    for mode, check, args in (("dynamic", dynamic.check, (route,)), ("generate", generation.check, ())):
        if mode not in modes:
            continue
        started = time.monotonic()
        if case_time_left()[0] <= MODE_RESERVE_S:  # an earlier mode used the case's time up
            fields.update({f"{mode}_status": "skipped", f"{mode}_message": "no time left in the case's budget"})
            continue
        try:
            with stop_before_deadline(MODE_RESERVE_S), stage_in_flight("mode", mode):
                found = check(backend, case, export_dir, *args)
        except CaseTimeSpent:
            _, budget = case_time_left()
            spent = time.monotonic() - started
            found = {f"{mode}_status": "timeout", f"{mode}_message": f"stopped after {spent:.0f} s, {MODE_RESERVE_S:.0f} "
                     f"s before the case's {budget:.0f} s ran out (the forward's verdict stands)"}
        except Exception as exc:  # noqa: BLE001
            found = {f"{mode}_status": "fail_to_run", f"{mode}_message": f"{type(exc).__name__}: {str(exc)[:1500]}"}
        if found:  # a runtime without the mode (executorch) gets no columns of it
            fields.update(found, **{f"{mode}_s": round(time.monotonic() - started, 3)})
    return fields


_RANK = {"fail_accuracy": 0, "unsupported_op": 1, "fail_to_run": 2}


def routes_agree(failures: list[dict]) -> bool:
    """Two or more routes ran, all outside tolerance by the same max |diff|: independent exporters (torch.export,
    TorchScript) agreeing with each other point at the eager reference (e.g. an SDPA path that drops a mask the
    eager attention applies), not at the runtime."""
    diffs = [f.get("max_abs_diff") for f in failures if f["status"] == "fail_accuracy"]
    if len(diffs) < 2 or len(diffs) != len(failures) or any(d is None or d != d or d == float("inf") for d in diffs):
        return False
    return max(diffs) - min(diffs) <= 1e-3 * max(diffs)


class ExportBackend(Backend):
    runtime = ""  # the runtime's package name
    routes: tuple = ()
    exports = True

    def __init__(self, hardware: str, export_dir=None):
        self.hardware = hardware
        self.export_dir = export_dir

    # -- per runtime ---------------------------------------------------------------------------
    def load_graph(self, exported: export.Exported, precision: str):
        """The sweep's load: a callable feed -> named arrays, and the evidence string of where it runs."""
        raise NotImplementedError

    def versions(self) -> str:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------
    def _export_dir(self, reference_dir) -> Path:
        if self.export_dir is not None:
            return Path(self.export_dir)
        if reference_dir is not None:
            return Path(reference_dir).parent / "exports"
        return Path(tempfile.gettempdir()) / "hwcov-exports"

    def export_case(self, built, case, batch: int, export_dir=None, route: str = ""):
        """The cached export (the route asked for, else the first route that exports); RuntimeError otherwise."""
        export_dir = Path(export_dir) if export_dir else self._export_dir(None)
        errors = []
        for r in ([route] if route else list(self.routes)):
            base, exported, failed = self._export(built, case, batch, r, export_dir)
            if exported is not None:
                return exported
            errors.append(failed["error_message"])
        raise RuntimeError(" | ".join(errors)[:3000])

    def run(self, case, precision: str, batch: int, reference_dir=None, modes=EXTRA_MODES) -> dict:
        ended, built, reference, ref_path = prepare(self.hardware, self.precisions(), case, precision, batch,
                                                    reference_dir)
        if ended:
            return ended
        degenerate = validate.degenerate(reference)
        if degenerate:  # no export could pass or fail against it: don't spend one
            return {"status": "fail_accuracy", "error_message": degenerate,
                    "reference_path": ref_path, "uninformative_outputs": signal.describe(validate.no_signal(reference))}
        tol = validate.tolerance(self.hardware, precision, case.model_type)
        export_dir = self._export_dir(reference_dir)
        failures: list[dict] = []
        fp32_tol = validate.tolerance(self.hardware, "fp32", case.model_type)
        for route in self.routes:
            killed = skipped_route(route)
            if killed:  # a rerun: this route's export or graph killed the case's worker in an earlier try
                failures.append({"export_route": route, "status": "crash", "error_message": f"{route}: {killed}"})
                continue
            with stage_in_flight("route", route):
                row = self._try_precision(built, case, batch, route, precision, reference, tol, fp32_tol, export_dir)
            row["reference_path"] = ref_path
            if row["status"] == "pass":
                if failures:
                    row["error_message"] = "passed via " + route + " after " + "; ".join(
                        f["error_message"][:300] for f in failures)
                beyond = tuple(m for m in EXTRA_MODES if m in modes)  # the forward's verdict is this row's
                if precision == "fp32" and batch == 1 and beyond:
                    row.update(self.modes(case, export_dir, route, beyond))
                return row
            failures.append(row)
        worst = min(failures, key=lambda f: _RANK.get(f["status"], 3))
        message = " | ".join(f["error_message"] for f in failures)
        if precision == "fp32" and routes_agree(failures):
            message = (f"every route's export gives the same outputs (max |diff| {worst['max_abs_diff']:.3g} from the "
                       f"reference): the exporters agree with each other, not with the eager forward | ") + message
        return dict(worst, error_message=message[:4000])

    def _try_precision(self, built, case, batch, route, precision, reference, tol, fp32_tol, export_dir):
        """The route's row at `precision`; a lower precision only where the route's own fp32 graph passes (else that
        failure, as the row)."""
        if precision != "fp32":
            fp32 = self._try_route(built, case, batch, route, "fp32", reference, fp32_tol, export_dir)
            if fp32["status"] != "pass":
                return {**fp32, "error_message": f"{route}: its fp32 graph did not pass, so its {precision} is not "
                                                 f"judged ({fp32['error_message'][:300]})"}
        return self._try_route(built, case, batch, route, precision, reference, tol, export_dir)

    def modes(self, case, export_dir, route: str, modes=EXTRA_MODES) -> dict:
        """The dynamic_* and generate_* columns of a passing fp32 forward via `route` (check_modes, in process)."""
        return check_modes(self, case, export_dir, route, modes)

    def _export(self, built, case, batch, route, export_dir) -> tuple[dict, object, dict | None]:
        """(row fields naming the route, the export or None, the failure row or None)."""
        base = {"export_route": route, "exporter": export.EXPORTER[route],
                "runtime_version": f"{self.versions()}; route {route} ({export.EXPORTER[route]})"}
        try:
            return base, export.export(built, case, batch, route, export_dir), None
        except export.ExportError as exc:
            status = "unsupported_op" if exc.op else "fail_to_run"
            op = f" [unsupported operator {exc.op}]" if exc.op else ""
            return base, None, {**base, "status": status, "error_message": f"export {exc}{op}"}

    def _try_route(self, built, case, batch, route, precision, reference, tol, export_dir) -> dict:
        base, exported, failed = self._export(built, case, batch, route, export_dir)
        if failed:
            return failed
        try:
            infer, device_name = self.load_graph(exported, precision)
            result = infer(exported.feed)
            t0 = time.perf_counter()
            result = infer(exported.feed)
            elapsed_ms = (time.perf_counter() - t0) * 1000
        except Exception as exc:  # noqa: BLE001 - a runtime error is this route's result
            op = export.unsupported_op(str(exc))
            return {**base, "status": "unsupported_op" if op else "fail_to_run",
                    "error_message": f"{route}: {self.runtime} run: {type(exc).__name__}: {str(exc)[:1500]}"
                                     + (f" [unsupported operator {op}]" if op else "")}
        verdict = validate.compare(reference, result, tol)
        import torch

        from hwcov.models.outputs import checksum

        return {**base, **verdict.fields(), "device_name": device_name,
                "output_checksum": checksum({k: torch.from_numpy(v) for k, v in result.items()}),
                "output_shapes": ";".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in result.items()),
                "inputs": ",".join(sorted(built.feed)), "execution_time_ms": round(elapsed_ms, 3),
                "tolerance_kind": tol.kind,
                "error_message": f"{route}: {verdict.message}" if verdict.status != "pass" else ""}
