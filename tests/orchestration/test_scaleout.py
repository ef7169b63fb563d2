"""The scale-out profile for real (deploy/): Redis and PostgreSQL from Debian packages on 127.0.0.1, owned by
this test; Celery workers started with deploy/worker.sh for the queues `cpu` and `openvino` plus the writer
queue `dagster`; a two-partition asset backfill submitted as the UI does and run by dagster-daemon.

Checks: each partition's run got its queue tag from the run coordinator and its device step ran on the
worker of that queue (as recorded by dagster-celery in the Postgres event log); the device workers run
without a database (their HWCOV_DB_PATH points nowhere); every row reached DuckDB exactly once.
Run: python -m pytest -m scaleout tests/test_scaleout.py (needs `apt-get install redis-server postgresql`).
The hand-off's exactly-once loading and the routing rules are also checked without any service (unmarked).
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ["bert", "gpt2"]
HARDWARE = ["cpu", "openvino"]
DEADLINE_S = 480


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return shutil.which(name) or (found[-1] if found else None)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, timeout: float, procs=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for p, log in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: a process exited with {p.returncode}:\n{Path(log).read_text()[-3000:]}")
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process group this test started (its own session), politely first."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def services():
    """redis-server and a throwaway PostgreSQL cluster on free 127.0.0.1 ports, stopped at the end."""
    for mod in ("dagster_celery", "dagster_postgres", "redis"):
        pytest.importorskip(mod, reason="pip install -e '.[scale]'")
    redis_server, initdb, pg_ctl = shutil.which("redis-server"), _bin("initdb"), _bin("pg_ctl")
    if not (redis_server and initdb and pg_ctl):
        pytest.skip("needs redis-server and PostgreSQL: apt-get install redis-server postgresql")
    work = Path(tempfile.mkdtemp(prefix="hwcov-scaleout-"))
    as_user = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use the account its package created
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(work, "postgres")
    data = work / "pg"
    redis_port, pg_port = _port(), _port()
    redis_log = work / "redis.log"
    redis = subprocess.Popen([redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(work)],
                             stdout=open(redis_log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-U", "hwcov", "-A", "trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(work / "pg.log"), "-w", "-t", "60", "-o",
                        f"-p {pg_port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True)

        def redis_up():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", redis_port)) == 0

        _wait(redis_up, "redis-server", 30, [(redis, redis_log)])
        yield {"redis": f"redis://127.0.0.1:{redis_port}", "pg": f"postgresql+psycopg2://hwcov@127.0.0.1:{pg_port}/postgres"}
    finally:
        if data.exists():
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        _stop(redis)
        shutil.rmtree(work, ignore_errors=True)


def _celery_workers(broker: str) -> set[str]:
    from celery import Celery

    replies = Celery(broker=broker).control.ping(timeout=1.0) or []
    return {name for reply in replies for name in reply}


def _worker_of(instance, run_id: str, step_key: str) -> str:
    """The Celery worker dagster-celery recorded for a step ("Executing steps ... in celery worker")."""
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event and event.step_key == step_key and event.event_type_value == "ENGINE_EVENT":
            meta = event.engine_event_data.metadata or {}
            if "Celery worker" in meta:
                return meta["Celery worker"].value
    raise AssertionError(f"no celery worker recorded for {step_key} in run {run_id}")


@pytest.mark.scaleout
def test_two_partition_backfill_runs_on_each_hardware_worker_and_loads_duckdb_once(services, tmp_path, monkeypatch):
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter, materialize
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
    from dagster._core.utils import make_new_backfill_id

    from hwcov.models.inventory import CATEGORIES
    from hwcov.orchestration.routing import run_hardware
    from hwcov.store.handoff import Handoff

    home, shared, db = tmp_path / "dagster_home", tmp_path / "shared", tmp_path / "orchestrator" / "bench.duckdb"
    home.mkdir()
    db.parent.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {"DAGSTER_HOME": str(home), "HWCOV_PG_URL": services["pg"], "HWCOV_SHARED_DIR": str(shared),
           "HWCOV_CELERY_BROKER": services["redis"] + "/0", "HWCOV_CELERY_BACKEND": services["redis"] + "/1",
           "HWCOV_DB_PATH": str(db), "HF_HUB_OFFLINE": "1"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("HWCOV_GENERATED_DIR", "HWCOV_ARTIFACTS_DIR", "HWCOV_SCHEDULE_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    # Device hosts have no database: if a device step opened DuckDB, it would fail here.
    device_env = {**os.environ, "HWCOV_DB_PATH": str(tmp_path / "no-database-on-device-hosts" / "bench.duckdb")}
    writer_env = dict(os.environ)

    from hwcov.definitions_scaleout import build_scaleout_defs

    defs = build_scaleout_defs()
    instance = DagsterInstance.get()  # the Postgres instance of deploy/dagster.yaml

    procs = []
    try:
        for queue, queue_env in (("dagster", writer_env), ("cpu", device_env), ("openvino", device_env)):
            log = tmp_path / f"worker-{queue}.log"
            procs.append((subprocess.Popen(["bash", str(ROOT / "deploy" / "worker.sh"), queue], env=queue_env,
                                           cwd=tmp_path, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                           start_new_session=True), log))
        # While they start: inventory and generated tests, written on the orchestrator host (DuckDB, and the
        # hand-off copy the device workers read).
        assert materialize(list(defs.assets), instance=instance, resources=defs.resources,
                           selection=["hwcov/model_inventory", "hwcov/generated_tests"],
                           tags={ASSET_PARTITION_RANGE_START_TAG: CATEGORIES[0],
                                 ASSET_PARTITION_RANGE_END_TAG: CATEGORIES[-1]}).success
        _wait(lambda: {n.split("@")[0] for n in _celery_workers(env["HWCOV_CELERY_BROKER"])} >= {"dagster", *HARDWARE},
              "three celery workers", 120, procs)

        # What the UI's "Materialize selected" over two partitions submits: an asset backfill.
        backfill_id = make_new_backfill_id()
        instance.add_backfill(PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id, asset_graph=defs.resolve_asset_graph(), partition_names=HARDWARE,
            asset_selection=[AssetKey(["hwcov", "run_results"]), AssetKey(["hwcov", "error_patterns"])],
            backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance, all_partitions=False,
            title=None, description=None,
            run_config={"ops": {"hwcov__run_results": {"config": {"models": MODELS}}}}))
        daemon_log = tmp_path / "daemon.log"
        procs.append((subprocess.Popen(["dagster-daemon", "run", "-m", "hwcov.definitions_scaleout"], env=writer_env,
                                       cwd=tmp_path, stdout=open(daemon_log, "w"), stderr=subprocess.STDOUT,
                                       start_new_session=True), daemon_log))

        def backfill_runs():
            return instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))

        def finished():
            runs = backfill_runs()
            return len(runs) == len(HARDWARE) and all(r.is_finished for r in runs)

        _wait(finished, "the backfill's runs", DEADLINE_S, procs)
        runs = backfill_runs()
    finally:
        for proc, _ in reversed(procs):
            _stop(proc)

    logs = "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for _, log in procs)
    assert instance.get_backfill(backfill_id).status not in (BulkActionStatus.FAILED, BulkActionStatus.COMPLETED_FAILED)
    # One run per hardware partition, each tagged with its queue and its device step run by that worker.
    assert sorted(run_hardware(r.tags) for r in runs) == sorted(HARDWARE)
    for run in runs:
        hardware = run_hardware(run.tags)
        assert run.status == DagsterRunStatus.SUCCESS, logs
        assert run.tags["dagster-celery/queue"] == hardware
        assert _worker_of(instance, run.run_id, "hwcov__run_results").startswith(f"{hardware}@")
        assert _worker_of(instance, run.run_id, "hwcov__error_patterns").startswith("dagster@")

    # Every row reached DuckDB exactly once, loaded by the writer; nothing is left staged.
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT hardware, model_type, precision, batch_size, count(*) FROM hwcov.run_results "
                           "GROUP BY ALL").fetchall()
        ledger = con.execute("SELECT asset, partition_key, run_id, rows FROM hwcov.handoff_ledger").fetchall()
        cpu = dict(con.execute("SELECT model_type, status FROM hwcov.run_results WHERE hardware = 'cpu'").fetchall())
        patterns = {r[0] for r in con.execute("SELECT DISTINCT hardware FROM hwcov.error_patterns").fetchall()}
    assert {(hw, m) for hw, m, *_ in rows} == {(hw, m) for hw in HARDWARE for m in MODELS}
    assert {n for *_, n in rows} == {1}  # one row per (hardware, model, precision, batch): none twice
    per_hardware = {hw: sum(1 for r in rows if r[0] == hw) for hw in HARDWARE}  # openvino: fp32, fp16, int8
    assert sorted((a, p, n) for a, p, _, n in ledger) == [("run_results", hw, per_hardware[hw]) for hw in HARDWARE]
    assert {run_id for *_, run_id, _ in ledger} == {r.run_id for r in runs}
    assert cpu == {m: "pass" for m in MODELS} and patterns == set(HARDWARE)
    handoff = Handoff(shared)
    assert handoff.pending() == []
    assert handoff.ingest(db, {"run_results": "hardware"}) == []  # loading again loads nothing


def _frame(hardware: str, models: list[str], status: str = "pass"):
    import pandas as pd

    return pd.DataFrame({"model_type": models, "hardware": hardware, "status": status})


def test_handoff_loads_each_staged_file_exactly_once(tmp_path):
    from hwcov.store.handoff import Handoff

    db, handoff = tmp_path / "bench.duckdb", Handoff(tmp_path / "shared")
    handoff.stage("run_results", _frame("cpu", ["bert", "gpt2"]), ["cpu"], "hardware", run_id="r1")
    handoff.stage("run_results", _frame("openvino", ["bert"]), ["openvino"], "hardware", run_id="r2")
    handoff.stage("run_results", _frame("cpu", ["bert", "gpt2"], "fail_to_run"), ["cpu"], "hardware", run_id="r3")
    loaded = handoff.ingest(db, {"run_results": "hardware"})
    assert [(d["partition"], d["run_id"]) for d in loaded] == [("cpu", "r1"), ("openvino", "r2"), ("cpu", "r3")]
    assert handoff.pending() == [] and handoff.ingest(db, {"run_results": "hardware"}) == []

    def table():
        with duckdb.connect(str(db), read_only=True) as con:
            return sorted(con.execute("SELECT hardware, model_type, status FROM hwcov.run_results").fetchall())

    # The later run of a partition replaced the earlier one's rows; the other partition kept its own.
    assert table() == [("cpu", "bert", "fail_to_run"), ("cpu", "gpt2", "fail_to_run"), ("openvino", "bert", "pass")]

    # Device workers read the latest value of a partition, wherever it was computed.
    assert set(handoff.load_latest("run_results", ["cpu", "openvino"])["model_type"]) == {"bert", "gpt2"}

    # A writer killed after its commit but before deleting the file: the ledger knows it, nothing reloads.
    staged = handoff.stage("run_results", _frame("cpu", ["bert"]), ["cpu"], "hardware", run_id="r1")
    assert handoff.ingest(db, {"run_results": "hardware"}) == [] and not staged[0].exists()
    assert len(table()) == 3

    with pytest.raises(FileNotFoundError, match="scale-out profile"):
        handoff.load_latest("generated_tests", ["text-encoder"])


def test_handoff_widens_the_table_for_a_new_column(tmp_path):
    from hwcov.store.handoff import Handoff

    db, handoff = tmp_path / "bench.duckdb", Handoff(tmp_path / "shared")
    handoff.stage("run_results", _frame("cpu", ["bert"]), ["cpu"], "hardware", run_id="r1")
    handoff.ingest(db, {"run_results": "hardware"})
    newer = _frame("openvino", ["bert"]).assign(export_route="hf-openvino")
    handoff.stage("run_results", newer, ["openvino"], "hardware", run_id="r2")
    handoff.ingest(db, {"run_results": "hardware"})
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT hardware, export_route FROM hwcov.run_results ORDER BY 1").fetchall()
    assert rows == [("cpu", None), ("openvino", "hf-openvino")]


def test_runs_get_their_hardware_queue_and_device_steps_go_there(monkeypatch, tmp_path):
    pytest.importorskip("dagster_celery", reason="pip install -e '.[scale]'")
    from dagster._core.execution.api import create_execution_plan

    from hwcov.orchestration.routing import WRITER_QUEUE, queue_tags, route

    assert queue_tags({"dagster/partition": "cuda"}) == {"dagster-celery/queue": "cuda"}
    assert queue_tags({"dagster/asset_partition_range_start": "openvino",
                       "dagster/asset_partition_range_end": "openvino"}) == {"dagster-celery/queue": "openvino"}
    assert queue_tags({"dagster/asset_partition_range_start": "cpu", "dagster/asset_partition_range_end": "mps"}) == {}
    assert queue_tags({"dagster/partition": "vision"}) == {}  # a category partition: no device
    assert queue_tags({"dagster/partition": "cuda", "dagster-celery/queue": "cuda-box-2"}) == {}  # set by hand: kept

    for key, value in {"HWCOV_SHARED_DIR": tmp_path / "shared", "HWCOV_DB_PATH": tmp_path / "bench.duckdb",
                       "HWCOV_CELERY_BROKER": "redis://127.0.0.1:1/0", "HWCOV_CELERY_BACKEND": "redis://127.0.0.1:1/1"
                       }.items():
        monkeypatch.setenv(key, str(value))
    from hwcov.definitions_scaleout import build_scaleout_defs

    plan = create_execution_plan(build_scaleout_defs().resolve_job_def("hardware_job"))
    routed = route(plan, {"dagster/partition": "openvino", "dagster-celery/queue": "openvino"})
    queues = {s.key: s.tags["dagster-celery/queue"] for s in routed.step_dict_by_key.values()}
    assert queues == {"hwcov__run_results": "openvino", "hwcov__error_patterns": WRITER_QUEUE}
    with pytest.raises(Exception, match="one run per hardware partition"):
        route(plan, {"dagster/asset_partition_range_start": "cpu", "dagster/asset_partition_range_end": "mps"})
