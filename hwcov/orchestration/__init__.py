"""orchestration: the local Dagster instance, the cli's pipeline runs (materialize), ci regressions, the repair
loop's rerun, scale-out routing. The only package that touches dagster._core."""
