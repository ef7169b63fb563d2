"""The order a sweep hands its cases to the workers: the longest first, as far as earlier runs tell (#27).

With two workers, whatever starts last runs alone at the end: in the inventory's order xlstm (177 s on onnxruntime, 86 s
on openvino), hrm_text and nemo_speechlm come late, and one worker idled beside each (~90 s of a 30-minute sweep, from
the timed journals). Longest-first is the classic remedy; it needs an estimate per case, which the journals hold:
this hardware's last wall time for the case, else the longest any exported runtime beside it in the same artifacts
recorded (their walls are mostly the export's torch.export, so the same architectures are slow on each: openvino after
onnxruntime), else, never run anywhere, the median of the known ones. A torch backend's journal (cpu) is no hint: a
forward's cost says nothing of an export's. Nothing known at all (a first sweep): the inventory's order, unchanged.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from hwcov.backends.registry import get_backend
from hwcov.run.journal import ResultJournal


def longest_first(todo: list[tuple], artifacts: Path, hardware: str) -> list[tuple]:
    """`todo` ((test, key, precision) as the sweep queues them) reordered by expected seconds, longest first; ties and
    estimates made up from the median keep their queued order."""
    own, beside = walls(artifacts, hardware)
    guesses = [own.get((t["model_type"], p)) or beside.get(t["model_type"]) for t, _, p in todo]
    known = [g for g in guesses if g]
    if not known:
        return list(todo)
    typical = statistics.median(known)
    ranked = sorted(range(len(todo)), key=lambda i: -(guesses[i] or typical))
    return [todo[i] for i in ranked]


def walls(artifacts: Path, hardware: str) -> tuple[dict, dict]:
    """({(model_type, precision): seconds} of this hardware's journal, {model_type: longest seconds} of the exported
    runtimes' journals beside it)."""
    own: dict = {}
    beside: dict = {}
    for path in sorted((Path(artifacts) / "results").glob("*.jsonl")):
        name = path.stem
        if name != hardware and not _export_family(name):
            continue
        for (model, precision, _), row in ResultJournal(artifacts, name).latest_by_case().items():
            seconds = row.get("wall_time_s")
            if not isinstance(seconds, (int, float)) or math.isnan(seconds) or seconds <= 0:
                continue
            if name == hardware:
                own[(model, precision)] = max(own.get((model, precision), 0), seconds)
            else:
                beside[model] = max(beside.get(model, 0), seconds)
    return own, beside


def _export_family(hardware: str) -> bool:
    """Whether `hardware`'s cases export a graph (every backend but torch's); unknown names (an old journal) are not."""
    try:
        return get_backend(hardware).family != "torch"
    except (KeyError, ValueError, NotImplementedError):
        return False
