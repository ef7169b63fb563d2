"""BrowserBackend: the case's ONNX export run by onnxruntime-web in headless Chromium (see the package's docstring),
for the sweep (one cold run and a few steady ones, checked against the reference) and for the benchmarks (timed on
the page's own clock: PageLoaded), each on a page of the worker's page host (hwcov.backends.browser.client)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hwcov.backends import validate
from hwcov.backends.base import Loaded, Probe, parity
from hwcov.backends.browser import jobs
from hwcov.backends.browser.client import PageHost, PageHostError
from hwcov.backends.browser.pages import PROVIDERS, probe_job
from hwcov.backends.browser.placements import adapter_text, placement_fallback, placement_text
from hwcov.backends.browser.server import ORT_DIST, WEB_DIR, ort_web_version
from hwcov.backends.browser.tensors import decode_outputs, encode, fed_tensors, graph_io
from hwcov.backends.exported import ExportBackend
from hwcov.backends.onnxruntime import model_file
from hwcov.core.system import cpu_name
from hwcov.core.schema import EXTRA_MODES
from hwcov.export import routes as export

# what the provider runs, and what the adapter must offer for it (webgpu fp16 needs shader-f16)
NEEDS_FEATURE = {("webgpu", "fp16"): "shader-f16"}


def versions() -> str:
    """Cheap: no browser."""
    return f"{jobs.chromium_version()}; onnxruntime-web {ort_web_version()}; {export.versions()}"


# module-level: a sweep's parent probes once (for all three keys, a Chromium launched for it) and hands the answer
# to its case workers (probe_answers / adopt_probe_answers, through hwcov.run.inherit: they fork from the fork
# server, not from it); a worker that probed afresh launched a Chromium per case, ~2 s
_PROBES: dict = {}


def probe_answers() -> dict:
    """The page probe this process has made ({} before it made one)."""
    return dict(_PROBES)


def adopt_probe_answers(answers: dict) -> None:
    """Take the page probe the process that asked for this case made (an answer of this process's own stands)."""
    for key, info in answers.items():
        _PROBES.setdefault(key, info)


class BrowserBackend(ExportBackend):
    family = "browser"
    runtime = "onnxruntime-web"
    routes = export.ONNX_ROUTES
    variants = {"web_default": ({}, "onnxruntime-web session with graphOptimizationLevel 'all'")}

    def __init__(self, hardware: str, export_dir=None):
        if hardware not in PROVIDERS:
            raise KeyError(f"no browser provider for '{hardware}'; accepted: {', '.join(PROVIDERS)}")
        super().__init__(hardware, export_dir)

    def versions(self) -> str:
        return versions()

    # -- probe -------------------------------------------------------------------------------------
    def page_probe(self) -> dict:
        """What the page reports (browser, WebGPU adapter, WebNN context), or {'error': launch error}."""
        if "page" not in _PROBES:
            if not ORT_DIST.is_dir():
                _PROBES["page"] = {"error": f"onnxruntime-web not installed in {ORT_DIST.parent.parent} "
                                            f"(run: npm ci --prefix {WEB_DIR})"}
            else:
                try:
                    _PROBES["page"] = jobs.in_fork(probe_job, timeout_s=120)
                except jobs.BrowserJobError as exc:
                    _PROBES["page"] = {"error": f"Chromium ({jobs.CHROMIUM}) via Playwright: {exc}"[:2000]}
        return _PROBES["page"]

    def probe(self) -> Probe:
        info = self.page_probe()
        if "error" in info:
            return Probe(False, runtime_version=versions(), error=info["error"])
        base = f"{info['browser']} (crossOriginIsolated={info['crossOriginIsolated']})"
        if self.hardware == "wasm":
            return Probe(True, f"onnxruntime-web wasm EP in {base} | cpu: {cpu_name()}", versions())
        if self.hardware == "webgpu":
            gpu = info["webgpu"]
            if not gpu["available"]:
                return Probe(False, runtime_version=versions(), error=f"WebGPU in {base}: {gpu['error']}")
            return Probe(True, f"onnxruntime-web webgpu EP in {base} | {adapter_text(gpu)}", versions())
        nn = info["webnn"]
        if not nn["available"]:
            return Probe(False, runtime_version=versions(), error=f"WebNN in {base}: {nn['error']}")
        return Probe(True, f"onnxruntime-web webnn EP in {base} | WebNN context {nn.get('context', '')}", versions())

    def gate_row(self, precision: str) -> dict | None:
        """A row for a case that can't run here (no such provider, precision the adapter lacks), else None."""
        if precision not in self.precisions():
            return {"status": "not_applicable",
                    "error_message": f"{self.hardware} runs {list(self.precisions())}, not {precision}"}
        probe = self.probe()
        if not probe.available:
            return {"status": "unavailable", "error_message": probe.error, "runtime_version": versions()}
        feature = NEEDS_FEATURE.get((self.hardware, precision))
        if feature and feature not in self.page_probe()["webgpu"].get("features", []):
            return {"status": "not_applicable", "device_name": probe.device_name,
                    "error_message": f"{precision} on {self.hardware} needs the adapter feature '{feature}', which "
                                     f"{adapter_text(self.page_probe()['webgpu'])} lacks"}
        return None

    def gate(self, precision: str) -> str:
        refused = self.gate_row(precision)
        return refused["error_message"] if refused else ""

    def run(self, case, precision: str, batch: int, reference_dir=None, modes=EXTRA_MODES) -> dict:
        return self.gate_row(precision) or super().run(case, precision, batch, reference_dir, modes)

    def modes(self, case, export_dir, route: str, modes=EXTRA_MODES) -> dict:
        """The dynamic and generate checks on a page of this provider, in one browser job (browser.modes)."""
        from hwcov.backends.browser.modes import run_modes

        return run_modes(self, case, export_dir, route, modes)

    # -- one route ---------------------------------------------------------------------------------
    def _try_route(self, built, case, batch, route, precision, reference, tol, export_dir) -> dict:
        base, exported, failed = self._export(built, case, batch, route, export_dir)
        if failed:
            return failed
        try:
            model = model_file(exported, precision)  # fp16/int8 converted once, cached (onnxruntime's)
            graph_inputs, external = graph_io(model)
            fed = fed_tensors(exported, graph_inputs)
            with PageHost(self.hardware, jobs.threads(), log="verbose") as page:
                job = page.session(self.hardware, model, external, [encode(k, v) for k, v in fed.items()],
                                   jobs.threads())
                job["ahead"] = page.opened_ahead
            result = decode_outputs(exported, job["outputs"])
            device_name = self.device_text(job)
        except Exception as exc:  # noqa: BLE001 - a runtime error is this route's result
            return {**base, "status": jobs.job_status(str(exc)),
                    "error_message": f"{route}: {self.runtime} {self.hardware}: {str(exc)[:1800]}"}
        verdict = validate.compare(reference, result, tol)
        fallback = placement_fallback(self.hardware, job["placements"])
        if fallback and verdict.status == "pass":
            verdict = dataclasses.replace(verdict, status="unsupported_op", message=fallback)
        import statistics

        import torch

        from hwcov.models.outputs import checksum

        steady = statistics.median(job["times"])
        return {**base, **verdict.fields(), "device_name": device_name,
                "output_checksum": checksum({k: torch.from_numpy(v) for k, v in result.items()}),
                "output_shapes": ";".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in result.items()),
                "inputs": ",".join(sorted(built.feed)), "execution_time_ms": round(steady, 3),
                "session_create_ms": round(job["created"]["createMs"], 1), "first_run_ms": round(job["first"], 3),
                "tolerance_kind": tol.kind, "error_message": f"{route}: {verdict.message}" if verdict.status != "pass" else ""}

    def device_text(self, job: dict) -> str:
        """What the page reported: provider, browser, adapter (webgpu), and the session's timings."""
        provider = PROVIDERS[self.hardware][0]
        created = job["created"]
        where = f"{job['browser']}"
        placed = job["placements"]
        if not placed:
            raise RuntimeError("the session logged no node placements: no evidence of where it ran")
        if provider == "webgpu":
            gpu = created.get("webgpu") or {}
            if not gpu.get("device"):
                raise RuntimeError(f"onnxruntime-web opened no WebGPU device for the session: {gpu}")
            where += f" | {adapter_text(gpu)}"
        elif provider == "wasm":
            where += f" | wasm threads {job['threads']} | cpu: {cpu_name()}"
        # on a page the host opened ahead, onnxruntime-web's WebAssembly was compiled before (host.Spare): the create
        # time is then the model's alone, as a second session's on an open page, not the page's first
        ahead = " (runtime initialized ahead)" if job.get("ahead") else ""
        timings = (f"create {created['createMs']:.0f} ms{ahead}, first run {job['first']:.1f} ms, "
                   f"steady median {sorted(job['times'])[len(job['times']) // 2]:.2f} ms")
        return (f"onnxruntime-web {provider} EP (session executionProviders=['{provider}']) in {where} | "
                f"nodes on {placement_text(placed)} | {timings}")

    # -- benchmarks -----------------------------------------------------------------------------------
    def load(self, built, case, batch: int, precision: str, variant: str, export_dir=None, route: str = "",
             exported=None, **options) -> Loaded:
        """The export's graph (onnxruntime's fp16/int8 conversion) and encoded feed, ready for a page: the
        session is created, and timed, inside the forked job that measure() runs."""
        exported = exported or self.export_case(built, case, batch, export_dir, route)
        model = model_file(exported, precision)
        graph_inputs, external = graph_io(model)
        fed = fed_tensors(exported, graph_inputs)
        return PageLoaded(None, None, "", float("nan"), fields={"export_route": exported.route},
                          extra={"backend": self, "exported": exported, "model": model, "external": external,
                                 "feeds": [encode(k, v) for k, v in fed.items()]})


@dataclass
class PageLoaded(Loaded):
    """A benchmark load measured on the page's own clock, on a page host's page (session create = load_ms; on a page
    opened ahead, without onnxruntime-web's one-time WebAssembly compile, as device_name says)."""

    def measure(self, batch: int, reference: dict, min_duration_s: float = 1.0, warmup: int = 5,
                min_iters: int = 10) -> dict:
        from hwcov.core import timing

        backend, exported = self.extra["backend"], self.extra["exported"]
        try:
            with PageHost(backend.hardware, jobs.threads(), jobs.JOB_TIMEOUT_S + 2 * min_duration_s,
                          log="verbose") as page:
                job = page.bench(backend.hardware, self.extra["model"], self.extra["external"], self.extra["feeds"],
                                 jobs.threads(), warmup, timing.WARMUP_BUDGET_S * 1000, min_iters,
                                 min_duration_s * 1000, jobs.JOB_TIMEOUT_S)
                job["ahead"] = page.opened_ahead
        except PageHostError as exc:  # named as the sweep names it; --resume measures timeouts again
            return {"status": jobs.job_status(str(exc)), "error_message": f"{backend.hardware}: {exc}"[:2000],
                    "export_route": exported.route}
        result = decode_outputs(exported, job["outputs"])
        fallback = placement_fallback(backend.hardware, job["placements"])
        row = {"load_ms": job["created"]["createMs"], "first_run_ms": job["first"], "warmup": job["warmup"],
               "max_abs_diff": parity(reference, result), "device_name": backend.device_text(job),
               "export_route": exported.route, "peak_rss_mb": job["rss_mb"]}
        if job["too_slow"]:
            return {**row, "status": "not_applicable", "error_message": f"too slow to time here: {job['too_slow']}"}
        row.update(timing.summarize(
            job["times"], batch=batch, warmup=job["warmup"], peak_rss_mb=job["rss_mb"],
            memory_method="RSS of the page host's process tree (its Chromium, this page), read once after timing"))
        if fallback:
            return {**row, "status": "unsupported_op", "error_message": fallback}
        return {**row, "status": "pass"}
