"""Snapshot of the Dagster graph: an accidental change to assets, partitions or jobs shows up here."""
import subprocess
import sys
from pathlib import Path

from hwcov.backends.registry import HARDWARE
from hwcov.definitions import defs
from hwcov.models.inventory import CATEGORIES

ROOT = Path(__file__).resolve().parents[2]


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    snapshot = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        parts = node.partitions_def.get_partition_keys() if node.partitions_def else None
        snapshot[key.to_user_string()] = (tuple(parts) if parts else None,
                                          sorted(k.to_user_string() for k in node.parent_keys))
    assert snapshot == {
        "hwcov/model_inventory": (CATEGORIES, []),
        "hwcov/generated_tests": (CATEGORIES, ["hwcov/model_inventory"]),
        "hwcov/run_results": (HARDWARE, ["hwcov/generated_tests"]),
        "hwcov/error_patterns": (HARDWARE, ["hwcov/run_results"]),
        "hwcov/coverage_report": (None, ["hwcov/model_inventory", "hwcov/run_results"]),
        "hwcov/benchmark_results": (HARDWARE, ["hwcov/generated_tests", "hwcov/run_results"]),
        "hwcov/checkpoint_results": (HARDWARE, []),
        "hwcov/checkpoint_benchmarks": (HARDWARE, ["hwcov/checkpoint_results"]),
    }
    # backfills: one run per hardware partition (the per-device limit holds), one run over all categories
    policies = {k.to_user_string(): graph.get(k).backfill_policy for k in graph.get_all_asset_keys()}
    assert {k for k, p in policies.items() if p and p.max_partitions_per_run == 1} == {
        k for k, (parts, _) in snapshot.items() if parts == HARDWARE}
    assert policies["hwcov/model_inventory"].max_partitions_per_run is None
    assert {j.name for j in defs.jobs} == {"inventory_job", "hardware_job", "report_job", "patterns_job",
                                           "benchmark_job", "checkpoint_job", "checkpoint_benchmark_job"}
    assert {s.name for s in defs.schedules} == {"daily_tests", "weekly_tests", "monthly_tests"}
    assert {s.name for s in defs.sensors} == {"inventory_change_sensor", "rerun_changed_tests_sensor",
                                              "generator_update_sensor", "report_after_run_sensor",
                                              "patterns_after_failure_sensor", "notify_success_sensor",
                                              "notify_failure_sensor", "patterns_automation_sensor"}


def test_definitions_import_without_torch_or_transformers():
    code = "import sys, hwcov.definitions; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_dg_check_defs_loads_the_project():
    dg = Path(sys.executable).with_name("dg")
    out = subprocess.run([str(dg), "check", "defs"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "loaded successfully" in out.stdout + out.stderr, out.stdout + out.stderr


def test_every_sensor_schedule_and_job_says_what_it_does():
    """The UI shows these descriptions (issue 29): each says what it watches or when, and what it launches."""
    for sensor in defs.sensors:
        assert sensor.description and len(sensor.description) > 60, sensor.name
        assert any(word in sensor.description for word in ("launches", "mails", "records")), sensor.name
    for schedule in defs.schedules:
        assert schedule.cron_schedule in schedule.description and "hardware_job" in schedule.description
        assert "priority" in schedule.description and "categor" in schedule.description
    daily = next(s for s in defs.schedules if s.name == "daily_tests")
    assert "priority <= 2" in daily.description  # the filter it applies, not only its name
    for job in defs.jobs:
        assert job.description, job.name
