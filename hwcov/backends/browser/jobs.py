"""Isolation: every Playwright use happens in a forked process leading its own process group. A page crash or a
hung shader compile ends that job (killed with its Chromium) and fails that case only; a process that later forks
workers never has Playwright state. Also: launching Chromium, opening the page, what a failed job's message means."""
from __future__ import annotations

import functools
import os
import pickle
import re
import signal
import subprocess
import threading
import time

from hwcov.backends.browser.server import PageServer
from hwcov.core.system import descendants, process_table

CHROMIUM = os.environ.get("HWCOV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--enable-unsafe-webgpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--enable-features=WebMachineLearningNeuralNetwork",
]
JOB_TIMEOUT_S = float(os.environ.get("HWCOV_BROWSER_TIMEOUT_S", "150"))


@functools.lru_cache(maxsize=1)
def chromium_version() -> str:
    try:
        out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=30)
        words = out.stdout.split()
        return " ".join(words[:2]) if len(words) >= 2 else f"chromium ({out.stderr.strip()[:200]})"
    except (OSError, subprocess.SubprocessError) as exc:
        return f"chromium missing ({type(exc).__name__}: {exc})"


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
            reap_when_orphaned(parent, timeout_s + 10)
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
    table = process_table()
    return {table[pid][1] for pid in descendants(root, table) if pid in table and table[pid][1] != 0}


def kill_groups(groups, wait_s: float = 0.0) -> None:
    """SIGKILL every process of `groups`; with wait_s, until none of them is left running (zombies aside)."""
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + wait_s
    while wait_s and _running_in(groups) and time.monotonic() < deadline:
        time.sleep(0.05)


def _running_in(groups) -> bool:
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit():
                with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as fh:
                    state, _, group = fh.read().rsplit(")", 1)[1].split()[:3]
                if int(group) in groups and state != "Z":
                    return True
        except (OSError, ValueError):
            pass
    return False


def reap_when_orphaned(parent: int, deadline_s: float) -> None:
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


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def _keep(console: list, text: str) -> None:
    """Console lines worth keeping: all but onnxruntime's verbose and info chatter, except its node placements."""
    if not ("[V:" in text or "[I:" in text) or "VerifyEachNodeIsAssignedToAnEp" in text:
        console.append(text)


def open_page(browser, server: PageServer, bundle: str, threads: int, console: list, log: str = "warning"):
    page = browser.new_page()
    page.on("console", lambda m: _keep(console, f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.goto(f"{server.origin}/?bundle={bundle}&threads={threads}&log={log}")
    page.wait_for_function("window.hwcovReady === true", timeout=60_000)
    return page


# what a failed browser job's message says happened -> the row's status (else fail_to_run)
_JOB_STATUS = (("timeout", re.compile(r"browser job timed out")),
               ("crash", re.compile(r"Target crashed|Page crashed|browser job died|Browser closed|has been closed")),
               ("oom", re.compile(r"Out of memory|Array buffer allocation failed|out of memory", re.I)))


def job_status(message: str) -> str:
    return next((status for status, pattern in _JOB_STATUS if pattern.search(message)), "fail_to_run")


def threads() -> int:
    import torch

    return max(1, torch.get_num_threads())
