"""What hwcov's isolation, storage and Dagster cost over a bare forked loop, measured side by side.

    HF_HUB_OFFLINE=1 python benchmarks/sweep_overhead.py [--limit N] [--workers 2]

1. bare loop: this process imports torch/transformers once, then forks one child per
   architecture (N at a time) that builds the tiny model, synthesizes inputs and runs forward.
2. hwcov: `hwcov --hardware cpu --force` in a fresh folder (inventory, generation, sweep through
   Dagster, DuckDB, patterns, report), with the orchestrator's peak RSS (VmHWM) polled.
3. no-change rerun: `hwcov --hardware cpu` again: every result is reused.
Prints the times and the ratio hwcov / bare.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bare_loop(model_types: list[str], workers: int) -> tuple[float, int]:
    from hwcov.cases import generate
    from hwcov.models import inventory
    from hwcov.models.build import build_case
    from hwcov.run.runner import preload

    preload()
    archs = inventory.by_type()
    cases = [generate.case_for(archs[t]) for t in model_types]
    started, running, ok = time.monotonic(), set(), 0
    for case in cases + [None] * workers:
        while len(running) >= workers or (case is None and running):
            pid, status = os.wait()
            running.discard(pid)
            ok += os.waitstatus_to_exitcode(status) == 0
            if case is None:
                break
        if case is None:
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                import torch

                torch.set_num_threads(1)
                built = build_case(case)
                with torch.no_grad():
                    built.model(**built.feed)
                code = 0
            finally:
                os._exit(code)
        running.add(pid)
    return time.monotonic() - started, ok


def timed_hwcov(args: list[str], cwd: Path) -> tuple[float, int, str]:
    """Wall seconds, the hwcov process's peak RSS in MB, and its last stdout lines."""
    hwcov = str(Path(sys.executable).with_name("hwcov"))
    started = time.monotonic()
    proc = subprocess.Popen([hwcov, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    from hwcov.core.system import status_kb

    peak = 0
    while proc.poll() is None:
        peak = max(peak, status_kb("VmHWM", proc.pid) // 1024)
        time.sleep(0.2)
    out = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"hwcov {' '.join(args)} failed with {proc.returncode}")
    return time.monotonic() - started, peak, "\n".join(out.strip().splitlines()[:1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=0, help="only the first N architectures (default: all)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from hwcov.models import inventory

    types = sorted(inventory.by_type())[: args.limit or None]
    work = Path(tempfile.mkdtemp(prefix="hwcov-overhead-"))
    model_arg = ["--model", ",".join(types)] if args.limit else []
    common = [*model_arg, "--workers", str(args.workers)]
    bare_s, bare_ok = bare_loop(types, args.workers)
    hw_s, hw_rss, summary = timed_hwcov(["--hardware", "cpu", "--force", *common], work)
    rerun_s, rerun_rss, _ = timed_hwcov(["--hardware", "cpu", *common], work)
    print(f"machine: {os.cpu_count()} cores; {len(types)} architectures; {args.workers} workers")
    print(f"bare forked loop:   {bare_s:7.1f} s  ({bare_ok} forwards completed)")
    print(f"hwcov CPU sweep:    {hw_s:7.1f} s  ({summary}); orchestrator peak RSS {hw_rss} MB")
    print(f"no-change rerun:    {rerun_s:7.1f} s  ; orchestrator peak RSS {rerun_rss} MB")
    print(f"ratio hwcov / bare: {hw_s / bare_s:7.2f}")


if __name__ == "__main__":
    main()
