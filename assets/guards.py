"""Guards shared by the assets: never an empty write, never two runs measuring on one device."""
from contextlib import AbstractContextManager
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, Failure

from hwcov.resources.lease import device_lease


def non_empty(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """The DuckDB IO manager deletes a partition's rows on an empty frame: never by accident."""
    if df.empty:
        raise Failure(f"{what}: no rows produced; refusing to replace stored rows with nothing")
    return df


def device(context: AssetExecutionContext, hardware: str) -> AbstractContextManager:
    """The device lease of `hardware` on this run's instance (hwcov.resources.lease): the with-block waits while
    another run of the instance measures on it, whichever launcher started that run."""
    holder = f"run {context.run.run_id} ({context.run.job_name})"
    # a warning: the cli's console shows warnings only, and a run that waits must say why its progress stands still
    return device_lease(Path(context.instance.root_directory) / "locks", hardware, holder, log=context.log.warning)
