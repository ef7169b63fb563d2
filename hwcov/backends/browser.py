"""Browser backends: the case's ONNX export run by onnxruntime-web in headless Chromium (Playwright).

  wasm    onnxruntime-web's wasm (CPU) execution provider
  webgpu  its WebGPU provider, on the adapter Chromium exposes (SwiftShader here: a fallback adapter)
  webnn   its WebNN provider; unavailable wherever `navigator.ml.createContext()` throws (Linux Chromium)

A localhost server (stdlib, threaded, COOP/COEP headers for threaded wasm) serves hwcov/web/ (the page),
the npm package's dist/ files (no CDN) and the registered model files. Every Playwright use happens in a
forked process of its own, in its own process group: a page crash or a hung shader compile ends that job
(killed with its Chromium) and fails that case only, and a process that later forks workers never has
Playwright state. One Chromium per export route tried (the first route usually passes: one per case).
Chromium can't start under an RLIMIT_AS cap: run these keys with the runner's memory_mb=0.
Cost, measured in a 2-core sweep under load (median per case): wasm 12 s, webgpu 36 s (SwiftShader: session
create ~9 s, first run ~24 s compiling shaders). Starting the job's Playwright driver, Chromium and closing them
costs 3-4 s of that; a browser kept across cases would have to outlive the runner's one-child-per-case fork
(a shared host process), which is not worth the weaker isolation for ~10% of a webgpu case.

The session runs with exactly one execution provider: onnxruntime-web refuses to create it when that
provider can't start (no silent fallback to another backend). Node-level fallback is checked from the
session's own placement log ("Node(s) placed on [WebGpuExecutionProvider]. Number of nodes: 88"): a row
whose nodes all went elsewhere is not a pass, and the placements are part of the evidence. For webgpu the
page also reports the adapter of the device onnxruntime-web itself opened. Timings: session create, first
(cold) run, median of the steady runs (execution_time_ms).

Precisions: fp32 everywhere; fp16 where the provider runs it (on webgpu only with the adapter's
`shader-f16`, else not_applicable); int8 on wasm. fp16/int8 graphs are the onnxruntime backend's conversions.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import mimetypes
import os
import pickle
import re
import shutil
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from hwcov.export import routes as export
from hwcov.backends import validate
from hwcov.backends.base import Probe
from hwcov.core.system import cpu_name
from hwcov.backends.exported import ExportBackend, hf_metadata, name_by_graph, named_outputs

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ORT_DIST = WEB_DIR / "node_modules" / "onnxruntime-web" / "dist"
CHROMIUM = os.environ.get("HWCOV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--enable-features=WebMachineLearningNeuralNetwork",
]
# hardware key -> (onnxruntime-web execution provider, the dist bundle that carries it)
PROVIDERS = {
    "wasm": ("wasm", "ort.wasm.min.mjs"),
    "webgpu": ("webgpu", "ort.webgpu.min.mjs"),
    "webnn": ("webnn", "ort.all.min.mjs"),
}
# what the provider runs, and what the adapter must offer for it (webgpu fp16 needs shader-f16)
PRECISIONS = {"wasm": ("fp32", "fp16", "int8"), "webgpu": ("fp32", "fp16"), "webnn": ("fp32", "fp16")}
NEEDS_FEATURE = {("webgpu", "fp16"): "shader-f16"}
MIN_PLACED_SHARE = 0.5  # of the graph's nodes on the provider, for a row to count as run on it
# the onnxruntime execution providers whose node placements prove the session ran on the hardware
PLACEMENT_EPS = {"wasm": ("CPUExecutionProvider",), "webgpu": ("WebGpuExecutionProvider", "JsExecutionProvider"),
                 "webnn": ("WebNNExecutionProvider",)}
JOB_TIMEOUT_S = float(os.environ.get("HWCOV_BROWSER_TIMEOUT_S", "150"))
STEADY_RUNS = 5  # timed runs after the first (cold) one; execution_time_ms is their median
STEADY_BUDGET_MS = 3000  # ... stopping early (after at least one) once they took this long: slow software GPUs

# torch dtype name -> onnxruntime-web tensor type; and back from the page to numpy
_ORT_TYPES = {"float32": "float32", "float16": "float16", "float64": "float64", "int64": "int64",
              "int32": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool"}
_NUMPY = {"float32": "<f4", "float16": "<f2", "float64": "<f8", "int64": "<i8", "int32": "<i4", "int16": "<i2",
          "int8": "i1", "uint8": "u1", "bool": "u1", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8"}


# -- versions (cheap: no browser) ------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
        words = out.stdout.split()
        return " ".join(words[:2]) if len(words) >= 2 else f"chromium ({out.stderr.strip()[:200]})"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"chromium missing ({type(exc).__name__}: {exc})"


def ort_web_version() -> str:
    try:
        lock = json.loads((WEB_DIR / "package-lock.json").read_text())
        return lock["packages"]["node_modules/onnxruntime-web"]["version"]
    except (OSError, KeyError, ValueError) as exc:
        return f"unknown ({type(exc).__name__})"


def versions() -> str:
    return f"{chromium_version()}; onnxruntime-web {ort_web_version()}; {export.versions()}"


# -- the localhost server --------------------------------------------------------------------------
class PageServer:
    """Serves the page, onnxruntime-web's dist/ and the files `add`ed, on 127.0.0.1 only, with the
    cross-origin isolation headers threaded wasm needs. A context manager: started and shut down cleanly."""

    def __init__(self, web_dir: Path = WEB_DIR, dist: Path = ORT_DIST):
        self.web_dir, self.dist, self.files = Path(web_dir), Path(dist), {}
        self.httpd: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    def add(self, path) -> str:
        """Serve `path` (and nothing beside it) at the returned URL path."""
        path = Path(path).resolve()
        url = f"/files/{hashlib.sha256(str(path).encode()).hexdigest()[:12]}/{path.name}"
        self.files[url] = path
        return url

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def resolve(self, url_path: str) -> Path | None:
        if url_path in ("/", "/index.html"):
            return self.web_dir / "index.html"
        if url_path == "/runner.js":
            return self.web_dir / "runner.js"
        if url_path.startswith("/ort/"):
            name = url_path[len("/ort/"):]
            if "/" not in name and not name.startswith(".") and (self.dist / name).is_file():
                return self.dist / name
        return self.files.get(url_path)

    def __enter__(self) -> "PageServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                path = server.resolve(urlsplit(self.path).path)
                if path is None or not path.is_file():
                    self.send_error(404)
                    return
                kind = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
                        ".html": "text/html; charset=utf-8"}.get(path.suffix) or \
                    mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(path.stat().st_size))
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cross-Origin-Resource-Policy", "same-origin")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                try:
                    with open(path, "rb") as fh:
                        shutil.copyfileobj(fh, self.wfile)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="hwcov-page-server", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=10)
            self.httpd = self.thread = None


# -- isolation: every Playwright use in a forked process group ---------------------------------------
class BrowserJobError(RuntimeError):
    pass


def in_fork(fn, *args, timeout_s: float = JOB_TIMEOUT_S):
    """fn(*args) in a forked child leading its own process group; on timeout it is killed with every process
    group below it (Playwright's driver; Chromium, which the driver starts in a group of its own). Returns fn's (picklable) result; raises BrowserJobError otherwise."""
    import tempfile

    fd, result_path = tempfile.mkstemp(prefix="hwcov-browser-", suffix=".pkl")
    os.close(fd)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.setpgid(0, 0)
            _reap_group_when_orphaned(parent, timeout_s + 10)
            try:
                lift_address_space_cap()
                value = ("ok", fn(*args))
            except BaseException as exc:  # noqa: BLE001 - reported to the parent as the job's error
                value = ("error", f"{type(exc).__name__}: {exc}")
            with open(result_path, "wb") as fh:
                pickle.dump(value, fh)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout_s
    status = None
    try:
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            raise BrowserJobError(f"browser job timed out after {timeout_s:.0f} s (page hung or crashed; killed)")
        with open(result_path, "rb") as fh:
            data = fh.read()
        if not data:
            raise BrowserJobError(f"browser job died (wait status {status}) without a result")
        kind, value = pickle.loads(data)
        if kind == "error":
            raise BrowserJobError(value)
        return value
    finally:
        kill_groups({pid} | groups_below(pid))  # the job, the driver and Chromium, whatever state they are in
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.unlink(result_path)


def groups_below(root: int) -> set:
    """Process groups of `root`'s descendants: Playwright starts Chromium detached, in a group of its own."""
    parents, groups = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)], groups[int(entry.name)] = int(fields[1]), int(fields[2])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return {groups[pid] for pid in found if groups[pid] != 0}


def kill_groups(groups) -> None:
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _reap_group_when_orphaned(parent: int, deadline_s: float) -> None:
    """Kill this job's process groups (the job, Playwright's driver, Chromium's) if the process that started it
    dies (a worker killed at the runner's timeout) or the job outlives its deadline: nothing is left running."""
    end = time.monotonic() + deadline_s

    def watch():
        while os.getppid() == parent and time.monotonic() < end:
            time.sleep(0.5)
        kill_groups(groups_below(os.getpid()) - {os.getpgid(0)})
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, name="hwcov-browser-reaper", daemon=True).start()


def lift_address_space_cap() -> None:
    """Chromium can't start under an address-space cap (V8 and wasm reserve tens of GB of virtual memory; it dies
    with SIGTRAP), and the runner caps its workers' RLIMIT_AS. Lift it for this job where permitted; else say so."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return
    try:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        if hard != resource.RLIM_INFINITY:
            raise RuntimeError(f"RLIMIT_AS is capped at {hard // 2**20} MiB (hard) and this process may not lift it: "
                               f"Chromium can't start under it (run browser cases with memory_mb=0)") from None
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


def _launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def _keep(console: list, text: str) -> None:
    """Console lines worth keeping: all but onnxruntime's verbose and info chatter, except its node placements."""
    if not ("[V:" in text or "[I:" in text) or "VerifyEachNodeIsAssignedToAnEp" in text:
        console.append(text)


def _open_page(browser, server: PageServer, bundle: str, threads: int, console: list, log: str = "warning"):
    page = browser.new_page()
    page.on("console", lambda m: _keep(console, f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.goto(f"{server.origin}/?bundle={bundle}&threads={threads}&log={log}")
    page.wait_for_function("window.hwcovReady === true", timeout=60_000)
    return page


def _probe_job() -> dict:
    """The page's report (browser, WebGPU adapter, WebNN context): the same for the three hardware keys."""
    from playwright.sync_api import sync_playwright

    with PageServer() as server, sync_playwright() as p:
        browser = _launch(p)
        try:
            console: list = []
            page = _open_page(browser, server, PROVIDERS["wasm"][1], 1, console)
            info = page.evaluate("() => window.hwcov.probe()")
            info["browser"] = f"Chromium {browser.version}"
            return info
        finally:
            browser.close()


def _session_job(hardware: str, model: Path, external: list, feeds: list, threads: int) -> dict:
    """Load `model` in a fresh page on the hardware's provider, run it once cold and STEADY_RUNS more."""
    from playwright.sync_api import sync_playwright

    provider, bundle = PROVIDERS[hardware]
    with PageServer() as server, sync_playwright() as p:
        browser = _launch(p)
        try:
            console: list = []
            page = _open_page(browser, server, bundle, threads, console, log="verbose")
            spec = {"model": server.add(model), "provider": provider, "severity": 0,
                    "externalData": [{"path": name, "data": server.add(model.parent / name)} for name in external]}
            try:
                created = page.evaluate("spec => window.hwcov.create(spec)", spec)
                first = page.evaluate("([f, n, b]) => window.hwcov.run(f, n, b)", [feeds, 1, 0])
                steady = page.evaluate("([f, n, b]) => window.hwcov.run(f, n, b)",
                                       [feeds, STEADY_RUNS, STEADY_BUDGET_MS])
            except Exception as exc:  # noqa: BLE001 - the page's own words, plus what it logged
                tail = " | ".join(c for c in console if "[V:" not in c)[-1500:]
                raise RuntimeError(f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                   + (f" [console: {tail}]" if tail else "")) from None
            return {"browser": f"Chromium {browser.version}", "created": created, "first": first["times"][0],
                    "times": steady["times"], "outputs": steady["outputs"], "threads": threads,
                    "placements": placements(console)}
        finally:
            browser.close()


# module-level so a sweep's parent probes once (for all three keys) and its forked workers inherit the answer
_PROBES: dict = {}


class BrowserBackend(ExportBackend):
    runtime = "onnxruntime-web"
    routes = export.ONNX_ROUTES

    def __init__(self, hardware: str, export_dir=None):
        if hardware not in PROVIDERS:
            raise KeyError(f"no browser provider for '{hardware}'; accepted: {', '.join(PROVIDERS)}")
        super().__init__(hardware, export_dir)
        self.precisions = PRECISIONS[hardware]

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
                    _PROBES["page"] = in_fork(_probe_job, timeout_s=120)
                except BrowserJobError as exc:
                    _PROBES["page"] = {"error": f"Chromium ({CHROMIUM}) via Playwright: {exc}"[:2000]}
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

    def gate(self, precision: str) -> dict | None:
        """A row for a case that can't run here (no such provider, precision the adapter lacks), else None."""
        if precision not in self.precisions:
            return {"status": "not_applicable",
                    "error_message": f"{self.hardware} runs {list(self.precisions)}, not {precision}"}
        probe = self.probe()
        if not probe.available:
            return {"status": "unavailable", "error_message": probe.error, "runtime_version": versions()}
        feature = NEEDS_FEATURE.get((self.hardware, precision))
        if feature and feature not in self.page_probe()["webgpu"].get("features", []):
            return {"status": "not_applicable", "device_name": probe.device_name,
                    "error_message": f"{precision} on {self.hardware} needs the adapter feature '{feature}', which "
                                     f"{adapter_text(self.page_probe()['webgpu'])} lacks"}
        return None

    def run(self, case, precision: str, batch: int, reference_dir=None) -> dict:
        return self.gate(precision) or super().run(case, precision, batch, reference_dir)

    # -- one route ---------------------------------------------------------------------------------
    def _try_route(self, built, case, batch, route, precision, reference, tol, export_dir) -> dict:
        from hwcov.backends.onnxruntime import OnnxRuntimeBackend

        base, exported, failed = self._export(built, case, batch, route, export_dir)
        if failed:
            return failed
        try:
            model = OnnxRuntimeBackend.model_file(self, exported, precision)  # fp16/int8 converted once, cached
            graph_inputs, external = graph_io(model)
            fed = fed_tensors(exported, graph_inputs)
            job = in_fork(_session_job, self.hardware, model, external, [encode(k, v) for k, v in fed.items()],
                          threads())
            result = decode_outputs(exported, job["outputs"])
            device_name = self.device_text(job)
        except Exception as exc:  # noqa: BLE001 - a runtime error is this route's result
            return {**base, "status": job_status(str(exc)),
                    "error_message": f"{route}: {self.runtime} {self.hardware}: {str(exc)[:1800]}"}
        verdict = validate.compare(reference, result, tol)
        fallback = placement_fallback(self.hardware, job["placements"])
        if fallback and verdict.status == "pass":
            verdict = validate.Verdict("unsupported_op", verdict.max_abs_diff, verdict.tolerance, fallback)
        import statistics

        import torch

        from hwcov.models.outputs import checksum

        steady = statistics.median(job["times"])
        return {**base, "status": verdict.status, "device_name": device_name,
                "output_checksum": checksum({k: torch.from_numpy(v) for k, v in result.items()}),
                "output_shapes": ";".join(f"{k}:{'x'.join(map(str, v.shape))}" for k, v in result.items()),
                "inputs": ",".join(sorted(built.feed)), "execution_time_ms": round(steady, 3),
                "session_create_ms": round(job["created"]["createMs"], 1), "first_run_ms": round(job["first"], 3),
                "max_abs_diff": verdict.max_abs_diff, "tolerance": verdict.tolerance, "tolerance_kind": tol.kind,
                "error_message": f"{route}: {verdict.message}" if verdict.status != "pass" else ""}

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
        timings = (f"create {created['createMs']:.0f} ms, first run {job['first']:.1f} ms, "
                   f"steady median {sorted(job['times'])[len(job['times']) // 2]:.2f} ms")
        return (f"onnxruntime-web {provider} EP (session executionProviders=['{provider}']) in {where} | "
                f"nodes on {placement_text(placed)} | {timings}")


# what a failed browser job's message says happened -> the row's status (else fail_to_run)
_JOB_STATUS = (("timeout", re.compile(r"browser job timed out")),
               ("crash", re.compile(r"Target crashed|Page crashed|browser job died|Browser closed|has been closed")),
               ("oom", re.compile(r"Out of memory|Array buffer allocation failed|out of memory", re.I)))


def job_status(message: str) -> str:
    return next((status for status, pattern in _JOB_STATUS if pattern.search(message)), "fail_to_run")


_PLACED = re.compile(r"(?:All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)")
_NODE = re.compile(r"VerifyEachNodeIsAssignedToAnEp\]\s{3}(\w+) \(")


def placements(console: list) -> dict:
    """{execution provider: (node count, Counter of op types)} from the session's verbose placement log
    (summed over subgraphs)."""
    import collections

    found: dict = {}
    current = None
    for line in console:
        m = _PLACED.search(line)
        if m:
            current = m.group(1)
            count, ops = found.get(current, (0, collections.Counter()))
            found[current] = (count + int(m.group(2)), ops)
            continue
        m = _NODE.search(line)
        if m and current:
            found[current][1][m.group(1)] += 1
    return found


def placement_fallback(hardware: str, placed: dict) -> str:
    """Why the session did not really run on the hardware's provider ('' when it did): onnxruntime places a
    node its provider lacks a kernel for on the CPU provider, silently. Shape-computing nodes (Cast, Reshape) on
    CPU are normal; a graph whose nodes went mostly to CPU ran on the CPU, not on the provider."""
    ours = sum(n for ep, (n, _) in placed.items() if ep in PLACEMENT_EPS[hardware])
    total = sum(n for n, _ in placed.values())
    if total and ours / total >= MIN_PLACED_SHARE:
        return ""
    others = {ep: v for ep, v in placed.items() if ep not in PLACEMENT_EPS[hardware]}
    return (f"only {ours} of {total} nodes ran on {'/'.join(PLACEMENT_EPS[hardware])} (< {MIN_PLACED_SHARE:.0%}); "
            f"onnxruntime-web placed the rest on {placement_text(others, name_all=True)}")


def placement_text(placed: dict, name_all: bool = False) -> str:
    """'WebGpuExecutionProvider 88, CPUExecutionProvider 1 (Cast)': ops named for the minority providers."""
    parts = []
    for i, (ep, (count, ops)) in enumerate(sorted(placed.items(), key=lambda kv: -kv[1][0])):
        names = f" ({', '.join(f'{op}x{n}' if n > 1 else op for op, n in ops.most_common(8))})" \
            if (i or name_all) and ops else ""
        parts.append(f"{ep} {count}{names}")
    return ", ".join(parts)


def adapter_text(gpu: dict) -> str:
    parts = [gpu.get("vendor") or "?", gpu.get("architecture") or "?"]
    desc = f" ({gpu['description']})" if gpu.get("description") else ""
    return f"WebGPU adapter {'/'.join(parts)}{desc} fallback={bool(gpu.get('isFallbackAdapter'))}"


def threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


def graph_io(model: Path) -> tuple[list, list]:
    """The graph's input names, and the external data files its initializers name (served beside it)."""
    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    external = sorted({entry.value for init in proto.graph.initializer
                       if init.data_location == onnx.TensorProto.EXTERNAL
                       for entry in init.external_data if entry.key == "location"})
    initializers = {i.name for i in proto.graph.initializer}
    return [i.name for i in proto.graph.input if i.name not in initializers], external


def fed_tensors(exported: export.Exported, graph_inputs: list) -> dict:
    """The export's feed as the graph's named inputs (the same leaves the onnxruntime backend binds)."""
    import torch

    if exported.manifest["format"] == "transformers":
        from transformers.exporters.utils import onnx_inputs

        fed = onnx_inputs(graph_inputs, exported.feed)
    else:
        fed = {k: v for k, v in exported.feed.items() if k in graph_inputs and torch.is_tensor(v)}
    missing = [name for name in graph_inputs if name not in fed]
    if missing:
        raise ValueError(f"the graph takes {missing}, which the feed {sorted(exported.feed)} doesn't hold")
    return fed


def encode(name: str, tensor) -> dict:
    dtype = str(tensor.dtype).removeprefix("torch.")
    if dtype not in _ORT_TYPES:
        raise TypeError(f"input '{name}' has dtype {dtype}, which onnxruntime-web tensors don't carry")
    array = tensor.detach().cpu().contiguous().numpy()
    if dtype != "bool":
        array = array.astype(_NUMPY[dtype])
    return {"name": name, "dtype": _ORT_TYPES[dtype], "dims": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode()}


def decode(out: dict):
    import numpy as np

    if out.get("location") not in (None, "cpu"):
        raise RuntimeError(f"output '{out['name']}' stayed on {out['location']}")
    array = np.frombuffer(base64.b64decode(out["b64"]), dtype=_NUMPY[out["dtype"]]).reshape(out["dims"])
    return array.astype(bool) if out["dtype"] == "bool" else array.copy()


def decode_outputs(exported: export.Exported, outputs: list) -> dict:
    """The page's outputs (in graph order) as the named arrays the reference holds."""
    import torch

    arrays = [decode(o) for o in outputs]
    manifest = exported.manifest
    if manifest["format"] == "transformers":
        runner = name_by_graph(_Unflatten(hf_metadata(exported)), [o["name"] for o in outputs])
        return named_outputs(runner.unflatten([torch.from_numpy(a) for a in arrays]))
    named = dict(zip([o["name"] for o in outputs], arrays))
    return {name: named[name] for name in manifest["outputs"] if name in named}


def _unflatten_cls():
    from transformers.exporters.runners.base import ModelRunner

    class Unflatten(ModelRunner):
        """Only ModelRunner.unflatten: the exporter's own rebuild of the model's outputs from the flat ones."""

        device = None

        @classmethod
        def from_program(cls, program, metadata, device=None):
            raise NotImplementedError

        def __call__(self, *args, **kwargs):
            raise NotImplementedError

    return Unflatten


def _Unflatten(meta):  # noqa: N802 - reads as the class it builds
    return _unflatten_cls()(meta)
