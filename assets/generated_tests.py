"""generated_tests: one pytest file per architecture, rendered from templates/."""
import pandas as pd
from dagster import AssetExecutionContext, asset

from hwcov.assets.guards import non_empty
from hwcov.assets.partitions import category_partitions, single_run
from hwcov.cases import generate
from hwcov.models import inventory
from hwcov.resources.settings import HwcovSettings


@asset(partitions_def=category_partitions, backfill_policy=single_run, key_prefix="hwcov",
       metadata={"partition_expr": "category"}, group_name="inventory",
       description="Generated pytest files (path and content hash); unchanged files are not rewritten.")
def generated_tests(context: AssetExecutionContext, settings: HwcovSettings,
                    model_inventory: pd.DataFrame) -> pd.DataFrame:
    archs = [inventory.Architecture.from_row(r) for r in model_inventory.to_dict("records")]
    rows = generate.generate(archs, settings.generated_path())
    df = pd.DataFrame(rows)
    rewritten = int(df["rewritten"].sum()) if not df.empty else 0
    context.add_output_metadata({"files": len(df), "rewritten": rewritten,
                                 "directory": str(settings.generated_path())})
    return non_empty(df, "generated_tests")
