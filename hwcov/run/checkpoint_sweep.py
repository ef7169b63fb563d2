"""Users' own checkpoints on a hardware: remembered, generated, swept, and read back as one frame per hardware.

Why a module of its own: a checkpoint's results must sit beside the architecture matrix and never mix with it. Each
checkpoint gets its own artifacts folder (<artifacts>/checkpoints/<slug>/: journal, references, exports), so the
sweep keys its rows by model type inside that folder exactly as for random weights, and two checkpoints of one
architecture never meet. The registry (registry.json beside them) remembers what was run, so a later run with no
checkpoint named reruns them all and a hardware partition is always published whole.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from hwcov.cases.generate import SLUG_RE, generate_checkpoints
from hwcov.models.checkpoints import Checkpoint, CheckpointError, resolve
from hwcov.run import sweep
from hwcov.run.journal import ResultJournal
from hwcov.run.runner import Limits


def root(artifacts: Path) -> Path:
    return Path(artifacts) / "checkpoints"


def registry(artifacts: Path) -> dict[str, dict]:
    """{key: {"trust_remote_code": bool, "slug": str}} of every checkpoint run here before."""
    path = root(artifacts) / "registry.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint registry ({exc}); move it aside to start afresh") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CheckpointError(f"{path}: not a checkpoint registry (an object of objects)")
    return data


def register(artifacts: Path, checkpoints: list[Checkpoint]) -> None:
    """Remember these checkpoints (written aside and renamed: a reader sees the old registry or the new one)."""
    entries = registry(artifacts)
    for ck in checkpoints:
        entries[ck.key] = {"trust_remote_code": ck.trust_remote_code, "slug": ck.slug()}
    path = root(artifacts) / "registry.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def chosen(artifacts: Path, specs: list[str], trust_remote_code: bool) -> list[Checkpoint]:
    """The named checkpoints (each resolved now; CheckpointError for the first that can't be), or every registered
    one when none is named (with the remote-code choice it was registered with)."""
    if specs:
        return [resolve(spec, trust_remote_code) for spec in specs]
    return [resolve(key, bool(entry.get("trust_remote_code"))) for key, entry in sorted(registry(artifacts).items())]


def run(checkpoints: list[Checkpoint], hardware: str, artifacts: Path, generated: Path, *, precision: str | None,
        batch: int = 1, force: bool = False, limits: Limits | None = None, log: Callable[[str], None] = print) -> None:
    """Generate each checkpoint's test and sweep it on `hardware` into its own folder."""
    register(artifacts, checkpoints)
    for ck, test in zip(checkpoints, generate_checkpoints(checkpoints, generated)):
        log(f"checkpoint {ck.key} ({ck.model_type}, {ck.params:,} parameters, inputs: {ck.input_source})")
        sweep.sweep([test], hardware, root(artifacts) / ck.slug(), precision=precision, batch=batch, force=force,
                    limits=Limits(**vars(limits)) if limits else None, progress=False, log=log)


def rows(artifacts: Path, hardware: str) -> list[dict]:
    """Every registered checkpoint's standing rows on `hardware`: what its table partition holds."""
    out = []
    for key, entry in sorted(registry(artifacts).items()):
        out += [r for r in ResultJournal(folder(artifacts, key, entry), hardware).latest_by_case().values()
                if r.get("checkpoint") == key]
    return out


def slug_of(artifacts: Path, key: str, entry: dict) -> str:
    """A registry entry's slug, checked: a stored string names a folder and a test file only when it is one that
    Checkpoint.slug() could have made (never a path elsewhere)."""
    slug = entry.get("slug")
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise CheckpointError(f"{root(artifacts) / 'registry.json'}: entry {str(key)[:80]!r} has no usable slug "
                              f"({str(slug)[:40]!r})")
    return slug


def folder(artifacts: Path, key: str, entry: dict) -> Path:
    return root(artifacts) / slug_of(artifacts, key, entry)
