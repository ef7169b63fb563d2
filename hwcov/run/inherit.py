"""What a case reads from the process that asked for it, carried to a worker that didn't fork from that process.

Case workers fork from a fork server started before any thread pool ran (hwcov.run.runner); a plain fork of the
caller gave them its whole state. The state a case depends on is named here, captured when a batch of cases starts
and entered first thing in each worker: the environment (a test's or the CLI's settings, telemetry switches), the
paths chosen in-process (`--db-path` and friends), where library warnings go, and the answers of the caller's
costly hardware probes (a Chromium launched to read the page's adapters: ~2 s of every browser case that probed
afresh). multiprocessing itself carries sys.path and the working directory; anything else a case needs is an
argument of its task.
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
    probes: dict = field(default_factory=dict)  # what the caller's backends probed (a Chromium launch, a GPU child)


def capture() -> CallerState:
    from hwcov.backends.registry import probe_answers

    return CallerState(environ=dict(os.environ), chosen=paths.chosen(), probes=probe_answers())


def enter(state: CallerState) -> None:
    """Make this worker's process state the caller's (environment replaced, not merged: a variable the caller
    removed is removed here too)."""
    os.environ.clear()
    os.environ.update(state.environ)
    paths.configure(**state.chosen)
    library_log.route_inherited()  # named in the environment (hwcov.core.library_log)
    if state.probes:
        from hwcov.backends.registry import adopt_probe_answers

        adopt_probe_answers(state.probes)
