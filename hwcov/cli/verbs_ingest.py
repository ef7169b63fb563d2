"""`--ingest FILE`: load the journal a sweep wrote on another machine (a lent GPU's benchmarks/device_sweep.py)
into this database, through the same run_results materialization a local run uses.

The file is checked whole before anything is written: JSON lines, one hardware, a runnable non-CPU key (CPU rows
are this machine's references, made here), statuses from the one vocabulary, the transformers version this
inventory is built from. Its rows are then appended to this hardware's journal and the partition is published
with --resume semantics: every ingested outcome stands (a crash or timeout reruns, here, where the hardware is
usually absent: `unavailable`), and the architectures the device did not reach are `unavailable` with this
machine's probe. A later plain `hwcov --hardware KEY` here would replace them with this machine's answer.
"""
from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from hwcov.cli.parser import Verb
from hwcov.core.errors import UsageError

MAX_BYTES = 512 * 2**20  # a full inventory at three precisions is ~10 MB; anything far larger is not a journal
REQUIRED = ("model_type", "hardware", "precision", "batch_size", "status", "case_key")


def read_rows(path: Path) -> list[dict]:
    """Every line a JSON object, or one UsageError naming the first line that is not."""
    if not path.is_file():
        raise UsageError(f"--ingest {path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise UsageError(f"--ingest {path}: {path.stat().st_size} bytes is more than a journal holds "
                         f"({MAX_BYTES} at most)")
    rows = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise UsageError(f"--ingest {path}:{number}: not a JSON line ({type(exc).__name__})") from None
            if not isinstance(row, dict):
                raise UsageError(f"--ingest {path}:{number}: a JSON line that is not an object")
            rows.append(row)
    if not rows:
        raise UsageError(f"--ingest {path}: no rows")
    return rows


def check_rows(path: Path, rows: list[dict]) -> str:
    """The one hardware the rows are for, or a UsageError naming the first row that can't be loaded here."""
    from hwcov.backends.hardware import BY_KEY, RUNNABLE
    from hwcov.cases.case import STATUSES

    transformers = f"transformers {version('transformers')};"
    results = [r for r in rows if "withdrawn" not in r]
    if not results:
        raise UsageError(f"--ingest {path}: no result rows, only withdrawals")
    hardware = {str(r.get("hardware")) for r in results}
    if len(hardware) != 1:
        raise UsageError(f"--ingest {path}: rows for several hardware keys {sorted(hardware)[:5]}; one journal each")
    key = hardware.pop()
    if key not in RUNNABLE:
        raise UsageError(f"--ingest {path}: hardware {key[:80]!r} is not a runnable key ({', '.join(RUNNABLE)})")
    if key == "cpu":
        raise UsageError(f"--ingest {path}: cpu rows are the references every other row is judged by; run them here")
    for number, row in enumerate(rows, 1):
        missing = [k for k in REQUIRED if k not in row] if "withdrawn" not in row else \
            [k for k in ("model_type", "precision", "batch_size") if k not in row]
        if missing:
            raise UsageError(f"--ingest {path}: row {number} lacks {', '.join(missing)}")
        if "withdrawn" in row:
            continue
        if row["status"] not in STATUSES:
            raise UsageError(f"--ingest {path}: row {number} has status {str(row['status'])[:40]!r}, not one of "
                             f"{', '.join(STATUSES)}")
        if row["precision"] not in BY_KEY[key].precisions:
            raise UsageError(f"--ingest {path}: row {number} has precision {str(row['precision'])[:20]!r}; {key} "
                             f"runs {', '.join(BY_KEY[key].precisions)}")
        if not isinstance(row["batch_size"], int) or isinstance(row["batch_size"], bool) or row["batch_size"] < 1:
            raise UsageError(f"--ingest {path}: row {number} has batch_size {str(row['batch_size'])[:20]!r}")
        made_with = str(row.get("runtime_version") or "")  # a case that failed before reporting names none
        if made_with and transformers not in made_with + ";":
            raise UsageError(f"--ingest {path}: row {number} was made with {made_with[:120]!r}; this inventory "
                             f"is {transformers[:-1]}")
    if not any(r.get("runtime_version") for r in results):
        raise UsageError(f"--ingest {path}: no row names the versions it was made with")
    return key


def ingest(args, hardware, models) -> int:
    from hwcov.core import paths
    from hwcov.orchestration import pipeline
    from hwcov.run import patterns
    from hwcov.run.journal import ResultJournal

    path = Path(args.ingest)
    rows = read_rows(path)
    key = check_rows(path, rows)
    journal = ResultJournal(paths.artifacts_dir(), key)
    for row in rows:
        if "withdrawn" not in row:  # the catalog here may know the failure better than the one that ran
            row["error_pattern"] = patterns.classify(row["status"], str(row.get("error_message") or ""))
        journal.append(row)
    batches = sorted({r["batch_size"] for r in rows if "withdrawn" not in r})
    print(f"hwcov: {len(rows)} rows from {path} appended to {journal.path}; publishing {key}")
    ok = pipeline.run_pipeline([key], models, None, resume=True, batch_sizes=batches)
    if ok:
        from hwcov.cli.verbs_run import print_summary

        print_summary([key], models, None)
    return 0 if ok else 1


VERBS = [
    Verb("ingest", "database", "load a journal (<hardware>.jsonl) a sweep wrote on another machine, e.g. a lent "
         "GPU's benchmarks/device_sweep.py, into run_results; --model narrows what is published", ingest,
         sweeps=False, reads_db=False, value="FILE"),
]
