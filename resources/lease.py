"""One run per device at a time, whoever launched it: a lease on the hardware partition held while a run measures.

Why here: dagster.yaml's queue limits only see runs that go through the daemon's queue, and only per tag key: a run
the cli executes in process, a backfill run (tagged with a partition range) and a run from the asset page could
each start on the same device. Every asset that runs cases on a device takes this lease first, so two runs of one
instance never measure on one device together. The lease is an flock on <instance>/locks/<hardware>.lock: the
kernel drops it when its process dies, however it dies, so a killed run never leaves a device held. A waiting run
says which run holds the device and polls, so it can be cancelled while it waits.
"""
from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")  # a hardware key (hwcov.backends.platforms validates new ones)
POLL_S = 1.0


def lock_path(lock_dir: Path, hardware: str) -> Path:
    """<lock_dir>/<hardware>.lock; a key that is not a plain hardware key never names a file."""
    if not KEY_RE.fullmatch(hardware):
        raise ValueError(f"not a hardware key: {hardware!r}")
    return lock_dir / f"{hardware}.lock"


def holder_of(path: Path) -> str:
    """Who holds (or last held) the lease, as its holder wrote it; '' when unknown."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[:300]
    except OSError:
        return ""


@contextmanager
def device_lease(lock_dir: Path, hardware: str, holder: str, log: Callable[[str], None] = lambda _: None,
                 poll_s: float = POLL_S) -> Iterator[float]:
    """Hold `hardware`'s lease for the with-block; wait (polling every poll_s) while another process holds it.
    Yields the seconds waited."""
    path = lock_path(lock_dir, hardware)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started, said = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not said:
                    log(f"waiting for {hardware}: held by {holder_of(path) or 'another process'}")
                    said = True
                time.sleep(poll_s)
        waited = time.monotonic() - started
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} (pid {os.getpid()}, since {since})".encode(), 0)
        if said:
            log(f"{hardware} is free after {waited:.0f} s of waiting")
        yield waited
    finally:
        os.close(fd)  # releases the lease; the file stays (removing it would let two holders lock two files)
