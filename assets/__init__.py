"""Thin Dagster assets over the hwcov engine, one file per asset family."""
