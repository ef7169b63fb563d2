"""Dagster resources: settings, backend device handles, the DuckDB IO manager."""
