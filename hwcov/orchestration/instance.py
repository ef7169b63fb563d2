"""The persistent local Dagster instance the cli materializes on: the one `DAGSTER_HOME=$PWD/.dagster dagster dev`
shows, so every cli run is visible in the UI.

Why here: the instance is Dagster's, and only hwcov.orchestration touches Dagster's machinery for the cli (the
engine never imports dagster). The home is read from $DAGSTER_HOME (default ./.dagster) and passed to Dagster as
a value; nothing is written to os.environ.
"""
from __future__ import annotations

import fcntl
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

from hwcov.core import paths

HOME_ENV, DEFAULT_HOME = "DAGSTER_HOME", ".dagster"
LOCK_FILE = ".hwcov-instance.lock"
PROCESS_TAG = "hwcov/process"  # host:pid:start time of the hwcov process that runs a run in process
LIVE_STATUSES = ("NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def home() -> Path:
    """$DAGSTER_HOME, else ./.dagster (absolute)."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()


def instance():
    """The instance at home() with the project's dagster.yaml (copied there, atomically, when it differs).

    Created under an exclusive lock in the home: hwcov processes started together in a fresh folder would
    otherwise each create (and stamp) the same sqlite tables. Runs of earlier hwcov processes that died
    mid-run are marked failed (recover_interrupted)."""
    from dagster import DagsterInstance

    where = home()
    where.mkdir(parents=True, exist_ok=True)
    with _locked(where / LOCK_FILE):
        _copy_yaml(paths.PACKAGE_DIR / "dagster.yaml", where / "dagster.yaml")
        inst = DagsterInstance.from_config(str(where))
        inst.get_runs(limit=1)  # every storage made (and migrated) while the lock is held
        inst.event_log_storage.get_asset_records()
        inst.all_instigator_state()
        recover_interrupted(inst)
    return inst


@contextmanager
def _locked(path: Path):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _copy_yaml(source: Path, target: Path) -> None:
    if not source.exists() or (target.exists() and target.read_bytes() == source.read_bytes()):
        return
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    partial.write_bytes(source.read_bytes())
    os.replace(partial, target)  # a reader sees the old file or the new one, never half of one


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' when there is no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def process_tag() -> dict[str, str]:
    """The tag naming this process on the runs it executes in process (what recover_interrupted reads)."""
    pid = os.getpid()
    return {PROCESS_TAG: f"{socket.gethostname()}:{pid}:{_start_time(pid)}"}


def _gone(tag: str) -> bool:
    host, _, rest = tag.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's process: not ours to judge
    return _start_time(int(pid)) != started  # no such process, or its pid now names another one


def recover_interrupted(inst) -> list[str]:
    """Mark failed each run an hwcov process started on this host and did not end (killed, interrupted): left
    STARTED, it would show as running forever. Runs of live processes and runs hwcov did not start are left
    alone. The ids of the runs marked."""
    from dagster import DagsterRunStatus, RunsFilter

    marked = []
    runs = inst.get_runs(RunsFilter(statuses=[DagsterRunStatus(s) for s in LIVE_STATUSES]))
    for run in runs:
        tag = run.tags.get(PROCESS_TAG)
        if tag and _gone(tag):
            inst.report_run_failed(run, message=f"hwcov: the process that ran it ({tag}) ended mid-run")
            print(f"hwcov: run {run.run_id} was left {run.status.value} by an hwcov process that ended mid-run "
                  f"(pid {tag.split(':')[1]}): marked FAILURE", file=sys.stderr)
            marked.append(run.run_id)
    return marked


def last_materialization_run_id(asset: str) -> str:
    """The run id of the latest materialization of `asset` ("hwcov/run_results"), or '' when there is none."""
    from dagster import AssetKey

    event = instance().get_latest_materialization_event(AssetKey.from_user_string(asset))
    return event.run_id if event else ""
