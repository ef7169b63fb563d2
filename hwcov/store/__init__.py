"""store: DuckDB objects and the scale-out hand-off."""
