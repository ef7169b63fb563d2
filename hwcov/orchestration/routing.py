"""Scale-out routing on dagster-celery (Dagster side, like definitions.py): one Celery queue per hardware.

- HardwareQueueRunCoordinator (dagster.yaml's run_coordinator): every submitted run of ONE hardware
  partition gets the run tag `dagster-celery/queue=<hardware>` — UI launches, UI/CLI backfills,
  schedules and sensors alike, since all of them submit through the instance's run coordinator.
  A tag already set (e.g. `dagster-celery/queue=cuda-box-2`) is kept.
- hardware_celery_executor: dagster-celery's executor, except that a device step (run_results,
  benchmark_results) goes to the run's `dagster-celery/queue` — the worker that owns the hardware — and
  every other step to the default queue `dagster`, served by ONE worker on the orchestrator host: the only
  process that writes DuckDB (resources/handoff.py).

Kept light: the daemon and the webserver import this module for the run coordinator.
"""
from __future__ import annotations

from dagster import executor, multiple_process_executor_requirements
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.execution.retries import RetryMode
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor
from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

from hwcov.resources.handoff import device_op

WRITER_QUEUE = "dagster"  # dagster-celery's default queue: the orchestrator host's single writer


def run_hardware(tags) -> str | None:
    """The one hardware partition a run covers (single key, or a range of one), else None."""
    from hwcov.backends.registry import all_hardware

    key = tags.get(PARTITION_NAME_TAG)
    if key is None and tags.get(ASSET_PARTITION_RANGE_START_TAG) == tags.get(ASSET_PARTITION_RANGE_END_TAG):
        key = tags.get(ASSET_PARTITION_RANGE_START_TAG)
    return key if key in all_hardware() else None


def queue_tags(tags) -> dict[str, str]:
    """The run tag to add at submission: the run's hardware as its Celery queue (unless set already)."""
    hardware = run_hardware(tags)
    return {DAGSTER_CELERY_QUEUE_TAG: hardware} if hardware and DAGSTER_CELERY_QUEUE_TAG not in tags else {}


class HardwareQueueRunCoordinator(QueuedRunCoordinator):
    """QueuedRunCoordinator (same config) that tags each hardware run with its Celery queue."""

    def submit_run(self, context: SubmitRunContext):
        run = context.dagster_run
        extra = queue_tags(run.tags)
        if extra:
            self._instance.add_run_tags(run.run_id, extra)
            run = self._instance.get_run_by_id(run.run_id)
            context = SubmitRunContext(run, context.workspace)
        return super().submit_run(context)


def route(execution_plan, run_tags):
    """The plan with each device step tagged with the run's queue (dagster-celery reads step tags)."""
    queue = run_tags.get(DAGSTER_CELERY_QUEUE_TAG) or run_hardware(run_tags)
    steps = {}
    for handle, step in execution_plan.step_dict.items():
        if device_op(step.key):
            if not queue:
                raise DagsterInvariantViolationError(
                    f"step {step.key} must run on its hardware's worker, but this run covers no single hardware "
                    "partition and has no dagster-celery/queue tag: launch one run per hardware partition")
            step = step._replace(tags={**step.tags, DAGSTER_CELERY_QUEUE_TAG: queue})
        elif DAGSTER_CELERY_QUEUE_TAG not in step.tags:
            step = step._replace(tags={**step.tags, DAGSTER_CELERY_QUEUE_TAG: WRITER_QUEUE})
        steps[handle] = step
    return execution_plan._replace(step_dict=steps, step_dict_by_key={s.key: s for s in steps.values()})


class HardwareCeleryExecutor(CeleryExecutor):
    def execute(self, plan_context, execution_plan):
        return super().execute(plan_context, route(execution_plan, plan_context.dagster_run.tags))


@executor(name="hwcov_celery", config_schema=CELERY_CONFIG, requirements=multiple_process_executor_requirements())
def hardware_celery_executor(init_context):
    """dagster-celery's executor (same config: broker, backend, include, config_source, retries), routing
    device steps to the hardware's queue and the rest to the writer's."""
    config = init_context.executor_config
    return HardwareCeleryExecutor(broker=config.get("broker"), backend=config.get("backend"),
                                  config_source=config.get("config_source"), include=config.get("include"),
                                  retries=RetryMode.from_config(config["retries"]))
