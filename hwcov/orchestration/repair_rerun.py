"""The repair loop's rerun, on the local Dagster instance: regenerate and rerun the affected architectures through
the cli's pipeline, and the run id a trial records.

Why here: hwcov.repair is engine code and never imports Dagster; it takes its rerun as a callable (repair.loop.Rerun).
This module builds that callable from the pipeline, so the loop runs the same materializations a user's
`hwcov --hardware` does and every trial shows up in the Dagster UI.
"""
from __future__ import annotations

from hwcov.orchestration import instance, pipeline
from hwcov.repair.loop import Rerun


def rerun(workers: int = 0, timeout: float = 0.0) -> Rerun:
    """A Rerun through run_pipeline: regenerate (the trial changed the templates), sweep, patterns, report."""
    def run(hardware: str, models: list[str], force: bool = False) -> bool:
        return pipeline.run_pipeline([hardware], models, None, workers=workers, timeout=timeout, regenerate=True,
                                     force=force)

    return run


def last_run_id() -> str:
    """The run that wrote the latest run_results: the trial's rerun, recorded in hwcov.generator_updates."""
    return instance.last_materialization_run_id("hwcov/run_results")
