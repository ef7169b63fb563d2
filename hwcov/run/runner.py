"""Run cases isolated: one forked child per case, forked from a clean, preloaded fork server.

A fork server (multiprocessing's `forkserver`: a fresh interpreter that imports torch/transformers once, before
any thread pool runs) forks each case, so a fork costs milliseconds instead of a ~5 s import, and no case inherits
a lock held by a thread of the caller: the caller may be a pytest process or a Dagster code server that has run
torch's, OpenMP's or ONNX Runtime's pools (a child forked from such a parent once hung, another aborted as SIGSEGV).
What a case reads from its caller travels with it: the environment, the paths chosen in-process and where library
warnings go (hwcov.run.inherit); sys.path and the working directory (multiprocessing's own preparation data). So
`fn` and each task must pickle (a module-level function or a functools.partial of one).
Each child has a memory cap and the parent a per-case timeout; a child that dies, hangs or runs out of memory yields
`crash`, `timeout` or `oom` for that case only, and the pool keeps its width. Such a result names the stage the case
was in when it died (`died_in`: 'mode dynamic', 'route torch-onnx-legacy'; hwcov.core.limits.stage_in_flight), and
`on_result` may answer it with `Again(task)`: a task to run next (the case again, without that stage).
Each worker has a slot (hwcov.core.limits.worker_slot), a folder handed to one case at a time for the run's length,
where a case may keep what the worker's next case can reuse (a browser worker's Chromium); the run's end removes it.
Results reach `on_result` as each case finishes.
"""
from __future__ import annotations

import faulthandler
import multiprocessing as mp
import os
import resource
import shutil
import signal
import tempfile
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Callable, Iterable

from hwcov.core import data
from hwcov.core.limits import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    WORKER_SLOT_ENV,
    start_case,
    take_stage_in_flight,
)
from hwcov.core.offline import no_telemetry
from hwcov.core.system import status_kb
from hwcov.run import inherit

DIED = ("crash", "timeout", "oom")  # the runner's own verdicts on a worker that never reported
OOM_MARKERS = ("can't allocate memory", "out of memory", "cannot allocate memory", "MemoryError")


@dataclass
class Limits:
    workers: int = 2
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    torch_threads: int = 1
    log_path: str = ""  # children's stdout/stderr go here, keeping the progress bar readable
    # "forkserver" (every caller); "fork" forks the caller itself, for a test whose patches the cases must see
    start: str = "forkserver"


@dataclass(frozen=True)
class Again:
    """What on_result returns to run a task next: a case again, changed (a sweep's rerun without a dead stage)."""
    task: object


# What the fork server imports before it forks anything: the caller's main script, once (multiprocessing would
# otherwise re-run it in every child to find functions pickled from it; a `python -m` module is never re-run), and
# hwcov.run.preloaded (torch, transformers, the case code).
SERVER_PRELOAD = ["__main__", "hwcov.run.preloaded"]


# What an exported runtime's case imports on first use, ~1.1 s a case when each fork imports it afresh (an
# onnxruntime case from a preloaded server: 1.6 s, then 0.5 s once these are loaded). None of them starts a thread on
# import; openvino does (a TBB thread), so it stays out: a fork must not inherit a thread's held lock.
WARM_IMPORTS = ("onnx", "onnx_ir", "onnxscript", "onnxruntime", "tokenizers", "transformers.exporters",
                "transformers.processing_utils")


def _case_environment() -> None:
    """Telemetry off, and torch.cuda.is_available() (transformers asks) answered through NVML: else it starts the
    CUDA driver, and a driver started in a process fails in every case forked from it."""
    no_telemetry()
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")


# What a case imports on its way (the generated test's mixin and pytest, the backends, the model builders and the
# transformers modules most architectures reach): ~0.3 s a case when each fork imports them afresh. None starts a
# thread (the openvino backend imports openvino itself only when a case runs it).
CASE_MODULES = ("hwcov.cases.testing", "hwcov.backends.exported", "hwcov.backends.dynamic", "hwcov.backends.generation",
                "hwcov.backends.onnxruntime", "hwcov.backends.openvino", "hwcov.backends.torch",
                "hwcov.backends.browser.client", "hwcov.models.build", "hwcov.models.tiny", "hwcov.models.inputs",
                "hwcov.models.inventory", "hwcov.models.checkpoints", "hwcov.models.signal", "hwcov.export.routes",
                "hwcov.export.generation", "transformers.generation.utils", "transformers.modeling_layers",
                "transformers.exporters.runners.runner_onnx", "transformers.image_processing_utils",
                "transformers.video_processing_utils", "transformers.tokenization_utils_tokenizers",
                "transformers.tokenization_utils_sentencepiece", "transformers.convert_slow_tokenizer")


# The template data every case reads (its tiny config, input recipe, skips and tolerances): ~0.12 s of parsing a case
# when each fork reads it afresh. A case re-reads a file edited since (hwcov.core.data.forget_changed, in _child).
CASE_DATA = ("inputs.yaml", "tiny/overrides.yaml", "tiny/defaults.yaml", "skips.yaml", "inventory.yaml",
             "tolerances.yaml")


def read_case_data() -> None:
    """The fork server's read of CASE_DATA, from the templates in use; a file that does not load is left for the
    case to report."""
    for name in CASE_DATA:
        try:
            data.load(name)
        except Exception:  # noqa: BLE001,S112 - the case reads it again and says what is wrong with it
            continue


def preload() -> None:
    """Import what every case needs before forking, so children share it (telemetry off before any of it)."""
    _case_environment()
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import transformers.masking_utils  # noqa: F401
    import transformers.modeling_utils  # noqa: F401


def warm_imports() -> None:
    """The fork server's extra: WARM_IMPORTS and CASE_MODULES, those installed (what every case needs is preload()'s;
    the device bundle, benchmarks/device_bundle.py, is sized by preload() alone)."""
    import importlib

    for name in WARM_IMPORTS + CASE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def start_server(start: str = "forkserver") -> None:
    """Have the fork server preload (torch, transformers, the case code: ~6 s) from now on, beside whatever the caller
    does before its first case (Dagster's run, the inventory check), instead of when that case starts. The caller
    itself imports none of it. The server is a fresh interpreter: what it inherits now (sys.path, the working
    directory, the environment) is what every case sees; each case also gets the caller's at its start."""
    _case_environment()
    if start == "forkserver":
        from multiprocessing import forkserver

        _context(start)
        forkserver.ensure_running()


def _redirect_output(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    faulthandler.enable()  # re-aim crash dumps at the log (pytest aims them at its own copy of stderr)


def _context(start: str):
    ctx = mp.get_context(start)
    if start == "forkserver":
        ctx.set_forkserver_preload(SERVER_PRELOAD)  # read once, when this process first starts its server
    return ctx


def _child(conn, fn, task, limits: Limits, caller: inherit.CallerState, slot: str) -> None:
    start_case(limits.timeout_s)
    try:
        inherit.enter(caller)
        data.forget_changed()  # a template the fork server read, edited since (a long-lived code server's)
        os.environ[WORKER_SLOT_ENV] = slot
        if limits.log_path:
            _redirect_output(limits.log_path)
            os.write(1, f"hwcov case {_label(task)}: {forked_by()}\n".encode())  # whose case crashed, in the log
        if limits.memory_mb:
            # Soft limit only: the case is capped, yet a case that must (Chromium reserves far more
            # address space than it uses) can lift it again for a subprocess of its own.
            # The budget is the case's own, on top of what the preloaded parent already maps (torch,
            # transformers …: over a GiB of address space in a long-lived pytest or Dagster process).
            cap = status_kb("VmSize") * 1024 + limits.memory_mb * 1024 * 1024
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            resource.setrlimit(resource.RLIMIT_AS, (min(cap, hard) if hard != resource.RLIM_INFINITY else cap, hard))
        import torch

        torch.set_num_threads(limits.torch_threads)
        result = fn(task)
    except MemoryError as exc:
        result = {"status": "oom", "error_message": f"MemoryError: {exc}"}
    except BaseException as exc:  # noqa: BLE001 - every failure is a result, not a crash of the sweep
        msg = f"{type(exc).__name__}: {exc}"
        oom = any(m.lower() in msg.lower() for m in OOM_MARKERS)
        result = {"status": "oom" if oom else "fail_to_run", "error_message": msg[:4000],
                  "traceback": traceback.format_exc(limit=-6)[-4000:]}
    try:
        conn.send(result)
    finally:
        conn.close()
        os._exit(0)


def forked_by() -> str:
    """'pid N, forked by the fork server (pid M)' or '... by its caller (pid M)', read from the parent's command
    line: the evidence that a case started from a Dagster code server or a pytest process never came from them."""
    parent = os.getppid()
    try:
        with open(f"/proc/{parent}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        command = ""
    who = "the fork server" if "multiprocessing.forkserver" in command else "its caller"
    return f"pid {os.getpid()}, forked by {who} (pid {parent})"


def _label(task) -> str:
    """A sweep task's architecture and precision ((test, key, precision), test a dict), else the task itself."""
    if isinstance(task, tuple) and task and isinstance(task[0], dict) and "model_type" in task[0]:
        again = f" (again, {task[3]})" if len(task) > 3 else ""  # a sweep's rerun: what it leaves out
        return f"{task[0]['model_type']} {task[2]}{again}"
    return repr(task)[:80]


def _dead_result(proc, limits: Limits) -> dict:
    code = proc.exitcode
    if code is not None and code < 0:
        sig = signal.Signals(-code).name
        if -code == signal.SIGKILL:
            return {"status": "oom", "error_message": f"worker killed by {sig} (likely the kernel OOM killer)"}
        return {"status": "crash", "error_message": f"worker died with {sig}"}
    return {"status": "crash", "error_message": f"worker exited with code {code} before reporting a result"}


def run_isolated(tasks: Iterable, fn: Callable, on_result: Callable, limits: Limits | None = None,
                 progress=None) -> None:
    """Call fn(task) in a forked child per task; on_result(task, result, seconds) as each ends. When on_result
    returns Again(task), that task runs too (after those queued); the progress bar counts a case once, at its end."""
    limits = limits or Limits()
    if limits.log_path:
        os.makedirs(os.path.dirname(limits.log_path) or ".", exist_ok=True)
    ctx = _context(limits.start)
    caller = inherit.capture()
    run_dir = tempfile.mkdtemp(prefix="hwcov-run-")  # the workers' slots; removed when the run ends
    try:
        _run(ctx, caller, run_dir, list(tasks), fn, on_result, limits, progress)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)  # what a slot kept (a browser worker's host) ends with it


def _run(ctx, caller, run_dir: str, pending: list, fn, on_result, limits: Limits, progress) -> None:
    free = [os.path.join(run_dir, f"slot-{i}") for i in range(limits.workers)]
    for slot in free:
        os.mkdir(slot)
    running: dict = {}  # sentinel -> (proc, conn, task, start, slot)
    while pending or running:
        while pending and len(running) < limits.workers:
            task, slot = pending.pop(0), free.pop(0)
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(send, fn, task, limits, caller, slot), daemon=True)
            proc.start()
            send.close()
            running[proc.sentinel] = (proc, recv, task, time.monotonic(), slot)
        ready = wait([c for _, c, _, _, _ in running.values()] + list(running), timeout=1.0)
        now = time.monotonic()
        for key, (proc, conn, task, start, slot) in list(running.items()):
            result = None
            if conn in ready or key in ready:
                try:
                    result = conn.recv() if conn.poll() else None
                except (EOFError, OSError):
                    result = None
                proc.join(timeout=5)
                if result is None:
                    if proc.is_alive():
                        continue
                    result = _dead_result(proc, limits)
            elif now - start > limits.timeout_s:
                proc.kill()
                proc.join()
                result = {"status": "timeout", "error_message": f"no result after {limits.timeout_s:.0f} s"}
            else:
                continue
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()
            del running[key]
            died_in = take_stage_in_flight(slot)  # cleared for the slot's next case either way
            if died_in and result["status"] in DIED:
                result["died_in"] = died_in
            free.append(slot)  # to the next case, with whatever its last case kept there
            follow_up = on_result(task, result, now - start)
            if isinstance(follow_up, Again):
                pending.append(follow_up.task)
            elif progress is not None:
                progress.update(1)
