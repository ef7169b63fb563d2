"""What a case reads from the process that asked for it, carried to a worker that didn't fork from that process.

Case workers fork from a fork server started before any thread pool ran (hwcov.run.runner); a plain fork of the
caller gave them its whole state. The state a case depends on is named here, captured when a batch of cases starts
and entered first thing in each worker: the environment (a test's or the CLI's settings, telemetry switches), the
paths chosen in-process (`--db-path` and friends), and where library warnings go. multiprocessing itself carries
sys.path and the working directory; anything else a case needs is an argument of its task.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from hwcov.core import library_log, paths


@dataclass(frozen=True)
class CallerState:
    environ: dict[str, str] = field(default_factory=dict)
    chosen: dict[str, Path] = field(default_factory=dict)


def capture() -> CallerState:
    return CallerState(environ=dict(os.environ), chosen=paths.chosen())


def enter(state: CallerState) -> None:
    """Make this worker's process state the caller's (environment replaced, not merged: a variable the caller
    removed is removed here too)."""
    os.environ.clear()
    os.environ.update(state.environ)
    paths.configure(**state.chosen)
    library_log.route_inherited()  # named in the environment (hwcov.core.library_log)
