"""The Dagster code location: assets from assets/, resources from resources/, jobs.

Import-cheap on purpose: partitions need only the category and hardware names, so
torch and transformers load in the runs, not when the webserver loads the code.
"""
from dagster import Definitions, load_assets_from_modules

from hwcov.assets import (
    benchmark_results,
    checkpoint_benchmarks,
    checkpoint_results,
    coverage,
    error_patterns,
    generated_tests,
    inventory,
    run_results,
)
from hwcov.assets.automation import JOBS, SENSORS, build_schedules
from hwcov.resources.backends import backend_resources
from hwcov.resources.io import duckdb_io_manager
from hwcov.resources.settings import HwcovSettings


def build_defs(db_path: str | None = None, generated_dir: str = "", artifacts_dir: str = "", workers: int = 0,
               timeout_s: float = 0.0) -> Definitions:
    return Definitions(
        assets=load_assets_from_modules([inventory, generated_tests, run_results, error_patterns, coverage,
                                          benchmark_results, checkpoint_results, checkpoint_benchmarks]),
        resources={
            "io_manager": duckdb_io_manager(db_path),
            "settings": HwcovSettings(db_path=db_path or "", generated_dir=generated_dir,
                                      artifacts_dir=artifacts_dir),
            **backend_resources(workers, timeout_s),  # one per resource key of the hardware registry
        },
        jobs=JOBS,
        schedules=build_schedules(),
        sensors=SENSORS,
    )


defs = build_defs()
