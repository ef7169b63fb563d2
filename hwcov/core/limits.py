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
