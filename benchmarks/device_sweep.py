"""The full inventory on a lent GPU in one command that ends on time, from the wheel bundle alone.

On the device machine (one `run` call carrying `.device`, built here by benchmarks/device_bundle.py):

    python3 benchmarks/device_sweep.py --hardware cuda --out $OUT --minutes 8

Here, to prove the bundle is all it needs (a clean interpreter: torch, numpy and scipy only, as on the device):

    python3 benchmarks/device_sweep.py --hardware cpu --out /tmp/o --minutes 3 --models bert,gpt2,vit

It installs the wheels with `pip --no-index --no-deps --target` (once; then restarts itself on them), generates
the tests from the templates, and walks the inventory in chunks ordered round-robin over categories, so a
deadline leaves a stratified sample (the cases of a chunk start in that order too): per chunk, the CPU fp32 references first (every core), then the hardware
at every precision its tests declare (fp32 with TF32 off; fp16 and bf16 where fp32 passed), cases forked into
`--gpu-workers` processes sharing the one GPU. At the deadline the cases in flight are stopped and every row
written so far is kept (chunks are large: each phase waits for its slowest case). Under --out: the journals (`<hardware>.jsonl`, the rows
`hwcov --ingest` loads into the database), `summary.md`, `env.json` (GPU, driver, CUDA, torch, transformers)
and the worker log's tail.
"""
from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / ".device" / "wheels"
SITE = Path("/tmp/hwcov-device-site")
LOG_TAIL_BYTES = 8 * 2**20  # what comes back of the workers' log (a device call returns files of 16 MiB at most)


def install(wheels: Path, site: Path) -> None:
    """The bundle into its own folder, as the device's pip allows: no index, no dependency resolution."""
    files = sorted(str(p) for p in wheels.glob("*.whl"))
    if not files:
        sys.exit(f"device_sweep: no wheels in {wheels} (build them with benchmarks/device_bundle.py)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--no-cache-dir", "--upgrade", "--target", str(site), *files], check=True)


def bootstrap(args) -> None:
    """Install the bundle, then restart this script on it (the site folder first on the path, offline)."""
    if os.environ.get("HWCOV_DEVICE_BOOTSTRAPPED") or args.no_install:
        return
    started = time.monotonic()
    install(args.wheels, args.site)
    print(f"device_sweep: {len(list(args.wheels.glob('*.whl')))} wheels installed into {args.site} "
          f"in {time.monotonic() - started:.0f} s", flush=True)
    env = {**os.environ, "HWCOV_DEVICE_BOOTSTRAPPED": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "PYTORCH_NVML_BASED_CUDA_CHECK": "1",
           "PYTHONPATH": os.pathsep.join([str(args.site), str(ROOT)]),
           "HWCOV_DEVICE_DEADLINE": str(args.deadline)}
    os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)


def stratified(archs: list) -> list:
    """Round-robin over categories (each in priority, then name, order): any prefix is a stratified sample."""
    by_category = collections.defaultdict(list)
    for arch in sorted(archs, key=lambda a: (a.priority, a.model_type)):
        by_category[arch.category].append(arch)
    queues = [by_category[c] for c in sorted(by_category)]
    out = []
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def environment(hardware: str) -> dict:
    import platform

    import torch
    import transformers

    from hwcov.backends.registry import get_backend

    probe = get_backend(hardware).probe()
    smi = shutil.which("nvidia-smi")
    gpu = subprocess.run([smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True, check=False).stdout.strip() if smi else ""
    return {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "transformers": transformers.__version__, "transformers_from": str(Path(transformers.__file__).parent),
            "cpus": os.cpu_count(), "nvidia_smi": gpu,
            "probe": {"available": probe.available, "device": probe.device_name, "error": probe.error},
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def summarize(hardware: str, artifacts: Path, env: dict, done: int, total: int) -> str:
    from hwcov.run.journal import ResultJournal

    reference = ResultJournal(artifacts, "cpu").latest_by_case()
    cpu_passes = {k[0] for k, r in reference.items() if r["status"] == "pass"}
    rows = list(ResultJournal(artifacts, hardware).latest_by_case().values())
    lines = [f"# {hardware} sweep: {done}/{total} architectures reached", "",
             (f"{env.get('probe', {}).get('device') or env.get('probe', {}).get('error')}; torch {env.get('torch')}"
              f" (CUDA {env.get('cuda')}); transformers {env.get('transformers')}; {env.get('cpus')} CPUs"), "",
             f"CPU fp32 references: {len(cpu_passes)} pass of {len(reference)}", "",
             "| precision | pass | of CPU passes | median forward ms | outcomes |", "| --- | --- | --- | --- | --- |"]
    for precision in ("fp32", "fp16", "bf16"):
        these = [r for r in rows if r["precision"] == precision]
        if not these:
            continue
        passed = [r for r in these if r["status"] == "pass"]
        times = [r["execution_time_ms"] for r in passed if r.get("execution_time_ms")]
        median = f"{statistics.median(times):.2f}" if times else "n/a"
        counts = collections.Counter(r["status"] for r in these)
        lines.append(f"| {precision} | {len(passed)}/{len(these)} | "
                     f"{len({r['model_type'] for r in passed} & cpu_passes)}/{len(cpu_passes)} | {median} | "
                     f"{dict(counts.most_common())} |")
    failures = collections.Counter(r.get("error_pattern", "") for r in rows if r["status"] != "pass")
    lines += ["", f"failure patterns: {dict(failures.most_common(12))}"]
    return "\n".join(lines) + "\n"


def publish(out: Path, artifacts: Path, hardware: str, env: dict, done: int, total: int) -> None:
    """Copy what comes back (journals, summary, the log's tail) into --out: after each chunk and at the deadline."""
    out.mkdir(parents=True, exist_ok=True)
    for name in {"cpu", hardware}:
        journal = artifacts / "results" / f"{name}.jsonl"
        if journal.exists():
            shutil.copyfile(journal, out / journal.name)
    log = artifacts / "logs" / f"{hardware}.log"
    if log.exists():
        with open(log, "rb") as src, open(out / "workers.log", "wb") as dst:
            src.seek(max(0, log.stat().st_size - LOG_TAIL_BYTES))
            dst.write(src.read())
    (out / "env.json").write_text(json.dumps(env, indent=1) + "\n")
    text = summarize(hardware, artifacts, env, done, total)
    (out / "summary.md").write_text(text)
    print(text, flush=True)


def run(args) -> int:
    from hwcov.backends.hardware import BY_KEY
    from hwcov.cases import generate
    from hwcov.models import inventory
    from hwcov.run import sweep
    from hwcov.run.runner import Limits, preload

    deadline = float(os.environ.get("HWCOV_DEVICE_DEADLINE") or args.deadline)
    work = Path(args.work)
    artifacts = work / "artifacts"
    os.environ["HWCOV_ARTIFACTS_DIR"] = str(artifacts)  # the inventory cache and references stay in the work dir
    archs = inventory.by_type()
    chosen = [archs[m] for m in args.models.split(",")] if args.models else list(archs.values())
    ordered = stratified(chosen)[args.offset:]
    tests = {t["model_type"]: t for t in generate.generate(ordered, work / "generated")}
    env = environment(args.hardware)
    print(json.dumps(env), flush=True)
    state = {"done": 0}
    def at_deadline() -> None:
        for child in multiprocessing.active_children():  # the cases still running: their rows are not written
            child.kill()
        publish(args.out, artifacts, args.hardware, env, state["done"], len(ordered))
        print("device_sweep: deadline reached; rows so far kept", flush=True)
        os._exit(0)

    watchdog = threading.Timer(max(1.0, deadline - time.time()), at_deadline)
    watchdog.daemon = True
    watchdog.start()
    preload()
    spec = BY_KEY[args.hardware]
    cpu_limits = Limits(workers=max(1, (os.cpu_count() or 2) - 1), memory_mb=0 if args.no_memory_cap else 8192)
    hw_limits = Limits(workers=args.gpu_workers, timeout_s=spec.timeout_s, memory_mb=spec.memory_mb)
    for start in range(0, len(ordered), args.chunk):
        chunk = [tests[a.model_type] for a in ordered[start:start + args.chunk]]
        began = time.time()
        sweep.sweep(chunk, "cpu", artifacts, limits=cpu_limits, progress=False, log=print)
        if args.hardware != "cpu":
            sweep.sweep(chunk, args.hardware, artifacts, precision=None, limits=hw_limits, progress=False, log=print)
        state["done"] += len(chunk)
        print(f"device_sweep: chunk of {len(chunk)} in {time.time() - began:.0f} s", flush=True)
        publish(args.out, artifacts, args.hardware, env, state["done"], len(ordered))
    watchdog.cancel()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hardware", default="cuda", help="the partition to sweep (cuda, rocm; cpu to try the bundle)")
    p.add_argument("--out", type=Path, required=True, help="where journals, summary and env land ($OUT on a device)")
    p.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget from start; rows so far are kept")
    p.add_argument("--models", default="", help="comma-separated model types (default: the whole inventory)")
    p.add_argument("--offset", type=int, default=0,
                   help="skip the first N of the stratified order (a second call continues where one stopped)")
    p.add_argument("--chunk", type=int, default=135, help="architectures per chunk (references, then the hardware)")
    p.add_argument("--gpu-workers", type=int, default=min(12, os.cpu_count() or 1),
                   help="forked case workers sharing the GPU (each has its own CUDA context)")
    p.add_argument("--work", default="/tmp/hwcov-device-work", help="generated tests, references, journals")
    p.add_argument("--wheels", type=Path, default=WHEELS, help="the bundle (default .device/wheels)")
    p.add_argument("--site", type=Path, default=SITE, help="where the bundle is installed")
    p.add_argument("--no-install", action="store_true", help="use this interpreter's packages as they are")
    p.add_argument("--no-memory-cap", action="store_true", help="no address-space cap on the CPU reference workers")
    args = p.parse_args()
    args.deadline = time.time() + args.minutes * 60
    bootstrap(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
