"""How long a run launched from the Dagster UI waits in the queue before it starts, with the daemon's dequeue interval
at Dagster's default (5 s) and at the project's (dagster.yaml), measured side by side in one run.

    HF_HUB_OFFLINE=1 python benchmarks/ui_queue_latency.py [--runs 5]

For each setting: a fresh instance folder holding the project's dagster.yaml with only `dequeue_interval_seconds`
changed, `dagster dev -m hwcov.definitions` on it, then --runs launches of report_job through the webserver's GraphQL
(what the UI's Launch button sends), one after another; each run's wait is its start time minus its creation time
(the run record's own timestamps). The job's own work does not count, so it may fail (an empty database): it started.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status creationTime startTime } } }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gql(port: int, query: str, variables: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", headers={"content-type": "application/json"},
                                 data=json.dumps({"query": query, "variables": variables}).encode())
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)["data"]


def waits(dequeue_s: int | None, runs: int) -> list[float]:
    home = Path(tempfile.mkdtemp(prefix="hwcov-queue-"))
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    config["run_queue"].pop("dequeue_interval_seconds", None)
    if dequeue_s is not None:
        config["run_queue"]["dequeue_interval_seconds"] = dequeue_s
    (home / ".dagster").mkdir()
    (home / ".dagster" / "dagster.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home / ".dagster"), "HF_HUB_OFFLINE": "1"}
    dagster = str(Path(sys.executable).with_name("dagster"))
    proc = subprocess.Popen([dagster, "dev", "-m", "hwcov.definitions", "-h", "127.0.0.1", "-p", str(port)], cwd=home,
                            env=env, stdout=open(home / "dev.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    out = []
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((home / "dev.log").read_text()[-2000:]) from None
                time.sleep(1)
        params = {"selector": {"repositoryLocationName": "hwcov.definitions", "repositoryName": "__repository__",
                               "jobName": "report_job"}, "runConfigData": {}, "mode": "default"}
        for _ in range(runs):
            launched = gql(port, LAUNCH, {"p": params})["launchRun"]
            if launched["__typename"] != "LaunchRunSuccess":
                raise RuntimeError(f"launch refused: {launched}")
            run_id = launched["run"]["runId"]
            while True:
                run = gql(port, RUN, {"id": run_id})["runOrError"]
                if run.get("startTime") and run["status"] not in ("QUEUED", "NOT_STARTED", "STARTING"):
                    break
                time.sleep(0.5)
            out.append(run["startTime"] - run["creationTime"])
            while gql(port, RUN, {"id": run_id})["runOrError"]["status"] in ("STARTED", "STARTING"):
                time.sleep(0.5)  # one at a time: the next launch meets an idle queue
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    project = yaml.safe_load((ROOT / "dagster.yaml").read_text())["run_queue"].get("dequeue_interval_seconds")
    results = {}
    for label, dequeue in (("dagster default (5 s)", None), (f"project dagster.yaml ({project} s)", project)):
        results[label] = waits(dequeue, args.runs)
        print(f"{label}: queue wait per run {', '.join(f'{w:.1f}' for w in results[label])} s; "
              f"median {statistics.median(results[label]):.1f} s", flush=True)
    default, tuned = (statistics.median(v) for v in results.values())
    print(f"ratio project / default: {tuned / default:.2f}")


if __name__ == "__main__":
    main()
