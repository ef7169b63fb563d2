"""The Dagster UI as a user drives it: dagster dev, a browser, a one-partition launch, checked over GraphQL."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import sync_playwright

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN_STATUS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""
BACKFILL = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""


def _gql(port: int, query: str, variables: dict | None = None) -> dict:
    body = {"query": query, **({"variables": variables} if variables else {})}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)["data"]


@contextmanager
def serving(command: list[str], cwd: Path, env: dict, log: Path):
    """Start a UI command (its own process group: webserver, daemon, code servers) on a free port, wait until it
    answers, yield the port; stop the whole group after."""
    port = _free_port()
    proc = subprocess.Popen([*command, str(port)], cwd=cwd, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                assert proc.poll() is None, log.read_text()[-2000:]
                time.sleep(1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def dagster_dev(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / ".dagster"), "HF_HUB_OFFLINE": "1"}
    gen = subprocess.run([str(BIN / "hwcov"), "--generate-tests"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert gen.returncode == 0, gen.stderr
    command = [str(BIN / "dagster"), "dev", "-m", "hwcov.definitions", "-h", "127.0.0.1", "-p"]
    with serving(command, tmp_path, env, tmp_path / "dev.log") as port:
        yield port, tmp_path


def test_launch_one_hardware_partition_from_the_ui(dagster_dev):
    port, cwd = dagster_dev
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/assets/hwcov/run_results")
        materialize = page.get_by_role("button", name="Materialize…")
        materialize.wait_for(timeout=60000)
        page.wait_for_timeout(2000)
        if page.get_by_role("button", name="Skip").is_visible():  # the first-visit community dialog
            page.get_by_role("button", name="Skip").click()
        materialize.click()
        page.get_by_text("Select a partition or create one").click()
        page.locator("[role=dialog]").last.get_by_text("cuda", exact=True).first.click()
        page.keyboard.press("Escape")
        assert "1 partition" in page.locator(".bp5-dialog").inner_text()
        page.get_by_role("button", name=re.compile(r"^Launch")).click()
        page.wait_for_timeout(1000)
        browser.close()

    query = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
    deadline, status = time.monotonic() + 300, None
    while time.monotonic() < deadline and status not in ("SUCCESS", "FAILURE", "CANCELED"):
        time.sleep(2)
        runs = [r for r in _gql(port, query)["runsOrError"]["results"]
                if {"key": "dagster/partition", "value": "cuda"} in r["tags"]]
        status = runs[0]["status"] if runs else None
    assert status == "SUCCESS", (cwd / "dev.log").read_text()[-3000:]
    stats = _gql(port, '{ assetNodeOrError(assetKey: {path: ["hwcov", "run_results"]}) '
                       "{ ... on AssetNode { partitionStats { numMaterialized } } } }")
    assert stats["assetNodeOrError"]["partitionStats"]["numMaterialized"] == 1
    with duckdb.connect(str(cwd / "benchmark_db.duckdb"), read_only=True) as con:
        statuses = con.execute("SELECT DISTINCT status FROM hwcov.run_results WHERE hardware = 'cuda'").fetchall()
    assert statuses == [("unavailable",)]  # truthful rows, cheaply, for absent hardware
    # the asset page launched run_results alone: patterns_automation_sensor (on by default) brings error_patterns
    # of that partition up to date without anyone asking (issue #29)
    patterns_query = ('{ assetNodeOrError(assetKey: {path: ["hwcov", "error_patterns"]}) '
                      "{ ... on AssetNode { partitionStats { numMaterialized } } } }")
    deadline, done = time.monotonic() + 180, 0
    while time.monotonic() < deadline and not done:
        time.sleep(3)
        done = _gql(port, patterns_query)["assetNodeOrError"]["partitionStats"]["numMaterialized"]
    assert done == 1, (cwd / "dev.log").read_text()[-3000:]
    with duckdb.connect(str(cwd / "benchmark_db.duckdb"), read_only=True) as con:
        patterns = con.execute("SELECT hardware, pattern FROM hwcov.error_patterns").fetchall()
    assert patterns == [("cuda", "hardware_unavailable")]
    # what the UI shows beside it (issue #29): the pass rate as a float the Plots tab draws, checks, sensors and
    # schedules that say what they do
    node = _gql(port, '{ assetNodeOrError(assetKey: {path: ["hwcov", "run_results"]}) { ... on AssetNode { '
                      "assetMaterializations(limit: 1) { partition metadataEntries { label __typename "
                      "... on FloatMetadataEntry { floatValue } } } "
                      "assetChecksOrError { ... on AssetChecks { checks { name description } } } } } }")["assetNodeOrError"]
    latest = node["assetMaterializations"][0]
    floats = {e["label"]: e["floatValue"] for e in latest["metadataEntries"] if e["__typename"] == "FloatMetadataEntry"}
    assert latest["partition"] == "cuda" and floats == {"pass_rate cuda/fp32/1": 0.0}
    assert all(c["description"] for c in node["assetChecksOrError"]["checks"])
    repo = '(repositorySelector: {repositoryLocationName: "hwcov.definitions", repositoryName: "__repository__"})'
    sensors = _gql(port, f"{{ sensorsOrError{repo} {{ ... on Sensors {{ results {{ name description }} }} }} }}")
    schedules = _gql(port, f"{{ schedulesOrError{repo} {{ ... on Schedules {{ results {{ name description }} }} }} }}")
    described = sensors["sensorsOrError"]["results"] + schedules["schedulesOrError"]["results"]
    assert len(described) >= 10 and all(len(d["description"] or "") > 40 for d in described), described

    # A backfill over three hardware partitions, as the asset page's dialog launches it: one run per device, each
    # tagged dagster/partition (dagster.yaml's one-run-per-device key), each materialization its partition's own.
    wanted = ["rocm", "mps", "qualcomm"]
    backfill = _gql(port, BACKFILL, {"p": {"assetSelection": [{"path": ["hwcov", "run_results"]}],
                                           "partitionNames": wanted}})["launchPartitionBackfill"]
    assert backfill["__typename"] == "LaunchBackfillSuccess", backfill
    mine = {"key": "dagster/backfill", "value": backfill["backfillId"]}
    deadline, ended = time.monotonic() + 420, []
    while time.monotonic() < deadline and len(ended) < len(wanted):
        time.sleep(2)
        runs = [r for r in _gql(port, query)["runsOrError"]["results"] if mine in r["tags"]]
        ended = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
    assert len(runs) == len(wanted) and {r["status"] for r in runs} == {"SUCCESS"}, (cwd / "dev.log").read_text()[-3000:]
    tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]  # one partition each, as a range of one
    assert sorted(t["dagster/asset_partition_range_start"] for t in tags) == sorted(wanted)
    assert all(t["dagster/asset_partition_range_end"] == t["dagster/asset_partition_range_start"] for t in tags)
    limited = _gql(port, "{ instance { runQueueConfig { tagConcurrencyLimitsYaml } } }")
    assert "dagster/asset_partition_range_start" in limited["instance"]["runQueueConfig"]["tagConcurrencyLimitsYaml"]
    node = _gql(port, '{ assetNodeOrError(assetKey: {path: ["hwcov", "run_results"]}) { ... on AssetNode { '
                      "assetMaterializations(limit: 4) { partition metadataEntries { label "
                      "... on IntMetadataEntry { intValue } } } } } }")["assetNodeOrError"]
    with duckdb.connect(str(cwd / "benchmark_db.duckdb"), read_only=True) as con:
        counts = dict(con.execute("SELECT hardware, count(*) FROM hwcov.run_results GROUP BY hardware").fetchall())
    for event in node["assetMaterializations"]:
        rows = next(e["intValue"] for e in event["metadataEntries"] if e["label"] == "rows")
        assert rows == counts[event["partition"]]


def test_hwcov_ui_starts_in_a_fresh_folder_with_the_projects_instance_config(tmp_path):
    """Before any hwcov run (no .dagster yet): `hwcov --ui` prepares the instance and serves it with dagster.yaml's
    run queue (4 runs, one per device) in effect (issue #29: a fresh `dagster dev` failed). A run launched there (the
    daemon and code server's path) sweeps its case from the fork server, as the CLI does."""
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")  # as in a clone: the project's copy beside it
    with serving([str(BIN / "hwcov"), "--ui", "--port"], tmp_path, env, tmp_path / "ui.log") as port:
        queue = _gql(port, "{ instance { runQueueConfig { maxConcurrentRuns tagConcurrencyLimitsYaml } } }")
        config = queue["instance"]["runQueueConfig"]
        assert config["maxConcurrentRuns"] == 4 and "dagster/partition" in config["tagConcurrencyLimitsYaml"]
        assert (tmp_path / ".dagster" / "dagster.yaml").read_text() == (ROOT / "dagster.yaml").read_text()
        log = (tmp_path / "ui.log").read_text()
        assert "is not a directory" not in log and f"http://127.0.0.1:{port}" in log
        assert "will not be used" not in log and "SupersessionWarning" not in log  # no warning on a clean start
        # the UI's way in for a user's checkpoint: checkpoint_job on a hardware partition, run config `checkpoints`
        from tests.models.checkpoint_factory import save_bert

        folder = save_bert(tmp_path / "my-bert")
        config = {"ops": {"hwcov__checkpoint_results": {"config": {"checkpoints": [str(folder)], "precision": "fp32"}}}}
        params = {"selector": {"repositoryLocationName": "hwcov.definitions", "repositoryName": "__repository__",
                               "jobName": "checkpoint_job"}, "runConfigData": config, "mode": "default",
                  "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "cpu"}]}}
        launched = _gql(port, LAUNCH, {"p": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        status, deadline = "", time.monotonic() + 300
        while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
            time.sleep(1)
            status = _gql(port, RUN_STATUS, {"id": launched["run"]["runId"]})["runOrError"]["status"]
        assert status == "SUCCESS"
        with duckdb.connect(str(tmp_path / "benchmark_db.duckdb"), read_only=True) as con:
            rows = con.execute("SELECT checkpoint, hardware, precision, status FROM hwcov.checkpoint_results").fetchall()
        assert rows == [(str(folder), "cpu", "fp32", "pass")]
        # the case ran in a child of the fork server, not of the run worker the code server launched (issue #27)
        logs = "".join(p.read_text() for p in tmp_path.rglob("logs/cpu.log"))
        assert re.search(r"^hwcov case \S+ fp32: pid \d+, forked by the fork server \(pid \d+\)$", logs, re.M), logs
