"""model_inventory: every architecture of the installed transformers, by category."""
import pandas as pd
from dagster import AssetExecutionContext, MetadataValue, asset

from hwcov.assets.guards import non_empty
from hwcov.assets.partitions import category_partitions, single_run
from hwcov.models import inventory


@asset(partitions_def=category_partitions, backfill_policy=single_run, key_prefix="hwcov",
       metadata={"partition_expr": "category"}, group_name="inventory",
       description="Model types of the installed transformers with a model class, classified.")
def model_inventory(context: AssetExecutionContext) -> pd.DataFrame:
    import transformers

    wanted = set(context.partition_keys)
    archs = [a for a in inventory.discover() if a.category in wanted]
    df = pd.DataFrame([a.row() for a in archs])
    df["transformers_version"] = transformers.__version__
    context.add_output_metadata({"architectures": len(df), "categories": MetadataValue.text(",".join(sorted(wanted)))})
    return non_empty(df, f"model_inventory[{','.join(sorted(wanted))}]")
