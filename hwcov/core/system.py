"""What this machine is and what its processes hold, read from /proc in one place.

Every reader degrades to a neutral value (0, '', {}) where /proc is absent (macOS, some containers): the caller
records less evidence rather than failing the case.
"""
from __future__ import annotations

import functools
import os
import platform


def cpu_name() -> str:
    """The processor's model name, as evidence of what a CPU-side backend ran on."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def meminfo_mb(field: str) -> float:
    """A /proc/meminfo field (MemTotal, MemAvailable, ...) in MiB; 0 where unreadable."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def status_kb(field: str, pid: int | str = "self") -> int:
    """A /proc/<pid>/status field in kB (VmRSS, VmSize, ...); 0 where unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def address_space_headroom_mb() -> tuple[float, str]:
    """(MiB of address space this process may still map under its soft RLIMIT_AS, what sets it); (0, '') uncapped.
    A sweep worker runs under one (hwcov.run.runner): what a case loads must fit in it."""
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return 0.0, ""
    used = status_kb("VmSize") * 1024
    return (max(1.0, (soft - used) / 2**20),
            f"the worker's memory cap ({soft / 2**20:.0f} MiB of address space, {used / 2**20:.0f} MiB mapped)")


def rss_mb(pid: int | str = "self") -> float:
    return status_kb("VmRSS", pid) / 1024


def process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every process readable in /proc."""
    table = {}
    try:
        entries = list(os.scandir("/proc"))
    except OSError:
        return table
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


def descendants(root: int, table: dict[int, tuple[int, int]] | None = None) -> set[int]:
    """Every process below `root` (children, their children, ...), not root itself."""
    table = process_table() if table is None else table
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, (ppid, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and its descendants (e.g. a job, Playwright's driver, Chromium's processes)."""
    return sum(rss_mb(pid) for pid in descendants(root) | {root})


@functools.cache
def machine() -> str:
    """The machine a row ran on: CPU model, logical cores, memory, OS."""
    total = meminfo_mb("MemTotal")
    mem = f"; {total / 1024:.0f} GiB" if total else ""
    return f"{cpu_name()}; {os.cpu_count()} logical cores{mem}; {platform.system()} {platform.release()}"
