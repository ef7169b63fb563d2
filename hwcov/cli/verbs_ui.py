"""`hwcov --ui`: the Dagster UI on this project's instance, from a fresh clone as well as after any run.

Why a verb: `dagster dev` alone needs $DAGSTER_HOME to exist and reads its dagster.yaml from there, so in a fresh clone
it failed (".dagster is not a directory") or ran without the project's per-device run limits. This prepares the
instance the cli uses (hwcov.orchestration.instance: the folder, the project's dagster.yaml, migrated storage) and
then runs the webserver and daemon on it, in the foreground, until Ctrl-C.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from hwcov.cli.parser import Verb


def ui(args, hardware, models) -> int:
    from hwcov.orchestration.instance import HOME_ENV, home, instance

    instance()  # creates and migrates the home with the project's dagster.yaml
    port = int(args.port)
    env = {**os.environ, HOME_ENV: str(home()), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    dagster = str(Path(sys.executable).with_name("dagster"))
    print(f"hwcov: Dagster UI on http://127.0.0.1:{port} (instance {home()}; Ctrl-C stops it)", file=sys.stderr)
    sys.stderr.flush()
    # replaced by dagster dev, not its parent: a signal to this process (Ctrl-C, a service manager's TERM) is its own
    os.execve(dagster, [dagster, "dev", "-m", "hwcov.definitions", "-h", "127.0.0.1", "-p", str(port)], env)


VERBS = [
    Verb("ui", "run", "open the Dagster UI (webserver + daemon) on this project's instance ($DAGSTER_HOME or "
         "./.dagster, prepared with the project's dagster.yaml: works in a fresh clone); --port (default 3000)", ui,
         sweeps=False, reads_db=False),
]
