"""Append-only result journal per hardware: each case's row is durable the moment it ends.

A killed sweep loses only its in-flight cases; a rerun reuses every row whose content
key is unchanged. Rows are JSON lines, appended under an exclusive lock, so concurrent
runs on different hardware never touch the same file and never wait on DuckDB.
"""
from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


class ResultJournal:
    def __init__(self, root: Path, hardware: str):
        self.path = Path(root) / "results" / f"{hardware}.jsonl"

    def append(self, row: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(row, default=str, sort_keys=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line from a killed writer
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
