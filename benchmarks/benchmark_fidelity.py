"""How far hwcov's latency numbers can be trusted, per runtime, measured side by side in one run.

    HF_HUB_OFFLINE=1 python benchmarks/benchmark_fidelity.py [--runtimes cpu,onnxruntime,openvino]
        [--models bert,gpt2,vit,t5,whisper] [--repeats 5] [--seconds 2] [--seq 128] [--threads 1]

For every (runtime, architecture) cell, loaded once through the Backend interface (the load the benchmark asset
uses), `--repeats` rounds each run, interleaved so that drift of the machine hits both alike:
1. hwcov: hwcov.core.timing.measure on the loaded call (the benchmark's method: warmup, both stopping rules,
   memory in its own pass afterwards) -> its p50;
2. a bare timer that knows nothing of hwcov: torch.utils.benchmark.Timer.blocked_autorange for cpu, a plain
   perf_counter loop around `session.run` for onnxruntime and `infer_request.infer` for openvino -> its median.
Printed per cell: hwcov's p50 and its 95% interval, the CV of p50 over the repeats (repeatability) and the
difference between the medians of the two (agreement). The method's bounds (README): CV <= 3 %, difference <= 5 %.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

DEFAULT_MODELS = "bert,gpt2,vit,t5,whisper"  # text encoder, decoder, vision, encoder-decoder, audio: 5 sizes/shapes


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


def bare_call(runtime: str, loaded, exported_feed: dict, threads: int):
    """(the runtime's own call on the same graph and inputs, its description) - no hwcov code on the timed path."""
    if runtime == "onnxruntime":
        session = loaded.extra["session"]
        fed = {i.name: exported_feed[i.name].numpy() for i in session.get_inputs() if i.name in exported_feed}
        if len(fed) == len(session.get_inputs()):
            return (lambda: session.run(None, fed)), "session.run loop"
    if runtime == "openvino":
        request, compiled = loaded.extra["request"], loaded.extra["compiled"]
        names = [min(port.get_names()) for port in compiled.inputs]
        if all(n in exported_feed for n in names):
            fed = {n: exported_feed[n].numpy() for n in names}
            return (lambda: request.infer(fed)), "infer_request.infer loop"
    return loaded.run, "the loaded call in a plain loop (graph inputs not named like the model's)"


def cell(runtime: str, model_type: str, args, export_dir: str) -> dict:
    from torch.utils import benchmark as tb

    from hwcov.backends.registry import get_backend
    from hwcov.cases import generate
    from hwcov.core import timing
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
        call, how = bare_call(runtime, loaded, feed, args.threads)
        bare = lambda: bare_loop(call, args.seconds)  # noqa: E731 - the same call shape as the cpu timer
    ours, theirs, intervals = [], [], []
    for _ in range(args.repeats):  # interleaved: a slow minute of the machine lands on both timers
        stats = timing.measure(loaded.run, sync=loaded.sync, min_duration_s=args.seconds)
        ours.append(stats["p50_ms"])
        intervals.append((stats["p50_ci_low_ms"], stats["p50_ci_high_ms"]))
        theirs.append(bare())
    hwcov_p50, bare_median = statistics.median(ours), statistics.median(theirs)
    return {"runtime": runtime, "model": model_type, "hwcov_p50_ms": hwcov_p50, "bare_ms": bare_median,
            "cv_pct": 100 * statistics.stdev(ours) / statistics.fmean(ours) if len(ours) > 1 else 0.0,
            "diff_pct": 100 * (hwcov_p50 - bare_median) / bare_median, "interval": intervals[len(intervals) // 2],
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
                      f"CV {r['cv_pct']:5.2f} %  diff {r['diff_pct']:+6.2f} %  ({r['bare']}; p50s {r['repeats']})",
                      flush=True)
    worst_cv = max(rows, key=lambda r: r["cv_pct"])
    worst_diff = max(rows, key=lambda r: abs(r["diff_pct"]))
    print(f"\nthreads {args.threads}, {args.repeats} repeats of >= {args.seconds:g} s per cell; worst CV "
          f"{worst_cv['cv_pct']:.2f} % ({worst_cv['runtime']} {worst_cv['model']}), worst |diff| "
          f"{abs(worst_diff['diff_pct']):.2f} % ({worst_diff['runtime']} {worst_diff['model']})")


if __name__ == "__main__":
    main()
