"""What hwcov's sweep costs over a bare loop on the exported runtimes (onnxruntime, openvino, wasm), side by side.

    HF_HUB_OFFLINE=1 python benchmarks/runtime_overhead.py [--limit 60] [--models bert,gpt2,...] [--keep] [--from DIR]

The sample: --limit architectures (default 60) taken round-robin over the inventory's categories in sorted order
(sorted model types within each), so every category is in it; --models names them instead. All in a fresh folder
(HWCOV_DB_PATH, HWCOV_GENERATED_DIR, HWCOV_ARTIFACTS_DIR, DAGSTER_HOME inside it), or in DIR with --from (a full
sweep's folder: every architecture, step 1 and step 2's sweep with the modes skipped):
1. cold: `hwcov --hardware cpu,onnxruntime,openvino,wasm --precision fp32 --model <sample>`, nothing cached.
2. warm, per runtime: `hwcov --hardware <rt> --precision fp32 --model <passed> --force`, where <passed> are the
   sample's architectures that passed <rt> in step 1: only passing cases count, in the sweep time and the bare loop
   alike (the table says how many; a case that fails the warm run leaves the bare loop, not the sweep time).
   Then the same with `--modes forward`: the sweep with no dynamic-shape or generation check, as the bare loop.
3. bare loop, per runtime, on the very graphs the warm run used (its run_results' export_route; the export cache's
   most recently used folder of that route) with their feed.pt mapped to graph inputs by hwcov's own functions
   (browser.tensors.fed_tensors, transformers' openvino_feed), prepared before the clock starts. Timed: what one
   sweep case does to the runtime and nothing else -- onnxruntime: InferenceSession + 2 runs (cold, timed);
   openvino: compile_model on the worker's one Core (f32 hint, LATENCY) + 2 infers; wasm: on ONE Chromium page,
   per graph a session ('all' optimizations) + 1 run + pages.STEADY_RUNS more (stopping after STEADY_BUDGET_MS,
   as runner.js does).
Fairness: the same parallelism and threads as the sweep. The sweep sizes its pools per runtime (resources/backends.py:
onnxruntime and openvino are cpu-bound, one worker per core; a browser gets one worker) with 1 torch thread per
case, which the runtimes read (intra_op_num_threads, INFERENCE_NUM_THREADS, wasm numThreads); the bare loops run
that many processes (a spawned pool, one architecture at a time each, pool start included) or one page.
What the ratio charges to hwcov: Dagster, DuckDB, inventory and test generation, the fork server and isolation, and
per case the model build, the reference, the comparison, the page's verbose placement log and the modes
(dynamic shapes, generation) a passing fp32 forward runs. The "case s" column (the rows' wall_time_s, summed)
splits per-case work from the run's fixed costs, "modes s" (the rows' dynamic_s + generate_s) the modes from the
forward, and "without the modes" is a second warm sweep's, `--modes forward` (the forward alone, as the bare loop).
4. isolation floor, per runtime: as many cases that do nothing, forked one each by hwcov's runner from its preloaded
   fork server at the sweep's width. Per-case isolation (a crash, hang or OOM stays its case's) costs this much on its
   own; "floor's ratio", (bare + floor) / bare, is the best ratio any isolated sweep could reach on these graphs.
The machine may be shared: the load average is printed.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNTIMES = ("onnxruntime", "openvino", "wasm")
COLD_HARDWARE = "cpu,onnxruntime,openvino,wasm"
GOAL = 1.3  # issue #27: the sweep within 1.3x of a bare loop on each runtime
ORT_RUNS = OV_RUNS = 2  # ExportBackend._try_route: a cold run, then one timed

# One architecture on the page, without hwcov's runner.js on the path: the same onnxruntime-web module the page
# imported (wasm threads and paths as the page set them), its own session, runs, release. Outputs are not read back.
BARE_CASE_JS = """async ([spec, feeds, steady, budgetMs]) => {
  const bundle = new URLSearchParams(location.search).get('bundle');
  const ort = await import(new URL(`./ort/${bundle}`, location.href).href);
  const options = {executionProviders: [spec.provider], graphOptimizationLevel: 'all'};
  if (spec.externalData.length) options.externalData = spec.externalData;
  const session = await ort.InferenceSession.create(spec.model, options);
  const ARRAYS = {float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array,
                  int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array};
  const inputs = {};
  for (const f of feeds) {
    const bin = atob(f.b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    inputs[f.name] = new ort.Tensor(f.dtype, new ARRAYS[f.dtype](bytes.buffer), f.dims);
  }
  await session.run(inputs);
  let runs = 1;
  const start = performance.now();
  for (let i = 0; i < steady; i++) {
    await session.run(inputs);
    runs++;
    if (performance.now() - start >= budgetMs) break;
  }
  await session.release();
  return runs;
}"""


def sample(limit: float, models: str) -> list[str]:
    """--models as given, else `limit` model types round-robin over the sorted categories."""
    from hwcov.models import inventory

    archs = inventory.discover()
    if models:
        names = [m.strip() for m in models.split(",") if m.strip()]
        unknown = sorted(set(names) - {a.model_type for a in archs})
        if unknown:
            raise SystemExit(f"not in the inventory: {', '.join(unknown)}")
        return names
    by_category: dict[str, list[str]] = {}
    for a in archs:
        by_category.setdefault(a.category, []).append(a.model_type)
    queues = [sorted(by_category[c]) for c in sorted(by_category)]
    picked: list[str] = []
    while len(picked) < limit and any(queues):
        for q in queues:
            if q and len(picked) < limit:
                picked.append(q.pop(0))
    return picked


def timed_hwcov(args: list[str], work: Path, env: dict, log_name: str) -> float:
    """Wall seconds of `hwcov <args>` in `work`; its output goes to work/<log_name>."""
    hwcov = str(Path(sys.executable).with_name("hwcov"))
    started = time.monotonic()
    with open(work / log_name, "w") as log:
        code = subprocess.call([hwcov, *args], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    if code != 0:
        tail = (work / log_name).read_text(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"hwcov {' '.join(args)[:200]} failed with {code}:\n" + "\n".join(tail))
    return seconds


def results(db: Path, hardware: str, models: list[str]) -> dict[str, dict]:
    """model_type -> its latest fp32 batch-1 row on `hardware` (status, export_route, wall_time_s)."""
    from hwcov.store.database import connect

    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            "SELECT model_type, status, export_route, wall_time_s, coalesce(dynamic_s, 0) + coalesce(generate_s, 0), "
            "test_timestamp FROM hwcov.run_results "
            "WHERE hardware = ? AND precision = 'fp32' AND batch_size = 1 ORDER BY test_timestamp",
            [hardware]).fetchall()
    finally:
        con.close()
    return {r[0]: {"status": r[1], "route": r[2], "wall_s": r[3] or 0.0, "modes_s": r[4] or 0.0}
            for r in rows if r[0] in models}


def export_folder(exports: Path, model_type: str, route: str) -> Path:
    """The route's batch-1 export of the architecture the sweep last used (export() touches its manifest)."""
    from hwcov.export import routes

    found = [d for d in (exports / model_type).glob(f"{route}-b1-*") if (d / routes.MANIFEST).exists()]
    if not found:
        raise FileNotFoundError(f"no cached {route} export of {model_type} under {exports}")
    return max(found, key=lambda d: (d / routes.MANIFEST).stat().st_mtime)


def prepared(runtime: str, folder: Path, route: str):
    """(graph path, external data files, the graph's inputs: numpy arrays, or for wasm encoded tensors)."""
    import torch

    from hwcov.backends.browser.tensors import encode, fed_tensors, graph_io
    from hwcov.export import routes

    exported = routes.Exported(route, routes.EXPORTER[route], folder,
                               torch.load(folder / routes.FEED, weights_only=False), fresh=False)
    if runtime == "openvino":
        from transformers.exporters.utils import openvino_feed

        graph = folder / "openvino_model.xml"
        model = _openvino_core().read_model(str(graph))
        if exported.manifest["format"] == "transformers":  # what OpenVINOModelRunner binds
            return graph, [], openvino_feed(model, exported.feed)
        names = {n for port in model.inputs for n in port.get_names()}
        return graph, [], {k: v.numpy() for k, v in exported.feed.items() if k in names}
    graph = exported.onnx_file
    inputs, external = graph_io(graph)
    fed = fed_tensors(exported, inputs)
    if runtime == "wasm":
        return graph, external, [encode(k, v) for k, v in fed.items()]
    return graph, external, {k: v.numpy() for k, v in fed.items()}


def _import_runtime(runtime: str) -> None:
    __import__(runtime)


@functools.cache
def _openvino_core():
    """One Core per process, as hwcov keeps it (hwcov.export.openvino_core): Cores released out of the order they
    were made leave a freed alternate signal stack installed, and a Ctrl-C then ends the pool as SIGSEGV."""
    import openvino

    return openvino.Core()


def _bare_case(task) -> tuple[str, float, str]:
    """One architecture in a pool worker: the runtime's load and the sweep's number of runs."""
    runtime, model_type, graph, feed, threads = task
    started = time.perf_counter()
    try:
        if runtime == "onnxruntime":
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.log_severity_level = 3
            session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
            for _ in range(ORT_RUNS):
                session.run(None, feed)
        else:
            core = _openvino_core()
            compiled = core.compile_model(core.read_model(str(graph)), "CPU", {
                "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads})
            request = compiled.create_infer_request()
            for _ in range(OV_RUNS):
                request.infer(feed)
        return model_type, time.perf_counter() - started, ""
    except Exception as exc:  # noqa: BLE001 - counted and printed, the loop goes on
        return model_type, time.perf_counter() - started, f"{type(exc).__name__}: {str(exc)[:200]}"


def bare_pool(runtime: str, cases: list, workers: int, threads: int) -> tuple[float, list[str]]:
    """(wall s including the pool's start, errors) for onnxruntime or openvino: one architecture at a time each."""
    import multiprocessing as mp

    if runtime == "openvino":  # at the threads the sweep's case compiles for (hwcov.backends.openvino.check_threads)
        from hwcov.backends.openvino import MIN_CHECK_THREADS

        threads = max(MIN_CHECK_THREADS, threads)
    started = time.monotonic()
    with mp.get_context("spawn").Pool(workers, initializer=_import_runtime, initargs=(runtime,)) as pool:
        done = list(pool.imap_unordered(_bare_case, [(runtime, m, g, f, threads) for m, g, _, f in cases]))
    return time.monotonic() - started, [f"{m}: {e}" for m, _, e in done if e]


def _wasm_job(cases: list, threads: int, steady: int, budget_ms: float) -> list[str]:
    """In a forked job (jobs.in_fork): one Chromium, one page, every graph in turn. Returns the errors."""
    from playwright.sync_api import sync_playwright

    from hwcov.backends.browser.jobs import launch, open_page
    from hwcov.backends.browser.pages import PROVIDERS
    from hwcov.backends.browser.server import PageServer

    provider, bundle = PROVIDERS["wasm"]
    errors = []
    with PageServer() as server, sync_playwright() as p:
        chromium = launch(p)
        try:
            page = open_page(chromium, server, bundle, threads, [])
            for model_type, graph, external, feeds in cases:
                spec = {"model": server.add(graph), "provider": provider,
                        "externalData": [{"path": n, "data": server.add(graph.parent / n)} for n in external]}
                try:
                    page.evaluate(BARE_CASE_JS, [spec, feeds, steady, budget_ms])
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"{model_type}: {str(exc)[:200]}")
        finally:
            chromium.close()
    return errors


def bare_page(cases: list, threads: int) -> tuple[float, list[str]]:
    """(wall s including Chromium's launch, errors) for wasm."""
    from hwcov.backends.browser import jobs
    from hwcov.backends.browser.pages import STEADY_BUDGET_MS, STEADY_RUNS

    started = time.monotonic()
    errors = jobs.in_fork(_wasm_job, cases, threads, STEADY_RUNS, STEADY_BUDGET_MS,
                               timeout_s=120 + 120 * len(cases))
    return time.monotonic() - started, errors


def _no_op_case(task) -> dict:
    return {"status": "pass"}


def isolation_floor(cases: int, workers: int) -> float:
    """Wall s of `cases` cases that do nothing, each in its own child forked from hwcov's preloaded fork server by
    hwcov's runner at the sweep's width (the server's preload and a first case before the clock): what per-case
    isolation costs on its own (the fork, the result's pipe, the child's exit), which no sweep that keeps a crash,
    a hang or an OOM to its case can avoid and the bare loop does not pay."""
    from hwcov.run import runner

    runner.start_server()
    runner.run_isolated([0], _no_op_case, lambda *_: None, runner.Limits(workers=workers))
    started = time.monotonic()
    runner.run_isolated(range(cases), _no_op_case, lambda *_: None, runner.Limits(workers=workers))
    return time.monotonic() - started


def leftovers(marker: str) -> list[str]:
    """Processes still running with this run's folder in their environment, or Chromium below this process."""
    from hwcov.core.system import descendants

    mine, found = descendants(os.getpid()), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker.encode() in env or (int(pid) in mine and ("chrom" in cmd or "playwright" in cmd)):
            found.append(f"{pid} {cmd[:120]}")
    return found


def versions_text() -> str:
    from importlib.metadata import version

    from hwcov.backends.browser.jobs import chromium_version
    from hwcov.backends.browser.server import ort_web_version
    from hwcov.export.provenance import versions

    return (f"{versions()}; onnxruntime {version('onnxruntime')}; onnxruntime-web {ort_web_version()}; "
            f"{chromium_version()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=60,
                   help="sample size, round-robin over the categories (default %(default)s; e.g. 4 for a quick run)")
    p.add_argument("--models", default="", help="comma-separated model types instead of the round-robin sample")
    p.add_argument("--runtimes", default=",".join(RUNTIMES), help="runtimes compared warm (default %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the temp folder (database, exports, hwcov logs)")
    p.add_argument("--from", dest="reuse", default="", metavar="DIR",
                   help="a folder --keep left, or a full sweep's laid out the same (benchmark_db.duckdb, generated/, "
                        "artifacts/): no cold step, every architecture that passed there (or --models); kept")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    runtimes = [r for r in args.runtimes.split(",") if r]
    if set(runtimes) - set(RUNTIMES):
        raise SystemExit(f"--runtimes takes {', '.join(RUNTIMES)}")
    load_start, date = os.getloadavg(), datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    work = Path(args.reuse).resolve() if args.reuse else Path(tempfile.mkdtemp(prefix="hwcov-runtime-overhead-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HWCOV_DB_PATH": str(work / "benchmark_db.duckdb"),
           "HWCOV_GENERATED_DIR": str(work / "generated"), "HWCOV_ARTIFACTS_DIR": str(work / "artifacts"),
           "DAGSTER_HOME": str(work / "dagster_home")}
    from hwcov.core import paths

    paths.configure(artifacts_dir=work / "this-process")  # its inventory cache: the cold run's stays cold
    from hwcov.core.system import machine
    from hwcov.resources.backends import BackendResource

    types = sample(float("inf") if args.reuse else args.limit, args.models)  # --from: every architecture
    print(f"{len(types)} architectures: {','.join(types)}\nfolder: {work}", flush=True)
    try:
        cold_s = float("nan") if args.reuse else timed_hwcov(
            ["--hardware", COLD_HARDWARE, "--precision", "fp32", "--model", ",".join(types)], work, env, "cold.log")
        cold = f"{cold_s:.1f} s" if cold_s == cold_s else f"not run (--from {work})"
        print(f"cold {COLD_HARDWARE}: {cold}", flush=True)
        db, exports = work / "benchmark_db.duckdb", work / "artifacts" / "exports"
        table = []
        for rt in runtimes:
            passed = [m for m, r in results(db, rt, types).items() if r["status"] == "pass"]
            limits = BackendResource().limits(rt)
            if not passed:
                table.append((rt, 0, limits.workers, *[float("nan")] * 7))
                continue
            # with --from, the forward alone: a full sweep's dynamic and generation graphs may not be cached there
            sweep_s = float("nan") if args.reuse else timed_hwcov(
                ["--hardware", rt, "--precision", "fp32", "--model", ",".join(passed), "--force"], work, env,
                f"warm-{rt}.log")
            rows = {} if args.reuse else results(db, rt, passed)
            # the same cases with the forward alone (`--modes forward`): what the sweep costs with no mode to run
            forward_s = timed_hwcov(["--hardware", rt, "--precision", "fp32", "--model", ",".join(passed), "--force",
                                     "--modes", "forward"], work, env, f"warm-{rt}-forward.log")
            rows = rows or results(db, rt, passed)
            again = [m for m in passed if rows.get(m, {}).get("status") == "pass"]
            case_s = sum(rows[m]["wall_s"] for m in passed if m in rows)
            modes_s = sum(rows[m]["modes_s"] for m in passed if m in rows)
            cases = [(m, *prepared(rt, export_folder(exports, m, rows[m]["route"]), rows[m]["route"])) for m in again]
            if rt == "wasm":
                bare_s, errors = bare_page(cases, limits.torch_threads)
            else:
                bare_s, errors = bare_pool(rt, cases, limits.workers, limits.torch_threads)
            floor_s = isolation_floor(len(again), limits.workers)
            note = f"; {len(passed) - len(again)} failed the warm run (in its time, not the bare loop's)" \
                if len(again) < len(passed) else ""
            print(f"{rt}: {len(passed)} passed cold, warm sweep {sweep_s:.1f} s ({forward_s:.1f} s with "
                  f"--modes forward), bare {bare_s:.1f} s "
                  f"({len(again)} graphs{note}), isolation floor {floor_s:.1f} s", flush=True)
            for e in errors:
                print(f"  bare loop error {e}")
            table.append((rt, len(again), limits.workers, sweep_s, case_s, modes_s, bare_s, sweep_s / bare_s,
                          forward_s / bare_s, floor_s))
    finally:
        time.sleep(3)  # a page host ends within a second of its worker slot's removal
        left = leftovers(f"HWCOV_DB_PATH={work}")
        if not (args.keep or args.reuse):
            shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()
    print(f"\n{date}; {machine()}\n{versions_text()}")
    print(f"load average (1/5/15 min) at start {'/'.join(f'{x:.2f}' for x in load_start)}, at end "
          f"{'/'.join(f'{x:.2f}' for x in load_end)}: the machine is shared, other work ran beside this one")
    print(f"cold, {COLD_HARDWARE} fp32, {len(types)} architectures, nothing cached: {cold}\n")
    print(f"| runtime | cases | workers | sweep (warm) s | case s | modes s | bare s | ratio (goal <= {GOAL}x) "
          "| ratio without the modes | isolation floor s | floor's ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rt, n, workers, sweep_s, case_s, modes_s, bare_s, ratio, forward_ratio, floor_s in table:
        verdict = "" if ratio != ratio else (" ok" if ratio <= GOAL else " over")
        print(f"| {rt} | {n} | {workers} | {sweep_s:.1f} | {case_s:.1f} | {modes_s:.1f} | {bare_s:.1f} "
              f"| {ratio:.2f}x{verdict} | {forward_ratio:.2f}x | {floor_s:.1f} | {(bare_s + floor_s) / bare_s:.2f}x |")
    print("\ncases: passed cold and warm (the bare loop's); sweep: the warm `hwcov --force` over those that passed "
          "cold; case s: its rows' wall_time_s summed (per-case work, before dividing by workers); modes s: the part "
          "of it the dynamic and generate checks took (dynamic_s + generate_s), which the bare loop doesn't do; "
          "ratio without the modes: the same warm sweep with `--modes forward`, over bare; isolation floor: as many "
          "cases that do nothing, each forked by hwcov's runner from its preloaded fork server at the same width; "
          "floor's ratio: (bare + floor) / bare, the best an isolated-per-case sweep could do here with no start-up, "
          "no model build, no reference and no comparison")
    print("leftover processes: " + ("; ".join(left) if left else "none"))
    if args.keep:
        print(f"kept: {work}")


if __name__ == "__main__":
    main()
