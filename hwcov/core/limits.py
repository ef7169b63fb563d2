"""The default limits of one case, in one place: the registry, the runner, custom platforms and the CLI read them."""

DEFAULT_TIMEOUT_S = 180.0  # a case's wall clock before it is a `timeout` (exported/browser hardware: the registry's)
DEFAULT_MEMORY_MB = 8192  # a worker's address-space cap before it is an `oom` (0 = none)

# The running case's deadline (time.monotonic), set by the runner in the case's worker: a backend's optional extra
# stage (the dynamic-shape check after a passing forward) runs only while enough of the case's budget is left, so it
# never turns a measured pass into a `timeout`.
_case = {"deadline": None, "budget": None}


def start_case(timeout_s: float) -> None:
    import time

    _case.update(deadline=time.monotonic() + timeout_s, budget=timeout_s)


def case_time_left() -> tuple[float, float]:
    """(seconds left, the case's whole budget); (inf, inf) outside a runner's worker."""
    import time

    if _case["deadline"] is None:
        return float("inf"), float("inf")
    return _case["deadline"] - time.monotonic(), _case["budget"]


class CaseTimeSpent(BaseException):
    """Raised into an optional stage when the case's deadline nears (a BaseException: the stage's own broad
    `except Exception` must not swallow it and go on)."""


class stop_before_deadline:
    """`with stop_before_deadline(reserve_s):` raises CaseTimeSpent in the block `reserve_s` before the case's
    deadline (SIGALRM, so the main thread of a runner's worker only; elsewhere a no-op), leaving the case the time
    to return what it already measured: a mode that overruns ends as that mode's timeout, and the forward's verdict,
    measured before it, is kept instead of the whole case becoming a `timeout`. Native code is interrupted when it
    returns to Python."""

    def __init__(self, reserve_s: float):
        self.reserve_s, self.previous = reserve_s, None

    def __enter__(self):
        import signal
        import threading

        left, _ = case_time_left()
        if left == float("inf") or threading.current_thread() is not threading.main_thread():
            return self

        def spent(signum, frame):
            raise CaseTimeSpent(f"the case's deadline is {self.reserve_s:.0f} s away")

        own_signal_stack()
        self.previous = signal.signal(signal.SIGALRM, spent)
        signal.setitimer(signal.ITIMER_REAL, max(left - self.reserve_s, 0.001))
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


_SIGNAL_STACK = []  # the buffer own_signal_stack() installs, kept for the process's life


def own_signal_stack(size: int = 1 << 16) -> bool:
    """Point this thread's alternate signal stack at a buffer hwcov keeps for the process's life (Linux; elsewhere
    False, nothing done). Why: Python's signal handlers run their C part on that stack (SA_ONSTACK), and a native
    library may leave it pointing at memory it freed: OpenVINO's CPU plugin swaps in a stack per Core and, Cores
    released in another order than made, puts back a freed one. A signal then dies as SIGSEGV instead of running
    its handler. Only the main thread calls it (Python runs handlers there), so one buffer serves."""
    import ctypes
    import sys

    if sys.platform != "linux":
        return False

    class Stack(ctypes.Structure):  # stack_t on Linux
        _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]

    if not _SIGNAL_STACK:
        _SIGNAL_STACK.append(ctypes.create_string_buffer(size))
    buffer = _SIGNAL_STACK[0]
    stack = Stack(ctypes.cast(buffer, ctypes.c_void_p), 0, ctypes.sizeof(buffer))
    return ctypes.CDLL(None, use_errno=True).sigaltstack(ctypes.byref(stack), None) == 0


# A runner worker's slot: a folder that lives as long as the run and is handed to one case at a time, so what a case
# may keep for the next one (a browser worker's Chromium: hwcov.backends.browser.host) lives there. Unset outside
# a runner's worker.
WORKER_SLOT_ENV = "HWCOV_WORKER_SLOT"


def worker_slot():
    """The running case's slot folder (a pathlib.Path), or None outside a runner's worker."""
    import os
    from pathlib import Path

    slot = os.environ.get(WORKER_SLOT_ENV, "")
    return Path(slot) if slot and os.path.isdir(slot) else None


# The stage a case is in (a mode, or an export route), written into its worker's slot while it runs: a native crash
# (OpenVINO's SIGABRT in a dynamic check, a SIGFPE in TorchScript's exporter) kills the worker before it reports, and
# this file is how the runner learns where, so the sweep reruns the case without that mode or route
# (hwcov.run.sweep) instead of the whole row becoming a `crash` that hides what the case had measured.
STAGE_IN_FLIGHT_FILE = "stage-in-flight"


class stage_in_flight:
    """`with stage_in_flight("mode", "dynamic"):` names the running stage in the worker's slot (outside a worker,
    nothing)."""

    def __init__(self, kind: str, name: str):
        self.text, self.path = f"{kind} {name}", None

    def __enter__(self):
        slot = worker_slot()
        if slot is not None:
            self.path = slot / STAGE_IN_FLIGHT_FILE
            self.path.write_text(self.text, encoding="utf-8")
        return self

    def __exit__(self, *exc):
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        return False


def take_stage_in_flight(slot) -> str:
    """The stage a dead worker's case was in ('mode dynamic', 'route torch-onnx-legacy'; '' when it died elsewhere),
    and the slot cleared of it."""
    from pathlib import Path

    path = Path(slot) / STAGE_IN_FLIGHT_FILE
    try:
        stage = path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    path.unlink(missing_ok=True)
    return stage


# Export routes a case's rerun leaves out, each with why (one killed the worker of an earlier try): set by the sweep
# in the case's worker, read by the exported runtimes' backends.
_skipped_routes: dict[str, str] = {}


def skip_routes(routes: dict[str, str]) -> None:
    _skipped_routes.clear()
    _skipped_routes.update(routes)


def skipped_route(route: str) -> str:
    """Why this case's rerun leaves `route` out ('' when it doesn't)."""
    return _skipped_routes.get(route, "")
