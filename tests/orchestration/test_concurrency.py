"""Concurrent and interrupted state: hwcov processes started together in one fresh folder all succeed and leave it
usable; a run whose process died is not left STARTED forever."""
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

HWCOV = str(Path(sys.executable).with_name("hwcov"))
ROOT = Path(__file__).resolve().parents[2]

# Each child imports everything first, then waits for the go file: the instance creations really coincide.
OPEN_INSTANCE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from hwcov.orchestration import instance
    import dagster  # noqa: F401
    go = Path(sys.argv[1])
    Path(f"{go}.ready.{sys.argv[2]}").touch()
    while not go.exists():
        time.sleep(0.001)
    print(len(instance.instance().get_runs()))
""")


def _env(home: Path, **extra) -> dict:
    return {**os.environ, "DAGSTER_HOME": str(home), "HF_HUB_OFFLINE": "1", **extra}


def _alembic_heads(home: Path) -> dict[str, int]:
    """Rows of alembic_version in each of the instance's sqlite databases (one = a single head)."""
    heads = {}
    for db in home.rglob("*.db"):
        with sqlite3.connect(db) as con:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "alembic_version" in tables:
                heads[db.name] = con.execute("SELECT count(*) FROM alembic_version").fetchone()[0]
    return heads


def test_instances_created_at_once_in_a_fresh_home_all_open_and_stay_usable(tmp_path):
    for attempt in range(2):
        home, go = tmp_path / f"home{attempt}" / ".dagster", tmp_path / f"go{attempt}"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_INSTANCE, str(go), str(i)], env=_env(home), cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob(f"go{attempt}.ready.*"))) < len(procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        go.touch()
        outcomes = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
        for out, err, code in outcomes:
            assert code == 0 and out.strip() == "0", err[-2000:]
        assert set(_alembic_heads(home).values()) == {1}, _alembic_heads(home)
        assert (home / "dagster.yaml").read_bytes() == (ROOT / "hwcov" / "dagster.yaml").read_bytes()
        again = subprocess.run([sys.executable, "-c", OPEN_INSTANCE, str(go), "again"], env=_env(home), cwd=ROOT,
                               capture_output=True, text=True, timeout=120, check=False)
        assert again.returncode == 0, again.stderr[-2000:]


def _run_statuses(home: Path) -> dict[str, str]:
    db = home / "history" / "runs.db"
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return dict(con.execute("SELECT run_id, status FROM runs").fetchall())
    except sqlite3.OperationalError:  # the child is still creating the tables
        return {}


def test_a_run_whose_hwcov_process_was_killed_is_marked_failed_on_the_next_start(tmp_path, monkeypatch, capsys):
    from dagster import DagsterRun, DagsterRunStatus

    from hwcov.orchestration import instance

    home = tmp_path / ".dagster"
    env = _env(home, HWCOV_GENERATED_DIR=str(tmp_path / "generated"))
    proc = subprocess.Popen([HWCOV, "--model", "bert", "--hardware", "cpu", "--workers", "1"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while "STARTED" not in _run_statuses(home).values() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, 9)
    proc.wait()
    (killed,) = [run_id for run_id, status in _run_statuses(home).items() if status == "STARTED"]

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    capsys.readouterr()
    inst = instance.instance()  # the next start
    assert inst.get_run_by_id(killed).status == DagsterRunStatus.FAILURE
    assert f"hwcov: run {killed} was left STARTED" in capsys.readouterr().err
    # A run of a live hwcov process (this one), and a run hwcov did not start (the UI's), both stand.
    live = DagsterRun(job_name="elsewhere", status=DagsterRunStatus.STARTED, tags=instance.process_tag())
    foreign = DagsterRun(job_name="from_the_ui", status=DagsterRunStatus.STARTED)
    inst.run_storage.add_run(live)
    inst.run_storage.add_run(foreign)
    inst = instance.instance()
    assert inst.get_run_by_id(live.run_id).status == DagsterRunStatus.STARTED
    assert inst.get_run_by_id(foreign.run_id).status == DagsterRunStatus.STARTED
    assert "was left" not in capsys.readouterr().err


MODELS = ["bert", "gpt2", "vit", "t5"]


def _concurrent_rounds(tmp_path: Path, iterations: int) -> None:
    """`iterations` times, in a fresh folder as a user has it (the default database, generated tests, artifacts
    and .dagster all in it): four hwcov runs started at once, one model each; all succeed, the report reads
    the database, run_results holds each model's row and the instance has one alembic head per database."""
    env = {k: v for k, v in _env(Path()).items() if not k.startswith("HWCOV_") and k != "DAGSTER_HOME"}
    for attempt in range(iterations):
        folder = tmp_path / f"fresh{attempt}"
        folder.mkdir()
        procs = {m: subprocess.Popen([HWCOV, "--model", m, "--hardware", "cpu", "--workers", "1"], cwd=folder,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for m in MODELS}
        for model, proc in procs.items():
            _, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, f"round {attempt}, {model}: {err[-3000:]}"
        report = subprocess.run([HWCOV, "--report"], check=False, cwd=folder, env=env, capture_output=True, text=True,
                                timeout=300)
        assert report.returncode == 0, report.stderr[-2000:]
        with duckdb.connect(str(folder / "benchmark_db.duckdb"), read_only=True) as con:
            rows = dict(con.execute("SELECT model_type, status FROM hwcov.run_results WHERE hardware = 'cpu'")
                        .fetchall())
        assert {m: rows.get(m) for m in MODELS} == {m: "pass" for m in MODELS}
        assert set(_alembic_heads(folder / ".dagster").values()) == {1}


def test_four_hwcov_runs_started_together_in_a_fresh_folder_all_succeed(tmp_path):
    _concurrent_rounds(tmp_path, 2)


@pytest.mark.slow
def test_four_hwcov_runs_started_together_ten_times(tmp_path):
    _concurrent_rounds(tmp_path, 10)


# A process that takes a device lease, says so, and holds it until its stdin closes (or it is killed).
HOLD_LEASE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from hwcov.resources.lease import device_lease
    with device_lease(Path(sys.argv[1]), sys.argv[2], "the holding test process"):
        print("held", flush=True)
        sys.stdin.read()
""")


def _hold(lock_dir: Path, hardware: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LEASE, str(lock_dir), hardware], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _lease_in_thread(lock_dir: Path, hardware: str, said: list):
    import threading

    from hwcov.resources.lease import device_lease

    got = threading.Event()

    def take():
        with device_lease(lock_dir, hardware, "the waiting thread", log=said.append, poll_s=0.05):
            got.set()

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    return got, thread


def test_a_device_lease_waits_for_its_holder_names_it_and_is_freed_when_the_holder_dies(tmp_path):
    holder = _hold(tmp_path, "cpu")
    other_device = _lease_in_thread(tmp_path, "onnxruntime", [])[0]
    said: list[str] = []
    got, thread = _lease_in_thread(tmp_path, "cpu", said)
    assert other_device.wait(10)  # another device is not held up
    assert not got.wait(1.0)  # the same device waits ...
    assert said and said[0].startswith("waiting for cpu: held by the holding test process (pid ")
    holder.kill()  # ... until its holder is gone, however it ends
    holder.wait()
    assert got.wait(10)
    thread.join(10)
    assert said[-1].startswith("cpu is free after")


def test_a_lease_key_is_a_hardware_key_never_a_path(tmp_path):
    from hwcov.resources.lease import lock_path

    assert lock_path(tmp_path, "cpu_small") == tmp_path / "cpu_small.lock"
    for bad in ("../cpu", "cpu/x", "", "CPU", "cpu\n", ".lock"):
        with pytest.raises(ValueError, match="not a hardware key"):
            lock_path(tmp_path, bad)


def test_a_cli_run_waits_while_another_run_measures_on_its_device(tmp_path):
    """Whoever launched the other run (the UI, a backfill, another hwcov), the cli's hardware_job takes the
    instance's cpu lease before its sweep: nothing is measured while it is held, and the run's log says by whom."""
    from dagster import DagsterInstance

    home = tmp_path / ".dagster"
    env = _env(home, HWCOV_GENERATED_DIR=str(tmp_path / "generated"), HWCOV_ARTIFACTS_DIR=str(tmp_path / "art"))
    holder = _hold(home / "locks", "cpu")
    proc = subprocess.Popen([HWCOV, "--model", "bert", "--hardware", "cpu", "--workers", "1"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while "STARTED" not in _run_statuses(home).values() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    inst = DagsterInstance.from_config(str(home))

    def waiting_runs():
        return [r for r in inst.get_runs() if r.job_name == "hardware_job" and any(
            "waiting for cpu: held by the holding test process" in (e.user_message or "")
            for e in inst.all_logs(r.run_id))]

    while not waiting_runs() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert waiting_runs() and proc.poll() is None
    time.sleep(2)
    assert not (tmp_path / "art" / "results" / "cpu.jsonl").exists()  # nothing measured while the device is held
    holder.stdin.close()
    holder.wait(10)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert "cpu fp32: 1/1 pass" in out
    assert "waiting for cpu: held by the holding test process" in err  # the terminal says why nothing moved
