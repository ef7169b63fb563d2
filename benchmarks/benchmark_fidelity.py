"""How far hwcov's latency numbers can be trusted, measured side by side in one run.

    HF_HUB_OFFLINE=1 python benchmarks/benchmark_fidelity.py [--model bert] [--seq 128] [--repeats 5]

1. Repeatability: hwcov.core.timing.measure on the same cell (model, batch 1, sequence length) `--repeats`
   times; prints the coefficient of variation of p50 across repeats.
2. Agreement: torch.utils.benchmark.Timer.blocked_autorange on the same model and inputs; prints the
   relative difference between its median and hwcov's p50.
"""
from __future__ import annotations

import argparse
import os
import statistics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="bert")
    p.add_argument("--seq", type=int, default=128, help="sequence length of the synthesized text input")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from torch.utils import benchmark as tb

    from hwcov.cases import generate
    from hwcov.core import timing as bench
    from hwcov.models import inventory
    from hwcov.models.build import build_case

    torch.set_num_threads(args.threads)
    case = generate.case_for(inventory.by_type()[args.model])
    case = type(case)(**{**case.__dict__, "input_spec": {**case.input_spec, "seq_len": args.seq}})
    built = build_case(case)
    model, feed = built.model, built.feed

    def forward():
        with torch.no_grad():
            model(**feed)

    p50s = [bench.measure(forward, min_duration_s=2.0)["p50_ms"] for _ in range(args.repeats)]
    cv = 100 * statistics.stdev(p50s) / statistics.fmean(p50s)
    timer = tb.Timer(stmt="forward()", globals={"forward": forward}, num_threads=args.threads)
    reference = timer.blocked_autorange(min_run_time=5.0).median * 1000
    ours = statistics.median(p50s)
    print(f"cell: {args.model} batch 1 seq {args.seq}, {args.threads} thread(s), inputs {sorted(feed)}")
    print(f"hwcov p50 over {args.repeats} repeats: {', '.join(f'{v:.3f}' for v in p50s)} ms")
    print(f"p50 coefficient of variation: {cv:.2f} %")
    print(f"torch.utils.benchmark median: {reference:.3f} ms; hwcov p50 median: {ours:.3f} ms; "
          f"difference {100 * abs(ours - reference) / reference:.2f} %")


if __name__ == "__main__":
    main()
