"""Device check for a CUDA machine: one architecture per category, fp32 and fp16, in one short run.

    HF_HUB_OFFLINE=1 python benchmarks/cuda_check.py [--hardware cuda] [--out DIR]

Runs the CPU fp32 reference first, then the same generated tests on the device through the
real sweep (forked workers, journal, evidence), and prints pass counts and timings per
precision. Needs nothing from the network. On a machine without the device every row is
`unavailable` with the probe's message, which is printed too.
"""
from __future__ import annotations

import argparse
import collections
import statistics
import tempfile
import time
from pathlib import Path

from hwcov.cases import generate
from hwcov.models import inventory
from hwcov.run import sweep
from hwcov.run.runner import Limits


def sample(archs: dict) -> list:
    """The first architecture of each category, in model-type order: one per category."""
    picked = {}
    for arch in sorted(archs.values(), key=lambda a: (a.priority, a.model_type)):
        picked.setdefault(arch.category, arch)
    return list(picked.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hardware", default="cuda", help="torch device partition to check (cuda or rocm)")
    p.add_argument("--out", default="", help="where to keep generated tests and results (default: a temp dir)")
    args = p.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="hwcov-device-check-"))
    archs = sample(inventory.by_type())
    tests = generate.generate(archs, out / "generated")
    print(f"sample: {', '.join(f'{a.model_type} ({a.category})' for a in archs)}")
    sweep.sweep(tests, "cpu", out / "artifacts", limits=Limits(workers=4), progress=False, log=print)
    for precision in ("fp32", "fp16"):
        started = time.monotonic()
        rows = sweep.sweep(tests, args.hardware, out / "artifacts", precision=precision,
                           limits=Limits(workers=1, timeout_s=300), progress=False, log=print)
        counts = collections.Counter(r["status"] for r in rows)
        times = [r["execution_time_ms"] for r in rows if r["status"] == "pass" and r["execution_time_ms"]]
        median = f"{statistics.median(times):.2f} ms" if times else "n/a"
        print(f"{args.hardware} {precision}: {counts.get('pass', 0)}/{len(rows)} pass {dict(counts)}; "
              f"median forward {median}; wall {time.monotonic() - started:.1f} s")
        for r in rows:
            if r["status"] != "pass":
                print(f"  {r['model_type']}: {r['status']}: {r['error_message'][:160]}")
        if rows and rows[0].get("device_name"):
            print(f"  device: {rows[0]['device_name']}")


if __name__ == "__main__":
    main()
