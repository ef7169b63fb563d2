"""orchestration: the local Dagster instance, materialization, scale-out routing."""
