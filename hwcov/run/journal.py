"""Append-only result journal per hardware: each case's row is durable the moment it ends.

A killed sweep loses only its in-flight cases; a rerun reuses every row whose content
key is unchanged. Rows are JSON lines, appended under an exclusive lock, so concurrent
runs on different hardware never touch the same file and never wait on DuckDB.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

_reported: set[tuple[str, int, bytes]] = set()  # torn lines already named on stderr by this process


class ResultJournal:
    def __init__(self, root: Path, hardware: str):
        self.path = Path(root) / "results" / f"{hardware}.jsonl"

    @contextmanager
    def publishing(self):
        """Held while this hardware's rows are read back from the journal and written to its table partition: two
        runs that each read the journal and then replace the partition would otherwise lose the rows the other
        journaled in between (the last writer's frame lacks them). Sweeping stays concurrent; publishing queues."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".publish.lock"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(fd)  # releases the lock

    def append(self, row: dict) -> None:
        """One line, under an exclusive lock; on a fresh line when the file ends in a torn one (a writer killed
        mid-line), so the row never glues onto the fragment."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(row, default=str, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _ends_with_newline(self.path):
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock

    def rows(self) -> list[dict]:
        """Every row, in order; a line that is no row (torn by a killed writer) is skipped and named once."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    row = None
                if isinstance(row, dict):
                    out.append(row)
                else:
                    _report(self.path, number, raw)
        return out

    def by_key(self) -> dict[str, dict]:
        return {r["case_key"]: r for r in self.rows() if r.get("case_key")}

    def withdraw(self, model_type: str, precision: str, batch_size: int, reason: str) -> None:
        """Mark a case's earlier rows as no longer standing (no current run makes that case any more)."""
        self.append({"model_type": model_type, "precision": precision, "batch_size": batch_size,
                     "withdrawn": reason})

    def latest_by_case(self) -> dict[tuple, dict]:
        """Latest row per (model_type, precision, batch_size), whatever its key; none after a withdrawal."""
        latest: dict[tuple, dict] = {}
        for r in self.rows():
            key = (r["model_type"], r["precision"], r["batch_size"])
            if r.get("withdrawn"):
                latest.pop(key, None)
            else:
                latest[key] = r
        return latest


def _ends_with_newline(path: Path) -> bool:
    """True for an empty file or one whose last byte is a newline."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _report(path: Path, number: int, raw: bytes) -> None:
    key = (str(path), number, raw.rstrip(b"\r\n")[:200])
    if key not in _reported:
        _reported.add(key)
        print(f"hwcov: skipped {path}:{number}: a torn or invalid journal line (a writer killed mid-line?); "
              f"the case it held reruns: {raw[:80]!r}", file=sys.stderr)
