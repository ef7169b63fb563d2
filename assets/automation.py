"""Schedules from the seed's schedule config, and the sensors that close the generator loop.

- each schedule requests its hardware partitions of hardware_job (absent hardware records `unavailable`);
- `inventory_change_sensor`: transformers or templates changed (fingerprint) -> regenerate (one run);
- `rerun_changed_tests_sensor`: after a regeneration, rerun only the architectures whose generated test
  changed, on every hardware that had results, noting the success rate before;
- `generator_update_sensor`: when such a rerun succeeds, record before/after in hwcov.generator_updates;
- `report_after_run_sensor`: a scheduled run that asks for a report gets one;
- `patterns_after_failure_sensor`: a failed hardware run still refreshes its error patterns.
"""
from __future__ import annotations

import json

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    run_failure_sensor,
    run_status_sensor,
    schedule,
    sensor,
)

from hwcov.models.inventory import CATEGORIES

# A single-run backfill over a partition range is tagged with these (dagster 1.13 names them only under its private
# dagster._core.storage.tags; tests/test_automation.py checks the strings still match).
ASSET_PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
ASSET_PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"

RUN_RESULTS_OP = "hwcov__run_results"
UPDATE_TAG, BEFORE_TAG, FAMILIES_TAG = "hwcov/generator_update", "hwcov/rate_before", "hwcov/families"
REPORT_TAG, SCHEDULE_TAG = "hwcov/report", "hwcov/schedule"
# The inventory fingerprint an inventory run was made for (hwcov.cases.generate.fingerprint): the sensor sets it,
# hwcov.orchestration.pipeline reads it to skip a regeneration nothing asks for.
FINGERPRINT_TAG = "hwcov/inventory_fingerprint"

inventory_job = define_asset_job(
    "inventory_job", selection=["hwcov/model_inventory", "hwcov/generated_tests"],
    description="Refresh the inventory and regenerate tests.")
hardware_job = define_asset_job(
    "hardware_job", selection=["hwcov/run_results", "hwcov/error_patterns"],
    description="Run every generated test on one hardware partition.")
report_job = define_asset_job("report_job", selection=["hwcov/coverage_report"],
                              description="Rebuild the coverage matrix, markdown report and history.")
patterns_job = define_asset_job("patterns_job", selection=["hwcov/error_patterns"],
                                description="Reclassify a hardware partition's failures.")
benchmark_job = define_asset_job("benchmark_job", selection=["hwcov/benchmark_results"],
                                 description="Measure the passing architectures on one hardware partition.")
checkpoint_job = define_asset_job(
    "checkpoint_job", selection=["hwcov/checkpoint_results"],
    description="Your own checkpoints on one hardware partition: set run config `checkpoints` (folders or hub ids in "
                "the local Hugging Face cache; empty = every one run here before).")
checkpoint_benchmark_job = define_asset_job(
    "checkpoint_benchmark_job", selection=["hwcov/checkpoint_benchmarks"],
    description="Time your checkpoints' passing precisions on one hardware partition (after checkpoint_job).")
JOBS = [inventory_job, hardware_job, report_job, patterns_job, benchmark_job, checkpoint_job, checkpoint_benchmark_job]


def _run_config(models=(), categories=(), max_priority=0) -> dict:
    return {"ops": {RUN_RESULTS_OP: {"config": {"models": list(models), "categories": list(categories),
                                                 "max_priority": max_priority}}}}


def schedule_description(spec) -> str:
    """What the schedule launches, on which hardware, how often, with which filter and follow-ups."""
    scope = f"category {spec.category}" if spec.category else "every category"
    priority = f", priority <= {spec.max_priority}" if spec.max_priority else ", every priority"
    after = [what for what, on in (("report", spec.generate_report or spec.update_dashboard),
                                   (f"mail to {spec.notification_email}", spec.notification_email)) if on]
    return (f"{spec.name} ({spec.cron}): one hardware_job run per hardware ({', '.join(spec.hardware)}) over "
            f"{scope}{priority}" + (f"; then {', '.join(after)}" if after else ""))


def make_schedule(spec) -> ScheduleDefinition:
    @schedule(name=spec.name, cron_schedule=spec.cron, job=hardware_job,
              description=schedule_description(spec))
    def _schedule(context):
        when = context.scheduled_execution_time.isoformat()
        tags = {SCHEDULE_TAG: spec.name, REPORT_TAG: "1" if spec.generate_report or spec.update_dashboard else ""}
        if spec.notification_email:
            tags["hwcov/notify"] = spec.notification_email
        for hw in spec.hardware:
            yield RunRequest(run_key=f"{spec.name}:{hw}:{when}", partition_key=hw, tags=tags,
                             run_config=_run_config(categories=[spec.category] if spec.category else (),
                                                    max_priority=spec.max_priority))

    return _schedule


def build_schedules() -> list[ScheduleDefinition]:
    from hwcov.backends.registry import all_hardware
    from hwcov.core import schedule_config as schedules

    return [make_schedule(spec) for spec in schedules.load(all_hardware(), CATEGORIES)]


@sensor(job=inventory_job, minimum_interval_seconds=300, default_status=DefaultSensorStatus.STOPPED,
        description="Every 5 minutes: when the installed transformers, the templates or hwcov's own code changed "
                    "(their fingerprint), launches inventory_job (inventory + regenerated tests, every category).")
def inventory_change_sensor(context: SensorEvaluationContext):
    """Regenerate when the installed transformers, the templates or hwcov itself changed."""
    from hwcov.cases.generate import fingerprint

    current = fingerprint()
    if context.cursor == current:
        return SkipReason(f"inventory fingerprint {current} unchanged")
    context.update_cursor(current)
    return RunRequest(run_key=f"inventory:{current}", tags={
        ASSET_PARTITION_RANGE_START_TAG: CATEGORIES[0], ASSET_PARTITION_RANGE_END_TAG: CATEGORIES[-1],
        FINGERPRINT_TAG: current})


def stale_requests(db_path, run_id: str) -> list[RunRequest]:
    """One run per hardware for the architectures whose generated test changed since their result."""
    from hwcov.store import database as store

    with store.connect(db_path, read_only=True) as con:
        stale = store.stale_results(con)
    requests = []
    for hw, part in stale.groupby("hardware"):
        before = round(float((part["status"] == "pass").mean()), 4)
        requests.append(RunRequest(
            run_key=f"rerun:{run_id}:{hw}", partition_key=hw, run_config=_run_config(sorted(part["model_type"])),
            tags={UPDATE_TAG: run_id, BEFORE_TAG: str(before),
                  FAMILIES_TAG: ",".join(sorted(part["family"].unique()))[:200]}))
    return requests


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[inventory_job], request_job=hardware_job,
                   default_status=DefaultSensorStatus.STOPPED,
                   description="After inventory_job succeeds: launches one hardware_job run per hardware, for only the "
                               "architectures whose generated test changed since their stored result.")
def rerun_changed_tests_sensor(context):
    from hwcov.core import paths

    requests = stale_requests(paths.db_path(), context.dagster_run.run_id)
    return requests or SkipReason("no generated test changed for any stored result")


def generator_update_row(run, db_path) -> dict | None:
    """before/after success rates of a rerun requested by rerun_changed_tests_sensor."""
    from hwcov.store import database as store

    if UPDATE_TAG not in run.tags:
        return None
    models = run.run_config["ops"][RUN_RESULTS_OP]["config"]["models"]
    hw = run.tags["dagster/partition"]
    with store.connect(db_path, read_only=True) as con:
        after = store.pass_rate(con, hw, models)
    return {"generator_name": f"templates for {run.tags.get(FAMILIES_TAG, '')}", "hardware_platform": hw,
            "patch_description": f"regenerated after inventory run {run.tags[UPDATE_TAG]}; reran changed tests",
            "affected_models": len(models), "success_rate_before": float(run.tags[BEFORE_TAG]),
            "success_rate_after": after, "model_types": json.dumps(models),
            "run_id": run.run_id}


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[hardware_job],
                   default_status=DefaultSensorStatus.STOPPED,
                   description="After a rerun that rerun_changed_tests_sensor asked for: records the pass rate "
                               "before and after the template change (generator_updates table); launches nothing.")
def generator_update_sensor(context):
    from hwcov.core import paths
    from hwcov.store import database as store

    row = generator_update_row(context.dagster_run, paths.db_path())
    if row is None:
        return SkipReason("not a rerun after a template change")
    with store.connect(paths.db_path()) as con:
        store.record_generator_update(con, row)
    return SkipReason(f"recorded generator update: {row['success_rate_before']} -> {row['success_rate_after']}")


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[hardware_job], request_job=report_job,
                   default_status=DefaultSensorStatus.STOPPED,
                   description="After a hardware_job run whose schedule asked for a report (generate_report or "
                               "update_dashboard): launches report_job (coverage matrix, report, history).")
def report_after_run_sensor(context):
    if not context.dagster_run.tags.get(REPORT_TAG):
        return SkipReason("the run did not ask for a report")
    return RunRequest(run_key=f"report:{context.dagster_run.run_id}")


@run_failure_sensor(monitored_jobs=[hardware_job], request_job=patterns_job,
                    default_status=DefaultSensorStatus.STOPPED,
                    description="After a hardware_job run fails: launches patterns_job on that run's hardware "
                                "partition, so its failures are classified even though the run stopped.")
def patterns_after_failure_sensor(context):
    partition = context.dagster_run.tags.get("dagster/partition")
    if not partition:
        return SkipReason("failed run had no hardware partition")
    return RunRequest(run_key=f"patterns:{context.dagster_run.run_id}", partition_key=partition)


def _notify(context, status: str):
    from hwcov.core import paths
    from hwcov.reports import notify

    run = context.dagster_run
    to = run.tags.get("hwcov/notify")
    if not to:
        return SkipReason("no notification_email for this run")
    subject, body = notify.run_summary(run, status, paths.db_path())
    sent = notify.send(to, subject, body)
    return SkipReason(f"mailed {to}" if sent else "HWCOV_SMTP_HOST not set: nothing sent")


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, monitored_jobs=[hardware_job], name="notify_success_sensor",
                   default_status=DefaultSensorStatus.STOPPED,
                   description="After a scheduled hardware_job run succeeds: mails its summary to the schedule's "
                               "notification_email through $HWCOV_SMTP_HOST (nothing without it).")
def notify_success_sensor(context):
    return _notify(context, "succeeded")


@run_failure_sensor(monitored_jobs=[hardware_job], name="notify_failure_sensor",
                    default_status=DefaultSensorStatus.STOPPED,
                    description="After a scheduled hardware_job run fails: mails the failure to the schedule's "
                                "notification_email through $HWCOV_SMTP_HOST (nothing without it).")
def notify_failure_sensor(context):
    return _notify(context, "failed")


# On by default, unlike the sensors above (which launch sweeps): error_patterns only reads stored rows.
patterns_automation_sensor = AutomationConditionSensorDefinition(
    "patterns_automation_sensor", target=AssetSelection.assets(AssetKey(["hwcov", "error_patterns"])),
    default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=15,
    description="Keeps error_patterns current: every 15 s it evaluates error_patterns' eager condition and launches "
                "it for each hardware partition whose run_results changed since (a run from the asset page, a "
                "backfill, a schedule); a run that materialized both already is not repeated.")
SENSORS = [notify_success_sensor, notify_failure_sensor, inventory_change_sensor, rerun_changed_tests_sensor,
           generator_update_sensor, report_after_run_sensor, patterns_after_failure_sensor, patterns_automation_sensor]
