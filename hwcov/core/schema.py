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
    # appended (stored tables gain them by ALTER TABLE): what a comparison could tell, and the proof it can fail
    "max_rel_error": "float", "cosine": "float", "determinism_diff": "float", "uninformative_outputs": "str",
    "mutation_sensitivity": "float", "inert_blocks": "str", "unused_blocks": "str",
    # a user's checkpoint (empty for random weights): its key, its weight files' sha256, what made its inputs, and
    # whether its own code was allowed to run
    "checkpoint": "str", "checkpoint_sha256": "str", "input_source": "str", "remote_code": "str",
    # the `dynamic` mode of an exported runtime's passing fp32 forward (hwcov.backends.dynamic): its verdict, the
    # shapes checked with each one's outcome, the graph, the worst max |diff| over the shapes, why not a pass
    "dynamic_status": "str", "dynamic_shapes": "str", "dynamic_route": "str", "dynamic_max_abs_diff": "float",
    "dynamic_message": "str",
    # the `generate` mode (hwcov.backends.generation): greedy decoding with the KV cache carried by the runtime, vs
    # torch's: verdict, steps, the runtime's tokens, the first divergent step (NaN: none), worst step logits |diff|
    "generate_status": "str", "generate_steps": "float", "generate_tokens": "str",
    "generate_first_divergence": "float", "generate_max_abs_diff": "float", "generate_message": "str",
    "generate_route": "str",
    # what each mode cost the case, in seconds (part of wall_time_s): a sweep's time split into forward and modes
    "dynamic_s": "float", "generate_s": "float",
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

# One status vocabulary everywhere (DESIGN.md "Result statuses").
STATUSES = ("pass", "fail_accuracy", "fail_to_run", "unsupported_op", "timeout", "oom", "crash",
            "unavailable", "not_applicable", "skipped_known", "flaky")

# New columns go at the end: stored tables gain them by ALTER TABLE (store.add_missing_columns).
BENCH_COLUMNS = {
    "model_type": "str", "category": "str", "family": "str", "hardware": "str", "precision": "str",
    "batch_size": "int", "seq_len": "int", "status": "str", "error_message": "str", "iterations": "int",
    "mean_ms": "float", "p50_ms": "float", "p90_ms": "float", "p95_ms": "float", "p99_ms": "float",
    "stdev_pct": "float", "throughput_items_s": "float", "peak_rss_mb": "float", "load_ms": "float",
    "device_name": "str", "runtime_version": "str", "cpu_threads": "int", "test_timestamp": "str",
    "variant": "str", "build_ms": "float", "first_run_ms": "float", "max_abs_diff": "float",
    "export_route": "str", "machine": "str", "run_id": "str",
    "warmup": "int",  # add_missing_columns appends newer columns to older tables (the IO manager inserts by position)
    "p50_ci_low_ms": "float", "p50_ci_high_ms": "float", "unstable": "str", "memory_method": "str",
    "checkpoint": "str",  # a user's checkpoint (hwcov.checkpoint_benchmarks); '' for an architecture's cell
}

LAYER_PROFILE_COLUMNS = {
    "model_type": "str", "hardware": "str", "precision": "str", "batch_size": "int", "seq_len": "int",
    "variant": "str", "source": "str", "layer": "str", "layer_type": "str", "depth": "int", "calls": "int",
    "total_ms": "float", "self_ms": "float", "share_pct": "float", "device_name": "str", "runtime_version": "str",
    "machine": "str", "profiled_at": "str",
}
MEMORY_PROFILE_COLUMNS = {
    "model_type": "str", "hardware": "str", "precision": "str", "batch_size": "int", "seq_len": "int",
    "variant": "str", "stage": "str", "rss_before_mb": "float", "peak_rss_mb": "float", "peak_delta_mb": "float",
    "rss_after_mb": "float", "device_peak_mb": "float", "seconds": "float", "device_name": "str",
    "runtime_version": "str", "machine": "str", "profiled_at": "str",
}

# --export-results: these first, in this order, then every other stored column.
EXPORT_COLUMNS = ["model_type", "category", "family", "hardware", "precision", "batch_size", "status",
                  "error_pattern", "error_message", "max_abs_diff", "tolerance", "device_name", "runtime_version",
                  "output_checksum", "execution_time_ms", "memory_usage_mb", "test_timestamp"]

# Every precision hwcov knows (--precision, platform JSON, the registry's entries).
PRECISIONS = ("fp32", "fp16", "bf16", "int8")

# What a case checks on an exported runtime (issue #25): the forward always (the others need it passed), then the
# modes beyond it, each in its own <mode>_status / <mode>_message / <mode>_s columns. `--modes` picks among them.
MODES = ("forward", "dynamic", "generate")
EXTRA_MODES = MODES[1:]
