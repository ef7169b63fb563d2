"""One architecture's case: what a generated test file holds, and how it executes.

A generated test module defines `CASE = ArchCase(...)`; both `pytest` on that file and
the sweep call `execute(CASE, ...)`, so the sweep runs exactly the code the file runs.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field

from hwcov.core.schema import EXTRA_MODES, STATUSES  # noqa: F401 - STATUSES: the case's, for callers reading them here


@dataclass(frozen=True)
class ArchCase:
    model_type: str
    model_class: str
    category: str
    family: str
    modality: str
    config_overrides: dict = field(default_factory=dict)
    input_spec: dict = field(default_factory=dict)
    skip_reason: str = ""
    # a user's own checkpoint (hwcov.models.checkpoints.Checkpoint.case_field: key, path, sha256, params ...);
    # empty for the random-weight case of an architecture
    checkpoint: dict = field(default_factory=dict)

    def digest(self) -> str:
        fields = asdict(self)
        if not fields["checkpoint"]:  # a random-weight case keeps the digest (references, exports) it always had
            del fields["checkpoint"]
        blob = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def base_row(case: ArchCase, hardware: str, precision: str, batch: int) -> dict:
    return {
        "model_type": case.model_type, "category": case.category, "family": case.family,
        "model_class": case.model_class, "hardware": hardware, "precision": precision,
        "batch_size": batch, "status": None, "error_message": "", "max_abs_diff": None,
        "tolerance": None, "device_name": "", "runtime_version": "", "output_checksum": "",
        "output_shapes": "", "inputs": "", "execution_time_ms": None, "memory_usage_mb": None,
        "reference_path": "", "test_timestamp": time.strftime("%Y-%m-%d %H:%M:%S"), **checkpoint_fields(case),
    }


def checkpoint_fields(case: ArchCase) -> dict:
    """The key columns of a checkpoint's row (all empty for a random-weight case, so the matrices never mix)."""
    from hwcov.models.checkpoints import describe_feed

    ck = case.checkpoint
    if not ck:
        return {"checkpoint": "", "checkpoint_sha256": "", "input_source": "", "remote_code": ""}
    return {"checkpoint": ck["key"], "checkpoint_sha256": ck["sha256"],
            "input_source": describe_feed(ck, case.modality),
            "remote_code": "allowed" if ck.get("trust_remote_code") else "refused"}


def memory_limits(backend) -> list[tuple[float, str]]:
    """What a checkpoint's weights must fit here: the backend's memory (RAM or device) and the worker's cap."""
    from hwcov.core.system import address_space_headroom_mb

    return [backend.memory_limit_mb(), address_space_headroom_mb()]


def execute(case: ArchCase, hardware: str = "cpu", precision: str = "fp32", batch: int = 1,
            reference_dir=None, modes=EXTRA_MODES) -> dict:
    """Run the case on a backend in this process and return its result row (with the `modes` beyond the forward that
    the backend measures)."""
    from hwcov.backends.registry import get_backend

    row = base_row(case, hardware, precision, batch)
    if case.skip_reason:
        row.update(status="skipped_known", error_message=case.skip_reason)
        return row
    backend = get_backend(hardware)
    probe = backend.probe()
    if not probe.available:
        row.update(status="unavailable", error_message=probe.error, runtime_version=probe.runtime_version)
        return row
    if case.checkpoint:  # before anything is loaded: a checkpoint too large here is not_applicable, in numbers
        from hwcov.models.checkpoints import memory_gate

        too_big = memory_gate(case.checkpoint, precision, memory_limits(backend))
        if too_big:
            row.update(status="not_applicable", error_message=too_big, runtime_version=probe.runtime_version)
            return row
    row.update(backend.run(case, precision, batch, reference_dir=reference_dir, modes=modes))
    return row
