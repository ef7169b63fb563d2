"""Column schema of the result rows, in one place.

The DuckDB IO manager creates a table from the first frame it sees and later inserts
by position, so every frame must have the same columns, order and types.
"""
from __future__ import annotations

RESULT_COLUMNS: dict[str, str] = {
    "model_type": "str", "category": "str", "family": "str", "model_class": "str", "hardware": "str",
    "precision": "str", "batch_size": "int", "status": "str", "error_pattern": "str", "error_message": "str",
    "max_abs_diff": "float", "tolerance": "float", "tolerance_kind": "str", "device_name": "str", "runtime_version": "str",
    "output_checksum": "str", "output_shapes": "str", "inputs": "str", "execution_time_ms": "float",
    "memory_usage_mb": "float", "wall_time_s": "float", "reference_path": "str", "test_timestamp": "str",
    "export_route": "str", "exporter": "str", "session_create_ms": "float", "first_run_ms": "float",
    "case_key": "str", "test_hash": "str", "traceback": "str",
}


def conform(rows: list[dict], columns: dict[str, str] = RESULT_COLUMNS):
    """A DataFrame with exactly `columns`, in order, with fixed dtypes (missing -> '' or NaN)."""
    import pandas as pd

    df = pd.DataFrame(rows).reindex(columns=list(columns))
    for name, kind in columns.items():
        if kind == "str":
            df[name] = df[name].fillna("").astype(str)
        elif kind == "float":
            df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
        else:
            df[name] = pd.to_numeric(df[name], errors="coerce").fillna(0).astype("int64")
    return df
