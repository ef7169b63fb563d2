"""`--checkpoint PATH_OR_ID`: your own model (a save_pretrained folder, or a hub id already in the local Hugging Face
cache) through the same generated test, references and backends as the architecture matrix, into
hwcov.checkpoint_results; then one line per hardware and precision.

Checked before anything runs (one line, exit 2): the folder or cached id exists, holds config.json and weights, and
needs no remote code unless --trust-remote-code is given. Nothing is downloaded.
"""
from __future__ import annotations

import sys

from hwcov.cli import output
from hwcov.cli.parser import Verb
from hwcov.core.errors import UsageError

DEFAULT_HARDWARE = ("cpu", "onnxruntime", "openvino")  # run anywhere, in minutes for a small model


def checkpoint(args, hardware, models) -> int:
    from hwcov.cli.verbs_run import timeout
    from hwcov.models.checkpoints import resolve
    from hwcov.orchestration import pipeline

    if models or args.model_category:
        raise UsageError("--checkpoint runs the checkpoint's own architecture; drop --model / --model-category")
    ck = resolve(args.checkpoint, args.trust_remote_code)  # CheckpointError: one line, exit 2, nothing written
    hardware = list(hardware) or list(DEFAULT_HARDWARE)
    print(f"hwcov: checkpoint {ck.key} ({ck.source}): {ck.model_type} {ck.model_class or ''}, {ck.params:,} "
          f"parameters, sha256 {ck.sha256[:12]}, inputs from {ck.input_source}"
          + (", remote code allowed" if ck.trust_remote_code else ""), file=sys.stderr)
    from hwcov.cli.verbs_bench import ints

    for batch in ints(args.batch_size) or [1]:  # one materialization per batch size, as for architectures
        if not pipeline.run_checkpoints(hardware, [ck.key], trust_remote_code=ck.trust_remote_code,
                                        precision=args.precision or "", force=args.force, workers=args.workers,
                                        timeout=timeout(args), batch_size=batch):
            return 1
    print_checkpoint(ck.key, hardware)
    if getattr(args, "benchmark", False):  # --checkpoint X --benchmark: its passing precisions, timed
        return bench_checkpoint(args, ck.key, hardware)
    return 0


def bench_checkpoint(args, key: str, hardware: list[str]) -> int:
    from hwcov.cli.verbs_bench import ints
    from hwcov.orchestration import pipeline
    from hwcov.reports import report

    config = {"batch_sizes": ints(args.batch_sizes) or [1], "seq_lens": ints(args.seq_lens) or [32],
              "precisions": [p for p in (args.precisions or "").split(",") if p],
              "min_duration_s": float(args.min_duration or 1.0)}
    if not pipeline.run_checkpoint_benchmarks(hardware, [key], config):
        return 1
    df = output.read("SELECT hardware, precision, batch_size, seq_len, status, p50_ms, throughput_items_s, "
                     "peak_rss_mb, max_abs_diff FROM hwcov.checkpoint_benchmarks WHERE checkpoint = ? "
                     "ORDER BY hardware, precision, batch_size, seq_len", [key])
    shown = df[df["hardware"].isin(hardware)].round({"p50_ms": 4, "throughput_items_s": 2, "peak_rss_mb": 1})
    print(report.table(shown))
    return 0


def print_checkpoint(key: str, hardware: list[str]) -> None:
    """One line per hardware and precision: status, max |diff| and relative error, the first words of a failure; the
    modes of an exported runtime's fp32 forward (dynamic shapes, generation) each on a line of its own."""
    df = output.read("SELECT hardware, precision, batch_size, status, max_abs_diff, max_rel_error, input_source, "
                     "error_message, dynamic_status, dynamic_shapes, dynamic_message, generate_status, "
                     "generate_message FROM hwcov.checkpoint_results WHERE checkpoint = ?", [key])
    from hwcov.cli.verbs_run import PRECISION_ORDER

    order = {p: i for i, p in enumerate(PRECISION_ORDER)}
    for r in sorted(df.itertuples(), key=lambda r: (r.hardware, r.batch_size, order.get(r.precision, 9))):
        if r.hardware not in hardware:
            continue
        diff = "" if r.max_abs_diff != r.max_abs_diff else f" max |diff| {r.max_abs_diff:.3g}"
        rel = "" if r.max_rel_error != r.max_rel_error else f" (rel {r.max_rel_error:.2g})"
        why = f" — {' '.join(r.error_message.split())[:300]}" if r.status != "pass" and r.error_message else ""
        batch = f" batch {r.batch_size}" if r.batch_size != 1 else ""
        print(f"{r.hardware} {r.precision}{batch}: {r.status}{diff}{rel}{why}")
        for mode, status, detail in (("dynamic shapes", r.dynamic_status, r.dynamic_shapes or r.dynamic_message),
                                     ("generate", r.generate_status, r.generate_message)):
            if isinstance(status, str) and status:
                print(f"  {mode}: {status}" + (f" — {' '.join(str(detail).split())[:300]}" if detail else ""))
    print(f"inputs: {df['input_source'].iloc[0] if len(df) else '?'}; rows in hwcov.checkpoint_results "
          f"(checkpoint = {key!r})")


def run_popular(args, hardware: list[str]) -> int:
    """After --test-by-popularity's architecture sweep: its cached checkpoints (args.popular_checkpoints), each
    through --checkpoint's path."""
    for key in getattr(args, "popular_checkpoints", None) or []:
        args.checkpoint = key
        code = checkpoint(args, hardware, [])
        if code:
            return code
    return 0


VERBS = [
    Verb("checkpoint", "validation", "your own model: a folder (save_pretrained layout) or a hub id found in the "
         "local Hugging Face cache (never downloaded), with its own tokenizer/processor, on --hardware (default "
         f"{','.join(DEFAULT_HARDWARE)}) at every precision; rows in hwcov.checkpoint_results; with --benchmark "
         "its passing precisions are timed too (--batch-sizes, --seq-lens: tokens of its own text; default 1 and 32)",
         checkpoint,
         sweeps=False, reads_db=False, value="PATH_OR_ID"),
]
