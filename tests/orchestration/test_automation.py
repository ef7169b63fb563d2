"""Schedules from the seed's config and the generator loop the sensors drive, on real components."""
import datetime
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, build_schedule_context, build_sensor_context, materialize
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from hwcov.assets import automation
from hwcov.backends.registry import HARDWARE
from hwcov.core import paths
from hwcov.core import schedule_config as schedules
from hwcov.models.inventory import CATEGORIES
from hwcov.store import database as store

HWCOV = str(Path(sys.executable).with_name("hwcov"))


def test_default_schedules_follow_the_seed():
    specs = {s.name: s for s in schedules.parse(schedules.DEFAULT_CONFIG, "d", HARDWARE, CATEGORIES)}
    assert specs["daily_tests"].cron == "0 1 * * *" and specs["daily_tests"].max_priority == 2
    assert specs["weekly_tests"].cron == "0 2 * * 6" and specs["weekly_tests"].hardware == ("cpu", "cuda", "rocm", "openvino")
    assert specs["monthly_tests"].cron == "0 3 1 * *" and specs["monthly_tests"].hardware == HARDWARE


@pytest.mark.parametrize("change, message", [
    ({"run_time": "25:00"}, "daily_tests.run_time '25:00'"),
    ({"hardware_platforms": ["cpu", "tpu"]}, "daily_tests.hardware_platforms"),
    ({"model_subset": "favourites"}, "daily_tests.model_subset 'favourites'"),
    ({"notification_email": "nobody"}, "daily_tests.notification_email 'nobody'"),
    ({"generate_report": "yes"}, "daily_tests.generate_report must be true or false"),
    ({"colour": "red"}, "unknown field(s) colour"),
])
def test_bad_schedule_fields_are_named(change, message):
    config = {"daily_tests": {**schedules.DEFAULT_CONFIG["daily_tests"], **change}}
    with pytest.raises(schedules.ScheduleError) as exc:
        schedules.parse(config, "s.json", HARDWARE, CATEGORIES)
    assert message in str(exc.value)


def test_cli_writes_the_default_and_a_bad_file_fails_the_load_naming_the_field(tmp_path):
    out = subprocess.run([HWCOV, "--generate-schedule-config", "--output", "schedule.json"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0 and json.loads((tmp_path / "schedule.json").read_text()) == schedules.DEFAULT_CONFIG
    bad = {"nightly": {"model_subset": "all", "hardware_platforms": "all", "run_time": "Someday 01:00"}}
    (tmp_path / "schedule.json").write_text(json.dumps(bad))
    load = subprocess.run([sys.executable, "-c", "import hwcov.definitions"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert load.returncode != 0 and "nightly.run_time 'Someday 01:00'" in load.stderr
    cli = subprocess.run([HWCOV, "--model", "bert", "--hardware", "cpu"], cwd=tmp_path, capture_output=True, text=True)
    assert cli.returncode == 2 and len(cli.stderr.strip().splitlines()) == 1 and "nightly.run_time" in cli.stderr
    assert not (tmp_path / "benchmark_db.duckdb").exists()


def test_a_schedule_requests_each_hardware_partition():
    spec = schedules.parse(schedules.DEFAULT_CONFIG, "d", HARDWARE, CATEGORIES)[0]
    when = datetime.datetime(2026, 11, 28, 1, 0, tzinfo=datetime.timezone.utc)
    requests = list(automation.make_schedule(spec)(build_schedule_context(scheduled_execution_time=when)))
    assert [r.partition_key for r in requests] == ["cpu", "cuda"]
    assert requests[0].run_config["ops"]["hwcov__run_results"]["config"]["max_priority"] == 2


def test_template_change_reruns_only_that_family_and_records_the_update(tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    shutil.copytree(paths.TEMPLATES_DIR, templates)
    for key, value in {"HWCOV_TEMPLATES_DIR": templates, "HWCOV_DB_PATH": tmp_path / "db.duckdb",
                       "HWCOV_GENERATED_DIR": tmp_path / "gen", "HWCOV_ARTIFACTS_DIR": tmp_path / "art"}.items():
        monkeypatch.setenv(key, str(value))
    from hwcov.definitions import build_defs

    defs = build_defs(str(tmp_path / "db.duckdb"))
    instance = DagsterInstance.ephemeral()

    def run(selection, **kwargs):
        result = materialize(list(defs.assets), instance=instance, resources=defs.resources,
                             selection=selection, **kwargs)
        assert result.success
        return result

    sensor_context = build_sensor_context(instance=instance)
    first = automation.inventory_change_sensor(sensor_context)
    run(["hwcov/model_inventory", "hwcov/generated_tests"], tags=first.tags)
    run(["hwcov/run_results"], partition_key="cpu", run_config=automation._run_config(["bert", "t5", "bart", "vit"]))
    assert automation.inventory_change_sensor(build_sensor_context(instance=instance, cursor=sensor_context.cursor)
                                              ).__class__.__name__ == "SkipReason"

    # Edit the seq2seq family template: only t5 and bart render differently.
    family = templates / "tests" / "family" / "seq2seq.py.j2"
    family.write_text(family.read_text().replace("{%- endblock %}", "    # seq2seq tweak\n{%- endblock %}"))
    second = automation.inventory_change_sensor(build_sensor_context(instance=instance, cursor=sensor_context.cursor))
    regen = run(["hwcov/model_inventory", "hwcov/generated_tests"], tags={
        ASSET_PARTITION_RANGE_START_TAG: CATEGORIES[0], ASSET_PARTITION_RANGE_END_TAG: CATEGORIES[-1],
        **second.tags})
    (request,) = automation.stale_requests(tmp_path / "db.duckdb", regen.run_id)
    assert request.partition_key == "cpu"
    assert request.run_config["ops"]["hwcov__run_results"]["config"]["models"] == ["bart", "t5"]
    rerun = run(["hwcov/run_results"], partition_key="cpu", run_config=request.run_config, tags=request.tags)
    row = automation.generator_update_row(instance.get_run_by_id(rerun.run_id), tmp_path / "db.duckdb")
    with store.connect(tmp_path / "db.duckdb") as con:
        store.record_generator_update(con, row)
    with duckdb.connect(str(tmp_path / "db.duckdb"), read_only=True) as con:
        (update,) = con.execute("SELECT generator_name, hardware_platform, affected_models, success_rate_before, "
                                "success_rate_after FROM hwcov.generator_updates").fetchall()
        assert not con.execute(store.STALE_SQL).fetchall()  # nothing left stale
    assert update == ("templates for seq2seq", "cpu", 2, 1.0, 1.0)


def test_run_notification_reaches_a_local_smtp_server(tmp_path, monkeypatch):
    """A real SMTP conversation with a server on 127.0.0.1 (stdlib socketserver, no network)."""
    import socketserver
    import threading

    from dagster import DagsterRun

    from hwcov.reports import notify

    received = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            def say(line):
                self.wfile.write(line.encode() + b"\r\n")

            say("220 localhost test smtp")
            data, in_data = [], False
            for raw in self.rfile:
                line = raw.decode().rstrip("\r\n")
                if in_data:
                    if line == ".":
                        received.append("\n".join(data))
                        in_data = False
                        say("250 queued")
                    else:
                        data.append(line)
                elif line.upper().startswith(("EHLO", "HELO")):
                    say("250 localhost")
                elif line.upper() == "DATA":
                    in_data = True
                    say("354 go ahead")
                elif line.upper() == "QUIT":
                    say("221 bye")
                    return
                else:
                    say("250 ok")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HWCOV_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("HWCOV_SMTP_PORT", str(server.server_address[1]))
        run = DagsterRun(job_name="hardware_job", run_id="r1",
                         tags={"dagster/partition": "cpu", "hwcov/notify": "ml-alerts@example.com",
                               "hwcov/schedule": "daily_tests"})
        subject, body = notify.run_summary(run, "succeeded", tmp_path / "missing.duckdb")
        assert notify.send("ml-alerts@example.com", subject, body)
    finally:
        server.shutdown()
        server.server_close()
    (mail,) = received
    assert "Subject: [hwcov] cpu succeeded" in mail and "To: ml-alerts@example.com" in mail
    assert "schedule: daily_tests" in mail
    monkeypatch.delenv("HWCOV_SMTP_HOST")
    assert notify.send("x@example.com", "s", "b") is False


def test_ci_mode_fails_on_a_regression(tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(paths.TEMPLATES_DIR, templates)
    env = {**__import__("os").environ, "HWCOV_TEMPLATES_DIR": str(templates), "HF_HUB_OFFLINE": "1"}
    args = [HWCOV, "--ci-mode", "--priority", "highest", "--hardware", "cpu"]
    first = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0 and "0 regressions" in first.stdout, first.stderr[-2000:]
    # Break bert's tiny config through template data: heads no longer divide the width.
    overrides = templates / "tiny" / "overrides.yaml"
    import yaml

    data = yaml.safe_load(overrides.read_text())
    data.setdefault("model_types", {})["bert"] = {"hidden_size": 30, "why": "test: a broken override"}
    overrides.write_text(yaml.safe_dump(data))
    second = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 1 and "REGRESSION bert on cpu: pass -> fail_to_run" in second.stdout, second.stdout
    ci = subprocess.run([HWCOV, "--generate-ci-config", "--output", "wf.yml"], cwd=tmp_path, capture_output=True)
    assert ci.returncode == 0 and "hwcov --ci-mode --priority high" in (tmp_path / "wf.yml").read_text()


def test_the_range_tags_are_dagsters_own():
    """assets/automation.py spells the single-run backfill tags out (dagster names them only privately): if dagster
    renames them, a scheduled run would silently become one run per partition."""
    from hwcov.assets import automation

    assert (automation.ASSET_PARTITION_RANGE_START_TAG, automation.ASSET_PARTITION_RANGE_END_TAG) == \
        (ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG)


def test_a_failed_error_check_fails_the_cli_run_and_a_warning_only_prints(capsys):
    """A blocking check that fails reaches the user: one line per failed check, and materialize (so run_pipeline,
    so the cli's exit code) fails on an ERROR-severity one; a WARN one is named and the run stands."""
    from dagster import (
        AssetCheckResult,
        AssetCheckSeverity,
        AssetCheckSpec,
        Definitions,
        Output,
        StaticPartitionsDefinition,
        asset,
        define_asset_job,
    )

    from hwcov.orchestration import pipeline

    def defs(error_passes: bool) -> Definitions:
        @asset(partitions_def=StaticPartitionsDefinition(["cpu"]),
               check_specs=[AssetCheckSpec("rows_ok", asset="run_results"), AssetCheckSpec("trend", asset="run_results")])
        def run_results():
            yield Output(1)
            yield AssetCheckResult(check_name="rows_ok", passed=error_passes, severity=AssetCheckSeverity.ERROR,
                                   description="3 rows missing")
            yield AssetCheckResult(check_name="trend", passed=False, severity=AssetCheckSeverity.WARN,
                                   description="pass rate fell")

        return Definitions(assets=[run_results], jobs=[define_asset_job("results_job", selection=["run_results"])])

    assert pipeline.materialize(defs(False), DagsterInstance.ephemeral(), "results_job", partition_key="cpu") is False
    err = capsys.readouterr().err
    assert "hwcov: check rows_ok failed on run_results[cpu]: 3 rows missing" in err
    assert "hwcov: check trend failed (warning) on run_results[cpu]: pass rate fell" in err
    assert pipeline.materialize(defs(True), DagsterInstance.ephemeral(), "results_job", partition_key="cpu") is True
    err = capsys.readouterr().err
    assert "hwcov: check rows_ok" not in err and "hwcov: check trend failed (warning) on run_results[cpu]" in err
