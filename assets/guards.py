"""Output guards shared by the assets."""
import pandas as pd
from dagster import Failure


def non_empty(df: pd.DataFrame, what: str) -> pd.DataFrame:
    """The DuckDB IO manager deletes a partition's rows on an empty frame: never by accident."""
    if df.empty:
        raise Failure(f"{what}: no rows produced; refusing to replace stored rows with nothing")
    return df
