"""error_patterns: failures classified with the catalog, counted per pattern and hardware."""
import pandas as pd
from dagster import AssetExecutionContext, AssetIn, AutomationCondition, asset

from hwcov.assets.partitions import hardware_partitions, per_hardware
from hwcov.run import patterns

COLUMNS = ["hardware", "pattern", "count", "category", "explanation", "suggested_fix", "model_types", "example"]


# eager: patterns_automation_sensor materializes a partition after its run_results changed, wherever that run came from
@asset(partitions_def=hardware_partitions, backfill_policy=per_hardware, key_prefix="hwcov",
       automation_condition=AutomationCondition.eager(),
       metadata={"partition_expr": "hardware"}, group_name="results",
       ins={"run_results": AssetIn(key_prefix="hwcov")},
       description="Failure counts per error pattern with explanation and suggested template fix.")
def error_patterns(context: AssetExecutionContext, run_results: pd.DataFrame) -> pd.DataFrame:
    rows = patterns.summarize(run_results.to_dict("records"))
    rows += patterns.without_failures(run_results.to_dict("records"), {r["hardware"] for r in rows})
    df = pd.DataFrame(rows, columns=COLUMNS)
    context.add_output_metadata({"patterns": len(df), "failures": int(df["count"].sum()) if len(df) else 0})
    return df
