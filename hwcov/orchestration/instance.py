"""The persistent local Dagster instance the cli materializes on: the one `DAGSTER_HOME=$PWD/.dagster dagster dev`
shows, so every cli run is visible in the UI.

Why here: the instance is Dagster's, and only hwcov.orchestration touches Dagster's machinery for the cli (the
engine never imports dagster). The home is read from $DAGSTER_HOME (default ./.dagster) and passed to Dagster as
a value; nothing is written to os.environ.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from hwcov.core import paths

HOME_ENV, DEFAULT_HOME = "DAGSTER_HOME", ".dagster"


def home() -> Path:
    """$DAGSTER_HOME, else ./.dagster (absolute)."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()


def instance():
    """The instance at home() with the project's dagster.yaml (copied there when it differs)."""
    from dagster import DagsterInstance

    where = home()
    where.mkdir(parents=True, exist_ok=True)
    project_yaml = paths.PACKAGE_DIR / "dagster.yaml"
    target = where / "dagster.yaml"
    if project_yaml.exists() and (not target.exists() or target.read_bytes() != project_yaml.read_bytes()):
        shutil.copyfile(project_yaml, target)
    return DagsterInstance.from_config(str(where))


def last_materialization_run_id(asset: str) -> str:
    """The run id of the latest materialization of `asset` ("hwcov/run_results"), or '' when there is none."""
    from dagster import AssetKey

    event = instance().get_latest_materialization_event(AssetKey.from_user_string(asset))
    return event.run_id if event else ""
