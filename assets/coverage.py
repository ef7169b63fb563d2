"""coverage_report: architecture x hardware matrix and pass rates, also written as markdown."""
import pandas as pd
from dagster import AllPartitionMapping, AssetExecutionContext, AssetIn, MetadataValue, asset

from hwcov.reports import report
from hwcov.resources.settings import HwcovSettings


@asset(key_prefix="hwcov", group_name="reports",
       ins={"run_results": AssetIn(key_prefix="hwcov", partition_mapping=AllPartitionMapping()),
            "model_inventory": AssetIn(key_prefix="hwcov", partition_mapping=AllPartitionMapping())},
       description="Status per architecture and hardware; pass rates by category/family/hardware; markdown report.")
def coverage_report(context: AssetExecutionContext, settings: HwcovSettings, run_results: pd.DataFrame,
                    model_inventory: pd.DataFrame) -> pd.DataFrame:
    from importlib.metadata import version

    from hwcov.store import database as store

    matrix = report.coverage_matrix(model_inventory, run_results)
    with store.connect(settings.database()) as con:  # history, seed views, users' checkpoints: beside the IO manager's
        markdown = report.markdown(model_inventory, run_results, store.read_table(con, "checkpoint_results"))
        store.snapshot_coverage(con, report.pass_rates(matrix, ["hardware", "category"]), version("transformers"))
        store.refresh_views(con)
    path = settings.artifacts_path() / "coverage_report.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown, encoding="utf-8")
    context.add_output_metadata({"report": MetadataValue.md(markdown[:60000]), "path": str(path),
                                 "cells": len(matrix)})
    return matrix
