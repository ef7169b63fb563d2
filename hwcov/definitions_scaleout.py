"""The scale-out code location (deploy/): the same assets, jobs, schedules and sensors as
hwcov.definitions, run on dagster-celery workers that own the hardware.

Differences from the local profile, and why:
- executor: hardware_celery_executor (hwcov/orchestration/routing.py): a device step runs on its hardware's queue,
  everything else on the orchestrator host's `dagster` queue (the one DuckDB writer);
- io_manager: HandoffIOManager (resources/handoff.py): device outputs reach DuckDB as Parquet on shared
  storage, loaded exactly once by the writer;
- (as locally) hardware-partitioned assets back-fill one run per partition: here a run is routed to one hardware's
  worker, and hardware on different hosts runs in parallel;
- handoff_ingest_job + handoff_ingest_sensor: device outputs that no writer step consumes (benchmark_job)
  still reach DuckDB.

Environment (the same on every host): HWCOV_SHARED_DIR (shared storage, same mount path everywhere),
HWCOV_DB_PATH (used on the orchestrator host only), HWCOV_CELERY_BROKER, HWCOV_CELERY_BACKEND.
"""
import os
import time
from pathlib import Path

from dagster import (
    DefaultSensorStatus,
    Definitions,
    OpExecutionContext,
    RunRequest,
    SkipReason,
    job,
    op,
    sensor,
)

from hwcov.core import paths
from hwcov.definitions import build_defs
from hwcov.orchestration.routing import hardware_celery_executor
from hwcov.resources.handoff import DEVICE_ASSETS, HandoffIOManager
from hwcov.store.handoff import Handoff

SHARED_ENV, BROKER_ENV, BACKEND_ENV = "HWCOV_SHARED_DIR", "HWCOV_CELERY_BROKER", "HWCOV_CELERY_BACKEND"
STALE_AFTER_S = 120  # a hardware run's own writer step ingests its output first; the sensor only sweeps up


def shared_dir() -> Path:
    return Path(os.environ.get(SHARED_ENV) or paths.db_path().parent / "shared").resolve()


@op(required_resource_keys={"io_manager"}, description="Load staged device outputs into DuckDB, each once.")
def ingest_handoff(context: OpExecutionContext) -> None:
    loaded = context.resources.io_manager.ingest_pending()
    context.log.info(f"ingested {len(loaded)} staged file(s): {loaded}")


@job(description="Load results staged by hardware workers into DuckDB (runs on the writer's queue).")
def handoff_ingest_job():
    ingest_handoff()


@sensor(job=handoff_ingest_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING)
def handoff_ingest_sensor(context):
    """Device outputs left in the inbox (no writer step consumed them) get an ingest run."""
    files = [f for f in Handoff(shared_dir()).pending(DEVICE_ASSETS)
             if time.time() - f.stat().st_mtime > STALE_AFTER_S]
    if not files:
        return SkipReason("nothing staged is waiting")
    return RunRequest(run_key="ingest:" + ",".join(sorted(f"{f.parent.name}/{f.stem}" for f in files))[:500])


def build_scaleout_defs() -> Definitions:
    shared = shared_dir()
    base = build_defs(str(paths.db_path()), str(shared / "generated_tests"), str(shared / "artifacts"))
    resources = {**base.resources,
                 "io_manager": HandoffIOManager(database=str(paths.db_path()), schema="hwcov", shared_dir=str(shared))}
    broker = {"broker": {"env": BROKER_ENV}, "backend": {"env": BACKEND_ENV}}
    return Definitions(assets=base.assets, resources=resources, jobs=[*base.jobs, handoff_ingest_job],
                       schedules=base.schedules, sensors=[*base.sensors, handoff_ingest_sensor],
                       executor=hardware_celery_executor.configured(broker))


defs = build_scaleout_defs()
