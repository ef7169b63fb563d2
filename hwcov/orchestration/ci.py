"""--ci-mode: run a priority tier on the hardware present and name every cell that passed before and no longer does.

Why here: a regression check is "statuses, a pipeline run, statuses again"; the run is a Dagster materialization,
so the check lives beside the pipeline. It returns what regressed; the cli prints it and picks the exit code.
"""
from __future__ import annotations

from dataclasses import dataclass

from hwcov.core import paths
from hwcov.orchestration import pipeline
from hwcov.store import database as store

PRIORITIES = {"highest": 1, "high": 2, "medium": 3, "all": 0}  # --priority -> the inventory's max priority


@dataclass(frozen=True)
class Regression:
    model_type: str
    hardware: str
    now: str  # the status it has after the run (it was 'pass')


def available_hardware() -> list[str]:
    """Runnable hardware whose probe finds the device here."""
    from hwcov.backends.registry import RUNNABLE, custom_platforms, get_backend

    return [hw for hw in list(RUNNABLE) + list(custom_platforms()) if get_backend(hw).probe().available]


def stored_statuses(hardware: list[str]) -> dict[tuple[str, str], str]:
    """(model_type, hardware) -> status in the database; empty before the first run."""
    import duckdb

    if not paths.db_path().exists():
        return {}
    with store.connect(paths.db_path(), read_only=True) as con:
        try:
            return store.statuses(con, hardware)
        except duckdb.CatalogException:  # a first run has nothing to regress from
            return {}


def regressions(hardware: list[str], priority: str, workers: int = 0, timeout: float = 0.0) -> list[Regression] | None:
    """Run `priority` on `hardware`; the cells that passed before and don't now, or None if the run failed."""
    before = stored_statuses(hardware)
    if not pipeline.run_pipeline(hardware, [], None, workers=workers, timeout=timeout,
                                 max_priority=PRIORITIES[priority]):
        return None
    after = stored_statuses(hardware)
    return [Regression(m, hw, after[(m, hw)]) for m, hw in sorted(before)
            if before[(m, hw)] == "pass" and after.get((m, hw), "pass") != "pass"]
