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
    env = {**os.environ, **pinned_paths(), HOME_ENV: str(home()),
           "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
           # `dg dev` would need a dg workspace; `dagster dev` serves the same code location: its notice is noise here
           "PYTHONWARNINGS": ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), SUPERSEDED]))}
    dagster = str(Path(sys.executable).with_name("dagster"))
    print(f"hwcov: Dagster UI on http://127.0.0.1:{port} (instance {home()}; Ctrl-C stops it)", file=sys.stderr)
    sys.stderr.flush()
    # run from the instance folder, whose dagster.yaml is the one in effect (from the project folder Dagster warns that
    # the project's copy "will not be used"); the project's files stay where they are through the pinned paths
    os.chdir(home())
    # replaced by dagster dev, not its parent: a signal to this process (Ctrl-C, a service manager's TERM) is its own
    os.execve(dagster, [dagster, "dev", "-m", "hwcov.definitions", "-h", "127.0.0.1", "-p", str(port)], env)


SUPERSEDED = "ignore:Function `dev_command` is superseded"


def pinned_paths() -> dict[str, str]:
    """This folder's database, generated tests, artifacts, platforms and schedule file as absolute paths, so the UI's
    runs use them from any working directory (a schedule file only when there is one: naming it makes it required)."""
    from hwcov.backends.platforms import PLATFORMS_ENV, platforms_dir
    from hwcov.core import paths
    from hwcov.core.schedule_config import SCHEDULE_ENV, config_path

    pinned = {paths.DB_ENV: str(paths.db_path()), paths.GENERATED_ENV: str(paths.generated_dir()),
              paths.ARTIFACTS_ENV: str(paths.artifacts_dir()), PLATFORMS_ENV: str(platforms_dir())}
    if config_path().exists():
        pinned[SCHEDULE_ENV] = str(config_path())
    return pinned


VERBS = [
    Verb("ui", "run", "open the Dagster UI (webserver + daemon) on this project's instance ($DAGSTER_HOME or "
         "./.dagster, prepared with the project's dagster.yaml: works in a fresh clone); --port (default 3000)", ui,
         sweeps=False, reads_db=False),
]
