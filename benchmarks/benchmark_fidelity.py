"""How far hwcov's latency numbers can be trusted, per runtime, measured side by side in one run.

    HF_HUB_OFFLINE=1 python benchmarks/benchmark_fidelity.py [--runtimes cpu,onnxruntime,openvino]
        [--models bert,gpt2,vit,t5,whisper] [--repeats 5] [--seconds 2] [--seq 128] [--threads 1]
    HF_HUB_OFFLINE=1 python benchmarks/benchmark_fidelity.py --runtimes wasm   # the browser, page against page

For every (runtime, architecture) cell, loaded once through the Backend interface (the load the benchmark asset
uses), `--repeats` rounds each run, interleaved so that drift of the machine hits both alike:
1. hwcov: Loaded.measure, what the benchmark asset calls (hwcov.core.timing: warmup, both stopping rules,
   memory in its own pass afterwards) -> its p50;
2. a bare timer that knows nothing of hwcov: torch.utils.benchmark.Timer.blocked_autorange for cpu, a plain
   perf_counter loop around `session.run` for onnxruntime and `infer_request.infer` for openvino, and for wasm (or
   webgpu) onnxruntime-web imported afresh on a page with its own session and a performance.now loop -> its median.
Printed per cell: hwcov's p50 and its 95% interval, the CV of p50 over the repeats (repeatability) beside the bare
timer's own CV over the same repeats (how much of the spread is the machine's), and the difference between the
medians of the two (agreement). The method's bounds (README): CV <= 3 %, difference <= 5 %.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

DEFAULT_MODELS = "bert,gpt2,vit,t5,whisper"  # text encoder, decoder, vision, encoder-decoder, audio: 5 sizes/shapes


def cv(values: list[float]) -> float:
    """Coefficient of variation in %, over the repeats (0 for one)."""
    return 100 * statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0


def bare_loop(call, seconds: float) -> float:
    """Median ms of `call()` in a plain perf_counter loop (3 warm calls, then `seconds` of calls)."""
    for _ in range(3):
        call()
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 10:
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


# The browser's bare timer: onnxruntime-web imported on a blank use of the page, a session of its own, a plain
# performance.now loop around `session.run` -- none of hwcov's page code (runner.js) on the timed path.
BARE_PAGE_LOOP = """async ([spec, feeds, seconds]) => {
  const bundle = new URLSearchParams(location.search).get('bundle');
  const ort = await import(new URL(`./ort/${bundle}`, location.href).href);
  const options = {executionProviders: [spec.provider]};
  if (spec.externalData.length) options.externalData = spec.externalData;
  const session = await ort.InferenceSession.create(spec.model, options);
  const ARRAYS = {float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array,
                  int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, float16: Uint16Array};
  const inputs = {};
  for (const f of feeds) {
    const bin = atob(f.b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    inputs[f.name] = new ort.Tensor(f.dtype, new ARRAYS[f.dtype](bytes.buffer), f.dims);
  }
  for (let i = 0; i < 3; i++) await session.run(inputs);
  const times = [], end = performance.now() + seconds * 1000;
  while (performance.now() < end || times.length < 10) {
    const t0 = performance.now();
    await session.run(inputs);
    times.push(performance.now() - t0);
  }
  await session.release();
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}"""


def bare_page_job(hardware: str, model, external: list, feeds: list, threads: int, seconds: float) -> float:
    """Median ms of the bare page loop, in a Chromium of its own (run through jobs.in_fork, as hwcov's jobs are)."""
    from playwright.sync_api import sync_playwright

    from hwcov.backends.browser.jobs import launch, open_page
    from hwcov.backends.browser.pages import PROVIDERS
    from hwcov.backends.browser.server import PageServer

    provider, bundle = PROVIDERS[hardware]
    with PageServer() as server, sync_playwright() as p:
        chromium = launch(p)
        try:
            page = open_page(chromium, server, bundle, threads, [])
            spec = {"model": server.add(model), "provider": provider,
                    "externalData": [{"path": n, "data": server.add(model.parent / n)} for n in external]}
            return page.evaluate(BARE_PAGE_LOOP, [spec, feeds, seconds])
        finally:
            chromium.close()


def bare_timer(runtime: str, loaded, exported_feed: dict, threads: int, seconds: float):
    """(a function returning the runtime's own median ms on the same graph and inputs, its description) - no hwcov
    code on the timed path."""
    if runtime == "onnxruntime":
        session = loaded.extra["session"]
        fed = {i.name: exported_feed[i.name].numpy() for i in session.get_inputs() if i.name in exported_feed}
        if len(fed) == len(session.get_inputs()):
            return (lambda: bare_loop(lambda: session.run(None, fed), seconds)), "session.run loop"
    if runtime == "openvino":
        request, compiled = loaded.extra["request"], loaded.extra["compiled"]
        names = [min(port.get_names()) for port in compiled.inputs]
        if all(n in exported_feed for n in names):
            fed = {n: exported_feed[n].numpy() for n in names}
            return (lambda: bare_loop(lambda: request.infer(fed), seconds)), "infer_request.infer loop"
    if runtime in ("wasm", "webgpu"):
        from hwcov.backends.browser import jobs

        extra = loaded.extra
        return (lambda: jobs.in_fork(bare_page_job, runtime, extra["model"], extra["external"], extra["feeds"],
                                     threads, seconds, timeout_s=120 + 4 * seconds)), \
            "performance.now loop around session.run on a page of its own"
    return (lambda: bare_loop(loaded.run, seconds)), \
        "the loaded call in a plain loop (graph inputs not named like the model's)"


def cell(runtime: str, model_type: str, args, export_dir: str) -> dict:
    from torch.utils import benchmark as tb

    from hwcov.backends.registry import get_backend
    from hwcov.cases import generate
    from hwcov.models import inventory
    from hwcov.models.build import build_case

    case = generate.case_for(inventory.by_type()[model_type])
    if "seq_len" in case.input_spec:  # the benchmark's sequence length (vision and audio inputs keep theirs)
        case = type(case)(**{**case.__dict__, "input_spec": {**case.input_spec, "seq_len": args.seq}})
    built = build_case(case)
    backend = get_backend(runtime)
    variant = next(iter(backend.variants))
    if runtime == "onnxruntime":
        variant = "ort_enable_all"  # ORT's own default, what a user's session runs
    exported = backend.export_case(built, case, 1, export_dir) if backend.exports else None
    loaded = backend.load(built, case, 1, "fp32", variant, export_dir=export_dir, exported=exported)
    feed = exported.feed if exported is not None else built.feed
    if runtime == "cpu":
        timer = tb.Timer(stmt="run()", globals={"run": loaded.run}, num_threads=args.threads)
        bare, how = (lambda: timer.blocked_autorange(min_run_time=args.seconds).median * 1000), \
            "torch.utils.benchmark blocked_autorange"
    else:
        bare, how = bare_timer(runtime, loaded, feed, args.threads, args.seconds)
    ours, theirs, intervals = [], [], []
    for _ in range(args.repeats):  # interleaved: a slow minute of the machine lands on both timers
        # what the benchmark asset calls (a page times on its own clock, in a Chromium of its own)
        stats = loaded.measure(1, {}, min_duration_s=args.seconds)
        ours.append(stats["p50_ms"])
        intervals.append((stats["p50_ci_low_ms"], stats["p50_ci_high_ms"]))
        theirs.append(bare())
    hwcov_p50, bare_median = statistics.median(ours), statistics.median(theirs)
    middle = ours.index(sorted(ours)[len(ours) // 2])  # the median repeat: its own interval is printed
    return {"runtime": runtime, "model": model_type, "hwcov_p50_ms": hwcov_p50, "bare_ms": bare_median,
            "cv_pct": cv(ours), "bare_cv_pct": cv(theirs),
            "diff_pct": 100 * (hwcov_p50 - bare_median) / bare_median, "interval": intervals[middle],
            "bare": how, "repeats": ", ".join(f"{v:.3f}" for v in ours)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runtimes", default="cpu,onnxruntime,openvino", help="comma-separated hwcov hardware keys")
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated model types (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=5, help="rounds per cell, hwcov and the bare timer interleaved")
    p.add_argument("--seconds", type=float, default=2.0, help="minimum timed duration of each measurement")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads, pinned for every runtime")
    p.add_argument("--seq", type=int, default=128, help="text sequence length (the benchmark asset's default)")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)  # the exported backends read it for their intra-op thread count
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwcov-fidelity-") as export_dir:
        for runtime in args.runtimes.split(","):
            for model_type in args.models.split(","):
                rows.append(cell(runtime, model_type, args, export_dir))
                r = rows[-1]
                print(f"{r['runtime']:12s} {r['model']:9s} hwcov p50 {r['hwcov_p50_ms']:9.3f} ms "
                      f"[{r['interval'][0]:.3f}, {r['interval'][1]:.3f}]  bare {r['bare_ms']:9.3f} ms  "
                      f"CV {r['cv_pct']:5.2f} % (bare {r['bare_cv_pct']:5.2f} %)  diff {r['diff_pct']:+6.2f} %  "
                      f"({r['bare']}; p50s {r['repeats']})",
                      flush=True)
    worst_cv = max(rows, key=lambda r: r["cv_pct"])
    worst_diff = max(rows, key=lambda r: abs(r["diff_pct"]))
    print(f"\nthreads {args.threads}, {args.repeats} repeats of >= {args.seconds:g} s per cell; worst CV "
          f"{worst_cv['cv_pct']:.2f} % ({worst_cv['runtime']} {worst_cv['model']}), worst |diff| "
          f"{abs(worst_diff['diff_pct']):.2f} % ({worst_diff['runtime']} {worst_diff['model']})")


if __name__ == "__main__":
    main()
